package catalog_test

import (
	"math"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/paging"
)

func TestCreateNamespaceValidates(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	cases := []struct {
		in    catalog.NamespaceInput
		field string
		want  string
	}{
		{catalog.NamespaceInput{Name: "", Environment: "test"}, "name", "Enter a name"},
		{catalog.NamespaceInput{Name: "way-too-long-namespace", Environment: "test"}, "name", "at most 15"},
		{catalog.NamespaceInput{Name: "Dev", Environment: "test"}, "name", "lower-case"},
		{catalog.NamespaceInput{Name: "default", Environment: "test"}, "name", "reserved"},
		{catalog.NamespaceInput{Name: "kube-x", Environment: "test"}, "name", "reserved"},
		{catalog.NamespaceInput{Name: "dev", Environment: ""}, "environment", "Choose the environment"},
		{catalog.NamespaceInput{Name: "dev", Environment: "staging"}, "environment", "test or prod"},
		{catalog.NamespaceInput{Name: "dev", Environment: "test", Description: strings.Repeat("x", 501)}, "description", "At most 500"},
	}
	for _, tc := range cases {
		_, _, err := s.CreateNamespace(ctx, admin, tc.in)
		fe := fieldErrors(t, err)
		if !strings.Contains(fe[tc.field], tc.want) {
			t.Errorf("%+v: %s error %q, want it to mention %q (all: %v)", tc.in, tc.field, fe[tc.field], tc.want, fe)
		}
	}
	if n := s.Store.Ent.Namespace.Query().CountX(ctx); n != 0 {
		t.Fatalf("%d namespaces stored from invalid input", n)
	}
}

func TestCreateNamespaceUniqueWarnsAndAudits(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	ns, warning, err := s.CreateNamespace(ctx, admin, catalog.NamespaceInput{Name: "team-payments", Environment: "prod", Description: "Payments"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warning, "13 characters") {
		t.Errorf("13-character name: warning %q", warning)
	}
	if ns.Environment != "prod" || !ns.Enabled || ns.CreatedBy == nil || *ns.CreatedBy != admin.ID {
		t.Errorf("stored %+v", ns)
	}
	_, _, err = s.CreateNamespace(ctx, admin, catalog.NamespaceInput{Name: "team-payments", Environment: "test"})
	if fe := fieldErrors(t, err); !strings.Contains(fe["name"], "already taken") {
		t.Fatalf("duplicate: %v", fe)
	}
	rows := audits(t, s, ns.ID.String())
	if got := actions(rows); len(got) != 1 || got[0] != "namespace.create" {
		t.Fatalf("audit actions %v", got)
	}
	if rows[0].ActorName != "carol" || rows[0].Environment != "prod" || *rows[0].ActorID != admin.ID {
		t.Errorf("audit row %+v", rows[0])
	}
}

func TestNamespaceEditAndToggle(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	ns, _, err := s.CreateNamespace(ctx, admin, catalog.NamespaceInput{Name: "qa", Environment: "test", Description: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if ns, err = s.UpdateNamespaceDescription(ctx, admin, ns.ID, "new words"); err != nil || ns.Description != "new words" {
		t.Fatalf("update: %v %+v", err, ns)
	}
	if ns, err = s.SetNamespaceEnabled(ctx, admin, ns.ID, false); err != nil || ns.Enabled {
		t.Fatalf("disable: %v", err)
	}
	// Disabling again changes nothing and writes no second row.
	if _, err = s.SetNamespaceEnabled(ctx, admin, ns.ID, false); err != nil {
		t.Fatal(err)
	}
	rows := audits(t, s, ns.ID.String())
	if got := strings.Join(actions(rows), ","); got != "namespace.create,namespace.update,namespace.disable" {
		t.Fatalf("audit actions %s", got)
	}
	old := rows[1].Details["old"].(map[string]any)["description"]
	nw := rows[1].Details["new"].(map[string]any)["description"]
	if old != "old" || nw != "new words" {
		t.Errorf("update details %v", rows[1].Details)
	}
	if _, err := s.SetNamespaceEnabled(ctx, operator, ns.ID, true); code(err) != domain.CodeForbidden {
		t.Errorf("operator enabling a namespace: %v", err)
	}
	if _, _, err := s.CreateNamespace(ctx, actor("clusterop", "cluster:manage"), catalog.NamespaceInput{Name: "x", Environment: "test"}); code(err) != domain.CodeForbidden {
		t.Errorf("cluster manager creating a namespace: %v", err)
	}
}

func TestListNamespacesFiltersAndPages(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	for _, n := range []string{"a1", "a2", "a3", "b1", "b2"} {
		env := "test"
		if strings.HasPrefix(n, "b") {
			env = "prod"
		}
		if _, _, err := s.CreateNamespace(ctx, admin, catalog.NamespaceInput{Name: n, Environment: env}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{2, 3, math.MaxInt} { // past the end is the last page
		rows, total, err := s.ListNamespaces(ctx, catalog.NamespaceFilter{Environment: "test", Page: paging.Page{Number: n, PerPage: 2}})
		if err != nil || total != 3 || len(rows) != 1 || rows[0].Name != "a3" {
			t.Fatalf("test page %d: total %d rows %d err %v", n, total, len(rows), err)
		}
	}
	rows, total, _ := s.ListNamespaces(ctx, catalog.NamespaceFilter{})
	if total != 5 || len(rows) != 5 || rows[0].Name != "a1" {
		t.Fatalf("all: %d %d", total, len(rows))
	}
}
