package console

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/consolegrant"
	"kv-shepherd.io/shepherd/ent/consolesession"
	"kv-shepherd.io/shepherd/ent/consoleticket"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/kube"
)

// Revoke reasons stored on session rows; the process holding the socket maps them to
// close reasons.
const (
	RevokedByAdmin  = "revoked"
	RevokedTakeOver = "taken_over"
	RevokedGrant    = "grant_revoked"
)

// Providers finds a cluster's provider (clusters.Registry).
type Providers interface {
	Provider(ctx context.Context, id uuid.UUID) (kube.Provider, *ent.Cluster, error)
}

// Session is an opened console: its record and what is needed to reach the VM.
type Session struct {
	Row *ent.ConsoleSession
	VM  *ent.VM
	// PreserveSession is false when the ticket asked to take the console over.
	PreserveSession bool
}

// Open consumes a ticket and records the session. The ticket must be the viewer's,
// for this VM, unused and inside its start window; consuming is one conditional
// UPDATE, so two connections racing with one ticket cannot both win. Access is then
// decided again (the VM may have stopped, a grant may have been revoked since the
// ticket was issued). A take-over marks the other live sessions of the VM revoked in
// the same transaction.
func (a *Access) Open(ctx context.Context, v Viewer, vmID uuid.UUID, token, clientIP string) (*Session, error) {
	if token == "" {
		return nil, ErrTicketInvalid
	}
	now := a.now()
	var ticket *ent.ConsoleTicket
	err := a.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		n, err := tx.Ent.ConsoleTicket.Update().
			Where(consoleticket.TokenHash(hashToken(token)), consoleticket.UserID(v.UserID), consoleticket.VMID(vmID),
				consoleticket.ConsumedAtIsNil(), consoleticket.ExpiresAtGT(now)).
			SetConsumedAt(now).Save(ctx)
		if err != nil || n == 0 {
			return err
		}
		ticket, err = tx.Ent.ConsoleTicket.Query().Where(consoleticket.TokenHash(hashToken(token))).Only(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if ticket == nil {
		return nil, ErrTicketInvalid
	}
	st, err := a.State(ctx, v, vmID)
	if err != nil {
		return nil, err
	}
	if !st.CanOpen {
		return nil, domain.Errf(st.ProblemCode, "", "%s", st.Problem)
	}
	if ticket.GrantID != nil && (st.Grant == nil || st.Grant.ID != *ticket.GrantID) {
		return nil, domain.Errf(domain.CodeConsoleNeedsGrant, "", "The access grant this console was opened under has ended.")
	}
	var row *ent.ConsoleSession
	err = a.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if ticket.TakeOver {
			if err := tx.Ent.ConsoleSession.Update().
				Where(consolesession.VMID(vmID), consolesession.ClosedAtIsNil(), consolesession.RevokedAtIsNil()).
				SetRevokedAt(now).SetRevokedBy(v.Username).SetRevokeReason(RevokedTakeOver).Exec(ctx); err != nil {
				return err
			}
		}
		create := tx.Ent.ConsoleSession.Create().
			SetTicketID(ticket.ID).
			SetUserID(v.UserID).
			SetUserName(v.Username).
			SetVMID(st.VM.ID).
			SetVMName(st.VM.Name).
			SetEnvironment(consolesession.Environment(st.VM.Environment)).
			SetClusterID(st.VM.ClusterID).
			SetClientIP(clientIP).
			SetReplica(a.Replica).
			SetOpenedAt(now).
			SetEndsAt(earliest(ticket.SessionEndsAt, st.EndsAt))
		if ticket.GrantID != nil {
			create.SetGrantID(*ticket.GrantID)
		}
		var err error
		if row, err = create.Save(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, vmEntry("vnc.session_open", v, st.VM, map[string]any{
			"session": row.ID.String(), "ticket": ticket.ID.String(), "ip_address": clientIP,
			"take_over": ticket.TakeOver, "ends_at": row.EndsAt.UTC().Format(time.RFC3339),
		}))
	})
	if err != nil {
		return nil, err
	}
	return &Session{Row: row, VM: st.VM, PreserveSession: !ticket.TakeOver}, nil
}

