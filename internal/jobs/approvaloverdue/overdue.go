// Package approvaloverdue is the daily River job that reminds platform admins of approval
// requests waiting longer than a week (spec: APPROVAL_OVERDUE). Each admin gets at most
// one digest a day, however often the job runs, on however many replicas.
package approvaloverdue

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/notification"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/notify"
)

// Args carries nothing: the job looks at all pending requests.
type Args struct{}

// Kind names the job in River.
func (Args) Kind() string { return "approval_overdue" }

// DefaultAge is how long a request waits before it is overdue (spec: 7 days).
const DefaultAge = 7 * 24 * time.Hour

// Every is how often the job is scheduled; the per-day check makes extra runs harmless.
const Every = 24 * time.Hour

// Notifier finds overdue requests and tells the platform admins.
type Notifier struct {
	Store *db.Store
	Age   time.Duration // 0: DefaultAge
	Now   func() time.Time
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// listed is how many overdue requests a digest names.
const listed = 5

// Run sends today's digests; it returns how many admins were notified.
func (n *Notifier) Run(ctx context.Context) (int, error) {
	age := n.Age
	if age <= 0 {
		age = DefaultAge
	}
	now := n.now()
	sent := 0
	err := n.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		// Two runs at once (a retry, a second replica's leader) must not both send.
		if _, err := tx.SQL.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('shepherd.approval_overdue'))`); err != nil {
			return err
		}
		q := tx.Ent.ApprovalTicket.Query().Where(approvalticket.StatusEQ(approvalticket.StatusPENDING_APPROVAL),
			approvalticket.CreatedAtLT(now.Add(-age)))
		total, err := q.Clone().Count(ctx)
		if err != nil || total == 0 {
			return err
		}
		oldest, err := q.Order(approvalticket.ByCreatedAt(), approvalticket.ByID(sql.OrderAsc())).Limit(listed).All(ctx)
		if err != nil {
			return err
		}
		admins, err := notify.HoldersOf(ctx, tx.Ent, authz.PlatformAdmin, "")
		if err != nil {
			return err
		}
		// One digest per admin per (UTC) day.
		day := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day(), 0, 0, 0, 0, time.UTC)
		already, err := tx.Ent.Notification.Query().Where(notification.TypeEQ(notification.TypeAPPROVAL_OVERDUE),
			notification.CreatedAtGTE(day), notification.RecipientIDIn(admins...)).
			Select(notification.FieldRecipientID).Strings(ctx)
		if err != nil {
			return err
		}
		done := map[string]bool{}
		for _, id := range already {
			done[id] = true
		}
		var to []uuid.UUID
		for _, a := range admins {
			if !done[a.String()] {
				to = append(to, a)
				done[a.String()] = true
			}
		}
		if len(to) == 0 {
			return nil
		}
		var names []string
		for _, t := range oldest {
			names = append(names, fmt.Sprintf("%s for %s (waiting %d days)", t.TargetName, orSomeone(t.RequesterName), int(now.Sub(t.CreatedAt).Hours()/24)))
		}
		m := notify.Message{
			Type:  notification.TypeAPPROVAL_OVERDUE,
			Title: fmt.Sprintf("%d requests have waited more than %d days for a decision", total, int(age.Hours()/24)),
			Body:  "Oldest: " + strings.Join(names, "; ") + ".",
			Link:  "/approvals",
		}
		if total == 1 {
			m.Title = fmt.Sprintf("A request has waited more than %d days for a decision", int(age.Hours()/24))
			m.Link = "/approvals/" + oldest[0].ID.String()
			m.TicketID = &oldest[0].ID
		}
		sent = len(to)
		return notify.Send(ctx, tx.Ent, to, m)
	})
	return sent, err
}

func orSomeone(name string) string {
	if name == "" {
		return "someone"
	}
	return name
}

// Worker runs the Notifier.
type Worker struct {
	river.WorkerDefaults[Args]
	Notifier *Notifier
	Logger   *slog.Logger
}

// Work sends today's overdue digests.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	n, err := w.Notifier.Run(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		w.Logger.Info("reminded platform admins of overdue approval requests", "admins", n)
	}
	return nil
}
