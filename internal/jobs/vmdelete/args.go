// Package vmdelete is the River job that deletes an approved VM from its cluster and
// tombstones its row. The job carries only the domain event id.
package vmdelete

import (
	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"kv-shepherd.io/shepherd/internal/jobs/vmcreate"
)

// Args identifies the approved delete event.
type Args struct {
	EventID uuid.UUID `json:"event_id"`
}

// Kind names the job in River.
func (Args) Kind() string { return "vm_delete" }

// InsertOpts routes the job to the provisioning queue.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: vmcreate.Queue, MaxAttempts: 10}
}

// Event is the domain event the job executes.
func (a Args) Event() uuid.UUID { return a.EventID }
