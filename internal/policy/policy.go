// Package policy holds the auto-approval policies: the platform admins' use cases (draft,
// edit as a new version, enable, confirm prod by a second admin, the global kill switch,
// the dry run) and the matching that the submit transaction runs (match.go).
package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/autoapprovalpolicy"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// Service runs the policy use cases.
type Service struct {
	Store *db.Store
	Now   func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Actor is who changes policies; every use case checks again that they are a platform admin.
type Actor = authz.Actor

// ErrNotFound answers for a policy that does not exist.
var ErrNotFound = domain.Errf(domain.CodeNotFound, "", "There is no such policy.")

// Limits of the policy form.
const (
	nameMax     = 100
	descMax     = 2000
	priorityMax = 10000
	limitMax    = 10000
)

// Input is the policy form. Empty lists match anything; Environments must name at least one.
type Input struct {
	Name                  string
	Description           string
	Priority              int
	Environments          []string
	NamespaceIDs          []string
	SystemIDs             []string
	ServiceIDs            []string
	SizeIDs               []string
	StandardSizesOnly     bool
	TemplateNames         []string
	RequesterRoles        []string
	MaxDiskGB             int
	MaxPerRequesterPerDay int
	MaxPerSystemPerDay    int
}

// Validate checks the form's own rules (references are checked against the catalogue at save).
func (in Input) Validate() error {
	fe := domain.FieldErrors{}
	switch n := len([]rune(strings.TrimSpace(in.Name))); {
	case n == 0:
		fe.Add("name", "Enter a name.")
	case n > nameMax:
		fe.Add("name", fmt.Sprintf("At most %d characters.", nameMax))
	}
	if len([]rune(in.Description)) > descMax {
		fe.Add("description", fmt.Sprintf("At most %d characters.", descMax))
	}
	if in.Priority < -priorityMax || in.Priority > priorityMax {
		fe.Add("priority", fmt.Sprintf("Use a number from %d to %d.", -priorityMax, priorityMax))
	}
	if len(in.Environments) == 0 {
		fe.Add("environments", "Choose the environments it applies to (prod only when you mean it).")
	}
	for _, e := range in.Environments {
		if e != "test" && e != "prod" {
			fe.Add("environments", "Choose test, prod or both.")
		}
	}
	for field, ids := range map[string][]string{"namespace_ids": in.NamespaceIDs, "system_ids": in.SystemIDs,
		"service_ids": in.ServiceIDs, "size_ids": in.SizeIDs} {
		for _, id := range ids {
			if _, err := uuid.Parse(id); err != nil {
				fe.Add(field, "Choose from the list.")
			}
		}
	}
	for field, v := range map[string]int{"max_disk_gb": in.MaxDiskGB, "max_per_requester_per_day": in.MaxPerRequesterPerDay,
		"max_per_system_per_day": in.MaxPerSystemPerDay} {
		if v < 0 || v > limitMax {
			fe.Add(field, fmt.Sprintf("Use 0 (no limit) up to %d.", limitMax))
		}
	}
	return fe.Err()
}

func (s *Service) admin(a Actor) error {
	return a.RequirePlatformAdmin("Only platform admins manage auto-approval policies.")
}

// Create drafts a new policy (version 1, disabled until an admin enables it).
func (s *Service) Create(ctx context.Context, a Actor, in Input) (*ent.AutoApprovalPolicy, error) {
	if err := s.admin(a); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out *ent.AutoApprovalPolicy
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := checkPriority(ctx, tx.Ent, in.Priority, uuid.Nil); err != nil {
			return err
		}
		var err error
		out, err = insertVersion(ctx, tx.Ent, uuid.New(), 1, false, a, in)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, entry(a, "autoapproval.policy.create", out, map[string]any{"after": Snapshot(out)}))
	})
	return out, mapConflict(err, in.Priority)
}

// Update saves an edit as the next version; the previous one is kept (superseded) so the
// tickets that matched it still name what they matched. The enabled state carries over,
// a prod confirmation does not: the second admin confirms what they read.
func (s *Service) Update(ctx context.Context, a Actor, policyID uuid.UUID, in Input) (*ent.AutoApprovalPolicy, error) {
	if err := s.admin(a); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out *ent.AutoApprovalPolicy
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, err := lockCurrent(ctx, tx.Ent, policyID)
		if err != nil {
			return err
		}
		if err := checkPriority(ctx, tx.Ent, in.Priority, policyID); err != nil {
			return err
		}
		if err := tx.Ent.AutoApprovalPolicy.UpdateOneID(cur.ID).SetSupersededAt(s.now()).Exec(ctx); err != nil {
			return err
		}
		out, err = insertVersion(ctx, tx.Ent, policyID, cur.Version+1, cur.Enabled, a, in)
		if err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, entry(a, "autoapproval.policy.update", out,
			map[string]any{"before": Snapshot(cur), "after": Snapshot(out)}))
	})
	return out, mapConflict(err, in.Priority)
}

// SetEnabled turns a policy on or off (its current version).
func (s *Service) SetEnabled(ctx context.Context, a Actor, policyID uuid.UUID, on bool) error {
	if err := s.admin(a); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, err := lockCurrent(ctx, tx.Ent, policyID)
		if err != nil {
			return err
		}
		if cur.Enabled == on {
			return nil
		}
		if err := tx.Ent.AutoApprovalPolicy.UpdateOneID(cur.ID).SetEnabled(on).Exec(ctx); err != nil {
			return err
		}
		action := "autoapproval.policy.disable"
		if on {
			action = "autoapproval.policy.enable"
		}
		return audit.Write(ctx, tx.Ent, entry(a, action, cur, map[string]any{"before": map[string]any{"enabled": cur.Enabled},
			"after": map[string]any{"enabled": on}}))
	})
}

