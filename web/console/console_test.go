package console_test

// HTTP- and websocket-level attacks on the VM console, against a whole portal (real
// PostgreSQL, the simulated cluster sim-test-a with its real RFB server). No browser:
// the tests do what a browser or an attacker's script can do, and check the exact
// outcome: HTTP status before the upgrade, close code after it, rows in the database.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"kv-shepherd.io/shepherd/ent/consolesession"
	"kv-shepherd.io/shepherd/ent/consoleticket"
	"kv-shepherd.io/shepherd/ent/namespace"
	"kv-shepherd.io/shepherd/ent/system"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/vm"
	uc "kv-shepherd.io/shepherd/internal/console"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/rfb"
)

// 1. The happy path: the ticket cookie is locked down, the websocket carries RFB both
// ways, and the session is recorded (client IP, bytes, reason) and audited, without
// the raw token reaching the database or the logs.
func TestConsoleHappyPathIsRecordedAndAudited(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")

	r := alice.postTicket(t, w.vm.ID, false, alice.csrf)
	if r.status != http.StatusNoContent || r.cookie == nil {
		t.Fatalf("ticket: %d %v %.300s", r.status, r.cookie, r.body)
	}
	ck := r.cookie
	if ck.Path != wsPath(w.vm.ID) || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure ||
		ck.MaxAge <= 0 || ck.MaxAge > 61 || len(ck.Value) != 43 {
		t.Errorf("ticket cookie: %s", ck.String())
	}
	token := ck.Value
	tk := w.ticketRow(t, token)
	if tk.UserID != alice.row(t).ID || tk.VMID != w.vm.ID || tk.ConsumedAt != nil || tk.TakeOver ||
		tk.ExpiresAt.Sub(tk.CreatedAt) != 60*time.Second {
		t.Errorf("ticket row: %+v", tk)
	}

	ws, resp := alice.dial(t, w.vm.ID, token)
	if resp.StatusCode != http.StatusSwitchingProtocols || ws.Subprotocol() != "binary" {
		t.Errorf("handshake: %d, subprotocol %q", resp.StatusCode, ws.Subprotocol())
	}
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == ticketCookie && c.MaxAge < 0 && c.Path == wsPath(w.vm.ID) && c.Value == "")
	}
	if !cleared {
		t.Errorf("the 101 does not drop the single-use ticket cookie: %v", resp.Header.Values("Set-Cookie"))
	}

	conn := &wsConn{ws: ws}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	cl, err := rfb.NewClient(conn)
	if err != nil {
		t.Fatalf("RFB handshake through the console: %v", err)
	}
	if cl.Init.Width == 0 || cl.Init.Name != w.vm.NamespaceName+"/"+w.vm.Name {
		t.Errorf("ServerInit: %+v", cl.Init)
	}
	if err := cl.SetEncodings(rfb.EncodingRaw, rfb.EncodingDesktopSize); err != nil {
		t.Fatal(err)
	}
	if err := cl.RequestUpdate(false); err != nil {
		t.Fatal(err)
	}
	rects, err := cl.ReadUpdate()
	if err != nil || len(rects) == 0 {
		t.Fatalf("framebuffer update: %v %v", rects, err)
	}
	_ = conn.SetDeadline(time.Time{})

	live := w.liveSession(t, alice, w.vm.ID)
	// The 2 h cap counts from the ticket (its session_ends_at), so it ends at most a
	// ticket window before opened_at + 2 h.
	if live.ClientIP != "127.0.0.1" || live.TicketID != tk.ID || live.Replica == "" || live.VMName != w.vm.Name ||
		!live.EndsAt.Equal(tk.SessionEndsAt) || live.EndsAt.After(live.OpenedAt.Add(2*time.Hour)) ||
		live.EndsAt.Before(live.OpenedAt.Add(2*time.Hour-time.Minute)) {
		t.Errorf("live session row: %+v", live)
	}
	if tk := w.ticketRow(t, token); tk.ConsumedAt == nil {
		t.Error("the ticket was not consumed")
	}

	hangUp(t, ws)
	s := w.waitClosed(t, live.ID)
	// RFB version (12) + security type (1) + ClientInit (1) + SetEncodings (12) +
	// FramebufferUpdateRequest (10): exactly what was typed, nothing more.
	if s.CloseReason != "client_closed" || s.BytesToVM != 36 || s.BytesFromVM < 1000 {
		t.Errorf("closed session row: reason %q, to VM %d, from VM %d", s.CloseReason, s.BytesToVM, s.BytesFromVM)
	}
	for action, want := range map[string]int{"vnc.ticket_issue": 1, "vnc.session_open": 1, "vnc.access": 1} {
		rows := w.audits(t, w.vm.ID, action)
		if len(rows) != want {
			t.Errorf("%d %s audit rows, want %d", len(rows), action, want)
			continue
		}
		if rows[0].ActorName != "alice" {
			t.Errorf("%s by %q", action, rows[0].ActorName)
		}
		b, _ := json.Marshal(rows[0])
		if strings.Contains(string(b), token) {
			t.Errorf("%s audit row holds the raw ticket: %s", action, b)
		}
	}
	if d := w.audits(t, w.vm.ID, "vnc.access")[0].Details; d["close_reason"] != "client_closed" || d["ip_address"] != "127.0.0.1" ||
		d["bytes_to_vm"] != float64(36) {
		t.Errorf("vnc.access details: %v", d)
	}
	if strings.Contains(w.env.Logs.String(), token) {
		t.Error("the raw ticket was logged")
	}
	w.noPanics(t)
}

