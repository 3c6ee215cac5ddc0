package admin_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"kv-shepherd.io/shepherd/internal/apptest"
)

// user is a signed-in demo user with the CSRF token of their session.
type user struct {
	env  *apptest.Env
	c    *http.Client
	csrf string
}

func signIn(t *testing.T, env *apptest.Env, sub string) *user {
	t.Helper()
	c := env.Client(t)
	env.LoginOIDC(t, c, sub)
	_, body, _ := env.Get(t, c, "/")
	return &user{env: env, c: c, csrf: apptest.CSRF(t, body)}
}

func (u *user) get(t *testing.T, path string) (int, string) {
	t.Helper()
	status, body, _ := u.env.Get(t, u.c, path)
	return status, body
}

// post sends a form with the session's CSRF token and returns status, body and Location.
func (u *user) post(t *testing.T, path string, form url.Values) (int, string, string) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", u.csrf)
	status, body, resp := u.env.PostForm(t, u.c, path, form)
	return status, body, resp.Header.Get("Location")
}

// mustRedirect posts and expects Post/Redirect/Get.
func (u *user) mustRedirect(t *testing.T, path string, form url.Values) string {
	t.Helper()
	status, body, loc := u.post(t, path, form)
	if status != http.StatusSeeOther {
		t.Fatalf("POST %s: status %d, want 303:\n%s", path, status, errorsIn(body))
	}
	return loc
}

// fieldError returns the error text rendered under a form field ("" when none).
func fieldError(body, field string) string {
	re := regexp.MustCompile(`(?s)<small id="f-` + regexp.QuoteMeta(field) + `-help" class="field-error"[^>]*>(.*?)</small>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(m[1]))
}

// errorsIn summarises a page's field errors for failure messages.
func errorsIn(body string) string {
	re := regexp.MustCompile(`(?s)<small id="f-([^"]+)-help" class="field-error"[^>]*>(.*?)</small>`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+": "+strings.TrimSpace(m[2]))
	}
	if len(out) == 0 {
		if len(body) > 1500 {
			body = body[:1500]
		}
		return body
	}
	return strings.Join(out, "\n")
}

// inputValue returns the value attribute of the input named name.
func inputValue(body, name string) string {
	re := regexp.MustCompile(`<input[^>]*name="` + regexp.QuoteMeta(name) + `"[^>]*value="([^"]*)"`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return "<no input " + name + ">"
	}
	return html.UnescapeString(m[1])
}

// rowOf returns the table row of the entry named name.
func rowOf(body, name string) string {
	re := regexp.MustCompile(`(?s)<tr data-row="` + regexp.QuoteMeta(name) + `".*?</tr>`)
	return re.FindString(body)
}
