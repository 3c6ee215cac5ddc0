package catalog

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/domain"
)

// TemplateInput is the template form: an image source and cloud-init. There is no raw
// VM YAML and no Go-template variables (spec/domain §1.9).
type TemplateInput struct {
	Name         string // fixed after version 1
	DisplayName  string
	Category     string
	Description  string
	SourceType   string // containerdisk | pvc
	Image        string
	PVCNamespace string
	PVCName      string
	CloudInit    string
}

// Limits of the template form.
const (
	templateNameMax = 63
	imageMax        = 512
	// CloudInitMax keeps user data well inside what a VM spec comfortably carries.
	CloudInitMax = 32 * 1024
)

var (
	// Template names may carry versions with dots ("ubuntu-24.04").
	templateName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	// An image reference has no whitespace; registries decide the rest at pull time.
	imageRef = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$`)
)

// Validate returns field errors and warnings (the warnings do not block saving).
func (in TemplateInput) Validate() (domain.FieldErrors, []string) {
	fe := domain.FieldErrors{}
	var warnings []string
	switch {
	case in.Name == "":
		fe.Add("name", "Enter a name.")
	case len(in.Name) > templateNameMax:
		fe.Add("name", fmt.Sprintf("At most %d characters (this one has %d).", templateNameMax, len(in.Name)))
	case strings.Contains(in.Name, "--") || strings.Contains(in.Name, ".."):
		fe.Add("name", "Use single hyphens and dots only.")
	case !templateName.MatchString(in.Name):
		fe.Add("name", "Use lower-case letters, digits, hyphens and dots; start and end with a letter or digit.")
	}
	checkLength(fe, "display_name", in.DisplayName, displayMax)
	checkLength(fe, "category", in.Category, 40)
	checkLength(fe, "description", in.Description, descriptionMax)
	switch in.SourceType {
	case "containerdisk":
		switch {
		case in.Image == "":
			fe.Add("image", "Enter the container disk image, e.g. quay.io/containerdisks/ubuntu:24.04.")
		case len(in.Image) > imageMax || !imageRef.MatchString(in.Image):
			fe.Add("image", "This is not an image reference (no spaces; e.g. quay.io/containerdisks/ubuntu:24.04).")
		}
	case "pvc":
		if in.PVCNamespace == "" {
			fe.Add("pvc_namespace", "Enter the namespace of the source PVC.")
		} else if len(in.PVCNamespace) > 63 || !dnsLabel.MatchString(in.PVCNamespace) {
			fe.Add("pvc_namespace", "A namespace is a DNS label: lower-case letters, digits and hyphens.")
		}
		if in.PVCName == "" {
			fe.Add("pvc_name", "Enter the name of the source PVC.")
		} else if len(in.PVCName) > 253 || !storageClassName.MatchString(in.PVCName) {
			fe.Add("pvc_name", "A PVC name uses lower-case letters, digits, hyphens and dots.")
		}
	default:
		fe.Add("source_type", "Choose a container disk or a PVC.")
	}
	if w, msg := checkCloudInit(in.CloudInit); msg != "" {
		fe.Add("cloud_init", msg)
	} else if w != "" {
		warnings = append(warnings, w)
	}
	return fe, warnings
}

// checkCloudInit parses the user data as YAML. cloud-init only treats it as
// cloud-config when the first line is "#cloud-config", so its absence is a warning.
func checkCloudInit(s string) (warning, problem string) {
	if strings.TrimSpace(s) == "" {
		return "", ""
	}
	if len(s) > CloudInitMax {
		return "", fmt.Sprintf("At most %d KiB of cloud-init.", CloudInitMax/1024)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		return "", "The cloud-init is not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")
	}
	if !strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), "#cloud-config") {
		return "The cloud-init does not start with \"#cloud-config\"; cloud-init will not read it as cloud-config.", ""
	}
	return "", ""
}

// normalized drops the fields of the source that is not used.
func (in TemplateInput) normalized() TemplateInput {
	in.Name = strings.TrimSpace(in.Name)
	if in.SourceType == "containerdisk" {
		in.PVCNamespace, in.PVCName = "", ""
	} else {
		in.Image = ""
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Name
	}
	return in
}

// TemplateInputFrom fills the form from a stored version.
func TemplateInputFrom(t *ent.Template) TemplateInput {
	return TemplateInput{Name: t.Name, DisplayName: t.DisplayName, Category: t.Category, Description: t.Description,
		SourceType: string(t.SourceType), Image: t.Image, PVCNamespace: t.PvcNamespace, PVCName: t.PvcName,
		CloudInit: t.CloudInit}
}

func templateFields(t *ent.Template) map[string]any {
	return map[string]any{
		"version": t.Version, "status": string(t.Status), "display_name": t.DisplayName, "category": t.Category,
		"description": t.Description, "source_type": string(t.SourceType), "image": t.Image,
		"pvc_namespace": t.PvcNamespace, "pvc_name": t.PvcName, "cloud_init": t.CloudInit,
	}
}