// 2. A ticket opens one session: replayed while the session is live or after it ended
// it gets 4001; two connections racing with one ticket cannot both win.
func TestConsoleTicketIsSingleUse(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	token := alice.ticket(t, w.vm.ID, false)

	// Race: both dial at once, exactly one gets the VM.
	type outcome struct {
		ws     *websocket.Conn
		banner bool
		code   int
	}
	var wg sync.WaitGroup
	out := make([]outcome, 2)
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := alice.dialAt(t, wsPath(w.vm.ID), token, []string{w.env.URL})
			if err != nil {
				t.Errorf("racing dial: %v", err)
				return
			}
			out[i].ws = ws
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			mt, b, err := ws.ReadMessage()
			var ce *websocket.CloseError
			switch {
			case err == nil && mt == websocket.BinaryMessage && strings.HasPrefix(string(b), "RFB 003.008"):
				out[i].banner = true
			case errors.As(err, &ce):
				out[i].code = ce.Code
			default:
				t.Errorf("racing dial read: %d %q %v", mt, b, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	winner := 0
	if !out[0].banner {
		winner = 1
	}
	if !out[winner].banner || out[1-winner].banner || out[1-winner].code != codeTicket {
		t.Fatalf("racing one ticket: %+v", out)
	}
	if n := len(w.sessions(t, w.vm.ID)); n != 1 {
		t.Fatalf("%d session rows after the race", n)
	}

	// Replay while the session is live.
	ws, resp := alice.dial(t, w.vm.ID, token)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("replay handshake: %d", resp.StatusCode)
	}
	expectClose(t, ws, 3*time.Second, codeTicket)

	// Replay after it ended.
	live := w.liveSession(t, alice, w.vm.ID)
	hangUp(t, out[winner].ws)
	w.waitClosed(t, live.ID)
	ws, _ = alice.dial(t, w.vm.ID, token)
	expectClose(t, ws, 3*time.Second, codeTicket)

	if n := len(w.sessions(t, w.vm.ID)); n != 1 {
		t.Errorf("%d session rows, want 1", n)
	}
	if n := len(w.audits(t, w.vm.ID, "vnc.session_open")); n != 1 {
		t.Errorf("%d vnc.session_open rows, want 1", n)
	}
	w.noPanics(t)
}

// 3. A ticket past its start window gets 4001 and opens nothing.
func TestConsoleExpiredTicket(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	token := alice.ticket(t, w.vm.ID, false)
	w.setExpiry(t, token, time.Now().Add(-time.Second))

	ws, _ := alice.dial(t, w.vm.ID, token)
	c := expectClose(t, ws, 3*time.Second, codeTicket)
	if !strings.Contains(c.text, "expired") {
		t.Errorf("close text %q", c.text)
	}
	w.expectUnconsumed(t, token)
	if n := len(w.sessions(t, w.vm.ID)); n != 0 {
		t.Errorf("%d session rows for an expired ticket", n)
	}

	// At the edge: a ticket whose window ends now is no longer good either.
	token = alice.ticket(t, w.vm.ID, false)
	w.setExpiry(t, token, time.Now())
	ws, _ = alice.dial(t, w.vm.ID, token)
	expectClose(t, ws, 3*time.Second, codeTicket)
	if n := len(w.sessions(t, w.vm.ID)); n != 0 {
		t.Errorf("%d session rows for an expired ticket", n)
	}
}

// setExpiry moves a ticket's start window (expires_at is immutable in Ent).
func (w *world) setExpiry(t *testing.T, token string, at time.Time) {
	t.Helper()
	res, err := w.env.App.Store.SQL.ExecContext(context.Background(), "UPDATE console_tickets SET expires_at = $1 WHERE id = $2", at, w.ticketRow(t, token).ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("updated %d tickets", n)
	}
}

// 4. Another signed-in user presenting alice's ticket gets 4001 when they may open
// this console themselves (dana owns intranet, carol is platform admin), and is refused
// before the upgrade when they may not see the VM (bob, approver, 404); alice's ticket
// stays good.
func TestConsoleTicketOfAnotherUser(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	token := alice.ticket(t, w.vm.ID, false)

	for _, name := range []string{"dana", "carol"} {
		thief := signIn(t, w.env, name)
		ws, _ := thief.dial(t, w.vm.ID, token)
		expectClose(t, ws, 3*time.Second, codeTicket)
		w.expectUnconsumed(t, token)
	}
	bob := signIn(t, w.env, "bob")
	ws, resp, err := bob.dialAt(t, wsPath(w.vm.ID), token, []string{w.env.URL})
	expectRefused(t, "bob", ws, resp, err, http.StatusNotFound)
	w.expectUnconsumed(t, token)
	if n := len(w.sessions(t, w.vm.ID)); n != 0 {
		t.Fatalf("%d session rows opened with a stolen ticket", n)
	}
	ws, _ = alice.dial(t, w.vm.ID, token)
	expectBanner(t, ws)
	if s := w.sessions(t, w.vm.ID); len(s) != 1 || s[0].UserName != "alice" {
		t.Errorf("sessions: %v", s)
	}
}

// 5. A ticket is for one VM: presented at another VM's websocket (alice may open
// both) it gets 4001, and stays good for its own VM. Paths that are not VMs (unknown
// id, not an id) answer 404 before any upgrade.
func TestConsoleTicketForAnotherVM(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	other := demoVM(t, w.env)
	alice := signIn(t, w.env, "alice")
	token := alice.ticket(t, w.vm.ID, false)

	ws, _, err := alice.dialAt(t, wsPath(other.ID), token, []string{w.env.URL})
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, ws, 3*time.Second, codeTicket)
	for _, path := range []string{wsPath(uuid.New()), "/vms/not-a-uuid/console/ws", "/vms/" + w.vm.ID.String() + "/console/ws/../ws2"} {
		ws, resp, err := alice.dialAt(t, path, token, []string{w.env.URL})
		expectRefused(t, path, ws, resp, err, http.StatusNotFound)
	}
	w.expectUnconsumed(t, token)
	if n := len(w.sessions(t, other.ID)); n != 0 {
		t.Fatalf("%d sessions on the other VM", n)
	}
	ws, _ = alice.dial(t, w.vm.ID, token)
	expectBanner(t, ws)
}

