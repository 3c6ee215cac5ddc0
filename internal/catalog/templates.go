package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/template"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// CreateTemplate starts a new template name at version 1, as a draft. Warnings (such
// as a missing #cloud-config header) do not block saving.
func (s *Service) CreateTemplate(ctx context.Context, a Actor, in TemplateInput) (*ent.Template, []string, error) {
	if err := require(a, authz.TemplateManage); err != nil {
		return nil, nil, err
	}
	in = in.normalized()
	fe, warnings := in.Validate()
	if err := fe.Err(); err != nil {
		return nil, warnings, err
	}
	var t *ent.Template
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		taken, err := tx.Ent.Template.Query().Where(template.Name(in.Name)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return templateNameTaken(in.Name)
		}
		t, err = setTemplate(tx.Ent.Template.Create().SetName(in.Name).SetVersion(1).SetStatus(template.StatusDraft).
			SetNillableCreatedBy(a.createdBy()), in).Save(ctx)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry("template.create", "template", t.ID.String(), t.Name, "",
			map[string]any{"new": auditTemplate(t)}))
	})
	if uniqueViolation(err, "template_name_version") {
		err = templateNameTaken(in.Name)
	}
	return t, warnings, err
}

func templateNameTaken(name string) error {
	fe := domain.FieldErrors{}
	fe.Add("name", fmt.Sprintf("A template named %q exists; open it and create a new version instead.", name))
	return fe.Err()
}

func setTemplate(c *ent.TemplateCreate, in TemplateInput) *ent.TemplateCreate {
	return c.SetDisplayName(in.DisplayName).SetCategory(in.Category).SetDescription(in.Description).
		SetSourceType(template.SourceType(in.SourceType)).SetImage(in.Image).SetPvcNamespace(in.PVCNamespace).
		SetPvcName(in.PVCName).SetCloudInit(in.CloudInit)
}

// UpdateDraft edits a draft. Any other status is read-only: active and older versions
// may already be snapshotted into tickets, and changing them would rewrite history.
func (s *Service) UpdateDraft(ctx context.Context, a Actor, id uuid.UUID, in TemplateInput) (*ent.Template, []string, error) {
	if err := require(a, authz.TemplateManage); err != nil {
		return nil, nil, err
	}
	var t *ent.Template
	var warnings []string
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := tx.Ent.Template.Query().Where(template.ID(id)).ForUpdate().Only(ctx)
		if err != nil {
			return notFound(err)
		}
		if old.Status != template.StatusDraft {
			return domain.Errf(CodeTemplateNotDraft, "", "Version %d of %s is %s; only drafts can be edited. Create a new version instead.",
				old.Version, old.Name, old.Status)
		}
		in.Name = old.Name
		in = in.normalized()
		var fe domain.FieldErrors
		if fe, warnings = in.Validate(); fe.Err() != nil {
			return fe.Err()
		}
		t, err = old.Update().SetDisplayName(in.DisplayName).SetCategory(in.Category).SetDescription(in.Description).
			SetSourceType(template.SourceType(in.SourceType)).SetImage(in.Image).SetPvcNamespace(in.PVCNamespace).
			SetPvcName(in.PVCName).SetCloudInit(in.CloudInit).Save(ctx)
		if err != nil {
			return err
		}
		before, after := changes(auditTemplate(old), auditTemplate(t))
		if len(after) == 0 {
			return nil
		}
		return audit.Write(ctx, tx.Ent, a.entry("template.update", "template", id.String(), t.Name, "",
			map[string]any{"version": t.Version, "old": before, "new": after}))
	})
	return t, warnings, err
}

// NewVersion copies the latest version of the template's name into a new draft. Only one
// draft per name may exist, so two admins cannot prepare competing next versions.
func (s *Service) NewVersion(ctx context.Context, a Actor, id uuid.UUID) (*ent.Template, error) {
	if err := require(a, authz.TemplateManage); err != nil {
		return nil, err
	}
	var draft *ent.Template
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		base, err := tx.Ent.Template.Get(ctx, id)
		if err != nil {
			return notFound(err)
		}
		versions, err := tx.Ent.Template.Query().Where(template.Name(base.Name)).
			Order(ent.Desc(template.FieldVersion)).ForUpdate().All(ctx)
		if err != nil {
			return err
		}
		for _, v := range versions {
			if v.Status == template.StatusDraft {
				e := domain.Errf(CodeTemplateDraftExists, "", "Version %d of %s is already a draft; edit it instead.", v.Version, v.Name)
				e.Params = map[string]any{"id": v.ID.String()}
				return e
			}
		}
		latest := versions[0]
		in := TemplateInputFrom(latest)
		draft, err = setTemplate(tx.Ent.Template.Create().SetName(latest.Name).SetVersion(latest.Version+1).
			SetStatus(template.StatusDraft).SetNillableCreatedBy(a.createdBy()), in).Save(ctx)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry("template.update", "template", draft.ID.String(), draft.Name, "",
			map[string]any{"new_version": draft.Version, "copied_from_version": latest.Version}))
	})
	if uniqueViolation(err, "template_name_version") {
		err = domain.Errf(CodeTemplateDraftExists, "", "Someone created a new version at the same moment; reload the page.")
	}
	return draft, err
}

