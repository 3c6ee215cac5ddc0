package catalog

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/paging"
)

// NamespaceInput is the create form. Only the description can change later: the name
// prefixes VM names and the environment decides policy for VMs already placed in it.
type NamespaceInput struct {
	Name        string
	Environment string
	Description string
}

const descriptionMax = 500

// Validate checks the rules that need no database; Warning is the long-name hint.
func (in NamespaceInput) Validate() (fe domain.FieldErrors, warning string) {
	fe = domain.FieldErrors{}
	if c := domain.CheckName("Namespace", in.Name); !c.OK() {
		fe.Add("name", c.Message)
	} else {
		warning = c.Warning
	}
	checkEnvironment(fe, "environment", in.Environment)
	checkLength(fe, "description", in.Description, descriptionMax)
	return fe, warning
}

func checkEnvironment(fe domain.FieldErrors, field, env string) {
	switch env {
	case "test", "prod":
	case "":
		fe.Add(field, "Choose the environment.")
	default:
		fe.Add(field, "Choose test or prod.")
	}
}

// CreateNamespace registers a logical namespace (no cluster is touched). The returned
// warning is non-empty for names longer than the recommended length.
func (s *Service) CreateNamespace(ctx context.Context, a Actor, in NamespaceInput) (*ent.Namespace, string, error) {
	if err := requireAdmin(a); err != nil {
		return nil, "", err
	}
	fe, warning := in.Validate()
	if err := fe.Err(); err != nil {
		return nil, "", err
	}
	var ns *ent.Namespace
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		taken, err := tx.Ent.Namespace.Query().Where(namespace.Name(in.Name)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return nameTaken(in.Name)
		}
		ns, err = tx.Ent.Namespace.Create().SetName(in.Name).SetEnvironment(namespace.Environment(in.Environment)).
			SetDescription(in.Description).SetNillableCreatedBy(a.createdBy()).Save(ctx)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry("namespace.create", "namespace", ns.ID.String(), ns.Name, in.Environment,
			map[string]any{"environment": in.Environment, "description": in.Description}))
	})
	if uniqueViolation(err, "namespaces_name_key") {
		err = nameTaken(in.Name)
	}
	if err != nil {
		return nil, "", err
	}
	return ns, warning, nil
}

func nameTaken(name string) error {
	fe := domain.FieldErrors{}
	fe.Add("name", fmt.Sprintf("%q is already taken.", name))
	return fe.Err()
}

// UpdateNamespaceDescription changes the only mutable text of a namespace.
func (s *Service) UpdateNamespaceDescription(ctx context.Context, a Actor, id uuid.UUID, description string) (*ent.Namespace, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	fe := domain.FieldErrors{}
	checkLength(fe, "description", description, descriptionMax)
	if err := fe.Err(); err != nil {
		return nil, err
	}
	var ns *ent.Namespace
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := tx.Ent.Namespace.Get(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if old.Description == description {
			ns = old
			return nil
		}
		if ns, err = old.Update().SetDescription(description).Save(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry("namespace.update", "namespace", id.String(), ns.Name, string(ns.Environment),
			map[string]any{"old": map[string]any{"description": old.Description}, "new": map[string]any{"description": description}}))
	})
	return ns, err
}

// SetNamespaceEnabled enables or disables a namespace. Disabled namespaces are not
// offered to new requests; VMs already in them are untouched.
func (s *Service) SetNamespaceEnabled(ctx context.Context, a Actor, id uuid.UUID, enabled bool) (*ent.Namespace, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	var ns *ent.Namespace
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := tx.Ent.Namespace.Get(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if old.Enabled == enabled {
			ns = old
			return nil
		}
		if ns, err = old.Update().SetEnabled(enabled).Save(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry(toggleAction("namespace", enabled), "namespace", id.String(), ns.Name,
			string(ns.Environment), nil))
	})
	return ns, err
}

func toggleAction(kind string, enabled bool) string {
	if enabled {
		return kind + ".enable"
	}
	return kind + ".disable"
}

// NamespaceFilter narrows the admin list.
type NamespaceFilter struct {
	Environment string      // "" for all
	Page        paging.Page // 20 rows by default, at most 100; past the end is the last page
}

// ListNamespaces returns one page, by name, and the total matching.
func (s *Service) ListNamespaces(ctx context.Context, f NamespaceFilter) ([]*ent.Namespace, int, error) {
	q := s.Store.Ent.Namespace.Query()
	if f.Environment == "test" || f.Environment == "prod" {
		q = q.Where(namespace.EnvironmentEQ(namespace.Environment(f.Environment)))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, err
	}
	p := f.Page.Standard().Within(total)
	rows, err := q.Order(ent.Asc(namespace.FieldName)).Offset(p.Offset()).Limit(p.Limit()).All(ctx)
	return rows, total, err
}

// Namespace loads one namespace.
func (s *Service) Namespace(ctx context.Context, id uuid.UUID) (*ent.Namespace, error) {
	ns, err := s.Store.Ent.Namespace.Get(ctx, id)
	return ns, notFound(err)
}