// 6. Cross-site websocket hijacking: an Origin that is not exactly the portal's (or
// none) gets 403 before the upgrade, and the ticket is not burnt.
func TestConsoleOriginIsChecked(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	token := alice.ticket(t, w.vm.ID, false)
	u, _ := url.Parse(w.env.URL)
	port, _ := strconv.Atoi(u.Port())
	host := u.Hostname()
	for name, origins := range map[string][]string{
		"missing":          nil,
		"foreign":          {"http://evil.example"},
		"port mismatch":    {"http://" + net.JoinHostPort(host, strconv.Itoa(port+1))},
		"no port":          {"http://" + host},
		"scheme mismatch":  {"https://" + u.Host},
		"host alias":       {"http://localhost:" + u.Port()},
		"null":             {"null"},
		"empty":            {""},
		"with path":        {w.env.URL + "/vms"},
		"user info":        {"http://alice@" + u.Host},
		"suffix":           {w.env.URL + ".evil.example"},
		"subdomain":        {"http://evil." + u.Host},
		"two origins":      {"http://evil.example", w.env.URL},
		"two, own first":   {w.env.URL, "http://evil.example"},
		"websocket scheme": {"ws://" + u.Host},
	} {
		ws, resp, err := alice.dialAt(t, wsPath(w.vm.ID), token, origins)
		if ws != nil || !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusForbidden {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Errorf("Origin %s %q: %v, HTTP %d; want 403 before the upgrade", name, origins, err, status)
		}
	}
	w.expectUnconsumed(t, token)
	if n := len(w.sessions(t, w.vm.ID)); n != 0 {
		t.Fatalf("%d session rows", n)
	}
	if !strings.Contains(w.env.Logs.String(), "console websocket refused") {
		t.Error("refused handshakes are not logged")
	}
	// The same ticket still works from the portal's own origin, spelled in capitals.
	ws, _, err := alice.dialAt(t, wsPath(w.vm.ID), token, []string{strings.ToUpper(w.env.URL)})
	if err != nil {
		t.Fatalf("own origin in capitals: %v", err)
	}
	expectBanner(t, ws)
}

