package catalog

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/clusters"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/kube"
)

// SizeDryRunTimeout bounds "Test on cluster" as a whole: an admin waits for it.
const SizeDryRunTimeout = 15 * time.Second

// SimulatedCheck is what a test on a simulated cluster can honestly claim.
const SimulatedCheck = "simulated cluster: checked against KubeVirt's types only"

// dryRunner is a provider that can judge a VM without creating it (the real KubeVirt
// provider: server-side apply with dryRun=All). It is not part of kube.Provider
// because the simulator has no admission or schema of its own to ask.
type dryRunner interface {
	DryRunApplyVM(ctx context.Context, spec kube.VMSpec, vm *kubevirtv1.VirtualMachine) error
}

// SizeDryRun is what "Test on cluster" found (spec/domain §6.5 stage 3). Nothing of it
// is stored: the VM was rendered and judged, never created.
type SizeDryRun struct {
	Cluster, Environment string
	Simulated            bool
	KubeVirtVersion      string
	Namespace, VMName    string
	// Template is the template version the sample VM used ("" when none is active and
	// SampleImage stood in).
	Template string
	Valid    bool
	// Problem is why the VM was refused, in the cluster's (or KubeVirt's types') own
	// words; Hint is what the admin can do about it.
	Problem, Hint string
	Preview       SizePreview
}

// SizePreview is the rendered sample VM in short: what users of the size would get.
type SizePreview struct {
	CPUCores                                   int
	CPURequest, CPULimit, MemRequest, MemLimit string
	GPUs                                       []string // device names
	Overrides                                  []AppliedOverride
}

// AppliedOverride is one override as read back from the rendered VM, proving it landed.
type AppliedOverride struct{ Path, Value string }

// DryRunClusters are the clusters a size can be tested on: enabled and not deleted.
func (s *Service) DryRunClusters(ctx context.Context) ([]*ent.Cluster, error) {
	return s.Store.Ent.Cluster.Query().Where(cluster.DeletedAtIsNil(), cluster.Enabled(true)).
		Order(ent.Asc(cluster.FieldName)).All(ctx)
}

