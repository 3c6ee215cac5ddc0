package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/session"
)

// Session value keys.
const (
	KeyUserID  = "uid"
	KeyCSRF    = "csrf"
	KeyExpired = "_expired"
	// KeyDisabled marks a session that ended because its user was disabled (set with
	// KeyExpired, never stored), so the sign-in page can say so.
	KeyDisabled = "_disabled"
	keyLastSeen = "_seen"
)

// SessionStore keeps sessions in PostgreSQL. The cookie holds only a random id, signed
// with the session secret; the row is keyed by the id's SHA-256, so a database dump yields
// no usable cookies. Revoking a row ends the session at once.
type SessionStore struct {
	client  *ent.Client
	codec   securecookie.Codec
	Options sessions.Options
	Idle    time.Duration
	MaxAge  time.Duration
	Now     func() time.Time
}

// NewSessionStore builds the store. secret must be at least 32 bytes.
func NewSessionStore(client *ent.Client, secret []byte, secure bool, idle, maxAge time.Duration) *SessionStore {
	hashKey := sha256.Sum256(append([]byte("shepherd session cookie v1\x00"), secret...))
	codec := securecookie.New(hashKey[:], nil)
	codec.MaxAge(int(maxAge.Seconds()))
	return &SessionStore{
		client: client, codec: codec, Idle: idle, MaxAge: maxAge, Now: time.Now,
		Options: sessions.Options{Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode},
	}
}