// 7. Without a signed-in session nothing is upgraded: the request is sent to the
// sign-in page, whatever ticket it carries.
func TestConsoleNeedsASession(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	token := alice.ticket(t, w.vm.ID, false)
	var sessionName string
	for _, ck := range alice.sessionCookies() {
		sessionName = ck.Name
	}
	for name, cookies := range map[string][]*http.Cookie{
		"ticket only":           {{Name: ticketCookie, Value: token}},
		"forged session cookie": {{Name: sessionName, Value: "MTcwMDAwMDAwMHxmb3JnZWR8"}, {Name: ticketCookie, Value: token}},
		"nothing":               nil,
	} {
		ws, resp, err := dialWS(t, w.env, wsPath(w.vm.ID), []string{w.env.URL}, cookies)
		if ws != nil || !errors.Is(err, websocket.ErrBadHandshake) {
			t.Errorf("%s: upgraded (%v)", name, err)
			continue
		}
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("%s: HTTP %d to %q, want 303 to /login", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Ticket POST without a session: refused by the CSRF check (an anonymous visitor has
	// no token), no ticket.
	anon := w.env.Client(t)
	status, _, resp := w.env.PostForm(t, anon, "/vms/"+w.vm.ID.String()+"/console/ticket", url.Values{})
	if status != http.StatusForbidden || strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), "\n"), ticketCookie) {
		t.Errorf("anonymous ticket POST: %d %s", status, resp.Header.Get("Set-Cookie"))
	}
	w.expectUnconsumed(t, token)
	if n := len(w.sessions(t, w.vm.ID)); n != 0 {
		t.Errorf("%d session rows", n)
	}
	if n := w.db().ConsoleTicket.Query().CountX(context.Background()); n != 1 {
		t.Errorf("%d tickets, want alice's only", n)
	}
}

// 8. victor (Viewer, shop only) gets no ticket: 404 for a VM he cannot see, 403 for a
// VM he can see but not open. His websockets are refused before the upgrade (404,
// 403) whatever ticket he shows, and alice's ticket stays good. A user who may open
// the console but shows a made-up, empty or junk ticket gets 4001.
func TestConsoleWithoutVNCAccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bg := context.Background()
	c := w.db()
	victor := signIn(t, w.env, "victor")
	alice := signIn(t, w.env, "alice")

	r := victor.postTicket(t, w.vm.ID, false, victor.csrf)
	if r.status != http.StatusNotFound || r.cookie != nil {
		t.Errorf("victor's ticket for an intranet VM: %d %v", r.status, r.cookie)
	}
	// A shop VM victor can see (viewer of shop).
	shop := c.System.Query().Where(system.Name("shop")).OnlyX(bg)
	svc := c.Service.Create().SetSystemID(shop.ID).SetName("web").SaveX(bg)
	dev := c.Namespace.Query().Where(namespace.Name("dev")).OnlyX(bg)
	shopVM := c.VM.Create().SetName("dev-shop-web-01").SetServiceID(svc.ID).SetSystemID(shop.ID).SetNamespaceID(dev.ID).
		SetNamespaceName(dev.Name).SetEnvironment(vm.Environment(dev.Environment)).SetClusterID(w.vm.ClusterID).
		SetInstanceIndex(1).SetInstanceSizeID(w.vm.InstanceSizeID).SetTemplateID(w.vm.TemplateID).
		SetTicketID(uuid.New()).SetStatus(vm.StatusRUNNING).SetK8sUID(uuid.NewString()).SetCreatedBy(shop.ID).SaveX(bg)
	if status, _, _ := w.env.Get(t, victor.c, "/vms/"+shopVM.ID.String()); status != http.StatusOK {
		t.Fatalf("victor cannot see the shop VM: %d", status)
	}
	r = victor.postTicket(t, shopVM.ID, false, victor.csrf)
	if r.status != http.StatusForbidden || r.cookie != nil || !strings.Contains(r.body, "vnc:access") {
		t.Fatalf("victor's ticket for a shop VM: %d %v %.300s", r.status, r.cookie, r.body)
	}
	if n := c.ConsoleTicket.Query().CountX(bg); n != 0 {
		t.Fatalf("%d tickets issued", n)
	}

	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	madeUp := base64.RawURLEncoding.EncodeToString(raw)
	aliceToken := alice.ticket(t, w.vm.ID, false)
	for name, tc := range map[string]struct {
		vmID   uuid.UUID
		token  string
		status int
	}{
		"made-up ticket, intranet VM": {w.vm.ID, madeUp, http.StatusNotFound},
		"alice's ticket":              {w.vm.ID, aliceToken, http.StatusNotFound},
		"made-up ticket, shop VM":     {shopVM.ID, madeUp, http.StatusForbidden},
		"no ticket, shop VM":          {shopVM.ID, "", http.StatusForbidden},
	} {
		ws, resp, err := victor.dialAt(t, wsPath(tc.vmID), tc.token, []string{w.env.URL})
		expectRefused(t, "victor, "+name, ws, resp, err, tc.status)
	}
	w.expectUnconsumed(t, aliceToken)

	for name, token := range map[string]string{
		"made-up ticket": madeUp,
		"no ticket":      "",
		"junk ticket":    strings.Repeat("A", 4000),
		"token's hash":   base64.RawURLEncoding.EncodeToString(w.ticketRow(t, aliceToken).TokenHash),
	} {
		ws, resp, err := alice.dialAt(t, wsPath(w.vm.ID), token, []string{w.env.URL})
		if err != nil {
			t.Errorf("alice, %s: %v %v", name, err, resp)
			continue
		}
		if got := readClose(t, ws, 3*time.Second); got.code != codeTicket {
			t.Errorf("alice, %s: close %d, want %d", name, got.code, codeTicket)
		}
	}
	// The ticket is read from its cookie only, never from the URL.
	ws, _, err := alice.dialAt(t, wsPath(w.vm.ID)+"?ticket="+aliceToken+"&token="+aliceToken, "", []string{w.env.URL})
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, ws, 3*time.Second, codeTicket)
	w.expectUnconsumed(t, aliceToken)
	if n := c.ConsoleSession.Query().CountX(bg); n != 0 {
		t.Errorf("%d sessions", n)
	}
}

