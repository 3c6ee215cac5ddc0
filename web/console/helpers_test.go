package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/auditlog"
	"kv-shepherd.io/shepherd/ent/consolesession"
	"kv-shepherd.io/shepherd/ent/consoleticket"
	entuser "kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/apptest"
	uc "kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/testorg"
)

// ticketCookie is the cookie the ticket POST sets and the websocket reads.
const ticketCookie = "shepherd_console"

// Close codes of internal/console's reasons, as the browser sees them.
var (
	codeClientClosed = uc.ReasonClientClosed.Code()
	codeVMStopped    = uc.ReasonVMStopped.Code()
	codeTicket       = uc.ReasonTicketExpired.Code()
	codeRevoked      = uc.ReasonRevoked.Code()
	codeTakenOver    = uc.ReasonTakenOver.Code()
	codeProtocol     = uc.ReasonProtocolError.Code()
)

// world is a portal with one running VM of demo alice (intranet/wiki in dev on
// sim-test-a). Every test has its own, so tests run in parallel.
type world struct {
	env *apptest.Env
	vm  *ent.VM
}

// startMu serialises apptest.Start: app.New sets klog's global logger
// (klog.SetSlogLogger in internal/app/app.go), a data race when two portals start at once.
var startMu sync.Mutex

func newWorld(t *testing.T) *world {
	t.Helper()
	startMu.Lock()
	env := apptest.Start(t)
	startMu.Unlock()
	return &world{env: env, vm: demoVM(t, env)}
}

func (w *world) db() *ent.Client { return w.env.App.Store.Ent }

// demoVM has alice request a small Ubuntu VM for intranet/wiki in dev and bob approve
// it on sim-test-a through the governance use cases (as internal/e2e's demoVM), and
// waits for it to run.
func demoVM(t *testing.T, env *apptest.Env) *ent.VM {
	t.Helper()
	bg := context.Background()
	c := env.App.Store.Ent
	v, _, err := testorg.DemoVM(bg, env.App.Store, testorg.DemoRequest{
		Requester: "alice",
		Approver:  "bob",
		Namespace: "dev",
		Cluster:   "sim-test-a",
		Reason:    "console attack tests",
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the VM to run and its creation to be recorded", 30*time.Second, func() bool {
		r := c.VM.GetX(bg, v.ID)
		busy := c.ApprovalTicket.Query().Where(approvalticket.VMID(v.ID),
			approvalticket.StatusIn(approvalticket.StatusAPPROVED, approvalticket.StatusEXECUTING)).ExistX(bg)
		return r.Status == vm.StatusRUNNING && r.K8sExists && !busy
	})
	return c.VM.GetX(bg, v.ID)
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// user is a signed-in demo user and the CSRF token of their session.
type user struct {
	env  *apptest.Env
	name string
	c    *http.Client
	csrf string
}

var hxHeaders = regexp.MustCompile(`<body[^>]*\sdata-hx-headers="([^"]*)"`)

// signIn signs the demo user in through the development OIDC issuer and reads the
// CSRF token the layout puts in <body hx-headers>.
func signIn(t *testing.T, env *apptest.Env, name string) *user {
	t.Helper()
	c := env.Client(t)
	env.LoginOIDC(t, c, "demo-"+name)
	status, body, _ := env.Get(t, c, "/")
	if status != http.StatusOK {
		t.Fatalf("%s: GET /: %d", name, status)
	}
	m := hxHeaders.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s: no hx-headers on <body>", name)
	}
	var h map[string]string
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &h); err != nil || h["X-CSRF-Token"] == "" {
		t.Fatalf("%s: hx-headers %q: %v", name, m[1], err)
	}
	return &user{env: env, name: name, c: c, csrf: h["X-CSRF-Token"]}
}

func (u *user) row(t *testing.T) *ent.User {
	t.Helper()
	return u.env.App.Store.Ent.User.Query().Where(entuser.Username(u.name)).OnlyX(context.Background())
}

// sessionCookies are the cookies the browser sends to every path of the portal.
func (u *user) sessionCookies() []*http.Cookie {
	base, _ := url.Parse(u.env.URL + "/")
	return u.c.Jar.Cookies(base)
}

// problem is the ticket endpoint's JSON answer to the page's script.
type problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ticketResult is the answer to a ticket POST.
type ticketResult struct {
	status int
	body   string
	resp   *http.Response
	cookie *http.Cookie // the ticket cookie, nil when none was set
}

