package signin_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/auth"
	"kv-shepherd.io/shepherd/internal/auth/password"
	"kv-shepherd.io/shepherd/internal/config"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/seed"
	"kv-shepherd.io/shepherd/internal/testdb"
	"kv-shepherd.io/shepherd/web/page"
	"kv-shepherd.io/shepherd/web/signin"
)

const message2s = "Too many failed sign-ins. Try again in 2 seconds."

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// site is the sign-in area served by one process: its own pool, session store and
// service, with the throttle on the test's clock.
type site struct {
	url   string
	store *db.Store
}

// newSites starts n sites on one fresh database, like replicas behind a load balancer.
func newSites(t *testing.T, clk *clock, n int) []*site {
	t.Helper()
	dsn := testdb.NewDSN(t)
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	var out []*site
	for i := range n {
		pool, err := pgxpool.New(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		store := db.NewStore(db.SQLDB(pool))
		t.Cleanup(func() { _ = store.SQL.Close() })
		if i == 0 {
			if err := seed.Base(t.Context(), store); err != nil {
				t.Fatal(err)
			}
		}
		sessions := auth.NewSessionStore(store.Ent, []byte(strings.Repeat("k", 32)), false, cfg.SessionIdleTimeout, cfg.SessionMaxAge)
		kit := &page.Kit{Config: cfg, Logger: logger, Store: store, Sessions: sessions}
		e := echo.New()
		svc := &auth.Service{Store: store, Policy: password.Policy{Mode: "nist"}, Logger: logger, Now: clk.Now}
		(&signin.Handler{Kit: kit, Auth: svc}).Register(&page.Router{E: e, Kit: kit})
		srv := httptest.NewServer(e)
		t.Cleanup(srv.Close)
		out = append(out, &site{url: srv.URL, store: store})
	}
	return out
}

func newClock() *clock { return &clock{now: time.Now()} }

func addUser(t *testing.T, s *site, name, secret string) {
	t.Helper()
	hash, err := password.Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	s.store.Ent.User.Create().SetUsername(name).SetAuthType(user.AuthTypeLocal).SetPasswordHash(hash).ExecX(t.Context())
}

type browser struct {
	c   *http.Client
	csr string
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (b *browser) do(t *testing.T, method, target string, form url.Values) (int, string, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindStringSubmatch(string(raw)); m != nil {
		b.csr = m[1]
	}
	return resp.StatusCode, string(raw), resp.Header
}

// login posts the sign-in form the way a browser does (the page first, for its token).
func (b *browser) login(t *testing.T, s *site, username, secret string) (int, string, http.Header) {
	t.Helper()
	b.do(t, http.MethodGet, s.url+"/login", nil)
	return b.do(t, http.MethodPost, s.url+"/login", url.Values{"csrf_token": {b.csr}, "username": {username}, "password": {secret}})
}

// loginError is the message in the sign-in page's error box.
func loginError(body string) string {
	m := regexp.MustCompile(`data-testid="login-error"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// The sixth attempt after five wrong passwords waits: 429 with the wait in the page and
// Retry-After, the right password included, until the clock passes the block.
func TestSignInIsThrottled(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newSites(t, clk, 1)[0]
	addUser(t, s, "erin", "erins-long-Passphrase")
	b := newBrowser(t)
	for i := 1; i <= 4; i++ {
		if status, body, _ := b.login(t, s, "erin", "wrong"); status != http.StatusUnauthorized || loginError(body) != "The username or password is not correct." {
			t.Fatalf("failure %d: %d %q", i, status, loginError(body))
		}
	}
	status, body, h := b.login(t, s, "erin", "wrong")
	if status != http.StatusTooManyRequests || loginError(body) != message2s || h.Get("Retry-After") != "2" {
		t.Fatalf("fifth failure: %d %q Retry-After %q", status, loginError(body), h.Get("Retry-After"))
	}
	if !strings.Contains(body, `value="erin"`) {
		t.Error("the username is not kept in the form")
	}
	status, body, h = b.login(t, s, "erin", "erins-long-Passphrase")
	if status != http.StatusTooManyRequests || loginError(body) != message2s || h.Get("Location") != "" {
		t.Fatalf("right password while blocked: %d %q", status, loginError(body))
	}
	clk.Advance(1500 * time.Millisecond)
	if status, body, h := b.login(t, s, "erin", "erins-long-Passphrase"); status != http.StatusTooManyRequests ||
		loginError(body) != "Too many failed sign-ins. Try again in 1 second." || h.Get("Retry-After") != "1" {
		t.Fatalf("half a second left: %d %q %q", status, loginError(body), h.Get("Retry-After"))
	}
	clk.Advance(500 * time.Millisecond)
	if status, _, h := b.login(t, s, "erin", "erins-long-Passphrase"); status != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("after the wait: %d %s", status, h.Get("Location"))
	}
	n, err := s.store.Ent.AuditLog.Query().Where(auditlog.Action("user.login"), auditlog.ActorName("erin")).Count(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("user.login rows %d %v", n, err)
	}
}

// Two processes on one database: failures on one block the account on the other.
func TestSignInThrottleIsSharedByReplicas(t *testing.T) {
	t.Parallel()
	clk := newClock()
	sites := newSites(t, clk, 2)
	addUser(t, sites[0], "frank", "franks-long-Passphrase")
	b := newBrowser(t)
	for i := range 5 {
		b.login(t, sites[i%2], "frank", "wrong")
	}
	other := newBrowser(t) // another browser, on the replica that saw two of the five
	if status, body, _ := other.login(t, sites[1], "FRANK", "franks-long-Passphrase"); status != http.StatusTooManyRequests || loginError(body) != message2s {
		t.Fatalf("replica b: %d %q", status, loginError(body))
	}
	clk.Advance(2 * time.Second)
	if status, _, _ := other.login(t, sites[1], "frank", "franks-long-Passphrase"); status != http.StatusSeeOther {
		t.Fatalf("after the wait: %d", status)
	}
}

// One address guessing at many accounts: the 20th failure blocks the address, for real
// accounts too.
func TestSignInAddressLimit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newSites(t, clk, 1)[0]
	addUser(t, s, "grace", "graces-long-Passphrase")
	b := newBrowser(t)
	for i := 1; i <= 19; i++ {
		if status, _, _ := b.login(t, s, "user"+strings.Repeat("x", i), "guess"); status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, status)
		}
	}
	if status, body, _ := b.login(t, s, "someone", "guess"); status != http.StatusTooManyRequests || loginError(body) != message2s {
		t.Fatalf("20th failure: %d %q", status, loginError(body))
	}
	if status, _, _ := newBrowser(t).login(t, s, "grace", "graces-long-Passphrase"); status != http.StatusTooManyRequests {
		t.Fatalf("a real account from the blocked address: %d", status)
	}
}

// The change-password form: wrong current passwords count against the account; a blocked
// account is refused (429, the wait in the form's problems) even with the right one.
func TestPasswordChangeIsThrottled(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newSites(t, clk, 1)[0]
	addUser(t, s, "ivan", "ivans-long-Passphrase")
	b := newBrowser(t)
	if status, _, _ := b.login(t, s, "ivan", "ivans-long-Passphrase"); status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", status)
	}
	b.do(t, http.MethodGet, s.url+"/account/password", nil)
	change := func(current string) (int, string, http.Header) {
		next := "a brand new passphrase"
		return b.do(t, http.MethodPost, s.url+"/account/password", url.Values{"csrf_token": {b.csr}, "current": {current}, "new": {next}, "confirm": {next}})
	}
	for i := 1; i <= 4; i++ {
		if status, body, _ := change("wrong"); status != http.StatusUnprocessableEntity || !strings.Contains(body, "current password is not correct") {
			t.Fatalf("wrong current %d: %d", i, status)
		}
	}
	problems := regexp.MustCompile(`(?s)data-testid="password-problems".*?<li>([^<]*)</li>`)
	status, body, h := change("wrong")
	if m := problems.FindStringSubmatch(body); status != http.StatusTooManyRequests || m == nil || m[1] != message2s || h.Get("Retry-After") != "2" {
		t.Fatalf("fifth wrong current: %d %v", status, m)
	}
	status, body, _ = change("ivans-long-Passphrase")
	if m := problems.FindStringSubmatch(body); status != http.StatusTooManyRequests || m == nil || m[1] != message2s {
		t.Fatalf("right current while blocked: %d %v", status, m)
	}
	clk.Advance(2 * time.Second)
	if status, _, h := change("ivans-long-Passphrase"); status != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("after the wait: %d", status)
	}
}