// 9. An admin ends a live session: the holder's socket closes with 4002 within about
// a second and the record says who and why.
func TestConsoleRevokedMidSession(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	carol := signIn(t, w.env, "carol")
	ws, s := w.open(t, alice, w.vm.ID)

	status, _, resp := w.env.PostForm(t, carol.c, "/admin/consoles/sessions/"+s.ID.String()+"/end",
		url.Values{"csrf_token": {carol.csrf}})
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/consoles" {
		t.Fatalf("end session: %d %s", status, resp.Header.Get("Location"))
	}
	c := expectClose(t, ws, 3*time.Second, codeRevoked)
	if c.after > 1500*time.Millisecond {
		t.Errorf("the revoked console stayed open %v", c.after)
	}
	row := w.waitClosed(t, s.ID)
	if row.CloseReason != "revoked" || row.RevokedBy != "carol" || row.RevokeReason != "revoked" {
		t.Errorf("session row: %+v", row)
	}
	if n := len(w.audits(t, w.vm.ID, "vnc.revoke")); n != 1 {
		t.Errorf("%d vnc.revoke rows", n)
	}
	if d := w.audits(t, w.vm.ID, "vnc.access")[0].Details; d["close_reason"] != "revoked" || d["revoked_by"] != "carol" {
		t.Errorf("vnc.access details: %v", d)
	}
	// Ending sessions is for platform admins: dana (owner of intranet) gets 403.
	ws, s = w.open(t, alice, w.vm.ID)
	dana := signIn(t, w.env, "dana")
	if status, _, _ := w.env.PostForm(t, dana.c, "/admin/consoles/sessions/"+s.ID.String()+"/end",
		url.Values{"csrf_token": {dana.csrf}}); status != http.StatusForbidden {
		t.Errorf("dana ending alice's session: %d", status)
	}
	if r := w.db().ConsoleSession.GetX(context.Background(), s.ID); r.RevokedAt != nil {
		t.Fatal("a refused end revoked the session")
	}
	hangUp(t, ws)
	w.waitClosed(t, s.ID)
	w.noPanics(t)
}

