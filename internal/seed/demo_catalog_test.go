package seed_test

import (
	"testing"

	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/instancesize"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/seed"
)

func TestDemoCatalogIsIdempotentAndUsable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := newStore(t)
	run(t, store, seed.Base)
	run(t, store, seed.Demo)
	c := store.Ent
	// An admin's change survives a restart.
	c.InstanceSize.Update().Where(instancesize.Name("small")).SetEnabled(false).ExecX(ctx)
	run(t, store, seed.Demo)
	if n := c.Namespace.Query().CountX(ctx); n != len(seed.DemoNamespaces) {
		t.Errorf("%d namespaces", n)
	}
	if n := c.InstanceSize.Query().CountX(ctx); n != len(seed.DemoSizes) {
		t.Errorf("%d sizes", n)
	}
	if c.InstanceSize.Query().Where(instancesize.Name("small")).OnlyX(ctx).Enabled {
		t.Error("second seed re-enabled small")
	}
	if n := c.Template.Query().CountX(ctx); n != len(seed.DemoTemplates) {
		t.Errorf("%d templates", n)
	}
	if n := c.Cluster.Query().CountX(ctx); n != len(seed.DemoClusters) {
		t.Errorf("%d clusters", n)
	}
	if ns := c.Namespace.Query().Where(namespace.Name("prod")).OnlyX(ctx); ns.Environment != namespace.EnvironmentProd {
		t.Errorf("prod namespace env %s", ns.Environment)
	}

	// Every seeded size and template passes the rules an admin's would.
	for _, sz := range c.InstanceSize.Query().AllX(ctx) {
		if err := catalog.SizeInputFrom(sz).Validate(); err != nil {
			t.Errorf("seeded size %s is invalid: %v", sz.Name, err)
		}
	}
	for _, tpl := range c.Template.Query().AllX(ctx) {
		if fe, warnings := catalog.TemplateInputFrom(tpl).Validate(); len(fe) > 0 || len(warnings) > 0 {
			t.Errorf("seeded template %s: %v %v", tpl.Name, fe, warnings)
		}
	}
	ubuntu := c.Template.Query().Where(template.Name("ubuntu-24.04")).OnlyX(ctx)
	if ubuntu.Status != template.StatusActive || ubuntu.Image != "quay.io/containerdisks/ubuntu:24.04" {
		t.Errorf("ubuntu %+v", ubuntu)
	}

	// The sizes land where the demo says they should.
	placement := map[string][]string{"small": {"sim-test-a", "sim-test-b"}, "dedicated-4": {"sim-test-a"}, "gpu-a10": {"sim-test-b"}}
	for name, want := range placement {
		sz := c.InstanceSize.Query().Where(instancesize.Name(name)).OnlyX(ctx)
		got, err := catalog.EligibleClusters(ctx, c, "test", sz)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, k := range got {
			names = append(names, k.Name)
		}
		if len(names) != len(want) || (len(want) > 0 && names[0] != want[0]) {
			t.Errorf("%s on test: %v, want %v", name, names, want)
		}
	}
	if k := c.Cluster.Query().Where(cluster.Name("sim-prod-a")).OnlyX(ctx); k.DefaultStorageClass != "replicated" || k.Status != cluster.StatusHEALTHY {
		t.Errorf("sim-prod-a %+v", k)
	}
}
