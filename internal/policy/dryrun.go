package policy

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/internal/authz"
)

// DryRunTickets is how many of the latest decided VM create requests a dry run replays.
const DryRunTickets = 200

// DryRunRow is one past request: what people decided and what the policy would have done.
type DryRunRow struct {
	TicketID      uuid.UUID
	Target        string
	Requester     string
	Environment   string
	Namespace     string
	Size          string
	Template      string
	DiskGB        int
	DecidedAt     *time.Time
	Status        string // the ticket's status
	DecidedBy     string
	Reason        string // the rejection reason, when rejected
	WouldApprove  bool
	Mismatch      string // the first condition that did not hold
	ByOtherPolicy bool   // decided by a policy, not a person
}

// DryRun is a policy's replay over the latest decided requests.
type DryRun struct {
	Rows     []DryRunRow
	Matches  int
	Warnings []string
}

// RolesIn are the names of the roles a principal holds in env (what "requester's role" matches).
func RolesIn(p *authz.Principal, env string) []string {
	var out []string
	if p == nil {
		return out
	}
	for _, b := range p.Bindings {
		if b.ScopeType != "system" && (len(b.Environments) == 0 || slices.Contains(b.Environments, env)) && !slices.Contains(out, b.Role) {
			out = append(out, b.Role)
		}
	}
	return out
}

// DryRun replays pol (saved or not) over the last DryRunTickets decided VM create requests.
// Daily limits are not replayed: they depend on the order of live submits. The requester's
// roles are today's, which is what the policy would see now.
func (s *Service) DryRun(ctx context.Context, a Actor, pol *ent.AutoApprovalPolicy) (*DryRun, error) {
	if err := s.admin(a); err != nil {
		return nil, err
	}
	// The replay shows what the policy would do once in force, so a prod confirmation
	// still to come is taken as given.
	replayed := *pol
	if replayed.ProdConfirmedBy == nil {
		someone := uuid.New()
		replayed.ProdConfirmedBy = &someone
	}
	pol = &replayed
	c := s.Store.Ent
	tickets, err := c.ApprovalTicket.Query().Where(approvalticket.TypeEQ(approvalticket.TypeVM_CREATE),
		approvalticket.StatusIn(approvalticket.StatusAPPROVED, approvalticket.StatusEXECUTING, approvalticket.StatusSUCCESS,
			approvalticket.StatusFAILED, approvalticket.StatusREJECTED)).
		Order(ent.Desc(approvalticket.FieldDecidedAt), ent.Desc(approvalticket.FieldCreatedAt)).Limit(DryRunTickets).All(ctx)
	if err != nil {
		return nil, err
	}
	out := &DryRun{Rows: []DryRunRow{}}
	if out.Warnings, err = Warnings(ctx, c, pol); err != nil {
		return nil, err
	}
	sizes := map[uuid.UUID]*ent.InstanceSize{}
	templates := map[uuid.UUID]*ent.Template{}
	principals := map[uuid.UUID]*authz.Principal{}
	for _, t := range tickets {
		row := DryRunRow{
			TicketID:      t.ID,
			Target:        t.TargetName,
			Requester:     t.RequesterName,
			Environment:   string(t.Environment),
			Namespace:     t.NamespaceName,
			DecidedAt:     t.DecidedAt,
			Status:        string(t.Status),
			DecidedBy:     t.ApproverName,
			ByOtherPolicy: t.DecidedByPolicyID != nil,
		}
		if t.Status == approvalticket.StatusREJECTED {
			row.Reason = t.DecisionReason
		}
		if d, ok := t.RequestParams["disk_gb"].(float64); ok {
			row.DiskGB = int(d)
		}
		r := Request{
			Environment: row.Environment,
			NamespaceID: t.NamespaceID,
			SystemID:    t.SystemID,
			ServiceID:   t.ServiceID,
			DiskGB:      row.DiskGB,
		}
		if t.InstanceSizeID != nil {
			if sizes[*t.InstanceSizeID] == nil {
				if sz, err := c.InstanceSize.Get(ctx, *t.InstanceSizeID); err == nil {
					sizes[*t.InstanceSizeID] = sz
				} else if !ent.IsNotFound(err) {
					return nil, err
				}
			}
			r.Size = sizes[*t.InstanceSizeID]
		}
		if r.Size != nil {
			row.Size = r.Size.Name
		}
		if t.TemplateID != nil {
			if templates[*t.TemplateID] == nil {
				if tp, err := c.Template.Get(ctx, *t.TemplateID); err == nil {
					templates[*t.TemplateID] = tp
				} else if !ent.IsNotFound(err) {
					return nil, err
				}
			}
			if tp := templates[*t.TemplateID]; tp != nil {
				r.TemplateName, row.Template = tp.Name, tp.Name
			}
		}
		if principals[t.RequesterID] == nil {
			p, err := authz.Load(ctx, c, t.RequesterID, t.RequesterName)
			if err != nil {
				return nil, err
			}
			principals[t.RequesterID] = p
		}
		r.Roles = RolesIn(principals[t.RequesterID], row.Environment)
		row.WouldApprove, row.Mismatch = Matches(pol, r)
		if len(out.Warnings) > 0 && row.WouldApprove {
			row.WouldApprove, row.Mismatch = false, "the policy has warnings"
		}
		if row.WouldApprove {
			out.Matches++
		}
		out.Rows = append(out.Rows, row)
	}
	return out, nil
}
