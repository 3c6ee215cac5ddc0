package web_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"kv-shepherd.io/shepherd/internal/apptest"
)

// paramNames are every query, form and path parameter name the portal's handlers read,
// found in their source: a parameter added to a handler is walked without editing this
// test. Names are the string literals passed to QueryParam, FormValue, Param, Get,
// FormParams().Get and similar one-argument readers in web/.
func paramNames(t *testing.T) []string {
	t.Helper()
	readers := map[string]bool{"QueryParam": true, "FormValue": true, "Param": true, "Get": true, "get": true,
		"QueryParams": true, "PostFormValue": true, "ParamValue": true, "Has": true, "values": true}
	plausible := regexp.MustCompile(`^[a-z_][a-z0-9_.\[\]-]{0,40}$`)
	names := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			var fn string
			switch f := call.Fun.(type) {
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			case *ast.Ident:
				fn = f.Name
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !readers[fn] || !ok || lit.Kind != token.STRING {
				return true
			}
			if name, err := strconv.Unquote(lit.Value); err == nil && plausible.MatchString(name) {
				names[name] = true
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	for _, must := range []string{"page", "per_page", "q", "reason", "username", "namespace", "csrf_token"} {
		if !names[must] {
			t.Fatalf("the source scan missed %q (found %v): the scan is broken", must, out)
		}
	}
	return out
}

// Values PostgreSQL refuses (the edge must stop them) and values that pass the edge and
// test each handler's own checks: overlong text, numbers past int64, negatives.
var (
	unstorable = map[string]string{
		"nul":                               "ad\x00min",
		"invalid utf8":                      "\xff\xfe\xfd",
		"lone surrogate, overlong encoding": "\xed\xa0\x80\xc0\xaf",
	}
	awkward = map[string]string{
		"overlong":     strings.Repeat("é", 1500),
		"huge number":  "9223372036854775807",
		"beyond int64": "99999999999999999999999999",
		"negative":     "-9223372036854775808",
		"float":        "1e308",
	}
)

// walkRoutes lists the routes the walker visits: every registered route except the
// static files and the development issuer (not Shepherd's input), and the event stream,
// which answers a signed-in user with a stream that does not end (web/events tests its
// only input, Last-Event-ID, garbage included).
func walkRoutes(env *apptest.Env) [][2]string {
	var out [][2]string
	for _, r := range env.App.Echo.Routes() {
		if r.Method == "echo_route_not_found" || strings.HasPrefix(r.Path, "/static") || strings.HasPrefix(r.Path, "/dev/oidc") ||
			r.Path == "/events" {
			continue
		}
		if r.Method == http.MethodHead || r.Method == http.MethodOptions || r.Method == "CONNECT" || r.Method == "TRACE" {
			continue
		}
		out = append(out, [2]string{r.Method, r.Path})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+out[i][1] < out[j][0]+out[j][1] })
	return out
}

// fill puts v in every path parameter (":id", "*") of path, escaped as a browser would.
func fill(path, v string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || p == "*" {
			parts[i] = url.PathEscape(v)
		}
	}
	return strings.Join(parts, "/")
}

// walker sends crafted requests as one client.
type walker struct {
	t      *testing.T
	env    *apptest.Env
	client *http.Client
	csrf   string
	names  []string
}

func (w *walker) query(v string) string {
	q := url.Values{}
	for _, n := range w.names {
		q.Set(n, v)
	}
	return q.Encode()
}

