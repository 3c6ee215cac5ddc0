package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/consolegrant"
	"kv-shepherd.io/shepherd/ent/consolesession"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Limits of console access (DESIGN §6).
const (
	// DefaultTicketWindow is how long a console ticket waits for its websocket.
	DefaultTicketWindow = 60 * time.Second
	// MaxSession caps every console session, and every prod grant.
	MaxSession = 2 * time.Hour
)

// Errors the console page turns into words.
var (
	ErrVMNotFound    = domain.Errf(domain.CodeNotFound, "", "There is no such VM.")
	ErrTicketInvalid = domain.Errf(domain.CodeConsoleTicketInvalid, "",
		"This console link has expired or was already used. Open the console again.")
)

// Access owns console tickets and sessions: who may open which VM's console, the
// one-time tickets, the session records and their revocation.
type Access struct {
	Store *db.Store
	// TicketWindow: default DefaultTicketWindow.
	TicketWindow time.Duration
	// Replica names this process in session records ("which replica holds it").
	Replica string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Viewer is the person asking.
type Viewer struct {
	UserID    uuid.UUID
	Username  string
	Principal *authz.Principal
}

// State is what a viewer may do with a VM's console right now.
type State struct {
	VM *ent.VM
	// CanOpen: the viewer may get a ticket now.
	CanOpen bool
	// Problem says, in plain words, why not (empty when CanOpen).
	Problem     string
	ProblemCode string
	// NeedsGrant: a prod VM whose console this viewer has no live grant for.
	NeedsGrant bool
	Grant      *ent.ConsoleGrant
	// Holder is another person's live session on this VM, if any.
	Holder *ent.ConsoleSession
	// EndsAt is when a session opened now would be cut (grant end or MaxSession).
	EndsAt time.Time
}

func (a *Access) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Access) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.Default()
	}
	return a.Logger
}

// State loads the VM and decides: vnc:access in the VM's environment (with a role on
// its System that may operate), the VM running on its cluster, and in prod a grant
// that has not expired or been revoked. VMs the viewer cannot see are not found.
func (a *Access) State(ctx context.Context, v Viewer, vmID uuid.UUID) (State, error) {
	row, err := a.Store.Ent.VM.Get(ctx, vmID)
	if ent.IsNotFound(err) {
		return State{}, ErrVMNotFound
	}
	if err != nil {
		return State{}, err
	}
	env := string(row.Environment)
	if v.Principal.Check(authz.VMRead, authz.View, row.SystemID, env) != authz.Allow {
		return State{}, ErrVMNotFound
	}
	now := a.now()
	st := State{VM: row, EndsAt: now.Add(MaxSession)}
	holder, err := a.Store.Ent.ConsoleSession.Query().
		Where(consolesession.VMID(row.ID), consolesession.ClosedAtIsNil(), consolesession.RevokedAtIsNil(),
			consolesession.UserIDNEQ(v.UserID)).
		Order(ent.Desc(consolesession.FieldOpenedAt)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return State{}, err
	}
	st.Holder = holder
	switch {
	case v.Principal.Check(authz.VNCAccess, authz.Create, row.SystemID, env) != authz.Allow:
		st.Problem, st.ProblemCode = "You may see this VM but not open its console ("+authz.VNCAccess+" in "+env+" is needed).", domain.CodeForbidden
		return st, nil
	case row.Status != vm.StatusRUNNING || !row.K8sExists:
		st.Problem, st.ProblemCode = "The console is available while the VM is running; it is "+statusWords(row.Status)+".", domain.CodeVMNotRunning
		return st, nil
	}
	if env == authz.EnvProd {
		grant, err := a.activeGrant(ctx, a.Store.Ent, v.UserID, row.ID, now)
		if err != nil {
			return State{}, err
		}
		if grant == nil {
			st.NeedsGrant = true
			st.Problem, st.ProblemCode = "Production consoles need an approved access request.", domain.CodeConsoleNeedsGrant
			return st, nil
		}
		st.Grant = grant
		st.EndsAt = earliest(st.EndsAt, grant.ExpiresAt)
	}
	st.CanOpen = true
	return st, nil
}

