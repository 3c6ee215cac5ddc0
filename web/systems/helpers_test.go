package systems_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/role"
	"kv-shepherd.io/shepherd/ent/rolebinding"
	"kv-shepherd.io/shepherd/ent/service"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
)

// session is one signed-in demo user (or an anonymous visitor) with their CSRF token.
type session struct {
	t    *testing.T
	env  *apptest.Env
	c    *http.Client
	csrf string
}

func signIn(t *testing.T, env *apptest.Env, username string) *session {
	t.Helper()
	s := &session{t: t, env: env, c: env.Client(t)}
	if username != "" {
		env.LoginOIDC(t, s.c, "demo-"+username)
		_, body, _ := env.Get(t, s.c, "/")
		s.csrf = apptest.CSRF(t, body)
	}
	return s
}

func (s *session) get(path string) (int, string) {
	s.t.Helper()
	status, body, _ := s.env.Get(s.t, s.c, path)
	return status, body
}

// post sends a form with the session's CSRF token.
func (s *session) post(path string, form url.Values) (int, string, string) {
	s.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", s.csrf)
	status, body, resp := s.env.PostForm(s.t, s.c, path, form)
	return status, body, resp.Header.Get("Location")
}

// htmx sends a GET as htmx does (fragments answer it).
func (s *session) htmx(path string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.env.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("HX-Request", "true")
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func wantStatus(t *testing.T, what string, got, want int, body string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d\n%.1500s", what, got, want, body)
	}
}

func wantIn(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Fatalf("%s: %q missing\n%.3000s", what, s, body)
		}
	}
}

func wantNotIn(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Fatalf("%s: %q present", what, s)
		}
	}
}

func systemID(t *testing.T, env *apptest.Env, name string) uuid.UUID {
	t.Helper()
	return env.App.Store.Ent.System.Query().Where(system.Name(name), system.DeletedAtIsNil()).OnlyIDX(t.Context())
}

func serviceID(t *testing.T, env *apptest.Env, systemName, name string) uuid.UUID {
	t.Helper()
	return env.App.Store.Ent.Service.Query().Where(service.Name(name), service.DeletedAtIsNil(),
		service.HasSystemWith(system.Name(systemName), system.DeletedAtIsNil())).OnlyIDX(t.Context())
}

func userID(t *testing.T, env *apptest.Env, username string) uuid.UUID {
	t.Helper()
	return env.App.Store.Ent.User.Query().Where(user.Username(username)).OnlyIDX(t.Context())
}

// grant gives a user an extra global role, as an administrator would (survives sign-in).
func grant(t *testing.T, env *apptest.Env, username, roleName string) {
	t.Helper()
	c := env.App.Store.Ent
	r := c.Role.Query().Where(role.Name(roleName)).OnlyX(t.Context())
	c.RoleBinding.Create().SetUserID(userID(t, env, username)).SetRoleID(r.ID).SetAllowedEnvironments([]string{"test"}).
		SetSource(rolebinding.SourceManual).ExecX(t.Context())
}