// do sends method path?query with body of contentType and answers the status.
func (w *walker) do(method, target, contentType string, body []byte) int {
	w.t.Helper()
	req, err := http.NewRequest(method, w.env.URL+target, bytes.NewReader(body))
	if err != nil {
		w.t.Fatalf("%s %q: %v", method, target, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-CSRF-Token", w.csrf)
	resp, err := w.client.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, target, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	statusMu.Lock()
	statuses[resp.StatusCode]++
	statusMu.Unlock()
	return resp.StatusCode
}

var (
	statusMu sync.Mutex
	statuses = map[int]int{}
)

func (w *walker) form(v string) []byte {
	f := url.Values{}
	for _, n := range w.names {
		f.Set(n, v)
	}
	f.Set("csrf_token", w.csrf)
	return []byte(f.Encode())
}

func (w *walker) multipartForm(v string) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, n := range w.names {
		_ = mw.WriteField(n, v)
	}
	_ = mw.WriteField("csrf_token", w.csrf)
	fw, _ := mw.CreateFormFile("kubeconfig_file", "kube\x00config")
	_, _ = fw.Write([]byte(v))
	_ = mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// send fills path parameters with pathValue and every query (GET) or form (others)
// parameter with v.
func (w *walker) send(method, path, pathValue, v string) int {
	target := fill(path, pathValue)
	if method == http.MethodGet {
		return w.do(method, target+"?"+w.query(v), "", nil)
	}
	return w.do(method, target+"?"+w.query(v), "application/x-www-form-urlencoded", w.form(v))
}

// TestEveryRouteSurvivesHostileInput walks every route and method, as a visitor and as
// each role, with every parameter the handlers read set to NUL bytes, invalid UTF-8,
// overlong text, huge, negative and malformed numbers, and with bodies of the wrong
// content type. No answer may be a server error; text PostgreSQL cannot store is refused
// with 400 at the edge, and then not one row anywhere changes.
func TestEveryRouteSurvivesHostileInput(t *testing.T) {
	wd := newWorld(t)
	env := wd.env
	names := paramNames(t)
	routes := walkRoutes(env)
	if len(routes) < 80 {
		t.Fatalf("only %d routes found", len(routes))
	}

	walkers := map[string]*walker{}
	anon := env.Client(t)
	_, loginPage, _ := env.Get(t, anon, "/login")
	walkers["anonymous"] = &walker{t: t, env: env, client: anon, csrf: apptest.CSRF(t, loginPage), names: names}
	for _, r := range allRoles {
		_, p, _ := env.Get(t, wd.clients[r], "/me/permissions")
		walkers[r] = &walker{t: t, env: env, client: wd.clients[r], csrf: apptest.CSRF(t, p), names: names}
	}
	who := append([]string{"anonymous"}, allRoles...)

	before := dbFingerprint(t, env)
	edge := 0
	for _, r := range who {
		w := walkers[r]
		for _, rt := range routes {
			method, path := rt[0], rt[1]
			for what, v := range unstorable {
				hasParam := strings.Contains(path, ":") || strings.HasSuffix(path, "*")
				// In the query and the form, with a good path...
				if got := w.send(method, wd.concrete(path), "x", v); got != http.StatusBadRequest {
					t.Errorf("%s %s as %s, %s in every parameter: %d, want 400", method, path, r, what, got)
				}
				// ... and in the path itself.
				if hasParam {
					if got := w.do(method, fill(path, v), "", nil); got != http.StatusBadRequest {
						t.Errorf("%s %s as %s, %s in the path: %d, want 400", method, path, r, what, got)
					}
				}
				if method != http.MethodGet {
					body, ct := w.multipartForm(v)
					if got := w.do(method, wd.concrete(path), ct, body); got != http.StatusBadRequest {
						t.Errorf("%s %s as %s, %s in a multipart form: %d, want 400", method, path, r, what, got)
					}
				}
				edge++
			}
		}
	}
	if after := dbFingerprint(t, env); !equalFingerprints(t, before, after) {
		t.Error("requests refused at the edge changed the database")
	}
	t.Logf("%d routes × %d clients; %d edge requests; %d parameter names", len(routes), len(who), edge, len(names))

	for _, r := range who {
		w := walkers[r]
		for _, rt := range routes {
			method, path := rt[0], rt[1]
			if strings.HasPrefix(path, "/admin/jobs") && method != http.MethodGet {
				continue // the job UI's own API: JSON, covered by River
			}
			if path == "/logout" {
				continue // would end the walker's own session
			}
			wd.reset()
			for what, v := range awkward {
				if got := w.send(method, wd.concrete(path), "x", v); got >= 500 {
					t.Errorf("%s %s as %s, %s in every parameter: %d", method, path, r, what, got)
				}
				if strings.Contains(path, ":") {
					if got := w.do(method, fill(path, v), "", nil); got >= 500 {
						t.Errorf("%s %s as %s, %s in the path: %d", method, path, r, what, got)
					}
				}
			}
			if method == http.MethodGet {
				continue
			}
			for _, ct := range []struct{ typ, body string }{
				{"application/json", `{"name":"x","reason":"` + strings.Repeat("a", 3000) + `"}`},
				{"text/plain", "name=x"},
				{"application/x-www-form-urlencoded", "%zz=%%&&=;" + strings.Repeat("a=1&", 2000)},
				{"multipart/form-data; boundary=nope", "--oops\r\n"},
				{"", "garbage"},
			} {
				if got := w.do(method, wd.concrete(path), ct.typ, []byte(ct.body)); got >= 500 {
					t.Errorf("%s %s as %s, body of type %q: %d", method, path, r, ct.typ, got)
				}
			}
		}
	}
	if strings.Contains(env.Logs.String(), "level=ERROR") {
		t.Errorf("server errors logged:\n%s", grepLines(env.Logs.String(), "level=ERROR"))
	}
	// Input PostgreSQL refused after the edge (too long for a column, a number out of
	// range) is a 400 thanks to the backstop, but each is a missing field check.
	if strings.Contains(env.Logs.String(), "a field check is missing") {
		t.Errorf("handlers let invalid input reach PostgreSQL:\n%s", grepLines(env.Logs.String(), "a field check is missing"))
	}
	t.Logf("answers: %v", statuses)
}

// dbFingerprint hashes every table's content, except what background work writes on its
// own clock (River's tables, cluster health checks, the VM status sync).
func dbFingerprint(t *testing.T, env *apptest.Env) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := env.App.Pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, tbl := range tables {
		if strings.HasPrefix(tbl, "river_") || backgroundTables[tbl] {
			continue
		}
		var agg string
		q := fmt.Sprintf(`SELECT coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '') FROM %q t`, tbl)
		if err := env.App.Pool.QueryRow(ctx, q).Scan(&agg); err != nil {
			t.Fatalf("%s: %v", tbl, err)
		}
		sum := md5.Sum([]byte(agg))
		out[tbl] = hex.EncodeToString(sum[:])
	}
	if len(out) < 20 {
		t.Fatalf("fingerprint covers only %d tables", len(out))
	}
	return out
}

// backgroundTables change without any request.
var backgroundTables = map[string]bool{
	"clusters": true, "cluster_health_checks": true, "vms": true, "schema_migrations": true,
	"worker_heartbeats": true, "cluster_watch_leases": true,
	"rate_limit_counters": true, // every post of a signed-in user is counted, refused or not
}

func equalFingerprints(t *testing.T, a, b map[string]string) bool {
	t.Helper()
	ok := true
	for k, v := range a {
		if b[k] != v {
			t.Errorf("table %s changed", k)
			ok = false
		}
	}
	return ok
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
			if len(out) == 20 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
