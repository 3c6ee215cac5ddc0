package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Kind tells a worker what to do with a failure (spec §8.5): retry it via
// River, fail the ticket at once, or treat the object as gone.
type Kind int

const (
	// Retryable failures are transient (timeouts, 429, 5xx, conflicts,
	// network); River retries and discards after max attempts.
	Retryable Kind = iota + 1
	// Permanent failures will not fix themselves (403, invalid spec, quota);
	// the ticket goes FAILED with the cluster's message.
	Permanent
	// NotFound means the object does not exist on the cluster.
	NotFound
)

func (k Kind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case NotFound:
		return "not_found"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error codes from the spec's catalog (§7.6, §15) that this layer can produce.
const (
	CodeNamespacePermissionDenied = "NAMESPACE_PERMISSION_DENIED"
	CodeNamespaceQuotaExceeded    = "NAMESPACE_QUOTA_EXCEEDED"
	CodeNamespaceNameInvalid      = "NAMESPACE_NAME_INVALID"
	CodeNamespaceCreationFailed   = "NAMESPACE_CREATION_FAILED"
	CodeClusterUnhealthy          = "CLUSTER_UNHEALTHY"
	CodeClusterRebuilding         = "CLUSTER_REBUILDING"
	CodeVMNotFound                = "VM_NOT_FOUND"
	CodeVMNotRunning              = "VM_NOT_RUNNING"
	CodeConsoleInUse              = "CONSOLE_IN_USE"
	CodeResourceNotFound          = "RESOURCE_NOT_FOUND"
	CodeValidationFailed          = "VALIDATION_FAILED"
	CodePermissionDenied          = "PERMISSION_DENIED"
	CodeQuotaExceeded             = "QUOTA_EXCEEDED"
	CodeConflict                  = "CONFLICT"
	CodeAlreadyExists             = "ALREADY_EXISTS"
	CodeResourceExpired           = "RESOURCE_EXPIRED" // 410 Gone: re-list
	CodeTimeout                   = "TIMEOUT"
	CodeRateLimited               = "RATE_LIMIT_EXCEEDED"
	CodeInternal                  = "INTERNAL_ERROR"
)

// Error is the only error type Providers return. Message carries the
// cluster's own text so admins see what Kubernetes said.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error // underlying cause, may be nil
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Code + ": " + e.Message
	}
	if e.Err != nil {
		return e.Code + ": " + e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// Constructors for the common cases, mostly used by providers and tests.

// NewRetryable builds a transient error.
func NewRetryable(code, msg string) *Error { return &Error{Kind: Retryable, Code: code, Message: msg} }

// NewPermanent builds a fail-fast error.
func NewPermanent(code, msg string) *Error { return &Error{Kind: Permanent, Code: code, Message: msg} }

// NewVMNotFound is what VM operations return for a missing VM.
func NewVMNotFound(ref VMRef) *Error {
	return &Error{Kind: NotFound, Code: CodeVMNotFound, Message: "virtual machine " + ref.String() + " not found"}
}

// IsRetryable reports whether err (after classification) is worth retrying.
func IsRetryable(err error) bool { return kindOf(err) == Retryable }

// IsPermanent reports whether err should fail the ticket immediately.
func IsPermanent(err error) bool { return kindOf(err) == Permanent }

// IsNotFound reports whether err means the object is absent.
func IsNotFound(err error) bool { return kindOf(err) == NotFound }

func kindOf(err error) Kind {
	if c := Classify(err); c != nil {
		return c.Kind
	}
	return 0
}

// Classify maps any error to an *Error. An *Error anywhere in the chain is
// returned as is; Kubernetes API errors are mapped by status; anything
// unrecognised is Retryable because River's max attempts bound the cost of
// a wrong guess, while a wrong Permanent would fail a ticket for a blip.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var ke *Error
	if errors.As(err, &ke) {
		return ke
	}
	wrap := func(k Kind, code string) *Error { return &Error{Kind: k, Code: code, Message: err.Error(), Err: err} }
	switch {
	case apierrors.IsNotFound(err):
		return wrap(NotFound, CodeResourceNotFound)
	case apierrors.IsForbidden(err) && isQuota(err):
		return wrap(Permanent, CodeQuotaExceeded)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return wrap(Permanent, CodePermissionDenied)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsMethodNotSupported(err),
		apierrors.IsNotAcceptable(err), apierrors.IsUnsupportedMediaType(err), apierrors.IsRequestEntityTooLargeError(err):
		return wrap(Permanent, CodeValidationFailed)
	case apierrors.IsAlreadyExists(err):
		// Callers adopt (VMs) or treat as success (namespaces); never retry.
		return wrap(Permanent, CodeAlreadyExists)
	case apierrors.IsConflict(err):
		return wrap(Retryable, CodeConflict)
	case apierrors.IsResourceExpired(err), apierrors.IsGone(err):
		return wrap(Retryable, CodeResourceExpired)
	case apierrors.IsTooManyRequests(err):
		return wrap(Retryable, CodeRateLimited)
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err),
		errors.Is(err, context.DeadlineExceeded):
		return wrap(Retryable, CodeTimeout)
	case apierrors.IsServiceUnavailable(err):
		return wrap(Retryable, CodeClusterUnhealthy)
	case apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return wrap(Retryable, CodeInternal)
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		switch {
		case code >= 500:
			return wrap(Retryable, CodeInternal)
		case code == 404:
			return wrap(NotFound, CodeResourceNotFound)
		case code >= 400:
			return wrap(Permanent, CodeValidationFailed)
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return wrap(Retryable, CodeClusterUnhealthy)
	}
	return wrap(Retryable, CodeInternal)
}

// ClassifyNamespace specialises Classify for namespace creation so the
// ticket shows the §7.6 taxonomy. AlreadyExists is success and yields nil.
func ClassifyNamespace(err error) *Error {
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	c := Classify(err)
	if strings.HasPrefix(c.Code, "NAMESPACE_") {
		return c
	}
	out := *c
	switch {
	case c.Code == CodeQuotaExceeded:
		out.Code = CodeNamespaceQuotaExceeded
	case c.Code == CodePermissionDenied:
		out.Code = CodeNamespacePermissionDenied // Hint says what an admin can do
	case c.Code == CodeValidationFailed:
		out.Code = CodeNamespaceNameInvalid
	case c.Kind == Retryable:
		// Keep the transient code so the worker retries.
	default:
		out.Code = CodeNamespaceCreationFailed
	}
	return &out
}

func isQuota(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "exceeded quota") || strings.Contains(msg, "quota exceeded") ||
		strings.Contains(msg, "resourcequota")
}
