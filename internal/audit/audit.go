// Package audit writes the append-only audit log. Every mutation and every sign-in attempt
// goes through Write, inside the caller's transaction, with secrets redacted.
package audit

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/textutil"
)

// Entry is one audit record as a use case describes it.
type Entry struct {
	Action       string
	ActorID      *uuid.UUID
	ActorName    string
	ResourceType string
	ResourceID   string
	ResourceName string
	ParentType   string
	ParentID     string
	Environment  string
	Details      map[string]any
}

// Request carries who/where of the HTTP request, attached to the context by the web layer.
type Request struct {
	IP        string
	UserAgent string
	RequestID string
}

type requestKey struct{}

// WithRequest attaches request metadata that Write copies into each row.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the metadata attached by WithRequest.
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// Write inserts e with the client given (bind it to the use case's transaction).
func Write(ctx context.Context, client *ent.Client, e Entry) error {
	// The request's metadata comes from headers the client chose (User-Agent,
	// X-Request-Id): capped, and made valid UTF-8, which PostgreSQL insists on.
	req := RequestFrom(ctx)
	ua := textutil.Truncate(req.UserAgent, 512)
	requestID := textutil.Truncate(req.RequestID, 128)
	return client.AuditLog.Create().
		SetAction(e.Action).
		SetNillableActorID(e.ActorID).
		SetActorName(e.ActorName).
		SetResourceType(e.ResourceType).
		SetResourceID(e.ResourceID).
		SetResourceName(e.ResourceName).
		SetParentType(e.ParentType).
		SetParentID(e.ParentID).
		SetEnvironment(e.Environment).
		SetDetails(Redact(e.Details)).
		SetIPAddress(req.IP).
		SetUserAgent(ua).
		SetRequestID(requestID).
		Exec(ctx)
}

// Redacted replaces the value of any secret-like key.
const Redacted = "[REDACTED]"

var secretKeyParts = []string{"password", "secret", "token", "credential", "kubeconfig", "private_key", "api_key", "apikey", "cookie", "session"}

// IsSecretKey reports whether a detail key names something that must never be stored.
func IsSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, p := range secretKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// Redact returns a copy of details with secret-like keys masked, at any depth.
func Redact(details map[string]any) map[string]any {
	if details == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(details))
	for k, v := range details {
		if IsSecretKey(k) {
			out[k] = Redacted
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return Redact(t)
	case []any:
		cp := make([]any, len(t))
		for i := range t {
			cp[i] = redactValue(t[i])
		}
		return cp
	default:
		return v
	}
}
