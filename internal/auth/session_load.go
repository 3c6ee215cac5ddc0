package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/gob"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/sessions"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/user"
)

// sessionRow is what loading a session needs of its row.
type sessionRow struct {
	Data       []byte
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	HasFlashes bool
	// Unread is the user's unread notifications (the bell every page shows), read
	// here on the way (an index-only count on notification_unread).
	Unread int
}

// userColumns are the users columns load reads, in the order scanUser scans them.
// TestSessionLoadReadsEveryUserField fails when the users table gains a field that is
// not read here.
const userColumns = `u.id, u.created_at, u.updated_at, u.username, u.email, u.display_name, u.auth_type,
	u.external_id, u.password_hash, u.force_password_change, u.disabled, u.last_login_at, u.authz_version,
	u.issuer`

// load reads a signed-in session's row together with its user's and the user's number
// of unread notifications, in one statement:
// every signed-in request needs both (the user row carries authz_version, which says
// whether the cached permissions are current), and they are two primary-key lookups.
// This is the hottest query of the portal, so it is plain SQL scanned into the fields
// directly (Ent's generic scan of extra columns looked up the column types per row).
// A session without a user falls back to the session row alone.
func (s *SessionStore) load(ctx context.Context, hid string) (sessionRow, *ent.User, error) {
	var (
		row      sessionRow
		u        ent.User
		userID   *uuid.UUID
		authType sql.NullString
		external sql.NullString
		issuer   sql.NullString
		password sql.NullString
	)
	var (
		createdAt, updatedAt sql.NullTime
		username, email      sql.NullString
		display              sql.NullString
		force, disabled      sql.NullBool
		lastLogin            sql.NullTime
		authzVersion         sql.NullInt64
	)
	rows, err := s.client.QueryContext(ctx, `SELECT s.data, s.last_seen_at, s.expires_at, s.revoked_at,
		coalesce(jsonb_array_length(s.flashes), 0) > 0, `+userColumns+`,
		(SELECT count(*) FROM notifications n WHERE n.recipient_id = u.id AND n.read_at IS NULL)
		FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = $1`, hid)
	if err != nil {
		return row, nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return row, nil, err
		}
		return row, nil, &ent.NotFoundError{}
	}
	err = rows.Scan(&row.Data, &row.LastSeenAt, &row.ExpiresAt, &row.RevokedAt, &row.HasFlashes,
		&userID, &createdAt, &updatedAt, &username, &email, &display, &authType,
		&external, &password, &force, &disabled, &lastLogin, &authzVersion, &issuer, &row.Unread)
	if err != nil || userID == nil {
		return row, nil, err
	}
	u.ID = *userID
	u.CreatedAt, u.UpdatedAt = createdAt.Time, updatedAt.Time
	u.Username, u.Email, u.DisplayName = username.String, email.String, display.String
	u.AuthType = user.AuthType(authType.String)
	if external.Valid {
		u.ExternalID = &external.String
	}
	if issuer.Valid {
		u.Issuer = &issuer.String
	}
	u.PasswordHash = password.String
	u.ForcePasswordChange, u.Disabled = force.Bool, disabled.Bool
	if lastLogin.Valid {
		u.LastLoginAt = &lastLogin.Time
	}
	u.AuthzVersion = authzVersion.Int64
	return row, &u, nil
}

// SessionUnread is the number of unread notifications of the session's user, read with
// the session's row; ok is false when it was not (no user).
func SessionUnread(sess *sessions.Session) (n int, ok bool) {
	n, ok = sess.Values[unreadKey{}].(int)
	return n, ok
}

// SessionUser is the user read with a signed-in session's row, or nil (an anonymous
// session, or one saved in this request).
func SessionUser(sess *sessions.Session) *ent.User {
	u, _ := sess.Values[userKey{}].(*ent.User)
	return u
}

// decodedValues caches the decoded values of recently seen session data. A gob decoder
// compiles its type information afresh for every stream, and every signed-in request
// decodes its session: that was a twentieth of a list page's CPU. The data of a
// session rarely changes, so the same bytes decode to the same values; the key is their
// hash. Only values of immutable kinds are cached (they are copied into each request's
// map, which the request may change freely).
var decodedValues struct {
	sync.Mutex
	m map[[sha256.Size]byte]map[any]any
}

const decodedValuesMax = 10_000

func decodeValues(data []byte, into map[any]any) error {
	key := sha256.Sum256(data)
	decodedValues.Lock()
	cached, ok := decodedValues.m[key]
	decodedValues.Unlock()
	if ok {
		for k, v := range cached {
			into[k] = v
		}
		return nil
	}
	values := map[any]any{}
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&values); err != nil {
		return err
	}
	for k, v := range values {
		into[k] = v
	}
	if !immutable(values) {
		return nil
	}
	decodedValues.Lock()
	if decodedValues.m == nil || len(decodedValues.m) >= decodedValuesMax {
		decodedValues.m = map[[sha256.Size]byte]map[any]any{} // start afresh rather than track ages
	}
	decodedValues.m[key] = values
	decodedValues.Unlock()
	return nil
}

// immutable reports whether every key and value is a plain scalar (a slice or map could
// be changed in place by one request and seen by the next).
func immutable(values map[any]any) bool {
	scalar := func(v any) bool {
		switch v.(type) {
		case string, bool, int, int32, int64, uint, uint32, uint64, float64:
			return true
		}
		return false
	}
	for k, v := range values {
		if !scalar(k) || !scalar(v) {
			return false
		}
	}
	return true
}
