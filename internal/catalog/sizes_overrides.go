package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/kube"
)

// Limits of a size's spec overrides: room for a handful of tuning knobs, small enough to
// render with every request and to freeze into every approval's snapshot.
const (
	MaxSpecOverrides      = 50
	MaxSpecOverridesBytes = 16 << 10
)

// SampleImage is the container disk of the sample VM that stage 1 renders: any image
// will do, because only the VM definition is checked, never run.
const SampleImage = "quay.io/containerdisks/fedora:latest"

// Stage 1 renders into this namespace and name; they only have to be valid names.
var sampleRef = kube.VMRef{Namespace: "default", Name: "shepherd-dryrun-sample"}

// ParseSpecOverrides reads the form's JSON object of path → value; blank text (or {})
// means none. Its errors are sentences for the form. A path given twice is refused:
// JSON decoders silently keep the last one, and the admin meant one of them.
func ParseSpecOverrides(text string) (map[string]any, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	if len(text) > MaxSpecOverridesBytes {
		return nil, fmt.Errorf("At most %d KiB of overrides (this is %.1f KiB).", MaxSpecOverridesBytes>>10, float64(len(text))/1024)
	}
	dec := json.NewDecoder(strings.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if err != nil {
			return nil, jsonProblem(text, err)
		}
		return nil, errors.New(`Enter a JSON object of path → value, e.g. {"spec.template.spec.domain.cpu.model": "host-passthrough"}.`)
	}
	out := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonProblem(text, err)
		}
		path, _ := tok.(string)
		var value any
		if err := dec.Decode(&value); err != nil {
			return nil, jsonProblem(text, err)
		}
		if _, dup := out[path]; dup {
			return nil, fmt.Errorf("The path %q is given twice; keep one.", path)
		}
		out[path] = value
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, jsonProblem(text, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("The overrides are not valid JSON: there is text after the closing }.")
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// jsonProblem says where the JSON broke, as a line and column people can find.
func jsonProblem(text string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(text, se.Offset)
		return fmt.Errorf("The overrides are not valid JSON: %s (line %d, column %d).", se.Error(), line, col)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("The overrides are not valid JSON: the text ends too early (a missing } or \"?).")
	}
	return fmt.Errorf("The overrides are not valid JSON: %v.", err)
}

func position(text string, offset int64) (line, col int) {
	before := text[:min(int(offset), len(text))]
	line = strings.Count(before, "\n") + 1
	return line, len(before) - strings.LastIndex(before, "\n")
}

