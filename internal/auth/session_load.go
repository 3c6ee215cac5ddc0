package auth

import (
	"context"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/gorilla/sessions"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/session"
	"kv-shepherd.io/shepherd/ent/user"
)

// sessionRow is what loading a session needs of its row.
type sessionRow struct {
	Data       []byte
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	HasFlashes bool
}

// Column aliases of the session's fields, read alongside the user's row.
const (
	colData       = "session_data"
	colLastSeen   = "session_last_seen_at"
	colExpires    = "session_expires_at"
	colRevoked    = "session_revoked_at"
	colHasFlashes = "session_has_flashes"
)

// load reads a signed-in session's row together with its user's, in one statement:
// every signed-in request needs both (the user row carries authz_version, which says
// whether the cached permissions are current), and they are two primary-key lookups. The
// user is an Ent row like any other; the session's fields ride along as selected values.
// A session without a user falls back to the session row alone.
func (s *SessionStore) load(ctx context.Context, hid string) (sessionRow, *ent.User, error) {
	u, err := s.client.User.Query().Where(func(sel *entsql.Selector) {
		t := entsql.Table(session.Table).As("s")
		sel.Join(t).On(sel.C(user.FieldID), t.C(session.FieldUserID))
		sel.Where(entsql.EQ(t.C(session.FieldID), hid))
		sel.AppendSelectAs(t.C(session.FieldData), colData)
		sel.AppendSelectAs(t.C(session.FieldLastSeenAt), colLastSeen)
		sel.AppendSelectAs(t.C(session.FieldExpiresAt), colExpires)
		sel.AppendSelectAs(t.C(session.FieldRevokedAt), colRevoked)
		sel.AppendSelectExprAs(entsql.Raw("coalesce(jsonb_array_length("+t.C(session.FieldFlashes)+"), 0) > 0"), colHasFlashes)
	}).Only(ctx)
	if err == nil {
		row, ok := sessionOf(u)
		if ok {
			return row, u, nil
		}
	} else if !ent.IsNotFound(err) {
		return sessionRow{}, nil, err
	}
	only, err := s.client.Session.Get(ctx, hid)
	if err != nil {
		return sessionRow{}, nil, err
	}
	return sessionRow{
		Data:       only.Data,
		LastSeenAt: only.LastSeenAt,
		ExpiresAt:  only.ExpiresAt,
		RevokedAt:  only.RevokedAt,
		HasFlashes: len(only.Flashes) > 0,
	}, nil, nil
}

// sessionOf reads the session's fields back from the user row's selected values.
func sessionOf(u *ent.User) (sessionRow, bool) {
	var row sessionRow
	data, err1 := u.Value(colData)
	seen, err2 := u.Value(colLastSeen)
	expires, err3 := u.Value(colExpires)
	revoked, err4 := u.Value(colRevoked)
	flashes, err5 := u.Value(colHasFlashes)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
		return row, false
	}
	var ok bool
	if row.Data, ok = data.([]byte); !ok {
		return row, false
	}
	if row.LastSeenAt, ok = seen.(time.Time); !ok {
		return row, false
	}
	if row.ExpiresAt, ok = expires.(time.Time); !ok {
		return row, false
	}
	if t, isTime := revoked.(time.Time); isTime {
		row.RevokedAt = &t
	}
	row.HasFlashes, _ = flashes.(bool)
	return row, true
}

// SessionUser is the user read with a signed-in session's row, or nil (an anonymous
// session, or one saved in this request).
func SessionUser(sess *sessions.Session) *ent.User {
	u, _ := sess.Values[userKey{}].(*ent.User)
	return u
}
