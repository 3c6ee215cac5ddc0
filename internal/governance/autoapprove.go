package governance

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/policy"
)

// autoApprove is AutoApproveAndEnqueue: inside the submit transaction, when an enabled
// policy matches the fresh ticket, it approves it like an approver would (placement as the
// approval page proposes it: the healthy eligible cluster of highest weight and its default
// storage class) and returns the approved ticket. It returns nil when the request waits for
// a person; if a policy matched but could not approve (a daily limit, no eligible cluster)
// the reason is kept on the ticket for the request page.
func (s *Service) autoApprove(ctx context.Context, tx *db.Tx, who Requester, t *ent.ApprovalTicket, r policy.Request) (*ent.ApprovalTicket, error) {
	choice, err := policy.Choose(ctx, tx.Ent, r, who.User.ID, s.now())
	if err != nil || choice.Policy == nil {
		return nil, err
	}
	p := choice.Policy
	label := policy.Label(p.Name, p.Version)
	note := choice.Note
	var plan *Plan
	if note == "" {
		plan, err = planApproval(ctx, tx.Ent, t, ApproveInput{})
		if err != nil {
			return nil, err
		}
		if plan.Blocked() {
			note = fmt.Sprintf("Policy %s (v%d) matched, but it cannot approve this request: %s", p.Name, p.Version, planProblems(plan))
		}
	}
	if note != "" {
		if err := tx.Ent.ApprovalTicket.UpdateOneID(t.ID).SetAutoApprovalNote(note).Exec(ctx); err != nil {
			return nil, err
		}
		t.AutoApprovalNote = note
		return nil, audit.Write(ctx, tx.Ent, audit.Entry{Action: "approval.auto_fallback", ActorName: label,
			ResourceType: "ticket", ResourceID: t.ID.String(), ResourceName: t.TargetName, ParentType: "service", ParentID: t.ServiceID.String(),
			Environment: string(t.Environment), Details: map[string]any{"policy_id": p.PolicyID.String(), "policy_version": p.Version,
				"policy": p.Name, "reason": note}})
	}
	details := map[string]any{"policy_id": p.PolicyID.String(), "policy_version": p.Version, "policy": p.Name,
		"requester": who.User.Username}
	if p.AuthorID == who.User.ID {
		// Allowed: the policy, not its author, decides; the audit row says so.
		details["requester_is_policy_author"] = true
	}
	if _, err := s.createApproved(ctx, tx, t, plan, decider{
		name:          label,
		policyID:      &p.PolicyID,
		policyVersion: p.Version,
		action:        "approval.auto_approve",
		approved:      "Approved automatically by " + label + ":",
		details:       details,
	}); err != nil {
		return nil, err
	}
	return tx.Ent.ApprovalTicket.Get(ctx, t.ID)
}

func planProblems(p *Plan) string {
	msgs := make([]string, 0, len(p.Errors))
	for _, m := range p.Errors {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	return strings.Join(msgs, " ")
}