// DryRunSize renders a full sample VM from the size as typed (not saved), the first
// active template and a throwaway name, and has the cluster judge it: a real cluster by
// a server-side dry-run apply, a simulated one by KubeVirt's types only. Form problems
// are field errors; a refusal by the cluster is a result (Valid false), not an error.
func (s *Service) DryRunSize(ctx context.Context, a Actor, in SizeInput, clusterID uuid.UUID) (SizeDryRun, error) {
	if err := requireAdmin(a); err != nil {
		return SizeDryRun{}, err
	}
	fe := domain.FieldErrors{}
	if clusterID == uuid.Nil {
		fe.Add("dryrun_cluster", "Choose the cluster to test on.")
	}
	// The sample VM does not carry the size's name, and a new size may not have one yet:
	// a missing or unfinished name must not stop the test.
	in.Name = "dry-run"
	var ve *domain.ValidationError
	if err := in.Validate(); errors.As(err, &ve) {
		for k, v := range ve.Fields {
			fe.Add(k, v)
		}
	}
	if err := fe.Err(); err != nil {
		return SizeDryRun{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, SizeDryRunTimeout)
	defer cancel()
	c, err := liveCluster(ctx, s.Store.Ent, clusterID, false)
	if err != nil {
		return SizeDryRun{}, err
	}
	spec, r, err := s.dryRunSpec(ctx, c, in)
	if err != nil {
		return r, err
	}
	// The template may add what the size alone did not (a PVC source, cloud-init).
	if err := kube.ValidateSpec(spec); err != nil {
		r.Problem, r.Hint = OverrideProblem(err), "Edit the spec overrides (or the template) and test again."
		return r, nil
	}
	vm := kube.RenderVM(spec)
	r.Preview = preview(vm, in.SpecOverrides)
	if c.Provider == cluster.ProviderSim {
		r.Valid = true
		return r, nil
	}
	err = s.dryRunOnCluster(ctx, c, spec, vm)
	if err == nil {
		r.Valid = true
		return r, nil
	}
	ke := kube.Classify(err)
	r.Problem, r.Hint = ke.Message, dryRunHint(ke, c.Name, r.Namespace)
	return r, nil
}

// dryRunOnCluster asks the cluster's provider: the app's (its cached client, breaker and
// limits), or without one a registry built for this call from the store and key.
func (s *Service) dryRunOnCluster(ctx context.Context, c *ent.Cluster, spec kube.VMSpec, vm *kubevirtv1.VirtualMachine) error {
	providers := s.Clusters
	if providers == nil {
		providers = clusters.New(s.Store, clusters.Options{Box: s.Box, CallTimeout: SizeDryRunTimeout})
	}
	p, err := providers.For(c)
	if err != nil {
		return err
	}
	dr, ok := p.(dryRunner)
	if !ok {
		return kube.NewPermanent(kube.CodeValidationFailed, "the "+string(c.Provider)+" provider of cluster "+c.Name+" cannot dry-run a VM")
	}
	return dr.DryRunApplyVM(ctx, spec, vm)
}

// dryRunSpec picks where and from what the sample VM is rendered: the first enabled
// namespace of the cluster's environment (else "default", which every cluster has),
// the first active template, and a name nobody uses.
func (s *Service) dryRunSpec(ctx context.Context, c *ent.Cluster, in SizeInput) (kube.VMSpec, SizeDryRun, error) {
	r := SizeDryRun{Cluster: c.Name, Environment: string(c.Environment), Simulated: c.Provider == cluster.ProviderSim,
		KubeVirtVersion: c.KubevirtVersion, Namespace: "default", VMName: "shepherd-dryrun-" + strings.ToLower(rand.Text()[:8])}
	ns, err := s.Store.Ent.Namespace.Query().Where(namespace.Enabled(true),
		namespace.EnvironmentEQ(namespace.Environment(c.Environment))).Order(ent.Asc(namespace.FieldName)).First(ctx)
	switch {
	case err == nil:
		r.Namespace = ns.Name
	case !ent.IsNotFound(err):
		return kube.VMSpec{}, r, err
	}
	spec := in.sampleSpec(kube.VMRef{Namespace: r.Namespace, Name: r.VMName}, SampleImage)
	tpl, err := s.Store.Ent.Template.Query().Where(template.StatusEQ(template.StatusActive)).
		Order(ent.Asc(template.FieldName)).First(ctx)
	switch {
	case err == nil:
		r.Template = tpl.Name + " v" + strconv.Itoa(tpl.Version)
		spec.CloudInit = tpl.CloudInit
		if tpl.SourceType == template.SourceTypePvc {
			spec.Image, spec.PVCNamespace, spec.PVCName = "", tpl.PvcNamespace, tpl.PvcName
		} else if tpl.Image != "" {
			spec.Image = tpl.Image
		}
	case !ent.IsNotFound(err):
		return kube.VMSpec{}, r, err
	}
	return spec, r, nil
}

// dryRunHint says what the admin can do about a refusal; a namespace that the cluster
// lacks is the common case of a fresh cluster, and not the size's fault.
func dryRunHint(ke *kube.Error, clusterName, ns string) string {
	switch {
	case ke.Kind == kube.NotFound && strings.Contains(ke.Message, `namespaces "`+ns+`" not found`):
		return fmt.Sprintf("Namespace %s does not exist on %s yet: Shepherd creates it when the first VM is placed there. "+
			"To test now, create it (kubectl create namespace %s) or test on another cluster. The size itself was not judged.", ns, clusterName, ns)
	case ke.Kind == kube.NotFound:
		return "Cluster " + clusterName + " does not serve KubeVirt's VirtualMachine API. Is KubeVirt installed there?"
	case ke.Code == kube.CodeValidationFailed:
		return "The cluster refused this VM definition. Edit the spec overrides (or the size), or test on another cluster: " +
			"its KubeVirt version or admission policies may differ."
	case ke.Code == kube.CodeTimeout:
		return fmt.Sprintf("Cluster %s did not answer within %s. Check its health under Admin → Cluster sync and test again.",
			clusterName, SizeDryRunTimeout)
	}
	return kube.Hint(ke.Code, ns, clusterName)
}

// preview reads the rendered VM back, so the admin sees what the cluster was sent.
func preview(vm *kubevirtv1.VirtualMachine, overrides map[string]any) SizePreview {
	d := vm.Spec.Template.Spec.Domain
	p := SizePreview{}
	if d.CPU != nil {
		p.CPUCores = int(d.CPU.Cores)
	}
	if q, ok := d.Resources.Requests["cpu"]; ok {
		p.CPURequest = q.String()
	}
	if q, ok := d.Resources.Limits["cpu"]; ok {
		p.CPULimit = q.String()
	}
	if q, ok := d.Resources.Requests["memory"]; ok {
		p.MemRequest = q.String()
	}
	if q, ok := d.Resources.Limits["memory"]; ok {
		p.MemLimit = q.String()
	}
	for _, g := range d.Devices.GPUs {
		p.GPUs = append(p.GPUs, g.DeviceName)
	}
	var doc any
	if raw, err := json.Marshal(vm); err == nil {
		_ = json.Unmarshal(raw, &doc)
	}
	for _, path := range SortedOverridePaths(overrides) {
		value := "(not set)"
		if v, ok := lookup(doc, strings.Split(path, ".")); ok {
			value = OverrideValue(v)
		}
		p.Overrides = append(p.Overrides, AppliedOverride{Path: path, Value: value})
	}
	return p
}

// lookup walks a decoded JSON document along dotted path segments.
func lookup(node any, path []string) (any, bool) {
	for _, seg := range path {
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[seg]
			if !ok {
				return nil, false
			}
			node = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			node = n[i]
		default:
			return nil, false
		}
	}
	return node, true
}
