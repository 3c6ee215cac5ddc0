package auth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/sessions"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/session"
	"kv-shepherd.io/shepherd/internal/auth"
)

const cookieName = "shepherd_session"

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type sessionEnv struct {
	t      *testing.T
	client *ent.Client
	store  *auth.SessionStore
	now    time.Time
}

func newSessionEnv(t *testing.T) *sessionEnv {
	t.Helper()
	e := &sessionEnv{t: t, client: newStore(t).Ent, now: t0}
	e.store = auth.NewSessionStore(e.client, bytes.Repeat([]byte("k"), 32), true, 30*time.Minute, 2*time.Hour)
	e.store.Now = func() time.Time { return e.now }
	return e
}

func (e *sessionEnv) request(c *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(e.t.Context())
	if c != nil {
		r.AddCookie(c)
	}
	return r
}

// load opens the session named by cookie c (nil: none) as a new request would.
func (e *sessionEnv) load(c *http.Cookie) (*sessions.Session, error) {
	return e.store.New(e.request(c), cookieName)
}

// save writes sess and returns the session cookie set on the response (nil: none).
func (e *sessionEnv) save(sess *sessions.Session) *http.Cookie {
	e.t.Helper()
	w := httptest.NewRecorder()
	if err := e.store.Save(e.request(nil), w, sess); err != nil {
		e.t.Fatalf("Save: %v", err)
	}
	var out *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == cookieName {
			if out != nil {
				e.t.Fatalf("Save set the session cookie twice")
			}
			out = c
		}
	}
	return out
}

// start creates and saves a session for userID.
func (e *sessionEnv) start(userID uuid.UUID) (*sessions.Session, *http.Cookie) {
	e.t.Helper()
	sess, err := e.load(nil)
	if err != nil || !sess.IsNew {
		e.t.Fatalf("fresh session: IsNew %v, err %v", sess.IsNew, err)
	}
	sess.Values[auth.KeyUserID] = userID.String()
	c := e.save(sess)
	if c == nil {
		e.t.Fatal("a signed-in session set no cookie")
	}
	return sess, c
}

// touch records activity as a request of the session does.
func (e *sessionEnv) touch(sess *sessions.Session) {
	e.t.Helper()
	if err := e.store.Touch(e.t.Context(), sess); err != nil {
		e.t.Fatalf("Touch: %v", err)
	}
}

func (e *sessionEnv) rows() []*ent.Session {
	e.t.Helper()
	return e.client.Session.Query().AllX(e.t.Context())
}

func sha(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func wantExpired(t *testing.T, sess *sessions.Session, err error) {
	t.Helper()
	if err != nil || !sess.IsNew || sess.Values[auth.KeyExpired] != true || sess.Values[auth.KeyUserID] != nil {
		t.Errorf("session = IsNew %v, values %v, err %v; want a new session marked expired", sess.IsNew, sess.Values, err)
	}
}

func TestSessionSaveAndLoad(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	uid := uuid.New()
	sess, _ := e.load(nil)
	sess.Values[auth.KeyUserID] = uid.String()
	sess.Values[auth.KeyCSRF] = "csrf-token"
	sess.Values["count"] = 42
	c := e.save(sess)
	if c == nil {
		t.Fatal("no cookie")
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != int((2*time.Hour).Seconds()) {
		t.Errorf("cookie attributes = %+v", c)
	}

	got, err := e.load(c)
	if err != nil || got.IsNew || got.ID != sess.ID {
		t.Fatalf("loaded IsNew %v, id %q, err %v; want the saved session %q", got.IsNew, got.ID, err, sess.ID)
	}
	for k, v := range map[any]any{auth.KeyUserID: uid.String(), auth.KeyCSRF: "csrf-token", "count": 42} {
		if got.Values[k] != v {
			t.Errorf("value %v = %v, want %v", k, got.Values[k], v)
		}
	}

	rows := e.rows()
	if len(rows) != 1 {
		t.Fatalf("%d session rows, want 1", len(rows))
	}
	r := rows[0]
	if r.ID == sess.ID || r.ID != sha(sess.ID) {
		t.Errorf("row id %q: want the SHA-256 of the cookie id, not the id", r.ID)
	}
	if bytes.Contains(r.Data, []byte(sess.ID)) {
		t.Error("row data contains the raw session id")
	}
	if r.UserID == nil || *r.UserID != uid || !r.ExpiresAt.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("row user %v expires %v", r.UserID, r.ExpiresAt)
	}

	// Saving again updates the same row and last-seen.
	e.now = t0.Add(5 * time.Minute)
	if e.store.NeedsTouch(got) != true {
		t.Error("NeedsTouch after 5 minutes = false")
	}
	got.Values["count"] = 43
	if c := e.save(got); c != nil {
		t.Errorf("updating the row re-sent the cookie %v", c)
	}
	rows = e.rows()
	if len(rows) != 1 || !rows[0].LastSeenAt.Equal(e.now) {
		t.Fatalf("after second save: rows %v", rows)
	}
	again, err := e.load(c)
	if err != nil || again.Values["count"] != 43 || e.store.NeedsTouch(again) {
		t.Errorf("reloaded values %v, err %v", again.Values, err)
	}
}

func TestSessionTamperedCookie(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	_, c := e.start(uuid.New())

	tampered := *c
	b := []byte(c.Value)
	b[len(b)/2] ^= 1
	tampered.Value = string(b)
	sess, err := e.load(&tampered)
	if !errors.Is(err, auth.ErrInvalidCookie) || !sess.IsNew || sess.Values[auth.KeyUserID] != nil {
		t.Errorf("tampered cookie: IsNew %v, values %v, err %v", sess.IsNew, sess.Values, err)
	}

	// A cookie signed with another secret is no better.
	other := auth.NewSessionStore(e.client, bytes.Repeat([]byte("x"), 32), true, time.Hour, time.Hour)
	w := httptest.NewRecorder()
	forged := sessions.NewSession(other, cookieName)
	forged.Options = &sessions.Options{Path: "/"}
	forged.Values[auth.KeyUserID] = uuid.NewString()
	if err := other.Save(e.request(nil), w, forged); err != nil {
		t.Fatal(err)
	}
	sess, err = e.load(w.Result().Cookies()[0])
	if !errors.Is(err, auth.ErrInvalidCookie) || !sess.IsNew {
		t.Errorf("foreign cookie: IsNew %v, err %v", sess.IsNew, err)
	}
}

func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	sess, c := e.start(uuid.New())

	// Activity within the idle window keeps it alive.
	e.now = t0.Add(25 * time.Minute)
	got, err := e.load(c)
	if err != nil || got.IsNew {
		t.Fatalf("after 25 idle minutes: IsNew %v, err %v", got.IsNew, err)
	}
	e.touch(got)
	e.now = t0.Add(50 * time.Minute)
	if got, err := e.load(c); err != nil || got.IsNew {
		t.Fatalf("25 minutes after the last activity: IsNew %v, err %v", got.IsNew, err)
	}

	e.now = t0.Add(25*time.Minute + 31*time.Minute)
	got, err = e.load(c)
	wantExpired(t, got, err)
	if got.ID == sess.ID {
		t.Error("expired session kept its id")
	}
}

func TestSessionAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	_, c := e.start(uuid.New())
	// Active every 20 minutes, never idle, but past the 2 h limit.
	for e.now = t0.Add(20 * time.Minute); e.now.Before(t0.Add(2 * time.Hour)); e.now = e.now.Add(20 * time.Minute) {
		got, err := e.load(c)
		if err != nil || got.IsNew {
			t.Fatalf("at %v: IsNew %v, err %v", e.now.Sub(t0), got.IsNew, err)
		}
		e.touch(got)
	}
	e.now = t0.Add(2*time.Hour + time.Second)
	got, err := e.load(c)
	wantExpired(t, got, err)
}

func TestSessionRevokeUser(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newSessionEnv(t)
	alice, bob := uuid.New(), uuid.New()
	s1, c1 := e.start(alice)
	_, c2 := e.start(alice)
	_, c3 := e.start(bob)

	n, err := e.store.RevokeUser(ctx, alice)
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser = %d, %v; want 2", n, err)
	}
	for _, c := range []*http.Cookie{c1, c2} {
		got, err := e.load(c)
		wantExpired(t, got, err)
	}
	if got, err := e.load(c3); err != nil || got.IsNew {
		t.Errorf("another user's session ended: IsNew %v, err %v", got.IsNew, err)
	}
	// A request that loaded the session before the revocation cannot write it back.
	s1.Values["changed"] = true
	if err := e.store.Save(e.request(nil), httptest.NewRecorder(), s1); err == nil {
		t.Error("Save of a revoked session succeeded")
	}
	if n, _ := e.store.RevokeUser(ctx, alice); n != 0 {
		t.Errorf("second RevokeUser revoked %d sessions", n)
	}
}

