package policy

import (
	"context"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/template"
)

// Option is one choice of the policy form.
type Option struct{ Value, Label string }

// Options are the catalogue entries the policy form offers.
type Options struct {
	Namespaces, Systems, Services, Sizes, Templates, Roles []Option
}

// FormOptions reads the catalogues for the policy form (live entries only; a policy's
// references to removed ones are reported as warnings instead).
func (s *Service) FormOptions(ctx context.Context) (*Options, error) {
	c := s.Store.Ent
	o := &Options{}
	nss, err := c.Namespace.Query().Where(namespace.Enabled(true)).Order(ent.Asc(namespace.FieldName)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nss {
		o.Namespaces = append(o.Namespaces, Option{Value: n.ID.String(), Label: n.Name + " (" + string(n.Environment) + ")"})
	}
	syss, err := c.System.Query().Where(system.DeletedAtIsNil()).Order(ent.Asc(system.FieldName)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range syss {
		o.Systems = append(o.Systems, Option{Value: x.ID.String(), Label: x.Name})
	}
	svcs, err := c.Service.Query().Where(service.DeletedAtIsNil()).WithSystem().Order(ent.Asc(service.FieldName)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range svcs {
		label := x.Name
		if x.Edges.System != nil {
			label = x.Edges.System.Name + "/" + x.Name
		}
		o.Services = append(o.Services, Option{Value: x.ID.String(), Label: label})
	}
	sizes, err := c.InstanceSize.Query().Order(ent.Asc("sort_order"), ent.Asc("name")).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range sizes {
		label := x.Name
		if !x.Enabled {
			label += " (disabled)"
		}
		o.Sizes = append(o.Sizes, Option{Value: x.ID.String(), Label: label})
	}
	names, err := c.Template.Query().Where(template.StatusEQ(template.StatusActive)).Order(ent.Asc(template.FieldName)).
		GroupBy(template.FieldName).Strings(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		o.Templates = append(o.Templates, Option{Value: n, Label: n})
	}
	roles, err := c.Role.Query().Order(ent.Asc(role.FieldName)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		o.Roles = append(o.Roles, Option{Value: r.Name, Label: r.Name})
	}
	return o, nil
}
