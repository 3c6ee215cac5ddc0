package notifications_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/session"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
)

type member struct {
	c  *http.Client
	id uuid.UUID
}

func signIn(t *testing.T, env *apptest.Env, name string) member {
	t.Helper()
	c := env.Client(t)
	env.LoginOIDC(t, c, "demo-"+name)
	u := env.App.Store.Ent.User.Query().Where(user.Username(name)).OnlyX(t.Context())
	return member{c: c, id: u.ID}
}

// note writes a notification created ago before now.
func note(t *testing.T, env *apptest.Env, to uuid.UUID, title, link string, ago time.Duration, read bool) *ent.Notification {
	t.Helper()
	b := env.App.Store.Ent.Notification.Create().SetRecipientID(to).SetType(notification.TypeREQUEST_APPROVED).
		SetTitle(title).SetBody("body of " + title).SetLink(link).SetCreatedAt(time.Now().Add(-ago))
	if read {
		b.SetReadAt(time.Now())
	}
	return b.SaveX(t.Context())
}

// htmx sends a request as htmx does: HX-Request and the CSRF header from <body hx-headers>.
func htmx(t *testing.T, env *apptest.Env, c *http.Client, method, path, csrf string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, env.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("HX-Request", "true")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func inOrder(t *testing.T, body string, parts ...string) {
	t.Helper()
	last := -1
	for _, p := range parts {
		i := strings.Index(body, p)
		if i < 0 {
			t.Fatalf("%q missing from page", p)
		}
		if i < last {
			t.Fatalf("%q out of order in %v", p, parts)
		}
		last = i
	}
}

func TestInboxListsOnlyOwnNotificationsUnreadFirst(t *testing.T) {
	env := apptest.Start(t)
	alice, bob := signIn(t, env, "alice"), signIn(t, env, "bob")
	note(t, env, alice.id, "Old unread", "/requests/1", 3*time.Hour, false)
	note(t, env, alice.id, "Newest but read", "/requests/2", time.Minute, true)
	note(t, env, alice.id, "New unread", "https://evil.example/x", time.Hour, false)
	note(t, env, bob.id, "Bob's secret", "", time.Minute, false)

	status, body, _ := env.Get(t, alice.c, "/notifications")
	if status != http.StatusOK {
		t.Fatalf("inbox: %d", status)
	}
	inOrder(t, body, "New unread", "Old unread", "Newest but read")
	if strings.Contains(body, "Bob&#39;s secret") || strings.Contains(body, "Bob's secret") {
		t.Fatal("alice sees bob's notification")
	}
	if strings.Count(body, `data-testid="notification"`) != 3 || strings.Count(body, `data-testid="mark-read"`) != 2 {
		t.Fatalf("want 3 rows, 2 unread:\n%s", body)
	}
	if !strings.Contains(body, `href="/requests/1"`) || strings.Contains(body, "evil.example") {
		t.Fatal("links: local paths must be linked, others dropped")
	}
	if !strings.Contains(body, `aria-label="2 unread notifications"`) || !strings.Contains(body, `data-testid="unread-count">2<`) {
		t.Fatal("bell does not show 2 unread")
	}
	if !strings.Contains(body, `hx-trigger="shepherd-live"`) || !strings.Contains(body, `data-live="bell"`) ||
		!strings.Contains(body, `hx-get="/notifications/badge?n=2"`) {
		t.Fatal("bell does not re-fetch its badge on push")
	}

	_, body, _ = env.Get(t, alice.c, "/notifications?show=unread")
	if strings.Contains(body, "Newest but read") || strings.Count(body, `data-testid="notification"`) != 2 {
		t.Fatal("show=unread lists read items")
	}

	_, body, _ = env.Get(t, bob.c, "/notifications")
	if !strings.Contains(body, "secret") || strings.Contains(body, "Old unread") {
		t.Fatal("bob's inbox is not bob's")
	}
}

func TestInboxPagesTwentyAtATime(t *testing.T) {
	env := apptest.Start(t)
	alice := signIn(t, env, "alice")
	for i := range 25 {
		note(t, env, alice.id, "Item "+string(rune('A'+i)), "", time.Duration(i)*time.Minute, false)
	}
	_, body, _ := env.Get(t, alice.c, "/notifications")
	if n := strings.Count(body, `data-testid="notification"`); n != 20 || !strings.Contains(body, "1–20 of 25") {
		t.Fatalf("page 1: %d rows", n)
	}
	_, body, _ = env.Get(t, alice.c, "/notifications?page=2")
	if n := strings.Count(body, `data-testid="notification"`); n != 5 || !strings.Contains(body, "Item Y") {
		t.Fatalf("page 2: %d rows", n)
	}
	_, body, _ = env.Get(t, alice.c, "/notifications?per_page=1000")
	if n := strings.Count(body, `data-testid="notification"`); n != 25 {
		t.Fatalf("per_page capped at 100 still shows all 25, got %d", n)
	}
}

func TestMarkReadOnlyOwnAndIdempotent(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	alice, bob := signIn(t, env, "alice"), signIn(t, env, "bob")
	mine := note(t, env, alice.id, "Mine", "", time.Minute, false)
	theirs := note(t, env, bob.id, "Theirs", "", time.Minute, false)
	_, page, _ := env.Get(t, alice.c, "/notifications")
	csrf := apptest.CSRF(t, page)

	status, _, _ := env.PostForm(t, alice.c, "/notifications/"+theirs.ID.String()+"/read", url.Values{"csrf_token": {csrf}})
	if status != http.StatusNotFound {
		t.Fatalf("someone else's: %d, want 404", status)
	}
	if env.App.Store.Ent.Notification.GetX(ctx, theirs.ID).ReadAt != nil {
		t.Fatal("bob's notification was marked read by alice")
	}
	for _, id := range []string{"not-a-uuid", uuid.NewString()} {
		if status, _, _ := env.PostForm(t, alice.c, "/notifications/"+id+"/read", url.Values{"csrf_token": {csrf}}); status != http.StatusNotFound {
			t.Fatalf("id %s: %d", id, status)
		}
	}
	if status, _, _ := env.PostForm(t, alice.c, "/notifications/"+mine.ID.String()+"/read", url.Values{}); status != http.StatusForbidden {
		t.Fatalf("without CSRF: %d", status)
	}

	path := "/notifications/" + mine.ID.String() + "/read"
	form := url.Values{"csrf_token": {csrf}, "back": {"/notifications?show=unread"}}
	status, _, resp := env.PostForm(t, alice.c, path, form)
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/notifications?show=unread" {
		t.Fatalf("mark read: %d %s", status, resp.Header.Get("Location"))
	}
	first := env.App.Store.Ent.Notification.GetX(ctx, mine.ID).ReadAt
	if first == nil {
		t.Fatal("not marked read")
	}
	_, body, _ := env.Get(t, alice.c, "/notifications?show=unread")
	if !strings.Contains(body, "Marked “Mine” as read.") || !strings.Contains(body, "You are all caught up") {
		t.Fatal("no flash or item still listed as unread")
	}
	// Again: same redirect, first read time kept. A foreign back target is not followed.
	form.Set("back", "https://evil.example/")
	status, _, resp = env.PostForm(t, alice.c, path, form)
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/notifications" {
		t.Fatalf("second mark: %d %s", status, resp.Header.Get("Location"))
	}
	if again := env.App.Store.Ent.Notification.GetX(ctx, mine.ID).ReadAt; !again.Equal(*first) {
		t.Fatalf("read_at moved from %v to %v", first, again)
	}
}