func TestSessionRotate(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	sess, oldCookie := e.start(uuid.New())
	oldID := sess.ID
	sess.Values[auth.KeyCSRF] = "kept"

	if err := e.store.Rotate(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	if e.client.Session.Query().Where(session.ID(sha(oldID))).ExistX(t.Context()) {
		t.Error("Rotate left the old row")
	}
	newCookie := e.save(sess)
	if sess.ID == "" || sess.ID == oldID || newCookie.Value == oldCookie.Value {
		t.Fatalf("Rotate + Save kept id %q", sess.ID)
	}
	if rows := e.rows(); len(rows) != 1 || rows[0].ID != sha(sess.ID) {
		t.Errorf("rows after rotation = %v", rows)
	}
	old, err := e.load(oldCookie)
	wantExpired(t, old, err)
	got, err := e.load(newCookie)
	if err != nil || got.IsNew || got.Values[auth.KeyCSRF] != "kept" {
		t.Errorf("rotated session: IsNew %v, values %v, err %v", got.IsNew, got.Values, err)
	}
}

func TestSessionDeleteWithNegativeMaxAge(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	_, c := e.start(uuid.New())
	sess, err := e.load(c)
	if err != nil || sess.IsNew {
		t.Fatal(err)
	}
	sess.Options.MaxAge = -1
	w := httptest.NewRecorder()
	if err := e.store.Save(e.request(nil), w, sess); err != nil {
		t.Fatal(err)
	}
	if rows := e.rows(); len(rows) != 0 {
		t.Errorf("%d rows after deleting the session", len(rows))
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != cookieName || cookies[0].Value != "" || cookies[0].MaxAge >= 0 {
		t.Errorf("cookies after delete = %+v, want one clearing %s", cookies, cookieName)
	}
	got, err := e.load(c)
	wantExpired(t, got, err)
}

func TestSessionDeleteExpired(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newSessionEnv(t)
	idle, _ := e.start(uuid.New()) // last seen at t0
	revokedUser := uuid.New()
	e.start(revokedUser)
	e.now = t0.Add(40 * time.Minute)
	fresh, _ := e.start(uuid.New())
	if _, err := e.store.RevokeUser(ctx, revokedUser); err != nil {
		t.Fatal(err)
	}
	// Recently seen, but past its absolute lifetime.
	e.client.Session.Create().SetID(sha("absolute")).SetData([]byte{}).SetCreatedAt(t0.Add(-3 * time.Hour)).
		SetLastSeenAt(e.now).SetExpiresAt(e.now.Add(-time.Minute)).ExecX(ctx)

	n, err := e.store.DeleteExpired(ctx)
	if err != nil || n != 3 {
		t.Fatalf("DeleteExpired = %d, %v; want 3 (idle, revoked, past absolute)", n, err)
	}
	rows := e.rows()
	if len(rows) != 1 || rows[0].ID != sha(fresh.ID) {
		t.Errorf("remaining rows = %v, want only the fresh session", rows)
	}
	if rows[0].ID == sha(idle.ID) {
		t.Error("idle session kept")
	}
}

// Before sign-in nothing is worth a row: a visitor's values travel in the signed cookie,
// and a visitor with nothing to keep gets no cookie at all.
func TestSessionAnonymousWritesNothing(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	sess, _ := e.load(nil)
	if c := e.save(sess); c != nil {
		t.Errorf("an empty visitor session set a cookie %v", c)
	}
	sess.Values[auth.KeyCSRF] = "form-token"
	sess.AddFlash("info|hello")
	c := e.save(sess)
	if c == nil || c.MaxAge != 0 || !c.HttpOnly {
		t.Fatalf("visitor cookie = %+v, want a browser-session cookie", c)
	}
	if rows := e.rows(); len(rows) != 0 {
		t.Fatalf("%d session rows for a visitor, want 0", len(rows))
	}
	if again := e.save(sess); again != nil {
		t.Error("saving unchanged values set the cookie again")
	}

	got, err := e.load(c)
	if err != nil || got.ID != "" || got.Values[auth.KeyCSRF] != "form-token" {
		t.Fatalf("reloaded visitor session: id %q, values %v, err %v", got.ID, got.Values, err)
	}
	if e.save(got) != nil {
		t.Error("a loaded, unchanged visitor session set a cookie")
	}
	flashes, err := e.store.PopFlashes(t.Context(), got)
	if err != nil || len(flashes) != 1 || flashes[0] != "info|hello" {
		t.Fatalf("flashes = %v, %v", flashes, err)
	}
	c2 := e.save(got)
	if c2 == nil {
		t.Fatal("taking the flash did not update the cookie")
	}
	if got, _ := e.load(c2); len(got.Flashes()) != 0 {
		t.Error("the flash came back")
	}

	// A tampered visitor cookie is refused like any other.
	b := []byte(c.Value)
	b[len(b)/2] ^= 1
	if _, err := e.load(&http.Cookie{Name: cookieName, Value: string(b)}); !errors.Is(err, auth.ErrInvalidCookie) {
		t.Errorf("tampered visitor cookie: err %v", err)
	}
	// Signing in turns it into a row.
	got.Values[auth.KeyUserID] = uuid.NewString()
	if c := e.save(got); c == nil || got.ID == "" || len(e.rows()) != 1 {
		t.Errorf("sign-in: cookie %v, id %q, rows %d", c, got.ID, len(e.rows()))
	}
}

// Two requests of one signed-in session each queue a flash at the same time; both
// messages arrive, each exactly once, however the pops race.
func TestSessionFlashQueue(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	_, c := e.start(uuid.New())
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			sess, err := e.load(c)
			if err == nil {
				err = e.store.SaveWithFlashes(e.request(nil), httptest.NewRecorder(), sess, []string{fmt.Sprintf("info|m%d", i)})
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	results := make(chan []string, 4)
	for range 4 {
		go func() {
			sess, _ := e.load(c)
			got, err := e.store.PopFlashes(t.Context(), sess)
			if err != nil {
				t.Error(err)
			}
			results <- got
		}()
	}
	for range 4 {
		for _, f := range <-results {
			seen[f]++
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct flashes arrived, want %d: %v", len(seen), n, seen)
	}
	for f, k := range seen {
		if k != 1 {
			t.Errorf("%s arrived %d times", f, k)
		}
	}
}
