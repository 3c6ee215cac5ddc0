package faults

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// TestReplicasShareSessionsAndCSRF signs in through two Shepherd processes on one database
// alternately, as a load balancer without affinity would send a browser: the sign-in form
// rendered by one is accepted by the other (the pre-sign-in CSRF token travels in a cookie
// signed with the key both load from the database), the session created by one is valid
// on the other, and a form rendered by one posts on the other.
func TestReplicasShareSessionsAndCSRF(t *testing.T) {
	dsn := testdb.NewDSN(t)
	env := []string{"DATABASE_URL=" + dsn, "SHEPHERD_SIM_STATE_DIR=" + t.TempDir()}
	a := startChild(t, "replica-a", freeAddr(t), env)
	b := startChild(t, "replica-b", freeAddr(t), env)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(base, path string) (int, string, *http.Response) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp
	}
	post := func(base, path string, form url.Values) (int, *http.Response) {
		t.Helper()
		resp, err := c.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp
	}

	_, page, _ := get(a.url, "/login")
	status, resp := post(b.url, "/login", url.Values{"csrf_token": {apptest.CSRF(t, page)}, "username": {"admin"}, "password": {"admin"}})
	if status != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "/account/password") {
		t.Fatalf("sign-in form from A posted to B: %d → %s", status, resp.Header.Get("Location"))
	}
	status, page, _ = get(b.url, "/account/password")
	if status != http.StatusOK || !strings.Contains(page, `name="new"`) {
		t.Fatalf("the session from B's sign-in on B: %d", status)
	}
	status, page, _ = get(a.url, "/account/password")
	if status != http.StatusOK {
		t.Fatalf("the session from B's sign-in on A: %d", status)
	}
	newPassword := "a long and private passphrase"
	status, resp = post(b.url, "/account/password", url.Values{"csrf_token": {apptest.CSRF(t, page)},
		"current": {"admin"}, "new": {newPassword}, "confirm": {newPassword}})
	if status != http.StatusSeeOther {
		t.Fatalf("the password form from A posted to B: %d", status)
	}
	for _, base := range []string{a.url, b.url} {
		if status, page, _ := get(base, "/"); status != http.StatusOK || !strings.Contains(page, "Welcome") {
			t.Fatalf("the dashboard on %s after the change: %d", base, status)
		}
	}
	// A form posted with a token of another session is refused on both.
	for _, base := range []string{a.url, b.url} {
		if status, _ := post(base, "/logout", url.Values{"csrf_token": {"not-the-token"}}); status != http.StatusForbidden {
			t.Errorf("a forged sign-out on %s: %d, want 403", base, status)
		}
	}
}
