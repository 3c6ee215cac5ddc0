package devoidc

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// validAuthParams is a correct authorize request for e's main client.
func validAuthParams(e *env) url.Values {
	return url.Values{
		"client_id":             {clientID},
		"redirect_uri":          {e.redirect},
		"response_type":         {"code"},
		"scope":                 {"openid email"},
		"state":                 {"st4te"},
		"nonce":                 {"n0nce"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
}

func (e *env) getAuthorize(t *testing.T, q url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := e.noRedirect.Get(e.issuerURL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

func (e *env) postAuthorize(t *testing.T, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := e.noRedirect.PostForm(e.issuerURL+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

// TestAuthorizeUntrustedClientOrRedirect: with a bad client or redirect_uri
// the issuer must show an error page and never redirect (open redirector).
func TestAuthorizeUntrustedClientOrRedirect(t *testing.T) {
	e := newEnv(t, nil)
	cases := map[string]struct {
		mod  func(url.Values)
		want string
	}{
		"unknown client":          {func(q url.Values) { q.Set("client_id", "nobody") }, "unknown client_id"},
		"missing client":          {func(q url.Values) { q.Del("client_id") }, "unknown client_id"},
		"foreign redirect":        {func(q url.Values) { q.Set("redirect_uri", "http://evil.example/auth/callback") }, "redirect_uri is not registered"},
		"redirect path extended":  {func(q url.Values) { q.Set("redirect_uri", e.redirect+"/x") }, "redirect_uri is not registered"},
		"redirect with query":     {func(q url.Values) { q.Set("redirect_uri", e.redirect+"?next=/") }, "redirect_uri is not registered"},
		"other client's redirect": {func(q url.Values) { q.Set("redirect_uri", e.srv.URL+"/other/callback") }, "redirect_uri is not registered"},
		"missing redirect":        {func(q url.Values) { q.Del("redirect_uri") }, "redirect_uri is not registered"},
		"repeated redirect":       {func(q url.Values) { q.Add("redirect_uri", "http://evil.example/") }, "redirect_uri given more than once"},
	}
	for name, c := range cases {
		for _, method := range []string{"GET", "POST"} {
			q := validAuthParams(e)
			c.mod(q)
			var resp *http.Response
			var body string
			if method == "GET" {
				resp, body = e.getAuthorize(t, q)
			} else {
				q.Set("user", "alice")
				resp, body = e.postAuthorize(t, q)
			}
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, c.want) {
				t.Errorf("%s %s: status %d, Location %q, body %q; want 400 without redirect mentioning %q",
					method, name, resp.StatusCode, resp.Header.Get("Location"), body, c.want)
			}
		}
	}
}

// TestAuthorizeInvalidRequest: once client and redirect_uri are trusted,
// errors go back to the client as error redirects and never carry a code.
func TestAuthorizeInvalidRequest(t *testing.T) {
	e := newEnv(t, nil)
	cases := map[string]struct {
		mod       func(url.Values)
		wantError string
	}{
		"missing PKCE":           {func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		"PKCE plain":             {func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		"PKCE method missing":    {func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
		"PKCE challenge missing": {func(q url.Values) { q.Del("code_challenge") }, "invalid_request"},
		"PKCE challenge garbage": {func(q url.Values) { q.Set("code_challenge", "not-a-sha256") }, "invalid_request"},
		"missing nonce":          {func(q url.Values) { q.Del("nonce") }, "invalid_request"},
		"repeated state":         {func(q url.Values) { q.Add("state", "other") }, "invalid_request"},
		"implicit flow":          {func(q url.Values) { q.Set("response_type", "id_token") }, "unsupported_response_type"},
		"no openid scope":        {func(q url.Values) { q.Set("scope", "email profile") }, "invalid_scope"},
	}
	for name, c := range cases {
		for _, method := range []string{"GET", "POST"} {
			q := validAuthParams(e)
			c.mod(q)
			var resp *http.Response
			if method == "GET" {
				resp, _ = e.getAuthorize(t, q)
			} else {
				// A hand-made POST must not bypass the checks of the GET.
				q.Set("user", "alice")
				resp, _ = e.postAuthorize(t, q)
			}
			if resp.StatusCode != http.StatusFound {
				t.Errorf("%s %s: status %d, want 302", method, name, resp.StatusCode)
				continue
			}
			loc := mustParse(t, resp.Header.Get("Location"))
			lq := loc.Query()
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != e.redirect ||
				lq.Get("error") != c.wantError || lq.Get("state") != "st4te" || lq.Has("code") {
				t.Errorf("%s %s: redirected to %q, want %s?error=%s&state=st4te without code", method, name, loc, e.redirect, c.wantError)
			}
		}
	}

	// Without state there is nothing to echo back, but it is still an error.
	q := validAuthParams(e)
	q.Del("state")
	resp, _ := e.getAuthorize(t, q)
	lq := mustParse(t, resp.Header.Get("Location")).Query()
	if resp.StatusCode != http.StatusFound || lq.Get("error") != "invalid_request" || lq.Has("state") || lq.Has("code") {
		t.Fatalf("missing state: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAuthorizeUnknownUser(t *testing.T) {
	e := newEnv(t, nil)
	q := validAuthParams(e)
	q.Set("user", "mallory")
	resp, body := e.postAuthorize(t, q)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "Unknown user") {
		t.Fatalf("status %d, Location %q, body %q; want 400 picker with error", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// The re-rendered picker still carries the request through.
	if !strings.Contains(body, `<input type="hidden" name="nonce" value="n0nce">`) {
		t.Fatalf("re-rendered picker lost hidden params: %q", body)
	}
}

func TestBuiltinPickerPage(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Users = append(o.Users, User{Sub: `x"><script>`, Name: "<b>Eve</b>", Description: `<script>alert(1)</script><style>`})
	})
	q := validAuthParams(e)
	resp, body := e.getAuthorize(t, q)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("CSP = %q", csp)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("missing no-store / DENY headers: %v", resp.Header)
	}
	lower := strings.ToLower(body)
	for _, bad := range []string{"<script", "<style", " style=", "onclick", "javascript:"} {
		if strings.Contains(lower, bad) {
			t.Fatalf("picker contains %q: %q", bad, body)
		}
	}
	for _, want := range []string{
		`<form method="post" action="` + e.issuerURL + `/authorize">`,
		`<button type="submit" name="user" value="alice">Alice Requester</button>`,
		`<button type="submit" name="user" value="bob">Bob Admin</button>`,
		`Requester — member of System shop`,
		`&lt;b&gt;Eve&lt;/b&gt;`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("picker lacks %q", want)
		}
	}
	for k := range q {
		want := `<input type="hidden" name="` + k + `" value="`
		if strings.Count(body, want) != 1 {
			t.Errorf("picker lacks exactly one hidden %q", k)
		}
	}
}

func TestCustomRenderPicker(t *testing.T) {
	var got PickerData
	e := newEnv(t, func(o *Options) {
		o.RenderPicker = func(w http.ResponseWriter, _ *http.Request, d PickerData) {
			got = d
			w.WriteHeader(http.StatusTeapot)
		}
	})
	q := validAuthParams(e)
	resp, _ := e.getAuthorize(t, q)
	if resp.StatusCode != http.StatusTeapot {
		t.Fatalf("status %d: custom renderer not used", resp.StatusCode)
	}
	if got.Action != e.issuerURL+"/authorize" || got.ClientID != clientID || got.Error != "" || len(got.Users) != 2 ||
		got.Users[0].Description != "Requester — member of System shop" {
		t.Fatalf("PickerData = %+v", got)
	}
	if len(got.Hidden) != len(q) {
		t.Fatalf("Hidden = %v, want the %d authorize params", got.Hidden, len(q))
	}
	for k := range q {
		if got.Hidden[k] != q.Get(k) {
			t.Errorf("Hidden[%q] = %q, want %q", k, got.Hidden[k], q.Get(k))
		}
	}
}