// Dial opens the VM's VNC stream on its cluster.
func (a *Access) Dial(ctx context.Context, clusters Providers, s *Session) (net.Conn, error) {
	p, _, err := clusters.Provider(ctx, s.VM.ClusterID)
	if err != nil {
		return nil, err
	}
	return p.OpenConsole(ctx, kube.VMRef{Namespace: s.VM.NamespaceName, Name: s.VM.Name},
		kube.ConsoleOptions{PreserveSession: s.PreserveSession})
}

// Close records how the session ended and writes its `vnc.access` audit record:
// duration, bytes each way, client IP and the reason. A revocation recorded on the row
// names the reason even when the socket saw only the stream end.
func (a *Access) Close(ctx context.Context, s *Session, res Result) error {
	// The request may be gone; the record must still be written.
	ctx = context.WithoutCancel(ctx)
	now := a.now()
	return a.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		row, err := tx.Ent.ConsoleSession.Get(ctx, s.Row.ID)
		if err != nil {
			return err
		}
		reason := res.Reason
		if row.RevokeReason != "" {
			reason = reasonForRevoke(row.RevokeReason)
		}
		if err := row.Update().SetClosedAt(now).SetBytesToVM(res.BytesToVM).SetBytesFromVM(res.BytesFromVM).
			SetCloseReason(reason.String()).Exec(ctx); err != nil {
			return err
		}
		details := map[string]any{
			"session":          row.ID.String(),
			"duration_seconds": int(now.Sub(row.OpenedAt).Seconds()),
			"ip_address":       row.ClientIP,
			"bytes_to_vm":      res.BytesToVM,
			"bytes_from_vm":    res.BytesFromVM,
			"close_reason":     reason.String(),
		}
		if row.RevokedBy != "" {
			details["revoked_by"] = row.RevokedBy
		}
		return audit.Write(ctx, tx.Ent, vmEntry("vnc.access", Viewer{UserID: row.UserID, Username: row.UserName}, s.VM, details))
	})
}

// Revoked reports whether session id has been revoked, and as what: a VNC stream that
// ends right after a take-over or a revocation must be reported as that, not as the
// VM stopping. The revocation commits before the new viewer dials, so the row already
// says so when the holder's stream breaks, on whichever replica holds it.
func (a *Access) Revoked(ctx context.Context, id uuid.UUID) (CloseReason, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	row, err := a.Store.Ent.ConsoleSession.Query().Where(consolesession.ID(id)).
		Select(consolesession.FieldRevokeReason).Only(ctx)
	if err != nil || row.RevokeReason == "" {
		return 0, false
	}
	return reasonForRevoke(row.RevokeReason), true
}

// reasonForRevoke maps a stored revoke reason to the websocket close reason.
func reasonForRevoke(r string) CloseReason {
	if r == RevokedTakeOver {
		return ReasonTakenOver
	}
	return ReasonRevoked
}

// ErrNotRevocable is returned for sessions already closed and grants already ended.
var ErrNotRevocable = domain.Errf(domain.CodeStaleTicket, "", "That console session or grant has already ended.")

// RevokeSession ends a live session: platform admins may end any, a user their own.
// The process holding the socket closes it within a second (Monitor).
func (a *Access) RevokeSession(ctx context.Context, v Viewer, sessionID uuid.UUID) error {
	return a.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		row, err := tx.Ent.ConsoleSession.Get(ctx, sessionID)
		if ent.IsNotFound(err) || (err == nil && !v.Principal.IsPlatformAdmin() && row.UserID != v.UserID) {
			return ErrVMNotFound
		}
		if err != nil {
			return err
		}
		if row.ClosedAt != nil || row.RevokedAt != nil {
			return ErrNotRevocable
		}
		if err := row.Update().SetRevokedAt(a.now()).SetRevokedBy(v.Username).SetRevokeReason(RevokedByAdmin).Exec(ctx); err != nil {
			return err
		}
		vmRow, err := tx.Ent.VM.Get(ctx, row.VMID)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, vmEntry("vnc.revoke", v, vmRow, map[string]any{
			"session": row.ID.String(), "user": row.UserName,
		}))
	})
}

