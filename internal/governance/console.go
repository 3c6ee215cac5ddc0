package governance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/consolegrant"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/notify"
)

// Console access durations, in minutes: a prod grant lasts at most two hours (flows
// §2.18, console.MaxSession).
const (
	DefaultConsoleMinutes = 60
	MaxConsoleMinutes     = 120
)

// ConsoleGrantChoices are the durations an approver picks from.
var ConsoleGrantChoices = []int{15, 30, 60, 120}

// consolePendingIndex guards one pending console request per VM and person
// (ent/schema/governance.go).
const consolePendingIndex = "approvalticket_one_pending_console_per_user"

// RequestConsoleAccess asks for a prod VM's console for a while. The requester needs
// vnc:access on the VM (VMs they cannot see are not found); test consoles open without
// a request. One transaction: event VNC_ACCESS_REQUESTED, ticket VNC_ACCESS awaiting
// approval, audit vnc.request and the prod approvers' notifications.
func (s *Service) RequestConsoleAccess(ctx context.Context, who Requester, vmID uuid.UUID, reason string, minutes int) (*ent.ApprovalTicket, error) {
	v, err := s.operableVM(ctx, who, vmID, authz.VNCAccess, authz.Create, "open the console of")
	if err != nil {
		return nil, err
	}
	if v.Environment != vm.EnvironmentProd {
		return nil, domain.Errf(domain.CodeEnvironmentMismatch, "",
			"Consoles of %s VMs open without a request: use Open console on the VM page.", v.Environment)
	}
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason, true, "Say why you need the console; an approver decides on it."); err != nil {
		return nil, err
	}
	if minutes, err = consoleMinutes(minutes, DefaultConsoleMinutes); err != nil {
		return nil, err
	}
	var ticket *ent.ApprovalTicket
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		// The VM row lock serialises requests for the VM, so the duplicate check holds.
		v, err := tx.Ent.VM.Query().Where(vm.ID(v.ID)).ForUpdate().Only(ctx)
		if err != nil {
			return err
		}
		if err := consoleVMGone(v); err != nil {
			return err
		}
		pending, err := pendingConsole(ctx, tx.Ent, who.User.ID, v.ID)
		if err != nil {
			return err
		}
		if pending != nil {
			return consoleDuplicate(v, pending.ID)
		}
		env := string(v.Environment)
		payload := map[string]any{
			"vm_id":        v.ID.String(),
			"vm_name":      v.Name,
			"minutes":      minutes,
			"reason":       reason,
			"requested_by": who.User.Username,
			"environment":  env,
		}
		ev, err := tx.Ent.DomainEvent.Create().
			SetEventType(domain.EventVNCAccessRequested).
			SetAggregateType("vm").
			SetAggregateID(v.ID.String()).
			SetPayload(payload).
			SetRequestedBy(who.User.ID).
			SetStatus(domainevent.StatusPENDING).
			Save(ctx)
		if err != nil {
			return err
		}
		ticket, err = tx.Ent.ApprovalTicket.Create().
			SetType(approvalticket.TypeVNC_ACCESS).
			SetStatus(approvalticket.StatusPENDING_APPROVAL).
			SetEventID(ev.ID).
			SetRequesterID(who.User.ID).
			SetRequesterName(who.User.Username).
			SetReason(reason).
			SetSystemID(v.SystemID).
			SetServiceID(v.ServiceID).
			SetNamespaceID(v.NamespaceID).
			SetNamespaceName(v.NamespaceName).
			SetEnvironment(approvalticket.Environment(env)).
			SetTargetName(v.Name).
			SetVMID(v.ID).
			SetRequestParams(map[string]any{"minutes": minutes}).
			Save(ctx)
		if err != nil {
			return consoleIndexConflict(err, v)
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{
			Action:       "vnc.request",
			ActorID:      &who.User.ID,
			ActorName:    who.User.Username,
			ResourceType: "vm",
			ResourceID:   v.ID.String(),
			ResourceName: v.Name,
			ParentType:   "service",
			ParentID:     v.ServiceID.String(),
			Environment:  env,
			Details: map[string]any{
				"reason":    reason,
				"minutes":   minutes,
				"duration":  ConsoleDuration(minutes),
				"ticket_id": ticket.ID.String(),
				"event_id":  ev.ID.String(),
			},
		}); err != nil {
			return err
		}
		approvers, err := notify.HoldersOf(ctx, tx.Ent, authz.ApprovalApprove, env)
		if err != nil {
			return err
		}
		return notify.Send(ctx, tx.Ent, without(approvers, who.User.ID), notify.Message{
			Type:     notification.TypeAPPROVAL_REQUIRED,
			Title:    "Console access request for " + v.Name,
			Body:     fmt.Sprintf("%s asks for %s of console access to %s (%s): %s", who.User.Username, ConsoleDuration(minutes), v.Name, v.NamespaceName, truncate(reason, 200)),
			Link:     "/approvals/" + ticket.ID.String(),
			TicketID: &ticket.ID,
		})
	})
	return ticket, err
}

