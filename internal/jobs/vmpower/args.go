// Package vmpower is the River job that starts, stops or restarts a VM on its cluster.
// The job carries only the domain event id; the operation comes from the event's type.
package vmpower

import (
	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// Queue is separate from provisioning so a burst of creates never delays a stop.
const Queue = "power"

// Args identifies the approved (or auto-approved) power event.
type Args struct {
	EventID uuid.UUID `json:"event_id"`
}

// Kind names the job in River.
func (Args) Kind() string { return "vm_power" }

// InsertOpts routes the job to the power queue.
func (Args) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: Queue, MaxAttempts: 8} }

// Event is the domain event the job executes.
func (a Args) Event() uuid.UUID { return a.EventID }
