package catalog_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
)

var templateOps = actor("tina", authz.TemplateManage)

const cloudConfig = "#cloud-config\nusers:\n  - name: ubuntu\n    sudo: ALL=(ALL) NOPASSWD:ALL\nchpasswd: {expire: true}\n"

func ubuntu() catalog.TemplateInput {
	return catalog.TemplateInput{Name: "ubuntu-24.04", DisplayName: "Ubuntu 24.04", Category: "OS", SourceType: "containerdisk",
		Image: "quay.io/containerdisks/ubuntu:24.04", CloudInit: cloudConfig}
}

func TestTemplateValidation(t *testing.T) {
	t.Parallel()
	s := newService(t)
	cases := []struct {
		name   string
		mutate func(*catalog.TemplateInput)
		field  string
		want   string
	}{
		{"bad yaml", func(in *catalog.TemplateInput) { in.CloudInit = "#cloud-config\nusers: [unclosed\n" }, "cloud_init", "not valid YAML"},
		{"scalar yaml", func(in *catalog.TemplateInput) { in.CloudInit = "#cloud-config\njust text" }, "cloud_init", "not valid YAML"},
		{"tabs", func(in *catalog.TemplateInput) { in.CloudInit = "#cloud-config\nusers:\n\t- name: x\n" }, "cloud_init", "not valid YAML"},
		{"no image", func(in *catalog.TemplateInput) { in.Image = "" }, "image", "Enter the container disk image"},
		{"image with space", func(in *catalog.TemplateInput) { in.Image = "quay.io/x y" }, "image", "not an image reference"},
		{"pvc without fields", func(in *catalog.TemplateInput) { in.SourceType = "pvc" }, "pvc_name", "Enter the name"},
		{"pvc bad ns", func(in *catalog.TemplateInput) { in.SourceType, in.PVCNamespace, in.PVCName = "pvc", "Images", "x" }, "pvc_namespace", "DNS label"},
		{"no source", func(in *catalog.TemplateInput) { in.SourceType = "" }, "source_type", "Choose"},
		{"bad name", func(in *catalog.TemplateInput) { in.Name = "Ubuntu 24" }, "name", "lower-case"},
		{"long name", func(in *catalog.TemplateInput) { in.Name = strings.Repeat("a", 64) }, "name", "At most 63"},
	}
	for _, tc := range cases {
		in := ubuntu()
		tc.mutate(&in)
		_, _, err := s.CreateTemplate(t.Context(), templateOps, in)
		if fe := fieldErrors(t, err); !strings.Contains(fe[tc.field], tc.want) {
			t.Errorf("%s: %s error %q, want %q (all %v)", tc.name, tc.field, fe[tc.field], tc.want, fe)
		}
	}
	in := ubuntu()
	in.CloudInit = "users:\n  - name: ubuntu\n"
	tpl, warnings, err := s.CreateTemplate(t.Context(), templateOps, in)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "#cloud-config") {
		t.Fatalf("missing header: err %v warnings %v", err, warnings)
	}
	if tpl.Version != 1 || tpl.Status != template.StatusDraft || tpl.PvcName != "" {
		t.Errorf("created %+v", tpl)
	}
	if _, _, err := s.CreateTemplate(t.Context(), templateOps, ubuntu()); !strings.Contains(fieldErrors(t, err)["name"], "new version") {
		t.Errorf("second create of a name: %v", err)
	}
	if _, _, err := s.CreateTemplate(t.Context(), operator, ubuntu()); code(err) != domain.CodeForbidden {
		t.Errorf("operator: %v", err)
	}
}

