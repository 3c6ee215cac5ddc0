package jobs

import "errors"

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
