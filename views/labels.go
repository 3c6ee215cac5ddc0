package views

import (
	"strings"
	"time"

	"kv-shepherd.io/shepherd/internal/domain"
)

// Words, not codes: the one place where the codes Shepherd stores (VM and ticket
// statuses, ticket types, execution steps, error codes) become the short words people
// read. Pages show the label and keep the code in a title or data- attribute; the audit
// log and the JSON API keep the codes.

var statusLabels = map[string]string{
	// Tickets (spec/domain.md §7).
	"PENDING_APPROVAL": "Waiting for approval",
	"APPROVED":         "Approved",
	"EXECUTING":        "In progress",
	"SUCCESS":          "Done",
	"REJECTED":         "Rejected",
	"CANCELLED":        "Cancelled",
	// Batch requests, computed from their children (governance.BatchStatus).
	"IN_PROGRESS":     "In progress",
	"PARTIAL_SUCCESS": "Partial success",
	// VMs.
	"CREATING":   "Creating",
	"STARTING":   "Starting",
	"RUNNING":    "Running",
	"STOPPING":   "Stopping",
	"STOPPED":    "Stopped",
	"RESTARTING": "Restarting",
	"DELETING":   "Deleting",
	"DELETED":    "Deleted",
	"FAILED":     "Failed",
	"UNKNOWN":    "Unknown",
	// Clusters, domain events, orphans.
	"HEALTHY":     "Healthy",
	"UNHEALTHY":   "Unhealthy",
	"UNREACHABLE": "Unreachable",
	"PENDING":     "Pending",
	"PROCESSING":  "Processing",
	"COMPLETED":   "Completed",
	"ADOPTED":     "Adopted",
	"IGNORED":     "Ignored",
}

// StatusLabel is how a VM, ticket, cluster or event status reads ("Waiting for
// approval" for PENDING_APPROVAL). An unknown code is spelt as words, never shown raw.
func StatusLabel(status string) string {
	if l, ok := statusLabels[status]; ok {
		return l
	}
	return Humanize(status)
}

var typeLabels = map[string]string{
	"VM_CREATE":  "New VM",
	"VM_START":   "Start VM",
	"VM_STOP":    "Stop VM",
	"VM_RESTART": "Restart VM",
	"VM_DELETE":  "Delete VM",
	"VNC_ACCESS": "Console access",
}

// TicketTypeLabel is how a ticket type reads in lists and headings.
func TicketTypeLabel(t string) string {
	if l, ok := typeLabels[t]; ok {
		return l
	}
	return Humanize(t)
}

// StepLabel is how an execution step of a ticket reads on a timeline.
func StepLabel(step string) string { return domain.StepLabel(step) }

var errorLabels = map[string]string{
	domain.CodeNameTooLong:          "Name too long",
	domain.CodeNameLengthWarning:    "Long name",
	domain.CodeNameInvalid:          "Name not allowed",
	domain.CodeNameTaken:            "Name already taken",
	domain.CodeVMNameTooLong:        "VM name too long",
	domain.CodeDuplicatePending:     "Same request already waiting",
	domain.CodeConfirmationRequired: "Confirmation needed",
	domain.CodeConfirmationMismatch: "Confirmation does not match",
	domain.CodeDeleteRestricted:     "Still in use",
	domain.CodeClusterUnhealthy:     "Cluster unhealthy",
	domain.CodeEnvironmentMismatch:  "Wrong environment",
	domain.CodeForbiddenField:       "Field not allowed",
	domain.CodeInvalidInput:         "Invalid input",
	domain.CodeStaleTicket:          "Already decided",
	domain.CodeSelfApproval:         "Own request",
	domain.CodeDedicatedOvercommit:  "Dedicated CPU cannot be overcommitted",
	domain.CodeNotFound:             "Not found",
	domain.CodeForbidden:            "Not allowed",
	domain.CodeVMStateConflict:      "Not possible in this state",
	domain.CodeOperationInProgress:  "Another operation is running",
	domain.CodeVMNotRunning:         "VM not running",
	domain.CodeConsoleNeedsGrant:    "Console access needs approval",
	domain.CodeConsoleInUse:         "Console in use",
	domain.CodeConsoleTicketInvalid: "Console link expired",
	"RATE_LIMIT_EXCEEDED":           "Too many attempts",
	"VALIDATION_FAILED":             "Invalid input",
	"PERMISSION_DENIED":             "Not allowed",
	"INTERNAL_ERROR":                "Internal error",
	"CLUSTER_REBUILDING":            "Cluster rebuilding",
	"CLUSTER_DEGRADED":              "Cluster degraded",
	"SCHEMA_VALIDATION_FAILED":      "Specification rejected by the cluster",
	"NAMESPACE_PERMISSION_DENIED":   "Namespace not allowed",
	"NAMESPACE_QUOTA_EXCEEDED":      "Namespace quota exceeded",
	"NAMESPACE_CREATION_FAILED":     "Namespace could not be created",
}

// ErrorLabel is how an error code of the spec (spec/domain.md §20) reads for people.
func ErrorLabel(code string) string {
	if l, ok := errorLabels[code]; ok {
		return l
	}
	return Humanize(code)
}

// Humanize spells an UPPER_SNAKE code as words ("VM_NOT_FOUND" → "Vm not found"), the
// fallback for codes without a label of their own.
func Humanize(code string) string {
	if code == "" {
		return ""
	}
	s := strings.ToLower(strings.ReplaceAll(code, "_", " "))
	return strings.ToUpper(s[:1]) + s[1:]
}

// Span is a duration in words ("less than a minute", "3 minutes", "2 days").
func Span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute")
	case d < 24*time.Hour:
		return plural(int(d.Hours()), "hour")
	default:
		return plural(int(d.Hours()/24), "day")
	}
}

// requestCount is "1 request" or "3 requests".
func requestCount(n int) string { return plural(n, "request") }