// 10. Take-over: without take_over the console of someone else's live session is
// refused (409 CONSOLE_IN_USE); with it the holder is cut with 4003 and the taker gets
// the screen.
func TestConsoleTakeOver(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	dana := signIn(t, w.env, "dana")
	wsA, sA := w.open(t, alice, w.vm.ID)

	r := dana.postTicket(t, w.vm.ID, false, dana.csrf)
	if r.status != http.StatusConflict || r.cookie != nil {
		t.Fatalf("dana's ticket without take_over: %d %v", r.status, r.cookie)
	}
	if p := r.problem(t); p.Code != domain.CodeConsoleInUse || !strings.Contains(p.Message, "alice") {
		t.Errorf("problem: %+v", p)
	}
	if n := w.db().ConsoleTicket.Query().Where(consoleticket.UserID(dana.row(t).ID)).CountX(context.Background()); n != 0 {
		t.Fatalf("%d tickets for dana after a refusal", n)
	}

	token := dana.ticket(t, w.vm.ID, true)
	if tk := w.ticketRow(t, token); !tk.TakeOver {
		t.Errorf("take-over ticket: %+v", tk)
	}
	wsD, _ := dana.dial(t, w.vm.ID, token)
	c := readClose(t, wsA, 3*time.Second)
	expectBanner(t, wsD)
	if c.code != codeTakenOver || c.after > 1500*time.Millisecond {
		t.Errorf("alice's console closed with %d (%q) after %v, want %d within 1.5 s", c.code, c.text, c.after.Round(time.Millisecond), codeTakenOver)
	}
	row := w.waitClosed(t, sA.ID)
	if row.CloseReason != "taken_over" || row.RevokedBy != "dana" {
		t.Errorf("alice's session row: %+v", row)
	}
	if s := w.liveSession(t, dana, w.vm.ID); s.RevokedAt != nil {
		t.Errorf("dana's session: %+v", s)
	}
	hangUp(t, wsD)
	w.noPanics(t)
}

// 11. The VM stops under a live console: the client gets 4000. A ticket taken before
// the stop opens nothing afterwards (4000), and no new ticket is issued (409).
func TestConsoleVMStoppedMidSession(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bg := context.Background()
	alice := signIn(t, w.env, "alice")
	ws, s := w.open(t, alice, w.vm.ID)
	hangUp(t, ws) // one to hold through the stop, one taken before it
	w.waitClosed(t, s.ID)
	ws, s = w.open(t, alice, w.vm.ID)
	early := alice.ticket(t, w.vm.ID, false)

	if err := w.env.App.Clusters.Sim(bg, "sim-test-a").StopVM(bg, ref(w.vm)); err != nil {
		t.Fatal(err)
	}
	expectClose(t, ws, 10*time.Second, codeVMStopped)
	if row := w.waitClosed(t, s.ID); row.CloseReason != "vm_stopped" {
		t.Errorf("session row: %+v", row)
	}
	waitFor(t, "the VM's record to say STOPPED", 20*time.Second, func() bool {
		return w.db().VM.GetX(bg, w.vm.ID).Status == vm.StatusSTOPPED
	})
	ws, _ = alice.dial(t, w.vm.ID, early)
	expectClose(t, ws, 3*time.Second, codeVMStopped)
	r := alice.postTicket(t, w.vm.ID, false, alice.csrf)
	if r.status != http.StatusConflict || r.problem(t).Code != domain.CodeVMNotRunning {
		t.Errorf("ticket for a stopped VM: %d %s", r.status, r.body)
	}
	if n := w.db().ConsoleSession.Query().Where(consolesession.VMID(w.vm.ID)).CountX(bg); n != 2 {
		t.Errorf("%d session rows, want 2", n)
	}
	w.noPanics(t)
}

