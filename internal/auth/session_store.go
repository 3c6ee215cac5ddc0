package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"errors"
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
	KeyUserID   = "uid"
	KeyCSRF     = "csrf"
	KeyExpired  = "_expired"
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

// New loads the session named in the cookie, or starts an empty one. A cookie that fails
// its signature, or names a missing, revoked, idle or expired session, yields a new session
// (and ErrInvalidCookie for a bad signature, so the caller can log the tampering).
func (s *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.Options
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := s.codec.Decode(name, c.Value, &id); err != nil {
		return sess, ErrInvalidCookie
	}
	row, err := s.client.Session.Get(r.Context(), hashID(id))
	if ent.IsNotFound(err) {
		sess.Values[KeyExpired] = true
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	now := s.Now()
	if row.RevokedAt != nil || now.After(row.ExpiresAt) || now.Sub(row.LastSeenAt) > s.Idle {
		sess.Values[KeyExpired] = true
		return sess, nil
	}
	if err := gob.NewDecoder(bytes.NewReader(row.Data)).Decode(&sess.Values); err != nil {
		return sess, nil
	}
	sess.ID = id
	sess.IsNew = false
	sess.Values[keyLastSeen] = row.LastSeenAt.Unix()
	return sess, nil
}

// ErrInvalidCookie means the session cookie was not signed by us.
var ErrInvalidCookie = errors.New("session cookie signature is invalid")

// Save writes the session and its cookie; MaxAge < 0 deletes both.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if _, err := s.client.Session.Delete().Where(session.ID(hashID(sess.ID))).Exec(ctx); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	values := make(map[interface{}]interface{}, len(sess.Values))
	for k, v := range sess.Values {
		if k == keyLastSeen || k == KeyExpired {
			continue
		}
		values[k] = v
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(values); err != nil {
		return err
	}
	var userID *uuid.UUID
	if v, ok := values[KeyUserID].(string); ok {
		if id, err := uuid.Parse(v); err == nil {
			userID = &id
		}
	}
	now := s.Now()
	if sess.ID == "" {
		sess.ID = newSessionID()
		err := s.client.Session.Create().SetID(hashID(sess.ID)).SetNillableUserID(userID).SetData(buf.Bytes()).
			SetCreatedAt(now).SetLastSeenAt(now).SetExpiresAt(now.Add(s.MaxAge)).Exec(ctx)
		if err != nil {
			return err
		}
	} else {
		n, err := s.client.Session.Update().Where(session.ID(hashID(sess.ID)), session.RevokedAtIsNil()).
			SetNillableUserID(userID).SetData(buf.Bytes()).SetLastSeenAt(now).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("session was revoked")
		}
	}
	encoded, err := s.codec.Encode(sess.Name(), sess.ID)
	if err != nil {
		return err
	}
	opts := *sess.Options
	opts.MaxAge = int(s.MaxAge.Seconds())
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, &opts))
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
