package domain

import "fmt"

// Error codes of spec/flows.md §5.5. Pages show the message; logs and JSON carry the code.
const (
	CodeNameTooLong          = "NAME_TOO_LONG"
	CodeNameLengthWarning    = "NAME_LENGTH_WARNING"
	CodeNameInvalid          = "NAMESPACE_NAME_INVALID"
	CodeNameTaken            = "NAME_TAKEN"
	CodeVMNameTooLong        = "VM_NAME_TOO_LONG"
	CodeDuplicatePending     = "DUPLICATE_PENDING_REQUEST"
	CodeConfirmationRequired = "CONFIRMATION_REQUIRED"
	CodeConfirmationMismatch = "CONFIRMATION_NAME_MISMATCH"
	CodeDeleteRestricted     = "DELETE_RESTRICTED"
	CodeClusterUnhealthy     = "CLUSTER_UNHEALTHY"
	CodeEnvironmentMismatch  = "ENVIRONMENT_MISMATCH"
	CodeForbiddenField       = "FORBIDDEN_FIELD"
	CodeInvalidInput         = "INVALID_INPUT"
	CodeStaleTicket          = "TICKET_ALREADY_DECIDED"
	CodeSelfApproval         = "SELF_APPROVAL_FORBIDDEN"
	CodeDedicatedOvercommit  = "DEDICATED_CPU_REQUIRES_GUARANTEED_QOS"
	CodeNotFound             = "NOT_FOUND"
	CodeForbidden            = "FORBIDDEN"
	CodeVMStateConflict      = "VM_STATE_CONFLICT"
	CodeOperationInProgress  = "OPERATION_IN_PROGRESS"
	CodeVMNotRunning         = "VM_NOT_RUNNING"
	CodeConsoleNeedsGrant    = "CONSOLE_ACCESS_REQUIRED"
	CodeConsoleInUse         = "CONSOLE_IN_USE"
	CodeConsoleTicketInvalid = "CONSOLE_TICKET_INVALID"
	CodeRateLimitExceeded    = "RATE_LIMIT_EXCEEDED"
)

// Domain event types (DESIGN §3.1: <OBJECT>_<VERB>_REQUESTED). The event's type tells
// a worker which operation it executes.
const (
	EventVMCreateRequested  = "VM_CREATE_REQUESTED"
	EventVMStartRequested   = "VM_START_REQUESTED"
	EventVMStopRequested    = "VM_STOP_REQUESTED"
	EventVMRestartRequested = "VM_RESTART_REQUESTED"
	EventVMDeleteRequested  = "VM_DELETE_REQUESTED"
	EventNamespaceCreated   = "NAMESPACE_CREATED"
	EventVNCAccessRequested = "VNC_ACCESS_REQUESTED"
)

// Error is a refused use case: a code, a message for the person, and optionally the
// form field it concerns. Handlers render it next to the field or as a flash.
type Error struct {
	Code    string
	Field   string
	Message string
	Params  map[string]any
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errf builds a domain error.
func Errf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// FieldErrors collects problems per form field (several at once, so a form shows all).
type FieldErrors map[string]string

// Add records the first problem of a field.
func (f FieldErrors) Add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

// Err returns a domain error when there are problems.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

// ValidationError is a form with field errors.
type ValidationError struct{ Fields FieldErrors }

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s: %d field(s) invalid", CodeInvalidInput, len(e.Fields))
}

// ConfirmTypedName checks the typed-name confirmation of a destructive action (flows
// §2.19: System deletes and prod VM deletes): nil when typed is exactly expected, else
// CONFIRMATION_REQUIRED or CONFIRMATION_NAME_MISMATCH on the confirm_name field, the
// code quoted in the message so people can cite it.
func ConfirmTypedName(what, expected, typed string) *Error {
	switch {
	case typed == "":
		return Errf(CodeConfirmationRequired, "confirm_name", "Type the %s's name (%s) to confirm the deletion. (%s)",
			what, expected, CodeConfirmationRequired)
	case typed != expected:
		e := Errf(CodeConfirmationMismatch, "confirm_name", "The name you typed does not match %q; type it exactly. (%s)",
			expected, CodeConfirmationMismatch)
		e.Params = map[string]any{"expected": expected, "provided": typed}
		return e
	}
	return nil
}