// ApproveConsoleAccess grants a pending console request for minutes (the requested
// duration when 0, at most MaxConsoleMinutes). Same rights and self-approval rule as
// every approval. One transaction: the ticket done (SUCCESS, its one step recorded),
// the event completed, the grant, audit vnc.grant and the requester's notification.
// Nothing touches a cluster, so no job.
func (s *Service) ApproveConsoleAccess(ctx context.Context, who Requester, ticketID uuid.UUID, minutes int, comment string) (*ent.ConsoleGrant, error) {
	t, err := s.DecisionTicket(ctx, who, ticketID)
	if err != nil {
		return nil, err
	}
	if err := s.checkDecider(ctx, who, t, "approve"); err != nil {
		return nil, err
	}
	if t.Type != approvalticket.TypeVNC_ACCESS || t.VMID == nil {
		return nil, domain.Errf(domain.CodeInvalidInput, "", "Only console access requests are granted here.")
	}
	if minutes, err = consoleMinutes(minutes, RequestedMinutes(t)); err != nil {
		return nil, err
	}
	comment = strings.TrimSpace(comment)
	if len(comment) > MaxReasonLength {
		return nil, &domain.ValidationError{Fields: domain.FieldErrors{"comment": fmt.Sprintf("Keep it under %d characters.", MaxReasonLength)}}
	}
	var grant *ent.ConsoleGrant
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		t, err := lockPending(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		v, err := tx.Ent.VM.Query().Where(vm.ID(*t.VMID)).ForUpdate().Only(ctx)
		if err != nil {
			return err
		}
		if err := consoleVMGone(v); err != nil {
			return err
		}
		now := s.now()
		expires := now.Add(time.Duration(minutes) * time.Minute)
		until := ConsoleUntil(expires, minutes)
		err = tx.Ent.ApprovalTicket.UpdateOneID(t.ID).
			SetStatus(approvalticket.StatusSUCCESS).
			SetApproverID(who.User.ID).
			SetApproverName(who.User.Username).
			SetDecidedAt(now).
			SetDecisionReason(comment).
			SetExecutedAt(now).
			SetSteps([]schema.ExecStep{{Name: domain.StepConsoleGranted, State: domain.StepStateDone, At: now, Message: until}}).
			Exec(ctx)
		if err != nil {
			return err
		}
		if err := tx.Ent.DomainEvent.UpdateOneID(t.EventID).Where(domainevent.StatusEQ(domainevent.StatusPENDING)).
			SetStatus(domainevent.StatusCOMPLETED).SetProcessedAt(now).Exec(ctx); err != nil {
			return err
		}
		grant, err = tx.Ent.ConsoleGrant.Create().
			SetVMID(v.ID).
			SetUserID(t.RequesterID).
			SetTicketID(t.ID).
			SetGrantedBy(who.User.Username).
			SetStartsAt(now).
			SetExpiresAt(expires).
			Save(ctx)
		if err != nil {
			return err
		}
		if err := audit.Write(ctx, tx.Ent, audit.Entry{
			Action:       "vnc.grant",
			ActorID:      &who.User.ID,
			ActorName:    who.User.Username,
			ResourceType: "ticket",
			ResourceID:   t.ID.String(),
			ResourceName: t.TargetName,
			ParentType:   "service",
			ParentID:     t.ServiceID.String(),
			Environment:  string(t.Environment),
			Details: map[string]any{
				"vm":         v.Name,
				"user":       t.RequesterName,
				"grant":      grant.ID.String(),
				"minutes":    minutes,
				"duration":   ConsoleDuration(minutes),
				"expires_at": expires.UTC().Format(time.RFC3339),
				"comment":    comment,
			},
		}); err != nil {
			return err
		}
		if err := notify.Send(ctx, tx.Ent, []uuid.UUID{t.RequesterID}, notify.Message{
			Type:     notification.TypeREQUEST_APPROVED,
			Title:    "Console access granted: " + v.Name,
			Body:     fmt.Sprintf("%s granted you console access to %s %s.", who.User.Username, v.Name, until),
			Link:     "/vms/" + v.ID.String() + "/console",
			TicketID: &t.ID,
		}); err != nil {
			return err
		}
		return tellOwners(ctx, tx.Ent, t.SystemID, skipList(t.RequesterID, &who.User.ID), notify.Message{
			Type:     notification.TypeREQUEST_APPROVED,
			Title:    "Console access granted: " + v.Name,
			Body:     fmt.Sprintf("%s granted %s console access to %s %s.", who.User.Username, orSomeone(t.RequesterName), v.Name, until),
			Link:     "/vms/" + v.ID.String(),
			TicketID: &t.ID,
		})
	})
	if err != nil {
		return nil, err
	}
	return grant, nil
}

