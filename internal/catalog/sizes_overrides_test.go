package catalog_test

import (
	"fmt"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/internal/catalog"
)

func TestParseSpecOverrides(t *testing.T) {
	t.Parallel()
	for _, blank := range []string{"", "  \n", "{}", " { } "} {
		if m, err := catalog.ParseSpecOverrides(blank); err != nil || m != nil {
			t.Errorf("%q: %v %v, want none", blank, m, err)
		}
	}
	m, err := catalog.ParseSpecOverrides(`{"spec.template.spec.domain.cpu.model": "host-passthrough", "spec.template.spec.domain.cpu.sockets": 2}`)
	if err != nil || m["spec.template.spec.domain.cpu.model"] != "host-passthrough" || m["spec.template.spec.domain.cpu.sockets"] != float64(2) {
		t.Fatalf("parsed %v %v", m, err)
	}
	cases := []struct{ text, want string }{
		{"{\n  \"spec.template.spec.hostname\": \"a\",\n}", "not valid JSON: invalid character '}' looking for beginning of object key string (line 3, column 1)"},
		{`{"a": "b"`, "ends too early"},
		{`["spec.template.spec.hostname"]`, "Enter a JSON object of path → value"},
		{`"host-passthrough"`, "Enter a JSON object"},
		{`{"a": 1} {"b": 2}`, "text after the closing }"},
		{`{"spec.template.spec.hostname": "a", "spec.template.spec.hostname": "b"}`, `"spec.template.spec.hostname" is given twice`},
		{`{"x": "` + strings.Repeat("y", 17<<10) + `"}`, "At most 16 KiB"},
	}
	for _, tc := range cases {
		if _, err := catalog.ParseSpecOverrides(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: %v, want %q", tc.text, err, tc.want)
		}
	}
	if got := catalog.FormatSpecOverrides(m); got != "{\n  \"spec.template.spec.domain.cpu.model\": \"host-passthrough\",\n  \"spec.template.spec.domain.cpu.sockets\": 2\n}" {
		t.Errorf("formatted %q", got)
	}
}

// TestSpecOverrideValidation is stage 1 (spec/domain §6.5): every refusal is a field error
// on spec_overrides that names the path.
func TestSpecOverrideValidation(t *testing.T) {
	t.Parallel()
	many := map[string]any{}
	for i := range catalog.MaxSpecOverrides + 1 {
		many[fmt.Sprintf("spec.template.spec.nodeSelector.label-%d", i)] = "x"
	}
	cases := []struct {
		name      string
		overrides map[string]any
		want      []string
	}{
		{"typo", map[string]any{"spec.template.spec.domain.cpu.dedicatdCpuPlacement": true},
			[]string{`"spec.template.spec.domain.cpu.dedicatdCpuPlacement"`, `field "dedicatdCpuPlacement" does not exist`}},
		{"wrong type", map[string]any{"spec.template.spec.domain.cpu.sockets": "two"}, []string{"sockets", "must be uint32"}},
		{"platform resources", map[string]any{"spec.template.spec.domain.resources.requests.memory": "64Gi"},
			[]string{`"spec.template.spec.domain.resources.requests.memory"`, "set by the platform"}},
		{"platform volumes", map[string]any{"spec.template.spec.volumes.0.name": "x"}, []string{"volumes", "set by the platform"}},
		{"outside the VM spec", map[string]any{"spec.runStrategy": "Always"}, []string{`"spec.runStrategy"`, "only paths under spec.template.spec."}},
		{"whole domain", map[string]any{"spec.template.spec.domain": map[string]any{}},
			[]string{`"spec.template.spec.domain"`, "replaces a whole block", "CPU cores"}},
		{"cores from the form", map[string]any{"spec.template.spec.domain.cpu.cores": 8}, []string{`"CPU cores" field`}},
		{"hugepages from the form", map[string]any{"spec.template.spec.domain.memory.hugepages.pageSize": "1Gi"}, []string{`"Hugepages" field`}},
		{"a GPU the form lacks", map[string]any{"spec.template.spec.domain.devices.gpus.0.deviceName": "nvidia.com/L4"},
			[]string{"has 0 GPU row(s)", "so users are warned"}},
		{"too many", many, []string{"At most 50 overrides (this has 51)"}},
	}
	for _, tc := range cases {
		in := validSize("tuned")
		in.SpecOverrides = tc.overrides
		msg := fieldErrors(t, in.Validate())["spec_overrides"]
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: spec_overrides error %q, want %q", tc.name, msg, w)
			}
		}
		if strings.Contains(msg, "VALIDATION_FAILED") {
			t.Errorf("%s: the error shows a code: %q", tc.name, msg)
		}
	}

	// Tuning a GPU the form lists is fine; so are the examples the form shows.
	in := validSize("gpu")
	in.GPUDevices = []schema.GPUDevice{{Name: "gpu1", DeviceName: "nvidia.com/GA102GL_A10"}}
	in.SpecOverrides = map[string]any{
		"spec.template.spec.domain.devices.gpus.0.virtualGPUOptions.display.enabled": false,
		"spec.template.spec.domain.cpu.model":                                        "host-passthrough",
		"spec.template.spec.evictionStrategy":                                        "LiveMigrate",
	}
	if err := in.Validate(); err != nil {
		t.Errorf("good overrides refused: %v", err)
	}
}