// Get returns the request's session, cached per request.
func (s *SessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// Sessions come in two kinds behind the one cookie. A signed-in session is a row, named
// by the cookie's signed random id. Before sign-in there is nothing worth a row: the few
// values a visitor has (the CSRF token of the sign-in form, an OIDC sign-in in progress, a
// flash to show) travel in the cookie itself, signed, so anonymous traffic — scanners,
// 404s, the sign-in page — never writes to the database. The two kinds are signed under
// different names, so one can never be read as the other.
func anonName(name string) string { return name + ".anon" }

// Private keys of Values, never stored.
type (
	snapshotKey struct{} // fingerprint of the values as loaded or last saved
	flashesKey  struct{} // the loaded row had queued flashes
	userKey     struct{} // the session's user, read with its row (see load)
	unreadKey   struct{} // the user's unread notifications, read with the row
)

// New loads the session named in the cookie, or starts an empty one. A cookie that fails
// its signature, or names a missing, revoked, idle or expired session, yields a new session
// (and ErrInvalidCookie for a bad signature, so the caller can log the tampering).
func (s *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.Options
	sess.Options = &opts
	sess.IsNew = true
	defer s.snapshot(sess)
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := s.codec.Decode(name, c.Value, &id); err != nil {
		anon := map[interface{}]interface{}{}
		if err := s.codec.Decode(anonName(name), c.Value, &anon); err != nil {
			return sess, ErrInvalidCookie
		}
		sess.Values = anon
		return sess, nil
	}
	row, u, err := s.load(r.Context(), hashID(id))
	if ent.IsNotFound(err) {
		sess.Values[KeyExpired] = true
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	if u != nil && u.Disabled {
		// Disabling revokes the sessions too; this also ends any it missed.
		sess.Values[KeyExpired] = true
		sess.Values[KeyDisabled] = true
		return sess, nil
	}
	now := s.Now()
	if row.RevokedAt != nil || now.After(row.ExpiresAt) || now.Sub(row.LastSeenAt) > s.Idle {
		sess.Values[KeyExpired] = true
		return sess, nil
	}
	if err := decodeValues(row.Data, sess.Values); err != nil {
		return sess, nil
	}
	sess.ID = id
	sess.IsNew = false
	sess.Values[keyLastSeen] = row.LastSeenAt.Unix()
	if row.HasFlashes {
		sess.Values[flashesKey{}] = true
	}
	if u != nil {
		sess.Values[userKey{}] = u
		sess.Values[unreadKey{}] = row.Unread
	}
	return sess, nil
}

// ErrInvalidCookie means the session cookie was not signed by us.
var ErrInvalidCookie = errors.New("session cookie signature is invalid")

// stored is what Save keeps of the values (without the store's private keys).
func stored(sess *sessions.Session) map[interface{}]interface{} {
	values := make(map[interface{}]interface{}, len(sess.Values))
	for k, v := range sess.Values {
		switch k.(type) {
		case snapshotKey, flashesKey, userKey, unreadKey:
			continue
		}
		if k == keyLastSeen || k == KeyExpired || k == KeyDisabled {
			continue
		}
		values[k] = v
	}
	return values
}

// fingerprint is a canonical rendering of the values (fmt prints maps in key order).
func fingerprint(values map[interface{}]interface{}) string {
	if len(values) == 0 {
		return ""
	}
	return fmt.Sprintf("%#v", values)
}

func (s *SessionStore) snapshot(sess *sessions.Session) {
	if _, ok := sess.Values[snapshotKey{}]; ok {
		return
	}
	sess.Values[snapshotKey{}] = fingerprint(stored(sess))
}

// Save writes the session and its cookie when its values changed since it was loaded or
// last saved (so a response carries at most one Set-Cookie, and reading a page writes
// nothing); MaxAge < 0 deletes both. A signed-in session is a row; any other travels in
// the cookie.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if _, err := s.client.Session.Delete().Where(session.ID(hashID(sess.ID))).Exec(ctx); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		for k := range sess.Values {
			delete(sess.Values, k)
		}
		sess.ID = ""
		sess.Values[snapshotKey{}] = ""
		sess.Options.MaxAge = 0 // done: saving again in this request writes nothing
		return nil
	}
	values := stored(sess)
	print := fingerprint(values)
	if before, ok := sess.Values[snapshotKey{}].(string); ok && before == print && (sess.ID != "" || values[KeyUserID] == nil) {
		return nil
	}
	var userID *uuid.UUID
	if v, ok := values[KeyUserID].(string); ok {
		if id, err := uuid.Parse(v); err == nil {
			userID = &id
		}
	}
	if userID == nil && sess.ID == "" {
		if err := s.saveAnonymous(w, sess, values); err != nil {
			return err
		}
		sess.Values[snapshotKey{}] = print
		return nil
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(values); err != nil {
		return err
	}
	now := s.Now()
	if sess.ID == "" {
		sess.ID = newSessionID()
		err := s.client.Session.Create().SetID(hashID(sess.ID)).SetNillableUserID(userID).SetData(buf.Bytes()).
			SetCreatedAt(now).SetLastSeenAt(now).SetExpiresAt(now.Add(s.MaxAge)).Exec(ctx)
		if err != nil {
			return err
		}
		encoded, err := s.codec.Encode(sess.Name(), sess.ID)
		if err != nil {
			return err
		}
		opts := *sess.Options
		opts.MaxAge = int(s.MaxAge.Seconds())
		http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, &opts))
	} else {
		// The cookie names the row and does not change: only the row is written.
		n, err := s.client.Session.Update().Where(session.ID(hashID(sess.ID)), session.RevokedAtIsNil()).
			SetNillableUserID(userID).SetData(buf.Bytes()).SetLastSeenAt(now).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("session was revoked")
		}
	}
	sess.Values[snapshotKey{}] = print
	sess.Values[keyLastSeen] = now.Unix()
	return nil
}

// saveAnonymous puts a visitor's values in the cookie (or clears it when there are none).
func (s *SessionStore) saveAnonymous(w http.ResponseWriter, sess *sessions.Session, values map[interface{}]interface{}) error {
	opts := *sess.Options
	if len(values) == 0 {
		opts.MaxAge = -1
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", &opts))
		return nil
	}
	encoded, err := s.codec.Encode(anonName(sess.Name()), values)
	if err != nil {
		return err
	}
	opts.MaxAge = 0 // ends with the browser; the signature's own age limit still applies
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, &opts))
	return nil
}