// 12. Malformed input after the handshake ends the session (1002 from the websocket
// layer or 4008), never panics, and the record is closed.
func TestConsoleMalformedFrames(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	mask := func(op byte, payload []byte) []byte {
		key := [4]byte{1, 2, 3, 4}
		b := []byte{op, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
		for i, p := range payload {
			b = append(b, p^key[i%4])
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		send   func(ws *websocket.Conn) error
		code   int    // close code the client sees
		reason string // close_reason of the record
	}{
		{"text frame", func(ws *websocket.Conn) error { return ws.WriteMessage(websocket.TextMessage, []byte("RFB 003.008\n")) },
			codeProtocol, "protocol_error"},
		{"unmasked frame", func(ws *websocket.Conn) error {
			_, err := ws.UnderlyingConn().Write([]byte{0x82, 3, 'a', 'b', 'c'})
			return err
		},
			websocket.CloseProtocolError, "protocol_error"},
		{"reserved opcode", func(ws *websocket.Conn) error {
			_, err := ws.UnderlyingConn().Write(mask(0x83, []byte("abc")))
			return err
		},
			websocket.CloseProtocolError, "protocol_error"},
		{"reserved bits", func(ws *websocket.Conn) error {
			_, err := ws.UnderlyingConn().Write(mask(0xC2, []byte("abc")))
			return err
		},
			websocket.CloseProtocolError, "protocol_error"},
		{"stray continuation", func(ws *websocket.Conn) error {
			_, err := ws.UnderlyingConn().Write(mask(0x80, []byte("abc")))
			return err
		},
			websocket.CloseProtocolError, "protocol_error"},
		{"fragmented ping", func(ws *websocket.Conn) error {
			_, err := ws.UnderlyingConn().Write(mask(0x09, []byte("abc")))
			return err
		},
			websocket.CloseProtocolError, "protocol_error"},
		{"invalid close code", func(ws *websocket.Conn) error {
			_, err := ws.UnderlyingConn().Write(mask(0x88, []byte{0x03, 0xED})) // 1005 may not be sent
			return err
		}, websocket.CloseProtocolError, "protocol_error"},
		{"HTTP garbage", func(ws *websocket.Conn) error {
			_, err := ws.UnderlyingConn().Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			return err
		}, websocket.CloseProtocolError, "protocol_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, s := w.open(t, alice, w.vm.ID)
			if err := tc.send(ws); err != nil {
				t.Fatal(err)
			}
			expectClose(t, ws, 5*time.Second, tc.code)
			row := w.waitClosed(t, s.ID)
			if row.CloseReason != tc.reason || row.BytesToVM != 0 {
				t.Errorf("session row: reason %q, %d bytes to the VM", row.CloseReason, row.BytesToVM)
			}
		})
	}
	// Well-formed websocket frames carrying bytes the VM's VNC server rejects: the VNC
	// server hangs up, and Shepherd cannot tell that from the VM's console going away.
	t.Run("garbage RFB", func(t *testing.T) {
		ws, s := w.open(t, alice, w.vm.ID)
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte("RFB 999.999\n")); err != nil {
			t.Fatal(err)
		}
		c := readClose(t, ws, 5*time.Second)
		row := w.waitClosed(t, s.ID)
		if c.code != codeVMStopped || row.CloseReason != "vm_stopped" || row.BytesToVM != 12 {
			t.Errorf("close %d, session row: reason %q, %d bytes to the VM", c.code, row.CloseReason, row.BytesToVM)
		}
	})
	t.Run("connection dropped mid-frame", func(t *testing.T) {
		ws, s := w.open(t, alice, w.vm.ID)
		if _, err := ws.UnderlyingConn().Write([]byte{0x82, 0xFE, 0xFF, 0xFF, 1, 2}); err != nil { // 65535 bytes announced
			t.Fatal(err)
		}
		_ = ws.UnderlyingConn().Close()
		if row := w.waitClosed(t, s.ID); row.CloseReason != "client_closed" {
			t.Errorf("session row: %+v", row)
		}
	})
	w.noPanics(t)
}

// 13. The ticket POST needs the session's CSRF token: without it, with a wrong one or
// with another user's, 403 and no ticket.
func TestConsoleTicketNeedsCSRF(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bg := context.Background()
	alice := signIn(t, w.env, "alice")
	dana := signIn(t, w.env, "dana")
	for name, token := range map[string]string{"none": "", "wrong": "not-the-token", "dana's": dana.csrf} {
		r := alice.postTicket(t, w.vm.ID, false, token)
		if r.status != http.StatusForbidden || r.cookie != nil {
			t.Errorf("CSRF token %s: %d %v", name, r.status, r.cookie)
		}
	}
	// A cross-site form post, as a foreign page would make it.
	status, _, resp := w.env.PostForm(t, alice.c, "/vms/"+w.vm.ID.String()+"/console/ticket", url.Values{"take_over": {"1"}})
	for _, ck := range resp.Cookies() {
		if ck.Name == ticketCookie {
			t.Errorf("form post without a token set a ticket cookie: %v", ck)
		}
	}
	if status != http.StatusForbidden {
		t.Errorf("form post without a token: %d", status)
	}
	// No safe-method way to a ticket: GET is not routed.
	if status, _, resp := w.env.Get(t, alice.c, "/vms/"+w.vm.ID.String()+"/console/ticket"); status != http.StatusNotFound ||
		strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), "\n"), ticketCookie) {
		t.Errorf("GET ticket: %d", status)
	}
	if n := w.db().ConsoleTicket.Query().CountX(bg); n != 0 {
		t.Errorf("%d tickets issued without a CSRF token", n)
	}
	if n := len(w.audits(t, w.vm.ID, "vnc.ticket_issue")); n != 0 {
		t.Errorf("%d vnc.ticket_issue rows", n)
	}
}