func TestMarkReadUnderHTMXReturnsTheRow(t *testing.T) {
	env := apptest.Start(t)
	alice := signIn(t, env, "alice")
	one := note(t, env, alice.id, "One", "", time.Minute, false)
	note(t, env, alice.id, "Two", "", 2*time.Minute, false)
	_, page, _ := env.Get(t, alice.c, "/notifications")
	csrf := apptest.CSRF(t, page)

	status, body := htmx(t, env, alice.c, http.MethodPost, "/notifications/"+one.ID.String()+"/read", csrf, url.Values{"back": {"/notifications"}})
	if status != http.StatusOK {
		t.Fatalf("htmx mark read: %d %s", status, body)
	}
	if !strings.HasPrefix(strings.TrimSpace(body), `<li id="n-`+one.ID.String()+`"`) || !strings.Contains(body, `data-read="true"`) {
		t.Fatalf("row fragment expected first:\n%s", body)
	}
	if !strings.Contains(body, `id="notification-bell"`) || !strings.Contains(body, `hx-swap-oob="true"`) ||
		!strings.Contains(body, `aria-label="1 unread notification"`) || strings.Contains(body, "<html") {
		t.Fatalf("bell not updated out of band:\n%s", body)
	}
	if !strings.Contains(body, `id="inbox-toolbar"`) || !strings.Contains(body, "Unread (1)") {
		t.Fatalf("toolbar not updated:\n%s", body)
	}
}