// Touch records activity of a signed-in session (for the idle timeout) at most once a
// minute; the cookie stays as it is.
func (s *SessionStore) Touch(ctx context.Context, sess *sessions.Session) error {
	if sess.ID == "" || !s.NeedsTouch(sess) {
		return nil
	}
	now := s.Now()
	if err := s.client.Session.Update().Where(session.ID(hashID(sess.ID)), session.RevokedAtIsNil()).
		SetLastSeenAt(now).Exec(ctx); err != nil {
		return err
	}
	sess.Values[keyLastSeen] = now.Unix()
	return nil
}

// Rotate gives the session a new id (at login), removing the old row so a session id
// fixed before sign-in is worthless after it. Call Save afterwards.
func (s *SessionStore) Rotate(ctx context.Context, sess *sessions.Session) error {
	if sess.ID != "" {
		if _, err := s.client.Session.Delete().Where(session.ID(hashID(sess.ID))).Exec(ctx); err != nil {
			return err
		}
	}
	sess.ID = ""
	return nil
}

// NeedsTouch reports whether last-seen is old enough to be worth a write (once a minute).
func (s *SessionStore) NeedsTouch(sess *sessions.Session) bool {
	seen, ok := sess.Values[keyLastSeen].(int64)
	return ok && s.Now().Sub(time.Unix(seen, 0)) > time.Minute
}

// RevokeUser ends every session of a user at once.
func (s *SessionStore) RevokeUser(ctx context.Context, userID uuid.UUID) (int, error) {
	return s.client.Session.Update().Where(session.UserID(userID), session.RevokedAtIsNil()).SetRevokedAt(s.Now()).Save(ctx)
}

// DeleteExpired removes sessions past their absolute or idle lifetime.
func (s *SessionStore) DeleteExpired(ctx context.Context) (int, error) {
	now := s.Now()
	return s.client.Session.Delete().Where(session.Or(
		session.ExpiresAtLT(now), session.LastSeenAtLT(now.Add(-s.Idle)), session.RevokedAtNotNil(),
	)).Exec(ctx)
}

// SaveWithFlashes saves the session together with flashes queued during the request. A
// signed-in session keeps them in a queue on its row, appended atomically, so two requests
// of one session (two tabs) never overwrite each other's messages; a visitor's travel in
// the cookie.
func (s *SessionStore) SaveWithFlashes(r *http.Request, w http.ResponseWriter, sess *sessions.Session, flashes []string) error {
	signedIn := sess.ID != "" || sess.Values[KeyUserID] != nil
	if !signedIn {
		for _, f := range flashes {
			sess.AddFlash(f)
		}
	}
	if err := s.Save(r, w, sess); err != nil {
		return err
	}
	if !signedIn || len(flashes) == 0 || sess.ID == "" {
		return nil
	}
	list, err := json.Marshal(flashes)
	if err != nil {
		return err
	}
	_, err = s.client.ExecContext(r.Context(),
		`UPDATE sessions SET flashes = COALESCE(flashes, '[]'::jsonb) || $2::jsonb WHERE id = $1 AND revoked_at IS NULL`,
		hashID(sess.ID), string(list))
	if err == nil {
		sess.Values[flashesKey{}] = true
	}
	return err
}

// PopFlashes takes the session's queued flashes, oldest first. Each is returned to exactly
// one request, however many of the session's requests run at once.
func (s *SessionStore) PopFlashes(ctx context.Context, sess *sessions.Session) ([]string, error) {
	var out []string
	for _, f := range sess.Flashes() {
		if str, ok := f.(string); ok {
			out = append(out, str)
		}
	}
	if sess.ID == "" || sess.Values[flashesKey{}] == nil {
		return out, nil
	}
	delete(sess.Values, flashesKey{})
	rows, err := s.client.QueryContext(ctx, `UPDATE sessions s SET flashes = NULL
		FROM (SELECT id, flashes FROM sessions WHERE id = $1 FOR UPDATE) old
		WHERE s.id = old.id AND old.flashes IS NOT NULL RETURNING old.flashes`, hashID(sess.ID))
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return out, err
		}
		var queued []string
		if err := json.Unmarshal(raw, &queued); err != nil {
			return out, err
		}
		out = append(out, queued...)
	}
	return out, rows.Err()
}

func newSessionID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// RandomToken returns a URL-safe random string of n bytes of entropy.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