// 14. Access is decided again when the websocket comes: alice's ticket does not
// outlive her access. Downgraded to viewer of intranet she is refused with 403, removed
// from it with 404, both before the upgrade and without burning the ticket, which works
// again once her membership is back.
func TestConsoleTicketOutlivesAccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bg := context.Background()
	alice := signIn(t, w.env, "alice")
	token := alice.ticket(t, w.vm.ID, false)
	membership := w.db().SystemMember.Query().Where(systemmember.UserID(alice.row(t).ID), systemmember.SystemID(w.vm.SystemID)).OnlyX(bg)

	membership.Update().SetRole(systemmember.RoleViewer).ExecX(bg)
	ws, resp, err := alice.dialAt(t, wsPath(w.vm.ID), token, []string{w.env.URL})
	expectRefused(t, "viewer of intranet", ws, resp, err, http.StatusForbidden)

	w.db().SystemMember.DeleteOneID(membership.ID).ExecX(bg)
	ws, resp, err = alice.dialAt(t, wsPath(w.vm.ID), token, []string{w.env.URL})
	expectRefused(t, "no longer in intranet", ws, resp, err, http.StatusNotFound)
	w.expectUnconsumed(t, token)
	if n := len(w.sessions(t, w.vm.ID)); n != 0 {
		t.Errorf("%d session rows", n)
	}

	w.db().SystemMember.Create().SetSystemID(w.vm.SystemID).SetUserID(alice.row(t).ID).SetRole(systemmember.RoleMember).ExecX(bg)
	ws, _ = alice.dial(t, w.vm.ID, token)
	expectBanner(t, ws)
}

// 15. A session never outlives the end its ticket was issued for (the 2 h cap, or a
// prod grant's end): past it, the console closes with 4006.
func TestConsoleSessionEndsAtItsTicketsEnd(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	token := alice.ticket(t, w.vm.ID, false)
	_, err := w.env.App.Store.SQL.ExecContext(context.Background(), "UPDATE console_tickets SET session_ends_at = $1 WHERE id = $2",
		time.Now().Add(time.Second), w.ticketRow(t, token).ID)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := alice.dial(t, w.vm.ID, token)
	expectBanner(t, ws)
	s := w.liveSession(t, alice, w.vm.ID)
	if time.Until(s.EndsAt) > time.Second {
		t.Errorf("session ends at %v, after its ticket's end", s.EndsAt)
	}
	expectClose(t, ws, 5*time.Second, uc.ReasonSessionLimit.Code())
	if row := w.waitClosed(t, s.ID); row.CloseReason != "session_limit" {
		t.Errorf("session row: %+v", row)
	}
}

// 16. alice's own console left open elsewhere (another tab or machine): a plain
// connect is refused with 4012, as the console is held; the page then offers "Take
// over", and taking over her own session must work: the new tab gets the screen, the
// old one is cut. (The take-over's close code is TestConsoleTakeOver's business.)
func TestConsoleTakeOverOwnSession(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := signIn(t, w.env, "alice")
	ws1, s1 := w.open(t, alice, w.vm.ID)

	// A second tab without take-over: refused by the cluster (one viewer at a time).
	ws2, _ := alice.dial(t, w.vm.ID, alice.ticket(t, w.vm.ID, false))
	expectClose(t, ws2, 5*time.Second, uc.ReasonInUse.Code())
	if r := w.db().ConsoleSession.GetX(context.Background(), s1.ID); r.ClosedAt != nil || r.RevokedAt != nil {
		t.Fatalf("a refused second tab ended the first: %+v", r)
	}

	// "Take over", as the page offers after 4012.
	token := alice.ticket(t, w.vm.ID, true)
	ws3, _ := alice.dial(t, w.vm.ID, token)
	_ = ws3.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, b, err := ws3.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage || !strings.HasPrefix(string(b), "RFB 003.008") {
		t.Fatalf("taking over her own console: %d %q %v (ticket take_over=%v)", mt, b, err, w.ticketRow(t, token).TakeOver)
	}
	c := readClose(t, ws1, 3*time.Second)
	if row := w.waitClosed(t, s1.ID); row.CloseReason != "taken_over" {
		t.Errorf("first tab's session row: %+v (close code %d)", row, c.code)
	}
	hangUp(t, ws3)
}
