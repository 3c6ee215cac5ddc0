// Package live tells open pages that what they show has changed. PostgreSQL triggers
// (migrations/0011_live_notify.sql) NOTIFY every change of a VM, a ticket or a
// notification in the committing transaction; one Listener per process receives them on
// a dedicated connection and hands them to the Hub, which fans each change out to the
// open event streams whose user may see it, as topic names ("vm:<id>", "ticket:<id>",
// "inbox", "bell"). The page then fetches the fragment itself, through the same
// authorization as any page view; a stream never carries names or contents.
package live

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/internal/authz"
)

// Channel is the NOTIFY channel the triggers send on.
const Channel = "shepherd_live"

// Kinds of change, as the trigger names them.
const (
	KindVM           = "vm"
	KindTicket       = "ticket"
	KindNotification = "notification"
)

// Change is one NOTIFY payload: which row changed and the ids that decide who may hear
// of it.
type Change struct {
	Kind        string     `json:"k"`
	ID          uuid.UUID  `json:"id"`
	SystemID    uuid.UUID  `json:"s"`
	Env         string     `json:"e"`
	RequesterID uuid.UUID  `json:"r"`
	VMID        *uuid.UUID `json:"v"`
	BatchID     *uuid.UUID `json:"b"`
	RecipientID uuid.UUID  `json:"u"`
}

// ParseChange reads a trigger's payload.
func ParseChange(payload string) (Change, error) {
	var c Change
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		return c, fmt.Errorf("live: bad payload %q: %w", payload, err)
	}
	switch c.Kind {
	case KindVM, KindTicket, KindNotification:
		return c, nil
	}
	return c, fmt.Errorf("live: unknown kind in %q", payload)
}

// Viewer is whom a stream belongs to: the user and their permissions when it opened.
type Viewer struct {
	UserID    uuid.UUID
	Principal *authz.Principal
}

// Topics are the topics of c this viewer may hear of, none when c is not theirs to see.
// The rules are the pages' own: a VM is visible with vm:read in its System and
// environment (governance.VMs, the VM page); a ticket to its requester, to approvers of
// its environment and to whoever may see its VM's System (governance.TicketFor); the
// inbox to approvers of the environment; a notification to its recipient only.
func (v Viewer) Topics(c Change) []string {
	switch c.Kind {
	case KindVM:
		if v.seesVMs(c) {
			return []string{"vm:" + c.ID.String()}
		}
	case KindTicket:
		var out []string
		sees := v.seesVMs(c)
		approver := v.Principal.HasIn(authz.ApprovalView, c.Env)
		if sees || approver || (v.UserID != uuid.Nil && c.RequesterID == v.UserID) {
			out = append(out, "ticket:"+c.ID.String())
			if c.BatchID != nil {
				// The batch page's rule is its children's (governance.BatchFor).
				out = append(out, "batch:"+c.BatchID.String())
			}
		}
		if sees && c.VMID != nil {
			out = append(out, "vm:"+c.VMID.String())
		}
		if approver {
			out = append(out, "inbox")
		}
		return out
	case KindNotification:
		if v.UserID != uuid.Nil && c.RecipientID == v.UserID {
			return []string{"bell"}
		}
	}
	return nil
}

func (v Viewer) seesVMs(c Change) bool {
	return v.Principal.Check(authz.VMRead, authz.View, c.SystemID, c.Env) == authz.Allow
}