// ConfirmProd is the second platform admin's confirmation that a policy may approve prod
// VMs. The author of the current version cannot confirm it; the refusal is audited.
func (s *Service) ConfirmProd(ctx context.Context, a Actor, policyID uuid.UUID) error {
	if err := s.admin(a); err != nil {
		return err
	}
	var refused bool
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, err := lockCurrent(ctx, tx.Ent, policyID)
		if err != nil {
			return err
		}
		if !slices.Contains(cur.Environments, "prod") {
			return domain.Errf(domain.CodeInvalidInput, "", "This policy does not apply to prod; there is nothing to confirm.")
		}
		if cur.AuthorID == a.ID {
			refused = true
			return nil
		}
		if ProdConfirmed(cur) {
			return nil
		}
		if err := tx.Ent.AutoApprovalPolicy.UpdateOneID(cur.ID).SetProdConfirmedBy(a.ID).SetProdConfirmedByName(a.Name).
			SetProdConfirmedAt(s.now()).Exec(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, entry(a, "autoapproval.policy.confirm_prod", cur, map[string]any{
			"author": cur.AuthorName, "before": map[string]any{"prod_confirmed_by": ""}, "after": map[string]any{"prod_confirmed_by": a.Name}}))
	})
	if err != nil || !refused {
		return err
	}
	cur, err := s.Current(ctx, policyID)
	if err != nil {
		return err
	}
	if err := audit.Write(ctx, s.Store.Ent, entry(a, "autoapproval.policy.confirm_prod_refused", cur, map[string]any{"reason": "author"})); err != nil {
		return err
	}
	return domain.Errf(domain.CodeSelfApproval, "", "You wrote this version; another platform admin must confirm it for prod.")
}

// SetKillSwitch turns every policy off at once (allOff) or lets them match again.
func (s *Service) SetKillSwitch(ctx context.Context, a Actor, allOff bool) error {
	if err := s.admin(a); err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		before, err := KillSwitch(ctx, tx.Ent)
		if err != nil {
			return err
		}
		// Row 1 is created by the migration.
		if err := tx.Ent.AutoApprovalSwitch.UpdateOneID(1).SetAllOff(allOff).SetChangedByName(a.Name).SetChangedAt(s.now()).
			Exec(ctx); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, audit.Entry{Action: "autoapproval.kill_switch", ActorID: &a.ID, ActorName: a.Name,
			ResourceType: "autoapproval", ResourceID: "kill-switch", ResourceName: "all auto-approval policies",
			Details: map[string]any{"before": map[string]any{"all_off": before}, "after": map[string]any{"all_off": allOff}}})
	})
}

func insertVersion(ctx context.Context, c *ent.Client, policyID uuid.UUID, version int, enabled bool, a Actor, in Input) (*ent.AutoApprovalPolicy, error) {
	return c.AutoApprovalPolicy.Create().
		SetPolicyID(policyID).
		SetVersion(version).
		SetName(strings.TrimSpace(in.Name)).
		SetDescription(strings.TrimSpace(in.Description)).
		SetEnabled(enabled).
		SetPriority(in.Priority).
		SetEnvironments(in.Environments).
		SetNamespaceIds(in.NamespaceIDs).
		SetSystemIds(in.SystemIDs).
		SetServiceIds(in.ServiceIDs).
		SetSizeIds(in.SizeIDs).
		SetStandardSizesOnly(in.StandardSizesOnly).
		SetTemplateNames(in.TemplateNames).
		SetRequesterRoles(in.RequesterRoles).
		SetMaxDiskGB(in.MaxDiskGB).
		SetMaxPerRequesterPerDay(in.MaxPerRequesterPerDay).
		SetMaxPerSystemPerDay(in.MaxPerSystemPerDay).
		SetAuthorID(a.ID).
		SetAuthorName(a.Name).
		Save(ctx)
}

func lockCurrent(ctx context.Context, c *ent.Client, policyID uuid.UUID) (*ent.AutoApprovalPolicy, error) {
	p, err := c.AutoApprovalPolicy.Query().Where(autoapprovalpolicy.PolicyID(policyID), autoapprovalpolicy.SupersededAtIsNil()).
		ForUpdate().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrNotFound
	}
	return p, err
}

// checkPriority refuses a tie with another current policy: "highest priority wins" must
// name one policy. The unique index backs it against a concurrent save.
func checkPriority(ctx context.Context, c *ent.Client, priority int, self uuid.UUID) error {
	other, err := c.AutoApprovalPolicy.Query().Where(autoapprovalpolicy.SupersededAtIsNil(), autoapprovalpolicy.Priority(priority),
		autoapprovalpolicy.PolicyIDNEQ(self)).First(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return &domain.ValidationError{Fields: domain.FieldErrors{"priority": fmt.Sprintf("Policy %s already has priority %d; choose another.", other.Name, priority)}}
}

func mapConflict(err error, priority int) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && strings.Contains(pe.ConstraintName, "priority") {
		return &domain.ValidationError{Fields: domain.FieldErrors{"priority": fmt.Sprintf("Another policy took priority %d meanwhile; choose another.", priority)}}
	}
	return err
}

func entry(a Actor, action string, p *ent.AutoApprovalPolicy, details map[string]any) audit.Entry {
	details["version"] = p.Version
	return audit.Entry{
		Action:       action,
		ActorID:      &a.ID,
		ActorName:    a.Name,
		ResourceType: "autoapproval_policy",
		ResourceID:   p.PolicyID.String(),
		ResourceName: p.Name,
		Details:      details,
	}
}
