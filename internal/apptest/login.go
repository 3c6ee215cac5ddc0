package apptest

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
)

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// CSRF returns the token embedded in a page's forms.
func CSRF(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%.2000s", page)
	}
	return m[1]
}

// OIDCCallback walks the sign-in through the development issuer up to the IdP's redirect
// back to Shepherd, and returns that callback URL without following it, so tests can
// replay or tamper with it.
func (e *Env) OIDCCallback(t testing.TB, c *http.Client, sub string) string {
	t.Helper()
	status, _, resp := e.Get(t, c, "/auth/oidc/start")
	if status != http.StatusFound {
		t.Fatalf("oidc start: status %d", status)
	}
	authorize, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	status, _, _ = e.Get(t, c, authorize.String())
	if status != http.StatusOK {
		t.Fatalf("authorize page: status %d", status)
	}
	form := authorize.Query()
	form.Set("user", sub)
	post := *authorize
	post.RawQuery = ""
	status, body, resp := e.PostForm(t, c, post.String(), form)
	if status != http.StatusFound {
		t.Fatalf("authorize post: status %d: %s", status, body)
	}
	return resp.Header.Get("Location")
}

// LoginOIDC signs c in as the demo user with subject sub and returns the landing path.
func (e *Env) LoginOIDC(t testing.TB, c *http.Client, sub string) string {
	t.Helper()
	status, body, resp := e.Get(t, c, e.OIDCCallback(t, c, sub))
	if status != http.StatusSeeOther {
		t.Fatalf("callback: status %d: %.1500s", status, body)
	}
	return resp.Header.Get("Location")
}

// LoginLocal signs in with a local account and returns the landing path.
func (e *Env) LoginLocal(t testing.TB, c *http.Client, username, password string) (int, string) {
	t.Helper()
	_, page, _ := e.Get(t, c, "/login")
	status, body, resp := e.PostForm(t, c, "/login", url.Values{"csrf_token": {CSRF(t, page)}, "username": {username}, "password": {password}})
	if status == http.StatusSeeOther {
		return status, resp.Header.Get("Location")
	}
	return status, body
}