func TestSizeOverridesAreSavedAndAudited(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	in := validSize("tuned")
	in.SpecOverrides = map[string]any{"spec.template.spec.domain.cpu.model": "host-passthrough"}
	sz, err := s.CreateSize(ctx, admin, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Store.Ent.InstanceSize.GetX(ctx, sz.ID).SpecOverrides; got["spec.template.spec.domain.cpu.model"] != "host-passthrough" {
		t.Errorf("stored %v", got)
	}
	upd := catalog.SizeInputFrom(sz)
	upd.SpecOverrides = map[string]any{"spec.template.spec.domain.cpu.model": "host-model", "spec.template.spec.evictionStrategy": "LiveMigrate"}
	if _, err := s.UpdateSize(ctx, admin, sz.ID, upd); err != nil {
		t.Fatal(err)
	}
	bad := catalog.SizeInputFrom(sz)
	bad.SpecOverrides = map[string]any{"spec.template.spec.domain.cpu.modle": "host-model"}
	if _, err := s.UpdateSize(ctx, admin, sz.ID, bad); !strings.Contains(fieldErrors(t, err)["spec_overrides"], `"modle" does not exist`) {
		t.Errorf("typo saved: %v", err)
	}
	upd.SpecOverrides = nil // emptied
	if sz, err = s.UpdateSize(ctx, admin, sz.ID, upd); err != nil || len(sz.SpecOverrides) != 0 {
		t.Fatalf("clearing: %v %v", sz.SpecOverrides, err)
	}

	rows := audits(t, s, sz.ID.String())
	if got := strings.Join(actions(rows), ","); got != "instance_size.create,instance_size.update,instance_size.update" {
		t.Fatalf("audit %s", got)
	}
	created := rows[0].Details["new"].(map[string]any)["spec_overrides"].(map[string]any)
	if created["spec.template.spec.domain.cpu.model"] != "host-passthrough" {
		t.Errorf("create audit overrides %v", created)
	}
	old, nw := rows[1].Details["old"].(map[string]any), rows[1].Details["new"].(map[string]any)
	if toJSON(old["spec_overrides"]) != `{"spec.template.spec.domain.cpu.model":"host-passthrough"}` ||
		toJSON(nw["spec_overrides"]) != `{"spec.template.spec.domain.cpu.model":"host-model","spec.template.spec.evictionStrategy":"LiveMigrate"}` {
		t.Errorf("update audit old=%v new=%v", old, nw)
	}
	if cleared := rows[2].Details["new"].(map[string]any)["spec_overrides"]; toJSON(cleared) != `{}` {
		t.Errorf("clearing audited as %v", cleared)
	}
}
