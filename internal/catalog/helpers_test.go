package catalog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/secrets"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// newService gives each test its own migrated database with the base seed.
func newService(t *testing.T) *catalog.Service {
	t.Helper()
	store := db.NewStore(db.SQLDB(testdb.New(t)))
	t.Cleanup(func() { _ = store.SQL.Close() }) // before testdb closes the pool
	if err := seed.Base(t.Context(), store); err != nil {
		t.Fatal(err)
	}
	box, err := secrets.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return catalog.NewService(store, box)
}

// actor builds a principal holding exactly perms (globally, in both environments).
func actor(name string, perms ...string) catalog.Actor {
	id := uuid.New()
	var bindings []authz.Binding
	if len(perms) > 0 {
		bindings = []authz.Binding{{Role: "test", Permissions: perms, ScopeType: "global", Environments: []string{"test", "prod"}}}
	}
	return catalog.Actor{ID: id, Name: name, Principal: authz.NewPrincipal(id, name, bindings, nil)}
}

var (
	admin    = actor("carol", authz.PlatformAdmin)
	operator = actor("alice", authz.VMCreate, authz.VMRead)
)

// fieldErrors returns the form errors of err, failing when err is something else.
func fieldErrors(t *testing.T, err error) domain.FieldErrors {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error, got %v", err)
	}
	return ve.Fields
}

func code(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// audits lists the audit rows of a resource, oldest first.
func audits(t *testing.T, s *catalog.Service, resourceID string) []*ent.AuditLog {
	t.Helper()
	rows, err := s.Store.Ent.AuditLog.Query().Where(auditlog.ResourceID(resourceID)).
		Order(ent.Asc(auditlog.FieldCreatedAt)).All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func actions(rows []*ent.AuditLog) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.Action)
	}
	return out
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func newID() uuid.UUID { return uuid.New() }
