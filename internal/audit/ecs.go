package audit

import (
	"strings"
	"time"

	"kv-shepherd.io/shepherd/ent"
)

// ECSEvent is one audit row as exports and the SIEM webhook send it (spec/flows.md §2.23):
// ECS-like fields a collector maps without knowing Shepherd.
type ECSEvent struct {
	Timestamp string         `json:"@timestamp"`
	ID        string         `json:"id"`
	Action    string         `json:"action"`
	Level     string         `json:"level"`
	Actor     ECSActor       `json:"actor"`
	Resource  ECSResource    `json:"resource"`
	Context   ECSContext     `json:"context"`
	Details   map[string]any `json:"details"`
}

// ECSActor is who acted.
type ECSActor struct {
	ID        *string `json:"id"` // null when nobody was signed in
	Name      string  `json:"name"`
	IP        string  `json:"ip"`
	UserAgent string  `json:"user_agent,omitempty"`
}

// ECSResource is what was acted on.
type ECSResource struct {
	Type   string     `json:"type"`
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	Parent *ECSParent `json:"parent,omitempty"`
}

// ECSParent is the resource's parent (a VM's Service, a Service's System).
type ECSParent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// ECSContext is where it happened.
type ECSContext struct {
	Environment   string `json:"environment"`
	Cluster       string `json:"cluster,omitempty"`
	RequestID     string `json:"request_id"`
	CorrelationID string `json:"correlation_id"` // the request id, under the spec's name
}

// ECS shapes a row as an event.
func ECS(r *ent.AuditLog) ECSEvent {
	ev := ECSEvent{Timestamp: r.CreatedAt.UTC().Format(time.RFC3339Nano), ID: r.ID.String(), Action: r.Action,
		Level: Level(r.Action), Actor: ECSActor{Name: r.ActorName, IP: r.IPAddress, UserAgent: r.UserAgent},
		Resource: ECSResource{Type: r.ResourceType, ID: r.ResourceID, Name: r.ResourceName},
		Context:  ECSContext{Environment: r.Environment, RequestID: r.RequestID, CorrelationID: r.RequestID},
		Details:  r.Details}
	if r.ActorID != nil {
		id := r.ActorID.String()
		ev.Actor.ID = &id
	}
	if r.ParentType != "" || r.ParentID != "" {
		ev.Resource.Parent = &ECSParent{Type: r.ParentType, ID: r.ParentID}
	}
	if cl, ok := r.Details["cluster"].(string); ok {
		ev.Context.Cluster = cl
	}
	if ev.Details == nil {
		ev.Details = map[string]any{}
	}
	return ev
}

// Level marks refusals and failures for the SIEM; everything else is informational.
func Level(action string) string {
	for _, w := range []string{"failed", "denied", "refused", "rejected_self"} {
		if strings.Contains(action, w) {
			return "warning"
		}
	}
	return "info"
}