func TestReadAllTouchesOnlyOwnItems(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	alice, bob := signIn(t, env, "alice"), signIn(t, env, "bob")
	note(t, env, alice.id, "A1", "", time.Minute, false)
	note(t, env, alice.id, "A2", "", 2*time.Minute, false)
	note(t, env, bob.id, "B1", "", time.Minute, false)
	_, page, _ := env.Get(t, alice.c, "/notifications")
	csrf := apptest.CSRF(t, page)

	status, _, resp := env.PostForm(t, alice.c, "/notifications/read-all", url.Values{"csrf_token": {csrf}})
	if status != http.StatusSeeOther || resp.Header.Get("Location") != "/notifications" {
		t.Fatalf("read-all: %d %s", status, resp.Header.Get("Location"))
	}
	unread := func(id uuid.UUID) int {
		return env.App.Store.Ent.Notification.Query().Where(notification.RecipientID(id), notification.ReadAtIsNil()).CountX(ctx)
	}
	if unread(alice.id) != 0 || unread(bob.id) != 1 {
		t.Fatalf("unread after read-all: alice %d bob %d", unread(alice.id), unread(bob.id))
	}
	_, body, _ := env.Get(t, alice.c, "/notifications")
	if !strings.Contains(body, "Marked 2 notifications as read.") || strings.Contains(body, `data-testid="read-all"`) {
		t.Fatal("flash missing or read-all still offered")
	}

	note(t, env, alice.id, "A3", "", time.Minute, false)
	status, body = htmx(t, env, alice.c, http.MethodPost, "/notifications/read-all", csrf, url.Values{"back": {"/notifications?show=unread"}})
	if status != http.StatusOK || !strings.Contains(body, `id="inbox"`) || !strings.Contains(body, "You are all caught up") ||
		!strings.Contains(body, "Marked 1 notification as read.") || !strings.Contains(body, `aria-label="No unread notifications"`) {
		t.Fatalf("htmx read-all: %d\n%s", status, body)
	}
}

func TestBadgeFragment(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	anon := env.Client(t)
	if status, body, _ := env.Get(t, anon, "/notifications/badge"); status != http.StatusNoContent || body != "" {
		t.Fatalf("anonymous badge: %d %q", status, body)
	}
	alice := signIn(t, env, "alice")
	for i := range 3 {
		note(t, env, alice.id, "N", "", time.Duration(i)*time.Minute, false)
	}
	note(t, env, alice.id, "read", "", time.Minute, true)
	status, body, resp := env.Get(t, alice.c, "/notifications/badge")
	if status != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("badge: %d", status)
	}
	if !strings.HasPrefix(body, `<a href="/notifications" id="notification-bell"`) || strings.Contains(body, "<html") ||
		!strings.Contains(body, `aria-label="3 unread notifications"`) || !strings.Contains(body, `data-testid="unread-count">3<`) ||
		!strings.Contains(body, `hx-swap="outerHTML"`) || !strings.Contains(body, `hx-trigger="shepherd-live"`) {
		t.Fatalf("badge fragment:\n%s", body)
	}
	if status, _, _ := env.Get(t, alice.c, "/notifications/badge?n=3"); status != http.StatusNoContent {
		t.Fatalf("unchanged count: %d, want 204", status)
	}

	// Polling must not keep an idle session alive: last_seen_at stays where it was.
	sess := env.App.Store.Ent.Session.Query().Where(session.UserID(alice.id)).OnlyX(ctx)
	old := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	env.App.Store.Ent.Session.UpdateOneID(sess.ID).SetLastSeenAt(old).ExecX(ctx)
	env.Get(t, alice.c, "/notifications/badge")
	if seen := env.App.Store.Ent.Session.GetX(ctx, sess.ID).LastSeenAt; !seen.Equal(old) {
		t.Fatalf("badge poll touched the session: last seen %v, was %v", seen, old)
	}
	env.Get(t, alice.c, "/notifications")
	if seen := env.App.Store.Ent.Session.GetX(ctx, sess.ID).LastSeenAt; seen.Equal(old) {
		t.Fatal("a page view did not touch the session (test premise broken)")
	}

	env.App.Store.Ent.Notification.Update().Where(notification.RecipientID(alice.id)).SetReadAt(time.Now()).ExecX(ctx)
	_, body, _ = env.Get(t, alice.c, "/notifications/badge?n=3")
	if !strings.Contains(body, `aria-label="No unread notifications"`) || strings.Contains(body, "unread-count") {
		t.Fatalf("zero badge:\n%s", body)
	}
}