func (r ticketResult) problem(t *testing.T) problem {
	t.Helper()
	var p problem
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("ticket answer %d is not a JSON problem: %v\n%.500s", r.status, err, r.body)
	}
	return p
}

// postTicket posts as the console page's script does (X-Console-Fetch, X-CSRF-Token,
// take_over in the form body). csrf "" sends no token.
func (u *user) postTicket(t *testing.T, vmID uuid.UUID, takeOver bool, csrf string) ticketResult {
	t.Helper()
	body := ""
	if takeOver {
		body = "take_over=1"
	}
	req, err := http.NewRequest(http.MethodPost, u.env.URL+"/vms/"+vmID.String()+"/console/ticket", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Console-Fetch", "1")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := u.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := ticketResult{status: resp.StatusCode, body: string(b), resp: resp}
	for _, ck := range resp.Cookies() {
		if ck.Name == ticketCookie {
			r.cookie = ck
		}
	}
	return r
}

// ticket gets a ticket for the VM's console and returns the raw token.
func (u *user) ticket(t *testing.T, vmID uuid.UUID, takeOver bool) string {
	t.Helper()
	r := u.postTicket(t, vmID, takeOver, u.csrf)
	if r.status != http.StatusNoContent || r.cookie == nil || r.cookie.Value == "" {
		t.Fatalf("%s: ticket for %s: status %d, cookie %v: %.500s", u.name, vmID, r.status, r.cookie, r.body)
	}
	return r.cookie.Value
}

func wsPath(vmID uuid.UUID) string { return "/vms/" + vmID.String() + "/console/ws" }

// dialer speaks like noVNC: subprotocol "binary".
var dialer = websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: []string{uc.Subprotocol}}

// dialWS opens a websocket on path with exactly the given Origin values (none when
// empty) and cookies.
func dialWS(t *testing.T, env *apptest.Env, path string, origins []string, cookies []*http.Cookie) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	for _, o := range origins {
		h.Add("Origin", o)
	}
	var parts []string
	for _, ck := range cookies {
		parts = append(parts, (&http.Cookie{Name: ck.Name, Value: ck.Value}).String())
	}
	if len(parts) > 0 {
		h.Set("Cookie", strings.Join(parts, "; "))
	}
	ws, resp, err := dialer.Dial("ws"+strings.TrimPrefix(env.URL, "http")+path, h)
	if ws != nil {
		t.Cleanup(func() { _ = ws.Close() })
	}
	if resp != nil && resp.Body != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return ws, resp, err
}

// dial opens vmID's console websocket as u with the ticket token ("" for none) from
// the portal's own origin, as the browser does.
func (u *user) dial(t *testing.T, vmID uuid.UUID, token string) (*websocket.Conn, *http.Response) {
	t.Helper()
	ws, resp, err := u.dialAt(t, wsPath(vmID), token, []string{u.env.URL})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("%s: websocket %s: %v (HTTP %d)", u.name, vmID, err, status)
	}
	return ws, resp
}

func (u *user) dialAt(t *testing.T, path, token string, origins []string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	cookies := u.sessionCookies()
	if token != "" {
		cookies = append(cookies, &http.Cookie{Name: ticketCookie, Value: token})
	}
	return dialWS(t, u.env, path, origins, cookies)
}

// expectBanner reads the first bytes the VM sends: the RFB 3.8 version string.
func expectBanner(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	for len(got) < 12 {
		mt, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for the RFB banner: %v (got %q)", err, got)
		}
		if mt != websocket.BinaryMessage {
			t.Fatalf("message type %d before the banner", mt)
		}
		got = append(got, b...)
	}
	if !strings.HasPrefix(string(got), "RFB 003.008\n") {
		t.Fatalf("first bytes %q, want the RFB 003.008 banner", got)
	}
	_ = ws.SetReadDeadline(time.Time{})
}

// closed is how a websocket ended, as the client saw it.
type closed struct {
	code  int
	text  string
	after time.Duration
}

// readClose reads (discarding data) until the server closes the websocket and
// returns the close code; it fails when none comes within d. A connection dropped
// without a close frame reads as 1006.
func readClose(t *testing.T, ws *websocket.Conn, d time.Duration) closed {
	t.Helper()
	start := time.Now()
	_ = ws.SetReadDeadline(start.Add(d))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return closed{code: ce.Code, text: ce.Text, after: time.Since(start)}
		}
		t.Fatalf("no close frame within %v: %v", d, err)
	}
}

func expectClose(t *testing.T, ws *websocket.Conn, d time.Duration, want int) closed {
	t.Helper()
	c := readClose(t, ws, d)
	if c.code != want {
		t.Fatalf("close code %d (%q) after %v, want %d", c.code, c.text, c.after.Round(time.Millisecond), want)
	}
	return c
}

