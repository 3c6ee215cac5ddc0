// Package catalog holds the admin catalogues that VM requests choose from: namespaces,
// clusters, instance sizes and templates. Use cases here validate input, own their
// transaction and write the audit row in it; queries.go answers what the request and
// approval forms need.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/secrets"
)

// Error codes of this package that the shared domain list does not carry.
const (
	CodeTemplateNotDraft      = "TEMPLATE_NOT_DRAFT"
	CodeTemplateTransition    = "TEMPLATE_INVALID_TRANSITION"
	CodeTemplateDraftExists   = "TEMPLATE_DRAFT_EXISTS"
	CodeTemplatePublishRacing = "TEMPLATE_PUBLISH_CONFLICT"
)

// Service runs the catalogue use cases.
type Service struct {
	Store *db.Store
	// Box seals cluster kubeconfigs before they are stored.
	Box *secrets.Box
	// ProbeTimeout bounds the connection test of a cluster at registration and
	// credential rotation. Default 15s; tests shorten it.
	ProbeTimeout time.Duration
	// Clusters are the app's providers, for dry-runs on a cluster; nil builds a
	// short-lived registry per dry-run (tests).
	Clusters interface {
		For(*ent.Cluster) (kube.Provider, error)
	}
}

// NewService builds the service on the shared store; box seals cluster credentials.
func NewService(store *db.Store, box *secrets.Box) *Service { return &Service{Store: store, Box: box} }

// Actor is who performs a change: the audit row names them, and the use case checks
// their permission again so a forgotten route guard cannot open a catalogue.
type Actor struct {
	ID        uuid.UUID
	Name      string
	Principal *authz.Principal
}

func (a Actor) entry(action, resourceType, id, name, env string, details map[string]any) audit.Entry {
	e := audit.Entry{Action: action, ActorName: a.Name, ResourceType: resourceType, ResourceID: id,
		ResourceName: name, Environment: env, Details: details}
	if a.ID != uuid.Nil {
		actorID := a.ID
		e.ActorID = &actorID
	}
	return e
}

func (a Actor) createdBy() *uuid.UUID {
	if a.ID == uuid.Nil {
		return nil
	}
	id := a.ID
	return &id
}

// ErrForbidden is returned when the actor lacks the catalogue's permission.
var ErrForbidden = domain.Errf(domain.CodeForbidden, "", "You do not have permission to change this catalogue.")

// ErrNotFound is returned for an unknown id.
var ErrNotFound = domain.Errf(domain.CodeNotFound, "", "This entry does not exist.")

// requireAdmin refuses anyone without platform:admin (namespaces and sizes).
func requireAdmin(a Actor) error {
	if !a.Principal.IsPlatformAdmin() {
		return ErrForbidden
	}
	return nil
}

func require(a Actor, perm string) error {
	if !a.Principal.Has(perm) {
		return ErrForbidden
	}
	return nil
}

func notFound(err error) error {
	if ent.IsNotFound(err) {
		return ErrNotFound
	}
	return err
}

// invalid wraps field errors; extra domain errors ride along (errors.Join) so callers can
// find a blocking rule's code with errors.As while the form still shows every field.
func invalid(fe domain.FieldErrors, coded ...*domain.Error) error {
	err := fe.Err()
	if err == nil {
		return nil
	}
	errs := []error{err}
	for _, c := range coded {
		errs = append(errs, c)
	}
	if len(errs) == 1 {
		return err
	}
	return errors.Join(errs...)
}

// uniqueViolation reports whether err is PostgreSQL's unique_violation on constraint
// (any constraint when empty). A concurrent insert can pass the pre-check, so the index
// has the last word and the form still gets a field error instead of a 500.
func uniqueViolation(err error, constraint string) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "23505" {
		return false
	}
	return constraint == "" || pg.ConstraintName == constraint
}

var dnsLabel = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)

// checkDNSName validates names that become Kubernetes object names or labels (clusters,
// sizes): lower-case DNS labels of at most max characters.
func checkDNSName(fe domain.FieldErrors, field, name string, max int) {
	switch {
	case name == "":
		fe.Add(field, "Enter a name.")
	case len(name) > max:
		fe.Add(field, fmt.Sprintf("At most %d characters (this one has %d).", max, len(name)))
	case strings.Contains(name, "--"):
		fe.Add(field, "Use single hyphens only; \"--\" is not allowed.")
	case !dnsLabel.MatchString(name):
		fe.Add(field, "Use lower-case letters, digits and hyphens; start with a letter and end with a letter or digit.")
	}
}

func checkLength(fe domain.FieldErrors, field, value string, max int) {
	if n := len([]rune(value)); n > max {
		fe.Add(field, fmt.Sprintf("At most %d characters (this has %d).", max, n))
	}
}

// SplitList turns "a, b,,c" into [a b c], dropping blanks and repeats but keeping order.
func SplitList(s string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ';' }) {
		p = strings.TrimSpace(p)
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// Counts summarise each catalogue for the admin home.
type Counts struct {
	Namespaces, NamespacesEnabled int
	Clusters, ClustersHealthy     int
	Sizes, SizesEnabled           int
	TemplateNames, ActiveVersions int
}

// CountAll reads the admin home's numbers.
func (s *Service) CountAll(ctx context.Context) (Counts, error) {
	var c Counts
	q := func(query string, dst ...any) error { return s.Store.SQL.QueryRowContext(ctx, query).Scan(dst...) }
	if err := q(`SELECT count(*), count(*) FILTER (WHERE enabled) FROM namespaces`, &c.Namespaces, &c.NamespacesEnabled); err != nil {
		return c, err
	}
	if err := q(`SELECT count(*), count(*) FILTER (WHERE enabled AND status = 'HEALTHY') FROM clusters WHERE deleted_at IS NULL`, &c.Clusters, &c.ClustersHealthy); err != nil {
		return c, err
	}
	if err := q(`SELECT count(*), count(*) FILTER (WHERE enabled) FROM instance_sizes`, &c.Sizes, &c.SizesEnabled); err != nil {
		return c, err
	}
	err := q(`SELECT count(DISTINCT name) FILTER (WHERE status <> 'archived'), count(*) FILTER (WHERE status = 'active') FROM templates`,
		&c.TemplateNames, &c.ActiveVersions)
	return c, err
}
