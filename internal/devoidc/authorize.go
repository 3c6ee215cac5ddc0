package devoidc

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// authParams are the authorize parameters carried from GET /authorize through
// the picker form to POST /authorize. Nothing is kept server-side between the
// two requests, so the POST re-validates all of them.
var authParams = []string{
	"client_id", "redirect_uri", "response_type", "scope",
	"state", "nonce", "code_challenge", "code_challenge_method",
}

// maxFormBytes bounds form bodies; legitimate requests are a few hundred bytes.
const maxFormBytes = 64 << 10

// authCode is a one-time authorization code and what it is bound to.
type authCode struct {
	clientID, redirectURI, sub, nonce, challenge string
	expires                                      time.Time
	// used is set on first redemption; the entry is kept until expiry so a
	// replay can be told apart and the token it produced revoked
	// (RFC 6749 4.1.2).
	used   bool
	access string
}

// authError is a failed authorize request. redirect is false when the client
// or redirect_uri cannot be trusted; then we must show an error page instead of
// redirecting (RFC 6749 4.1.2.1), or we would be an open redirector.
type authError struct {
	redirect    bool
	code, desc  string
	redirectURI string
	state       string
}

// parseAuthorize validates an authorize request (from the query on GET, the
// form on POST) and returns its parameters.
func (i *Issuer) parseAuthorize(v url.Values) (map[string]string, *authError) {
	p := make(map[string]string, len(authParams))
	for _, k := range authParams {
		p[k] = v.Get(k)
	}
	// Parameters must not repeat (RFC 6749 3.1); client_id and redirect_uri
	// are checked first so a repeat of those never leads to a redirect.
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(v[k]) > 1 {
			return nil, &authError{code: "invalid_request", desc: k + " given more than once"}
		}
	}
	c, ok := i.clients[p["client_id"]]
	if !ok {
		return nil, &authError{code: "invalid_client", desc: "unknown client_id"}
	}
	// Exact string match only: no prefix or normalised comparison, which
	// has historically enabled open-redirect and code-theft attacks.
	if p["redirect_uri"] == "" || !slices.Contains(c.RedirectURIs, p["redirect_uri"]) {
		return nil, &authError{code: "invalid_request", desc: "redirect_uri is not registered for this client"}
	}

	fail := func(code, desc string) (map[string]string, *authError) {
		return nil, &authError{redirect: true, code: code, desc: desc, redirectURI: p["redirect_uri"], state: p["state"]}
	}
	for _, k := range authParams {
		if len(v[k]) > 1 {
			return fail("invalid_request", k+" given more than once")
		}
	}
	switch {
	case p["response_type"] != "code":
		return fail("unsupported_response_type", "only response_type=code is supported")
	case !slices.Contains(strings.Fields(p["scope"]), "openid"):
		return fail("invalid_scope", "scope must include openid")
	case p["code_challenge_method"] != "S256" || !validChallenge(p["code_challenge"]):
		// An absent method means "plain" (RFC 7636 4.3), which we refuse.
		return fail("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
	case p["state"] == "":
		return fail("invalid_request", "state is required")
	case p["nonce"] == "":
		return fail("invalid_request", "nonce is required")
	}
	return p, nil
}

// validChallenge reports whether s looks like an S256 challenge: base64url
// without padding of a 32-byte SHA-256 digest.
func validChallenge(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

func (i *Issuer) authorizeGet(w http.ResponseWriter, r *http.Request) {
	p, aerr := i.parseAuthorize(r.URL.Query())
	if aerr != nil {
		i.authFail(w, r, aerr)
		return
	}
	i.showPicker(w, r, p, "")
}

// authorizePost handles the picker form. It carries no CSRF token: a forged
// POST can only ever send a code to a registered redirect_uri, where the
// relying party's state/PKCE checks reject it.
func (i *Issuer) authorizePost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "devoidc: malformed form", http.StatusBadRequest)
		return
	}
	// PostForm only: parameters must come from the form we rendered, not
	// from the action URL's query.
	p, aerr := i.parseAuthorize(r.PostForm)
	if aerr != nil {
		i.authFail(w, r, aerr)
		return
	}
	u, ok := i.usersSub[r.PostForm.Get("user")]
	if !ok {
		i.showPicker(w, r, p, "Unknown user; pick one from the list.")
		return
	}

	code := randomString(32)
	now := i.now()
	i.mu.Lock()
	i.sweepLocked(now)
	i.codes[code] = &authCode{
		clientID:    p["client_id"],
		redirectURI: p["redirect_uri"],
		sub:         u.Sub,
		nonce:       p["nonce"],
		challenge:   p["code_challenge"],
		expires:     now.Add(codeTTL),
	}
	i.mu.Unlock()

	http.Redirect(w, r, withQuery(p["redirect_uri"], map[string]string{"code": code, "state": p["state"]}), http.StatusFound)
}

// authFail shows an error page, or redirects the error back to the client
// when the redirect_uri has been validated.
func (i *Issuer) authFail(w http.ResponseWriter, r *http.Request, e *authError) {
	if !e.redirect {
		http.Error(w, "devoidc: "+e.code+": "+e.desc, http.StatusBadRequest)
		return
	}
	q := map[string]string{"error": e.code, "error_description": e.desc}
	if e.state != "" {
		q["state"] = e.state
	}
	http.Redirect(w, r, withQuery(e.redirectURI, q), http.StatusFound)
}

// withQuery adds params to a registered (already validated) redirect URI,
// keeping any query it already has.
func withQuery(raw string, params map[string]string) string {
	u, err := url.Parse(raw)
	if err != nil { // cannot happen: redirect URIs are parsed in New
		return raw
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (i *Issuer) showPicker(w http.ResponseWriter, r *http.Request, p map[string]string, errMsg string) {
	// The page carries PKCE/state values and lets one click sign in, so keep
	// it out of caches and frames whichever renderer is used.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	i.render(w, r, PickerData{
		Users:    slices.Clone(i.users),
		Action:   i.base + "/authorize",
		Hidden:   p,
		ClientID: p["client_id"],
		Error:    errMsg,
	})
}

// pickerTmpl is deliberately free of inline script and style: the app's CSP
// forbids both, and the page must work without either.
var pickerTmpl = template.Must(template.New("picker").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Development sign-in</title>
</head>
<body>
<main>
<h1>Development sign-in</h1>
<p>Built-in development OpenID provider. Choose who to sign in to <strong>{{.ClientID}}</strong> as.</p>
{{if .Error}}<p role="alert">{{.Error}}</p>
{{end}}<form method="post" action="{{.Action}}">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<ul>
{{range .Users}}<li><button type="submit" name="user" value="{{.Sub}}">{{if .Name}}{{.Name}}{{else}}{{.Username}}{{end}}</button> {{.Username}} &lt;{{.Email}}&gt;{{with .Description}} — {{.}}{{end}}</li>
{{end}}</ul>
</form>
</main>
</body>
</html>
`))

func builtinPicker(w http.ResponseWriter, _ *http.Request, d PickerData) {
	var buf bytes.Buffer
	if err := pickerTmpl.Execute(&buf, d); err != nil {
		http.Error(w, "devoidc: rendering picker failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	status := http.StatusOK
	if d.Error != "" {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
