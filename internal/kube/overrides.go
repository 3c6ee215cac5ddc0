package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	kubevirtv1 "kubevirt.io/api/core/v1"
)

// OverridePrefix is where instance-size overrides may write: the VM instance's spec.
// Everything above it (names, labels, run strategy, disks) is the platform's.
const OverridePrefix = "spec.template.spec."

// Paths under the prefix that the platform renders from the approved request and that
// an override may not change: the approver's final requests/limits and the volumes.
var platformPaths = []string{
	OverridePrefix + "domain.resources",
	OverridePrefix + "volumes",
	OverridePrefix + "networks",
}

// CheckOverridePaths rejects paths that overrides may not write, before any rendering.
func CheckOverridePaths(overrides map[string]any) error {
	for _, path := range sortedKeys(overrides) {
		if !strings.HasPrefix(path, OverridePrefix) || len(path) == len(OverridePrefix) {
			return NewPermanent(CodeValidationFailed,
				fmt.Sprintf("spec override %q: only paths under %s… may be overridden", path, OverridePrefix))
		}
		for _, p := range platformPaths {
			if strings.HasPrefix(p, path+".") {
				return NewPermanent(CodeValidationFailed,
					fmt.Sprintf("spec override %q: it would replace %s, which the platform sets; override the fields inside it instead", path, p))
			}
			if path == p || strings.HasPrefix(path, p+".") {
				return NewPermanent(CodeValidationFailed,
					fmt.Sprintf("spec override %q: %s is set by the platform from the approved request", path, p))
			}
		}
	}
	return nil
}

// ApplyOverrides sets each dotted JSON path of overrides on a copy of vm (numeric
// segments index arrays; an index equal to the length appends) and decodes the result
// strictly into KubeVirt's own types, so a typo (dedicatdCpuPlacement) or a wrong type
// fails here instead of being pruned silently by the API server. Paths are applied in
// sorted order so the result does not depend on map order.
func ApplyOverrides(vm *kubevirtv1.VirtualMachine, overrides map[string]any) (*kubevirtv1.VirtualMachine, error) {
	if len(overrides) == 0 {
		return vm, nil
	}
	if err := CheckOverridePaths(overrides); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(vm)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	for _, path := range sortedKeys(overrides) {
		segments := strings.Split(path, ".")
		if err := fieldExists(reflect.TypeOf(kubevirtv1.VirtualMachine{}), segments); err != nil {
			return nil, NewPermanent(CodeValidationFailed, fmt.Sprintf("spec override %q: %v in KubeVirt's VirtualMachine (kubevirt.io/api v1.9.0)", path, err))
		}
		if err := setPath(doc, segments, overrides[path]); err != nil {
			return nil, NewPermanent(CodeValidationFailed, fmt.Sprintf("spec override %q: %v", path, err))
		}
	}
	raw, err = json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	out := &kubevirtv1.VirtualMachine{}
	if err := dec.Decode(out); err != nil {
		return nil, NewPermanent(CodeValidationFailed,
			fmt.Sprintf("spec overrides do not fit KubeVirt's VirtualMachine (kubevirt.io/api v1.9.0): %s", decodeProblem(err)))
	}
	return out, nil
}

// decodeProblem turns encoding/json's messages into words about KubeVirt's fields.
func decodeProblem(err error) string {
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "field " + f + " does not exist"
	}
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("%s must be %s, not %s", te.Field, te.Type, te.Value)
	}
	return msg
}

// fieldExists walks t along path by JSON field names, so a misspelt field is named
// (decoding alone would not catch it: VirtualMachineInstanceSpec has its own
// UnmarshalJSON, which drops unknown fields whatever the decoder's settings).
func fieldExists(t reflect.Type, path []string) error {
	for _, seg := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			if _, err := strconv.Atoi(seg); err != nil {
				return fmt.Errorf("%q is a list; use an index", seg)
			}
			t = t.Elem()
		case reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			f, ok := jsonField(t, seg)
			if !ok {
				return fmt.Errorf("field %q does not exist", seg)
			}
			t = f
		case reflect.Interface:
			return nil // free-form
		default:
			return fmt.Errorf("%q is inside a %s, not an object", seg, t.Kind())
		}
	}
	return nil
}

// jsonField finds the field of struct t whose JSON name is name, looking into
// embedded (inlined) structs as encoding/json does.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		tagName, _, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tagName == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if inner, ok := jsonField(ft, name); ok {
					return inner, true
				}
			}
			continue
		}
		if tagName == "" {
			tagName = f.Name
		}
		if tagName == name && f.IsExported() {
			return f.Type, true
		}
	}
	return nil, false
}

func setPath(node any, path []string, value any) error {
	key := path[0]
	last := len(path) == 1
	switch n := node.(type) {
	case map[string]any:
		if last {
			n[key] = value
			return nil
		}
		child, ok := n[key]
		if !ok || child == nil {
			if _, err := strconv.Atoi(path[1]); err == nil {
				child = []any{}
			} else {
				child = map[string]any{}
			}
		}
		if list, ok := child.([]any); ok {
			updated, err := setIndex(list, path[1:], value)
			if err != nil {
				return err
			}
			n[key] = updated
			return nil
		}
		if err := setPath(child, path[1:], value); err != nil {
			return err
		}
		n[key] = child
		return nil
	default:
		return fmt.Errorf("%q is not an object", key)
	}
}

// setIndex sets path (starting with an index) in list, appending at index len(list).
func setIndex(list []any, path []string, value any) ([]any, error) {
	i, err := strconv.Atoi(path[0])
	if err != nil || i < 0 || i > len(list) {
		return nil, fmt.Errorf("index %s is out of range (the list has %d items)", path[0], len(list))
	}
	if i == len(list) {
		list = append(list, map[string]any{})
	}
	if len(path) == 1 {
		list[i] = value
		return list, nil
	}
	if err := setPath(list[i], path[1:], value); err != nil {
		return nil, err
	}
	return list, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