func (a *Access) activeGrant(ctx context.Context, c *ent.Client, userID, vmID uuid.UUID, now time.Time) (*ent.ConsoleGrant, error) {
	g, err := c.ConsoleGrant.Query().
		Where(consolegrant.VMID(vmID), consolegrant.UserID(userID), consolegrant.RevokedAtIsNil(),
			consolegrant.StartsAtLTE(now), consolegrant.ExpiresAtGT(now)).
		Order(ent.Desc(consolegrant.FieldExpiresAt)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return g, err
}

// IssueTicket gives the viewer a one-time console ticket for the VM: 32 random bytes,
// of which only the SHA-256 is stored. The raw token goes to the browser once (in a
// path-scoped cookie) and is never logged or stored. takeOver asks to disconnect
// whoever holds the console now; without it a held console is refused.
func (a *Access) IssueTicket(ctx context.Context, v Viewer, vmID uuid.UUID, takeOver bool) (string, *ent.ConsoleTicket, error) {
	st, err := a.State(ctx, v, vmID)
	if err != nil {
		return "", nil, err
	}
	if !st.CanOpen {
		return "", nil, domain.Errf(st.ProblemCode, "", "%s", st.Problem)
	}
	if st.Holder != nil && !takeOver {
		return "", nil, domain.Errf(domain.CodeConsoleInUse, "",
			"%s is using this console (since %s). Take it over to disconnect them.", st.Holder.UserName, st.Holder.OpenedAt.UTC().Format("15:04 MST"))
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := a.now()
	window := a.TicketWindow
	if window <= 0 {
		window = DefaultTicketWindow
	}
	var t *ent.ConsoleTicket
	err = a.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		create := tx.Ent.ConsoleTicket.Create().
			SetTokenHash(hashToken(token)).
			SetUserID(v.UserID).
			SetVMID(st.VM.ID).
			SetTakeOver(takeOver).
			SetCreatedAt(now).
			SetExpiresAt(now.Add(window)).
			SetSessionEndsAt(st.EndsAt)
		if st.Grant != nil {
			create.SetGrantID(st.Grant.ID)
		}
		var err error
		if t, err = create.Save(ctx); err != nil {
			return err
		}
		details := map[string]any{"ticket": t.ID.String(), "take_over": t.TakeOver, "session_ends_at": st.EndsAt.UTC().Format(time.RFC3339)}
		if st.Grant != nil {
			details["grant"] = st.Grant.ID.String()
			details["granted_by"] = st.Grant.GrantedBy
		}
		return audit.Write(ctx, tx.Ent, vmEntry("vnc.ticket_issue", v, st.VM, details))
	})
	if err != nil {
		return "", nil, err
	}
	return token, t, nil
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func vmEntry(action string, v Viewer, row *ent.VM, details map[string]any) audit.Entry {
	id := v.UserID
	return audit.Entry{
		Action:       action,
		ActorID:      &id,
		ActorName:    v.Username,
		ResourceType: "vm",
		ResourceID:   row.ID.String(),
		ResourceName: row.Name,
		ParentType:   "service",
		ParentID:     row.ServiceID.String(),
		Environment:  string(row.Environment),
		Details:      details,
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func statusWords(s vm.Status) string {
	switch s {
	case vm.StatusCREATING:
		return "still being created"
	case vm.StatusSTARTING:
		return "starting"
	case vm.StatusSTOPPING:
		return "stopping"
	case vm.StatusSTOPPED:
		return "stopped"
	case vm.StatusRESTARTING:
		return "restarting"
	case vm.StatusDELETING:
		return "being deleted"
	case vm.StatusDELETED:
		return "deleted"
	case vm.StatusFAILED:
		return "failed"
	}
	return "in an unknown state"
}
