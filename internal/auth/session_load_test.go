package auth_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth"
)

// TestSessionLoadReadsEveryUserField: loading a session reads its user in the same
// statement, scanning the users columns by hand (the hottest query of the portal). The
// user must equal what Ent reads, field by field, and a new field of users must be
// added to that statement (this list fails first).
func TestSessionLoadReadsEveryUserField(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	ctx := t.Context()
	login := time.Date(2026, 2, 1, 8, 30, 0, 123000, time.UTC)
	u := e.client.User.Create().SetUsername("field-check").SetEmail("fc@example.org").SetDisplayName("Field Check").
		SetAuthType(user.AuthTypeOidc).SetIssuer("https://idp.example.org").SetExternalID("ext-1").SetPasswordHash("hash").SetForcePasswordChange(true).
		SetLastLoginAt(login).SaveX(ctx)
	_, c := e.start(u.ID)
	sess, err := e.load(c)
	if err != nil {
		t.Fatal(err)
	}
	got := auth.SessionUser(sess)
	if got == nil {
		t.Fatal("the session was loaded without its user")
	}
	want := e.client.User.GetX(ctx, u.ID)

	read := []string{"ID", "CreatedAt", "UpdatedAt", "Username", "Email", "DisplayName", "AuthType", "ExternalID",
		"PasswordHash", "ForcePasswordChange", "Disabled", "LastLoginAt", "AuthzVersion", "Issuer"}
	typ := reflect.TypeOf(ent.User{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() || f.Name == "Edges" {
			continue
		}
		if !slices.Contains(read, f.Name) {
			t.Errorf("users has a field %s that the session load does not read (internal/auth/session_load.go)", f.Name)
			continue
		}
		g, w := reflect.ValueOf(*got).Field(i).Interface(), reflect.ValueOf(*want).Field(i).Interface()
		if !reflect.DeepEqual(normalise(g), normalise(w)) {
			t.Errorf("%s: session load read %#v, Ent reads %#v", f.Name, g, w)
		}
	}
}

// normalise compares times by instant (the location of a scanned time may differ).
func normalise(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case *time.Time:
		if x == nil {
			return x
		}
		t := x.UTC()
		return &t
	}
	return v
}
