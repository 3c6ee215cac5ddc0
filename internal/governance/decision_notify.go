package governance

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/systemmember"
	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/notify"
)

// tellOwners tells the owners and admins of a System about a decision on a request made
// in it (flows §4.4: decisions notify the System's owners as well as the requester). The
// requester (who has their own notification, worded for them) and the person who decided
// are left out, so nobody hears of the same decision twice.
func tellOwners(ctx context.Context, c *ent.Client, systemID uuid.UUID, skip []uuid.UUID, m notify.Message) error {
	owners, err := c.SystemMember.Query().
		Where(systemmember.SystemID(systemID),
			systemmember.RoleIn(systemmember.RoleOwner, systemmember.RoleAdmin),
			systemmember.HasUserWith(user.Disabled(false))).
		All(ctx)
	if err != nil {
		return err
	}
	var to []uuid.UUID
	for _, o := range owners {
		if !slices.Contains(skip, o.UserID) {
			to = append(to, o.UserID)
		}
	}
	if len(to) == 0 {
		return nil
	}
	return notify.Send(ctx, c, to, m)
}

// skipList is the requester and, when a person decided, the decider.
func skipList(requester uuid.UUID, decider *uuid.UUID) []uuid.UUID {
	out := []uuid.UUID{requester}
	if decider != nil {
		out = append(out, *decider)
	}
	return out
}

// whose names the requester in a sentence about their request ("alice's").
func whose(name string) string {
	if name == "" {
		return "a"
	}
	return name + "'s"
}

func orSomeone(name string) string {
	if name == "" {
		return "someone"
	}
	return name
}
