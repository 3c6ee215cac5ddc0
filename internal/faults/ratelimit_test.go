package faults

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/testdb"
)

// TestReplicasShareRateLimits sends one user's changes to two Shepherd processes on one
// database alternately: the per-minute limit counts them together (exactly the limit is
// admitted however they are spread), and both refuse the rest with 429, Retry-After and
// the reason in the page.
func TestReplicasShareRateLimits(t *testing.T) {
	const limit = 6
	dsn := testdb.NewDSN(t)
	env := []string{"DATABASE_URL=" + dsn, "SHEPHERD_SIM_STATE_DIR=" + t.TempDir(),
		"SHEPHERD_RATE_LIMIT_USER_PER_MINUTE=6", "SHEPHERD_RATE_LIMIT_GLOBAL_PER_MINUTE=1000"}
	a := startChild(t, "replica-a", freeAddr(t), env)
	b := startChild(t, "replica-b", freeAddr(t), env)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(base, path string) string {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	post := func(base, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		resp, err := c.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	// Sign in and change the first password (neither is counted).
	page := get(a.url, "/login")
	if resp, _ := post(a.url, "/login", url.Values{"csrf_token": {apptest.CSRF(t, page)}, "username": {"admin"}, "password": {"admin"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	page = get(a.url, "/account/password")
	pw := "a long and private passphrase"
	if resp, _ := post(a.url, "/account/password", url.Values{"csrf_token": {apptest.CSRF(t, page)}, "current": {"admin"}, "new": {pw}, "confirm": {pw}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change: %d", resp.StatusCode)
	}
	token := apptest.CSRF(t, get(b.url, "/notifications"))
	// Stay inside one calendar minute.
	if s := time.Now().Second(); s > 45 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	admitted, refused := 0, 0
	for i := range 2 * limit {
		base := a.url
		if i%2 == 1 {
			base = b.url
		}
		resp, body := post(base, "/notifications/read-all", url.Values{"csrf_token": {token}})
		switch resp.StatusCode {
		case http.StatusSeeOther, http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
			refused++
			if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("refusal %d without Retry-After", refused)
			}
			if !strings.Contains(body, "the limit is 6 a minute") || !strings.Contains(body, "Try again in") {
				t.Errorf("refusal page does not say why: %s", body)
			}
		default:
			t.Fatalf("change %d on %s: %d", i+1, base, resp.StatusCode)
		}
	}
	if admitted != limit || refused != limit {
		t.Fatalf("admitted %d and refused %d across two replicas; want %d each", admitted, refused, limit)
	}
	// Reads still work while changes are refused.
	if !strings.Contains(get(b.url, "/"), "Welcome") {
		t.Fatal("the dashboard is refused while the user is over the change limit")
	}
}