// Publish makes a draft the active version and deprecates the previously active one,
// in one transaction. The partial unique index (one active per name) refuses a
// concurrent publish of another draft, which then rolls back completely.
// It returns the published version and the one it deprecated (nil when there was none).
func (s *Service) Publish(ctx context.Context, a Actor, id uuid.UUID) (published, deprecated *ent.Template, err error) {
	if err := require(a, authz.TemplateManage); err != nil {
		return nil, nil, err
	}
	var t, prev *ent.Template
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		draft, err := tx.Ent.Template.Query().Where(template.ID(id)).ForUpdate().Only(ctx)
		if err != nil {
			return notFound(err)
		}
		if draft.Status != template.StatusDraft {
			return transitionError(draft, "published")
		}
		if fe, _ := TemplateInputFrom(draft).Validate(); fe.Err() != nil {
			return domain.Errf(domain.CodeInvalidInput, "", "Version %d of %s has problems; fix the draft before publishing it.",
				draft.Version, draft.Name)
		}
		prev, err = tx.Ent.Template.Query().Where(template.Name(draft.Name), template.StatusEQ(template.StatusActive)).
			ForUpdate().Only(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return err
		}
		// Deprecate first: the unique index is checked per statement.
		if prev != nil {
			if prev, err = prev.Update().SetStatus(template.StatusDeprecated).Save(ctx); err != nil {
				return err
			}
			if err := audit.Write(ctx, tx.Ent, a.entry("template.deprecate", "template", prev.ID.String(), prev.Name, "",
				map[string]any{"version": prev.Version, "successor_version": draft.Version, "reason": "superseded"})); err != nil {
				return err
			}
		}
		if t, err = draft.Update().SetStatus(template.StatusActive).Save(ctx); err != nil {
			return err
		}
		details := map[string]any{"version": t.Version}
		if prev != nil {
			details["previous_version"] = prev.Version
		}
		return audit.Write(ctx, tx.Ent, a.entry("template.publish", "template", t.ID.String(), t.Name, "", details))
	})
	if uniqueViolation(err, "template_one_active_per_name") {
		err = domain.Errf(CodeTemplatePublishRacing, "", "Another version was published at the same moment; nothing was changed. Reload and try again.")
	}
	if err != nil {
		return nil, nil, err
	}
	return t, prev, nil
}

// Deprecate stops offering the active version to new requests; existing VMs are fine.
func (s *Service) Deprecate(ctx context.Context, a Actor, id uuid.UUID) (*ent.Template, error) {
	return s.transition(ctx, a, id, "deprecated", template.StatusDeprecated, "template.deprecate", template.StatusActive)
}

// Archive hides a draft or deprecated version everywhere; the row stays for audit.
func (s *Service) Archive(ctx context.Context, a Actor, id uuid.UUID) (*ent.Template, error) {
	return s.transition(ctx, a, id, "archived", template.StatusArchived, "template.archive",
		template.StatusDraft, template.StatusDeprecated)
}

func (s *Service) transition(ctx context.Context, a Actor, id uuid.UUID, verb string, to template.Status, action string,
	from ...template.Status) (*ent.Template, error) {
	if err := require(a, authz.TemplateManage); err != nil {
		return nil, err
	}
	var t *ent.Template
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := tx.Ent.Template.Query().Where(template.ID(id)).ForUpdate().Only(ctx)
		if err != nil {
			return notFound(err)
		}
		allowed := false
		for _, f := range from {
			allowed = allowed || old.Status == f
		}
		if !allowed {
			return transitionError(old, verb)
		}
		if t, err = old.Update().SetStatus(to).Save(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry(action, "template", t.ID.String(), t.Name, "",
			map[string]any{"version": t.Version, "old": map[string]any{"status": string(old.Status)},
				"new": map[string]any{"status": string(to)}}))
	})
	return t, err
}

func transitionError(t *ent.Template, verb string) error {
	return domain.Errf(CodeTemplateTransition, "", "Version %d of %s is %s and cannot be %s.", t.Version, t.Name, t.Status, verb)
}

// auditTemplate is what the audit log keeps of a version: cloud-init may carry initial
// passwords, so only its hash and size are recorded.
func auditTemplate(t *ent.Template) map[string]any {
	f := templateFields(t)
	sum := sha256.Sum256([]byte(t.CloudInit))
	delete(f, "cloud_init")
	f["cloud_init_sha256"] = hex.EncodeToString(sum[:])
	f["cloud_init_bytes"] = len(t.CloudInit)
	return f
}

// TemplateGroup is every (visible) version of one template name, newest first.
type TemplateGroup struct {
	Name     string
	Versions []*ent.Template
}

// Latest is the newest visible version.
func (g TemplateGroup) Latest() *ent.Template { return g.Versions[0] }

// ListTemplateGroups groups versions by name; archived versions only when asked.
func (s *Service) ListTemplateGroups(ctx context.Context, showArchived bool) ([]TemplateGroup, error) {
	q := s.Store.Ent.Template.Query()
	if !showArchived {
		q = q.Where(template.StatusNEQ(template.StatusArchived))
	}
	rows, err := q.Order(ent.Asc(template.FieldName), ent.Desc(template.FieldVersion)).All(ctx)
	if err != nil {
		return nil, err
	}
	var groups []TemplateGroup
	for _, t := range rows {
		if n := len(groups); n == 0 || groups[n-1].Name != t.Name {
			groups = append(groups, TemplateGroup{Name: t.Name})
		}
		g := &groups[len(groups)-1]
		g.Versions = append(g.Versions, t)
	}
	return groups, nil
}

// Template loads one version.
func (s *Service) Template(ctx context.Context, id uuid.UUID) (*ent.Template, error) {
	t, err := s.Store.Ent.Template.Get(ctx, id)
	return t, notFound(err)
}

// TemplateVersions lists every version of a name, newest first.
func (s *Service) TemplateVersions(ctx context.Context, name string) ([]*ent.Template, error) {
	return s.Store.Ent.Template.Query().Where(template.Name(name)).Order(ent.Desc(template.FieldVersion)).All(ctx)
}
