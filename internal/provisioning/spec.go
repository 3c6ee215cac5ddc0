package provisioning

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/kube"
)

// Platform labels and annotations (spec/domain §1.5). Users cannot set or change them.
const (
	LabelPrefix     = "kubevirt-shepherd.io/"
	LabelManagedBy  = LabelPrefix + "managed-by"
	LabelSystem     = LabelPrefix + "system"
	LabelService    = LabelPrefix + "service"
	LabelInstance   = LabelPrefix + "instance"
	LabelTicketID   = LabelPrefix + "ticket-id"
	LabelCreatedBy  = LabelPrefix + "created-by"
	LabelHostname   = LabelPrefix + "hostname"
	AnnotationFQDN  = LabelPrefix + "fqdn"
	ManagedByValue  = "kubevirt-shepherd"
	NamespaceEnvKey = "shepherd.io/environment"
	NamespaceByKey  = "shepherd.io/managed-by"
	NamespaceAtKey  = "shepherd.io/created-at"
)

// vmSpec renders the approved request into what the provider applies: the template
// and size snapshots frozen at approval, the approver's final request/limit values, the
// disk and storage class, and the platform labels. Nothing is read from the live
// template or size rows, so editing them later cannot change an approved VM.
func vmSpec(t *ent.ApprovalTicket, ev *ent.DomainEvent, v *ent.VM) kube.VMSpec {
	tpl, size := t.TemplateSnapshot, t.InstanceSizeSnapshot
	system, service := str(ev.Payload, "system"), str(ev.Payload, "service")
	spec := kube.VMSpec{
		Ref: kube.VMRef{Namespace: v.NamespaceName, Name: v.Name},
		Labels: map[string]string{
			LabelManagedBy: ManagedByValue,
			LabelSystem:    system,
			LabelService:   service,
			LabelInstance:  fmt.Sprintf("%02d", v.InstanceIndex),
			LabelTicketID:  t.ID.String(),
			LabelCreatedBy: labelValue(t.RequesterName),
			LabelHostname:  v.Name,
		},
		Annotations:   map[string]string{AnnotationFQDN: fmt.Sprintf("%s.%s.svc.cluster.local", v.Name, v.NamespaceName)},
		CPUCores:      num(size, "cpu_cores"),
		CPURequest:    t.FinalCPURequest,
		CPULimit:      t.FinalCPULimit,
		MemoryRequest: t.FinalMemRequest,
		MemoryLimit:   t.FinalMemLimit,
		DedicatedCPU:  size["dedicated_cpu"] == true,
		HugepagesSize: str(size, "hugepages_size"),
		DiskGB:        t.FinalDiskGB,
		StorageClass:  t.SelectedStorageClass,
		CloudInit:     str(tpl, "cloud_init"),
		Running:       true,
	}
	if overrides, ok := size["spec_overrides"].(map[string]any); ok && len(overrides) > 0 {
		spec.Overrides = overrides
	}
	if str(tpl, "source_type") == "pvc" {
		spec.PVCNamespace, spec.PVCName = str(tpl, "pvc_namespace"), str(tpl, "pvc_name")
	} else {
		spec.Image = str(tpl, "image")
	}
	if gpus, ok := size["gpu_devices"].([]any); ok {
		for i, g := range gpus {
			m, _ := g.(map[string]any)
			name := str(m, "name")
			if name == "" {
				name = "gpu" + strconv.Itoa(i+1)
			}
			spec.GPUs = append(spec.GPUs, kube.GPU{Name: name, DeviceName: str(m, "device_name")})
		}
	}
	return spec
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// num reads a JSON number (float64 after decoding) as an int.
func num(m map[string]any, k string) int {
	switch n := m[k].(type) {
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}

var labelUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// labelValue makes a user name a valid label value (≤63 chars of [A-Za-z0-9._-],
// alphanumeric at both ends): "ana.lopez@corp" → "ana.lopez_corp".
func labelValue(s string) string {
	s = labelUnsafe.ReplaceAllString(s, "_")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "._-")
}