// PendingConsoleRequest is the user's console request for the VM that awaits an
// approver, nil when there is none (the console page links to it instead of asking again).
func (s *Service) PendingConsoleRequest(ctx context.Context, userID, vmID uuid.UUID) (*ent.ApprovalTicket, error) {
	return pendingConsole(ctx, s.Store.Ent, userID, vmID)
}

// ConsoleGrantOf is the grant an approved console request produced (nil before approval).
func (s *Service) ConsoleGrantOf(ctx context.Context, t *ent.ApprovalTicket) (*ent.ConsoleGrant, error) {
	g, err := s.Store.Ent.ConsoleGrant.Query().Where(consolegrant.TicketID(t.ID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return g, err
}

// RequestedMinutes is the duration a console request asked for.
func RequestedMinutes(t *ent.ApprovalTicket) int {
	if m, ok := t.RequestParams["minutes"].(float64); ok && m > 0 {
		return int(m)
	}
	if m, ok := t.RequestParams["minutes"].(int); ok && m > 0 {
		return m
	}
	return DefaultConsoleMinutes
}

// ConsoleDuration says a number of minutes the way people do: "30 minutes", "1 hour",
// "1 hour 30 minutes".
func ConsoleDuration(minutes int) string {
	h, m := minutes/60, minutes%60
	var parts []string
	switch {
	case h == 1:
		parts = append(parts, "1 hour")
	case h > 1:
		parts = append(parts, fmt.Sprintf("%d hours", h))
	}
	switch {
	case m == 1:
		parts = append(parts, "1 minute")
	case m > 1 || h == 0:
		parts = append(parts, fmt.Sprintf("%d minutes", m))
	}
	return strings.Join(parts, " ")
}

// ConsoleUntil is "until 14:05 UTC (1 hour)", the words of a grant's end.
func ConsoleUntil(expires time.Time, minutes int) string {
	return fmt.Sprintf("until %s (%s)", expires.UTC().Format("15:04 MST"), ConsoleDuration(minutes))
}

// requestNoun names what a ticket asks for inside a sentence ("your stop request",
// "your console access request").
func requestNoun(t approvalticket.Type) string {
	if t == approvalticket.TypeVNC_ACCESS {
		return "console access"
	}
	return strings.ToLower(strings.TrimPrefix(string(t), "VM_"))
}

func consoleMinutes(minutes, def int) (int, error) {
	if minutes == 0 {
		minutes = def
	}
	if minutes < 1 || minutes > MaxConsoleMinutes {
		return 0, &domain.ValidationError{Fields: domain.FieldErrors{"minutes": fmt.Sprintf("Choose at most %s.", ConsoleDuration(MaxConsoleMinutes))}}
	}
	return minutes, nil
}

// consoleVMGone refuses console access to a VM that is being deleted or is gone.
func consoleVMGone(v *ent.VM) error {
	if v.Status == vm.StatusDELETING || v.Status == vm.StatusDELETED {
		return domain.Errf(domain.CodeVMStateConflict, "", "%s is %s; its console cannot be reached any more.", v.Name, strings.ToLower(string(v.Status)))
	}
	return nil
}

func pendingConsole(ctx context.Context, c *ent.Client, userID, vmID uuid.UUID) (*ent.ApprovalTicket, error) {
	t, err := c.ApprovalTicket.Query().Where(approvalticket.VMID(vmID), approvalticket.RequesterID(userID),
		approvalticket.TypeEQ(approvalticket.TypeVNC_ACCESS), approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL)).
		First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return t, err
}

func consoleDuplicate(v *ent.VM, pending uuid.UUID) error {
	e := domain.Errf(domain.CodeDuplicatePending, "", "Your console access request for %s is already waiting for approval.", v.Name)
	if pending != uuid.Nil {
		e.Params = map[string]any{"ticket_id": pending.String()}
	}
	return e
}

// consoleIndexConflict turns a unique violation of the per-person index into the
// duplicate a person understands (two requests raced past the check).
func consoleIndexConflict(err error, v *ent.VM) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" && pg.ConstraintName == consolePendingIndex {
		return consoleDuplicate(v, uuid.Nil)
	}
	return err
}