func TestOnlyDraftsAreEditable(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	v1, _, err := s.CreateTemplate(ctx, templateOps, ubuntu())
	if err != nil {
		t.Fatal(err)
	}
	edit := ubuntu()
	edit.Description = "Long-term support"
	edit.Name = "renamed"
	if v1, _, err = s.UpdateDraft(ctx, templateOps, v1.ID, edit); err != nil || v1.Description != "Long-term support" || v1.Name != "ubuntu-24.04" {
		t.Fatalf("draft edit: %v %+v", err, v1)
	}
	if _, _, err := s.Publish(ctx, templateOps, v1.ID); err != nil {
		t.Fatal(err)
	}
	edit.Description = "changed after publishing"
	if _, _, err := s.UpdateDraft(ctx, templateOps, v1.ID, edit); code(err) != catalog.CodeTemplateNotDraft {
		t.Fatalf("active edit: %v", err)
	}
	if got := s.Store.Ent.Template.GetX(ctx, v1.ID).Description; got != "Long-term support" {
		t.Errorf("active version changed to %q", got)
	}
	bad := ubuntu()
	bad.CloudInit = "#cloud-config\n: : :\n  - ["
	v2, err := s.NewVersion(ctx, templateOps, v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UpdateDraft(ctx, templateOps, v2.ID, bad); fieldErrors(t, err)["cloud_init"] == "" {
		t.Errorf("bad YAML saved on a draft: %v", err)
	}
	rows := audits(t, s, v1.ID.String())
	if got := strings.Join(actions(rows), ","); got != "template.create,template.update,template.publish" {
		t.Errorf("audit %s", got)
	}
	if strings.Contains(toJSON(rows[0].Details), "chpasswd") {
		t.Error("cloud-init content copied into the audit log")
	}
}

func TestPublishDeprecatesPreviousActive(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	v1, _, _ := s.CreateTemplate(ctx, templateOps, ubuntu())
	if _, _, err := s.Publish(ctx, templateOps, v1.ID); err != nil {
		t.Fatal(err)
	}
	v2, err := s.NewVersion(ctx, templateOps, v1.ID)
	if err != nil || v2.Version != 2 || v2.Status != template.StatusDraft || v2.Image != v1.Image || v2.CloudInit != cloudConfig {
		t.Fatalf("new version: %v %+v", err, v2)
	}
	if _, err := s.NewVersion(ctx, templateOps, v1.ID); code(err) != catalog.CodeTemplateDraftExists {
		t.Fatalf("second draft: %v", err)
	}
	pub, dep, err := s.Publish(ctx, templateOps, v2.ID)
	if err != nil || pub.ID != v2.ID || dep == nil || dep.ID != v1.ID || dep.Status != template.StatusDeprecated {
		t.Fatalf("publish v2: %v (published %v, deprecated %v)", err, pub, dep)
	}
	if st := s.Store.Ent.Template.GetX(ctx, v1.ID).Status; st != template.StatusDeprecated {
		t.Fatalf("v1 is %s after publishing v2", st)
	}
	if st := s.Store.Ent.Template.GetX(ctx, v2.ID).Status; st != template.StatusActive {
		t.Fatalf("v2 is %s", st)
	}
	active, _ := catalog.ActiveTemplates(ctx, s.Store.Ent)
	if len(active) != 1 || active[0].ID != v2.ID {
		t.Fatalf("active templates %v", active)
	}
	rows := audits(t, s, v1.ID.String())
	if last := rows[len(rows)-1]; last.Action != "template.deprecate" || last.Details["successor_version"] != float64(2) {
		t.Errorf("deprecation audit %+v", last)
	}
	// Lifecycle rules: active cannot be archived, deprecated cannot be published.
	if _, err := s.Archive(ctx, templateOps, v2.ID); code(err) != catalog.CodeTemplateTransition {
		t.Errorf("archive active: %v", err)
	}
	if _, _, err := s.Publish(ctx, templateOps, v1.ID); code(err) != catalog.CodeTemplateTransition {
		t.Errorf("publish deprecated: %v", err)
	}
	if _, err := s.Deprecate(ctx, templateOps, v2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Archive(ctx, templateOps, v1.ID); err != nil {
		t.Fatal(err)
	}
	groups, _ := s.ListTemplateGroups(ctx, false)
	if len(groups) != 1 || len(groups[0].Versions) != 1 || groups[0].Latest().ID != v2.ID {
		t.Fatalf("groups without archived: %+v", groups)
	}
	groups, _ = s.ListTemplateGroups(ctx, true)
	if len(groups[0].Versions) != 2 {
		t.Fatalf("groups with archived: %d versions", len(groups[0].Versions))
	}
	if _, _, err := s.Publish(ctx, templateOps, uuid.New()); code(err) != domain.CodeNotFound {
		t.Errorf("unknown id: %v", err)
	}
}

// Two drafts published at once: the partial unique index lets only one become active,
// and the loser's transaction leaves no trace (its draft stays a draft).
func TestConcurrentPublishKeepsOneActive(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	v1, _, _ := s.CreateTemplate(ctx, templateOps, ubuntu())
	if _, _, err := s.Publish(ctx, templateOps, v1.ID); err != nil {
		t.Fatal(err)
	}
	v2, _ := s.NewVersion(ctx, templateOps, v1.ID)
	// A second draft can only come from the database directly (the use case allows one).
	v3 := s.Store.Ent.Template.Create().SetName(v1.Name).SetVersion(3).SetSourceType(template.SourceTypeContainerdisk).
		SetImage(v1.Image).SaveX(ctx)
	raced := 0
	for round := 0; round < 5; round++ {
		// Hold the active row so that both publishes queue behind it and really overlap.
		hold, err := s.Store.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hold.ExecContext(ctx, "SELECT 1 FROM templates WHERE id = $1 FOR UPDATE", v1.ID); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []uuid.UUID{v2.ID, v3.ID} { // test-only goroutines
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = s.Publish(ctx, templateOps, id)
			}()
		}
		time.Sleep(300 * time.Millisecond)
		if err := hold.Commit(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		all := s.Store.Ent.Template.Query().Where(template.Name(v1.Name)).AllX(ctx)
		active := 0
		for _, tpl := range all {
			if tpl.Status == template.StatusActive {
				active++
			}
		}
		if active != 1 {
			t.Fatalf("round %d: %d active versions", round, active)
		}
		ids := []uuid.UUID{v2.ID, v3.ID}
		for i, err := range errs {
			if err == nil {
				continue
			}
			raced++
			if code(err) != catalog.CodeTemplatePublishRacing {
				t.Fatalf("round %d publish %d: %v", round, i, err)
			}
			if st := s.Store.Ent.Template.GetX(ctx, ids[i]).Status; st != template.StatusDraft {
				t.Fatalf("round %d: the refused version is %s, want draft", round, st)
			}
		}
		// Reset both to drafts for another round.
		s.Store.Ent.Template.Update().Where(template.IDIn(v2.ID, v3.ID)).SetStatus(template.StatusDraft).ExecX(ctx)
		s.Store.Ent.Template.UpdateOneID(v1.ID).SetStatus(template.StatusActive).ExecX(ctx)
	}
	if raced == 0 {
		t.Error("no round overlapped: the test did not exercise the unique index")
	}
}

// A failure after the previous version was deprecated rolls the deprecation back too:
// publishing is one transaction (the failure is injected with a trigger).
func TestFailedPublishLeavesNothingHalfDone(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	v1, _, _ := s.CreateTemplate(ctx, templateOps, ubuntu())
	if _, _, err := s.Publish(ctx, templateOps, v1.ID); err != nil {
		t.Fatal(err)
	}
	v2, err := s.NewVersion(ctx, templateOps, v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE FUNCTION refuse_activation() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN IF NEW.status = 'active' AND NEW.version = 2 THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER refuse_activation BEFORE UPDATE ON templates FOR EACH ROW EXECUTE FUNCTION refuse_activation()`,
	} {
		if _, err := s.Store.SQL.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	before := len(audits(t, s, v1.ID.String()))
	if _, _, err := s.Publish(ctx, templateOps, v2.ID); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("publish with the injected failure: %v", err)
	}
	if st := s.Store.Ent.Template.GetX(ctx, v1.ID).Status; st != template.StatusActive {
		t.Fatalf("v1 is %s after the failed publish; the deprecation was not rolled back", st)
	}
	if st := s.Store.Ent.Template.GetX(ctx, v2.ID).Status; st != template.StatusDraft {
		t.Fatalf("v2 is %s", st)
	}
	if after := len(audits(t, s, v1.ID.String())); after != before {
		t.Errorf("audit rows for v1 went from %d to %d", before, after)
	}
}