// FormatSpecOverrides shows stored overrides in the form: indented JSON with the paths
// sorted, "" for none.
func FormatSpecOverrides(overrides map[string]any) string {
	if len(overrides) == 0 {
		return ""
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(overrides); err != nil {
		return ""
	}
	return strings.TrimSpace(buf.String())
}

// OverrideValue is one value as compact JSON, for lists and previews.
func OverrideValue(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(buf.String())
}

// SortedOverridePaths lists the paths in a stable order for display.
func SortedOverridePaths(overrides map[string]any) []string {
	paths := make([]string, 0, len(overrides))
	for p := range overrides {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// formFields are the paths (below kube.OverridePrefix) that the size's own fields
// define. An override may not change them: users would be shown one size and get
// another, and placement (GPU devices, hugepages, CPU manager) would match the wrong one.
var formFields = []struct{ path, field string }{
	{"domain.cpu.cores", "CPU cores"},
	{"domain.cpu.dedicatedCpuPlacement", "Dedicated CPU"},
	{"domain.memory.guest", "Memory (GiB)"},
	{"domain.memory.hugepages", "Hugepages"},
	{"domain.devices.gpus", "GPU devices"},
}

// platformBlocks are rendered from the approved request (kube refuses paths inside them);
// here only a path that replaces one wholesale, from above, needs catching.
var platformBlocks = []string{"domain.resources", "volumes", "networks"}

// checkOverrideOwnership refuses paths that would change what the form or the platform
// defines; kube.ValidateSpec then judges the rest against KubeVirt's types.
func checkOverrideOwnership(path string, gpus int) string {
	rel, ok := strings.CutPrefix(path, kube.OverridePrefix)
	if !ok {
		return "" // kube names the allowed prefix
	}
	for _, f := range formFields {
		if rel == f.path || strings.HasPrefix(rel, f.path+".") {
			if f.path == "domain.devices.gpus" {
				return gpuOverrideProblem(path, strings.TrimPrefix(strings.TrimPrefix(rel, f.path), "."), gpus)
			}
			return fmt.Sprintf("Spec override %q: this comes from the form's %q field; set it there.", path, f.field)
		}
		if strings.HasPrefix(f.path, rel+".") {
			return wholeBlock(path, "the form's "+strconv.Quote(f.field)+" field")
		}
	}
	for _, b := range platformBlocks {
		if strings.HasPrefix(b, rel+".") {
			return wholeBlock(path, "the platform ("+b+")")
		}
	}
	return ""
}

func wholeBlock(path, owner string) string {
	return fmt.Sprintf("Spec override %q replaces a whole block that includes what %s sets; override the fields inside it one by one, e.g. %s.<field>.", path, owner, path)
}

// gpuOverrideProblem lets an override tune a GPU row of the form (e.g. its
// virtualGPUOptions) but not add, remove, rename or re-target one: a GPU the form does
// not list would reach users unannounced and clusters unmatched.
func gpuOverrideProblem(path, rest string, gpus int) string {
	index, field, _ := strings.Cut(rest, ".")
	i, err := strconv.Atoi(index)
	switch {
	case rest == "":
		return fmt.Sprintf("Spec override %q: the GPU list comes from the form's GPU devices rows; set GPUs there.", path)
	case err != nil:
		return "" // kube says a list needs an index
	case i >= gpus:
		return fmt.Sprintf("Spec override %q: this size has %d GPU row(s); add GPUs in the form's GPU devices rows so users are warned and clusters are matched.", path, gpus)
	case field == "" || field == "name" || field == "deviceName":
		return fmt.Sprintf("Spec override %q: the GPU's name and device come from the form's GPU devices rows; set them there.", path)
	}
	return ""
}

// checkSpecOverrides is stage 1 of spec/domain §6.5: the overrides fit in their limits,
// leave the form's and the platform's fields alone, and render into a VirtualMachine
// that KubeVirt's own types accept. The problem names the path.
func checkSpecOverrides(fe domain.FieldErrors, in SizeInput) {
	if len(in.SpecOverrides) == 0 {
		return
	}
	if n := len(in.SpecOverrides); n > MaxSpecOverrides {
		fe.Add("spec_overrides", fmt.Sprintf("At most %d overrides (this has %d).", MaxSpecOverrides, n))
		return
	}
	raw, err := json.Marshal(in.SpecOverrides)
	if err != nil {
		fe.Add("spec_overrides", "The overrides cannot be stored as JSON.")
		return
	}
	if len(raw) > MaxSpecOverridesBytes {
		fe.Add("spec_overrides", fmt.Sprintf("At most %d KiB of overrides (this is %.1f KiB).", MaxSpecOverridesBytes>>10, float64(len(raw))/1024))
		return
	}
	for _, path := range SortedOverridePaths(in.SpecOverrides) {
		if msg := checkOverrideOwnership(path, len(in.GPUDevices)); msg != "" {
			fe.Add("spec_overrides", msg)
			return
		}
	}
	if err := kube.ValidateSpec(in.sampleSpec(sampleRef, SampleImage)); err != nil {
		fe.Add("spec_overrides", OverrideProblem(err))
	}
}

// OverrideProblem is a refused override in words: kube's message without its code.
func OverrideProblem(err error) string {
	msg := kube.Classify(err).Message
	if msg == "" {
		msg = err.Error()
	}
	return upperFirst(strings.TrimSuffix(msg, ".")) + "."
}

// sampleSpec renders the size as an approval with the size's defaults would (no
// approver changes), as a container-disk VM at ref. Stage 1 checks only the overrides,
// so values the form refuses elsewhere (0 cores) are raised to something renderable
// instead of failing the override check for a reason that is not the overrides'.
func (in SizeInput) sampleSpec(ref kube.VMRef, image string) kube.VMSpec {
	cores, mem := max(in.CPUCores, 1), max(in.MemoryMiB, 1)
	cpuLimit, memLimit := CPUQuantity(cores*1000), MemoryQuantity(mem)
	cpuReq, memReq := cpuLimit, memLimit
	if in.CPUOvercommit && in.CPURequestMillis > 0 && in.CPURequestMillis < cores*1000 {
		cpuReq = CPUQuantity(in.CPURequestMillis)
	}
	if in.MemOvercommit && in.MemRequestMiB > 0 && in.MemRequestMiB < mem {
		memReq = MemoryQuantity(in.MemRequestMiB)
	}
	spec := kube.VMSpec{Ref: ref, CPUCores: cores, CPURequest: cpuReq, CPULimit: cpuLimit, MemoryRequest: memReq,
		MemoryLimit: memLimit, DedicatedCPU: in.DedicatedCPU, DiskGB: max(in.DiskDefaultGB, 1), Image: image,
		Running: true, Overrides: in.SpecOverrides}
	if in.HugepagesSize == "2Mi" || in.HugepagesSize == "1Gi" {
		spec.HugepagesSize = in.HugepagesSize
	}
	for i, g := range in.GPUDevices {
		name := g.Name
		if name == "" {
			name = "gpu" + strconv.Itoa(i+1)
		}
		spec.GPUs = append(spec.GPUs, kube.GPU{Name: name, DeviceName: g.DeviceName})
	}
	return spec
}