// hangUp closes like a browser: a 1000 close frame, then waits for the reply.
func hangUp(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	if err != nil {
		t.Fatalf("sending close: %v", err)
	}
	c := readClose(t, ws, 3*time.Second)
	if c.code != codeClientClosed {
		t.Errorf("close reply %d, want %d", c.code, codeClientClosed)
	}
}

// sessions are the VM's console session rows, oldest first.
func (w *world) sessions(t *testing.T, vmID uuid.UUID) []*ent.ConsoleSession {
	t.Helper()
	return w.db().ConsoleSession.Query().Where(consolesession.VMID(vmID)).
		Order(ent.Asc(consolesession.FieldOpenedAt)).AllX(context.Background())
}

// liveSession is u's open session row of the VM.
func (w *world) liveSession(t *testing.T, u *user, vmID uuid.UUID) *ent.ConsoleSession {
	t.Helper()
	return w.db().ConsoleSession.Query().Where(consolesession.VMID(vmID), consolesession.UserName(u.name), consolesession.ClosedAtIsNil()).
		OnlyX(context.Background())
}

// waitClosed waits for the session's record to be written and returns it.
func (w *world) waitClosed(t *testing.T, id uuid.UUID) *ent.ConsoleSession {
	t.Helper()
	bg := context.Background()
	waitFor(t, "the session record to be closed", 10*time.Second, func() bool {
		return w.db().ConsoleSession.Query().Where(consolesession.ID(id), consolesession.ClosedAtNotNil()).ExistX(bg)
	})
	return w.db().ConsoleSession.GetX(bg, id)
}

// ticketRow is the stored ticket of a raw token (only its SHA-256 is stored).
func (w *world) ticketRow(t *testing.T, token string) *ent.ConsoleTicket {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	return w.db().ConsoleTicket.Query().Where(consoleticket.TokenHash(sum[:])).OnlyX(context.Background())
}

func (w *world) expectUnconsumed(t *testing.T, token string) {
	t.Helper()
	if tk := w.ticketRow(t, token); tk.ConsumedAt != nil {
		t.Fatalf("the ticket was consumed at %v", tk.ConsumedAt)
	}
}

func (w *world) audits(t *testing.T, vmID uuid.UUID, action string) []*ent.AuditLog {
	t.Helper()
	return w.db().AuditLog.Query().Where(auditlog.Action(action), auditlog.ResourceID(vmID.String())).AllX(context.Background())
}

// open gives u a live console session of the VM: ticket, websocket, banner.
func (w *world) open(t *testing.T, u *user, vmID uuid.UUID) (*websocket.Conn, *ent.ConsoleSession) {
	t.Helper()
	ws, _ := u.dial(t, vmID, u.ticket(t, vmID, false))
	expectBanner(t, ws)
	return ws, w.liveSession(t, u, vmID)
}

// noPanics fails when the portal logged a panic.
func (w *world) noPanics(t *testing.T) {
	t.Helper()
	if logs := w.env.Logs.String(); strings.Contains(strings.ToLower(logs), "panic") {
		i := strings.Index(strings.ToLower(logs), "panic")
		t.Errorf("the portal logged a panic:\n%.2000s", logs[max(0, i-500):])
	}
}

func ref(v *ent.VM) kube.VMRef { return kube.VMRef{Namespace: v.NamespaceName, Name: v.Name} }

// wsConn lets rfb.NewClient speak RFB through the websocket: each Write is one
// binary message, Read streams the binary messages' payloads.
type wsConn struct {
	ws *websocket.Conn
	r  io.Reader
}

var _ net.Conn = (*wsConn)(nil)

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				return 0, errors.New("a text message in the RFB stream")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error                       { return c.ws.Close() }
func (c *wsConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.ws.SetReadDeadline(t); err != nil {
		return err
	}
	return c.ws.SetWriteDeadline(t)
}

// expectRefused checks that a dial was answered with status instead of an upgrade.
func expectRefused(t *testing.T, what string, ws *websocket.Conn, resp *http.Response, err error, status int) {
	t.Helper()
	got := 0
	if resp != nil {
		got = resp.StatusCode
	}
	if ws != nil || !errors.Is(err, websocket.ErrBadHandshake) || got != status {
		t.Errorf("%s: upgraded=%v err=%v HTTP %d; want HTTP %d before the upgrade", what, ws != nil, err, got, status)
	}
}
