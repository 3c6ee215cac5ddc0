package devoidc

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// prefix is where the tests mount the issuer, to prove that endpoint URLs
// and routing work under http.StripPrefix as in the app.
const prefix = "/dev/oidc"

const (
	clientID     = "shepherd"
	clientSecret = "dev-secret" // shorter than 32 bytes on purpose (HS256 tamper)
)

// fakeClock starts at the real time so ID tokens still verify with go-oidc's
// real clock, but can be advanced to expire codes and access tokens.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one issuer behind a real HTTP server, plus the relying-party side
// configured exactly as the app configures it.
type env struct {
	srv        *httptest.Server
	iss        *Issuer
	issuerURL  string
	redirect   string // registered redirect URI #1 (the one cfg uses)
	redirect2  string // registered redirect URI #2
	clock      *fakeClock
	cfg        oauth2.Config
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	noRedirect *http.Client // like a browser, but lets us inspect 302s
}

func testUsers() []User {
	return []User{
		{Sub: "alice", Username: "alice", Name: "Alice Requester", Email: "alice@example.test",
			Groups: []string{"shepherd-requesters", "shop-system"}, Description: "Requester — member of System shop"},
		{Sub: "bob", Username: "bob", Name: "Bob Admin", Email: "bob@example.test",
			Groups: []string{"shepherd-admins"}, Description: "Administrator"},
	}
}

// newEnv starts a server; mod may adjust the Options before New.
func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	e := &env{
		srv:       srv,
		issuerURL: srv.URL + prefix,
		redirect:  srv.URL + "/auth/callback",
		redirect2: srv.URL + "/auth/callback2",
		clock:     &fakeClock{t: time.Now()},
		noRedirect: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
	opts := Options{
		Issuer: e.issuerURL,
		Clients: []Client{
			{ID: clientID, Secret: clientSecret, RedirectURIs: []string{e.redirect, e.redirect2}},
			{ID: "other", Secret: "other-secret", RedirectURIs: []string{srv.URL + "/other/callback"}},
		},
		Users: testUsers(),
		Now:   e.clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	iss, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.iss = iss
	mux.Handle(prefix+"/", http.StripPrefix(prefix, iss.Handler()))

	e.provider, err = oidc.NewProvider(t.Context(), e.issuerURL)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	e.cfg = oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint:     e.provider.Endpoint(),
		RedirectURL:  e.redirect,
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email", "groups"},
	}
	// Pin the auth style: with auto-detection x/oauth2 retries a failed
	// exchange with the other style, which would burn the code twice and
	// hide the first error from the assertions.
	e.cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	e.verifier = e.provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{"RS256", "ES256"}})
	return e
}

var (
	formActionRE  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenInputRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// authorize plays the browser: it opens the authorize URL, reads the built-in
// picker's form, clicks the button for sub and returns the 302 response.
func (e *env) authorize(t *testing.T, authURL, sub string) *http.Response {
	t.Helper()
	resp, err := e.noRedirect.Get(authURL)
	if err != nil {
		t.Fatalf("GET authorize: %v", err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET authorize: status %d, body %q", resp.StatusCode, body)
	}
	m := formActionRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("picker has no form: %q", body)
	}
	form := url.Values{"user": {sub}}
	for _, h := range hiddenInputRE.FindAllStringSubmatch(body, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	resp, err = e.noRedirect.PostForm(html.UnescapeString(m[1]), form)
	if err != nil {
		t.Fatalf("POST authorize: %v", err)
	}
	readBody(t, resp)
	return resp
}

// login runs the front-channel part of the flow like the app does and
// returns the authorization code plus the verifier and nonce it used.
func (e *env) login(t *testing.T, sub string) (code, verifier, nonce string) {
	t.Helper()
	state, nonce, verifier := randomString(16), randomString(16), oauth2.GenerateVerifier()
	authURL := e.cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	resp := e.authorize(t, authURL, sub)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST authorize: status %d, want 302", resp.StatusCode)
	}
	loc := mustParse(t, resp.Header.Get("Location"))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != e.redirect {
		t.Fatalf("redirected to %q, want %q", got, e.redirect)
	}
	if got := loc.Query().Get("state"); got != state {
		t.Fatalf("state = %q, want %q", got, state)
	}
	code = loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %q", loc)
	}
	return code, verifier, nonce
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return u
}
