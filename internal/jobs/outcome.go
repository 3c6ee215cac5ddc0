package jobs

import (
	"errors"
	"time"
)

// Attempt is the River attempt being run: on the last one a retryable error fails the
// ticket instead of waiting for a retry that will not come.
type Attempt struct{ N, Max int }

// Last reports whether no retry follows this attempt.
func (a Attempt) Last() bool { return a.Max > 0 && a.N >= a.Max }

// PermanentError tells a worker not to retry: the use case already recorded the
// failure (ticket FAILED with the reason).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err must end the job without a retry.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// NotYetError says the job's cluster step is done and the VM has not settled yet: the
// job ends and runs again after After, to check once more (River's snooze, which uses
// no attempt), rather than holding a worker while the VM boots.
type NotYetError struct {
	After time.Duration
}

func (e *NotYetError) Error() string { return "not settled yet; checking again in " + e.After.String() }

// NotYet returns a NotYetError.
func NotYet(after time.Duration) error { return &NotYetError{After: after} }

// IsNotYet reports whether err asks for the job to run again later, and when.
func IsNotYet(err error) (time.Duration, bool) {
	var n *NotYetError
	if errors.As(err, &n) {
		return n.After, true
	}
	return 0, false
}
