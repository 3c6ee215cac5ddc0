// Package vmcreate is the River job that provisions an approved VM on its cluster.
// The job carries only the domain event id; everything else is read from the database
// (the event's frozen payload and the approved ticket's snapshots).
package vmcreate

import (
	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// Queue is served by the provisioning workers.
const Queue = "provisioning"

// Args identifies the approved event.
type Args struct {
	EventID uuid.UUID `json:"event_id"`
}

// Kind names the job in River.
func (Args) Kind() string { return "vm_create" }

// InsertOpts routes the job to the provisioning queue.
func (Args) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: Queue, MaxAttempts: 10} }

// Event is the domain event the job executes.
func (a Args) Event() uuid.UUID { return a.EventID }