// RevokeGrant ends a prod console grant before its time, and every live session
// opened under it. Platform admins and the approvers of the VM's environment may.
func (a *Access) RevokeGrant(ctx context.Context, v Viewer, grantID uuid.UUID, reason string) error {
	now := a.now()
	return a.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		g, err := tx.Ent.ConsoleGrant.Get(ctx, grantID)
		if ent.IsNotFound(err) {
			return ErrVMNotFound
		}
		if err != nil {
			return err
		}
		vmRow, err := tx.Ent.VM.Get(ctx, g.VMID)
		if err != nil {
			return err
		}
		if !v.Principal.IsPlatformAdmin() && !v.Principal.HasIn(authz.ApprovalApprove, string(vmRow.Environment)) {
			return domain.Errf(domain.CodeForbidden, "", "Only approvers of %s and platform admins may revoke console access.", vmRow.Environment)
		}
		if g.RevokedAt != nil || !g.ExpiresAt.After(now) {
			return ErrNotRevocable
		}
		if err := g.Update().SetRevokedAt(now).SetRevokedBy(v.Username).SetRevokeReason(reason).Exec(ctx); err != nil {
			return err
		}
		n, err := tx.Ent.ConsoleSession.Update().
			Where(consolesession.GrantID(g.ID), consolesession.ClosedAtIsNil(), consolesession.RevokedAtIsNil()).
			SetRevokedAt(now).SetRevokedBy(v.Username).SetRevokeReason(RevokedGrant).Save(ctx)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, vmEntry("vnc.grant_revoke", v, vmRow, map[string]any{
			"grant": g.ID.String(), "reason": reason, "sessions_cut": n,
		}))
	})
}

// LiveSessions lists the open sessions, newest first (admin page).
func (a *Access) LiveSessions(ctx context.Context) ([]*ent.ConsoleSession, error) {
	return a.Store.Ent.ConsoleSession.Query().Where(consolesession.ClosedAtIsNil()).
		Order(ent.Desc(consolesession.FieldOpenedAt)).Limit(500).All(ctx)
}

// ActiveGrants lists grants that have not expired or been revoked (admin page).
func (a *Access) ActiveGrants(ctx context.Context) ([]*ent.ConsoleGrant, error) {
	return a.Store.Ent.ConsoleGrant.Query().Where(consolegrant.RevokedAtIsNil(), consolegrant.ExpiresAtGT(a.now())).
		Order(ent.Asc(consolegrant.FieldExpiresAt)).Limit(500).All(ctx)
}

// PruneTickets deletes tickets that can no longer be used (a day after their window),
// keeping the table small; sessions keep the ticket id for the record.
func (a *Access) PruneTickets(ctx context.Context) (int, error) {
	return a.Store.Ent.ConsoleTicket.Delete().Where(consoleticket.ExpiresAtLT(a.now().Add(-24 * time.Hour))).Exec(ctx)
}

// CloseStale closes records of sessions past their end that nobody closed (their
// process died), so the admin page does not list ghosts.
func (a *Access) CloseStale(ctx context.Context) (int, error) {
	return a.Store.Ent.ConsoleSession.Update().
		Where(consolesession.ClosedAtIsNil(), consolesession.EndsAtLT(a.now().Add(-time.Minute))).
		SetClosedAt(a.now()).SetCloseReason("not_closed_by_its_process").Save(ctx)
}

// CloseOrphans closes the records of sessions this replica held when it died (their
// sockets are gone), so the admin page does not list ghosts.
func (a *Access) CloseOrphans(ctx context.Context) (int, error) {
	if a.Replica == "" {
		return 0, errors.New("console: Replica must be set to close orphaned sessions")
	}
	return a.Store.Ent.ConsoleSession.Update().
		Where(consolesession.Replica(a.Replica), consolesession.ClosedAtIsNil()).
		SetClosedAt(a.now()).SetCloseReason("server_restarted").Save(ctx)
}
