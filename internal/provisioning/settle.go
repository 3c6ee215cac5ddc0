package provisioning

import (
	"context"
	"time"

	"kv-shepherd.io/shepherd/ent/schema"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/jobs"
	"kv-shepherd.io/shepherd/internal/kube"
)

// checkPhase reads the VM, for up to linger (quick transitions such as a stop finish in
// the run that sent them). reached is true when it is in target; a Failed phase is
// permanent. Before the ready timeout (counted from since, when the cluster step was
// done) a VM still on its way is a "not yet" error: the job ends and checks again later
// instead of holding a worker while the VM boots. After the timeout it returns
// reached=false without an error (a slow boot is not a failure; status sync takes over).
func (e *Executor) checkPhase(ctx context.Context, prov kube.Provider, ref kube.VMRef, target kube.Phase, since time.Time, linger time.Duration) (kube.VMStatus, bool, error) {
	var st kube.VMStatus
	err := e.poll(ctx, linger, func(ctx context.Context) (bool, error) {
		err := e.call(ctx, func(ctx context.Context) (err error) { st, err = prov.GetVM(ctx, ref); return err })
		return err != nil || st.Phase == target || st.Phase == kube.PhaseFailed, err
	})
	if err != nil {
		return st, false, err
	}
	switch {
	case st.Phase == target:
		return st, true, nil
	case st.Phase == kube.PhaseFailed:
		return st, false, kube.NewPermanent(kube.CodeValidationFailed, "the VM failed on the cluster: "+st.Message)
	}
	waited := e.now().Sub(since)
	if waited >= e.readyTimeout() {
		return st, false, nil
	}
	return st, false, jobs.NotYet(e.recheckAfter(waited))
}

// poll calls check until it reports done or linger has passed (at least once).
func (e *Executor) poll(ctx context.Context, linger time.Duration, check func(context.Context) (bool, error)) error {
	deadline := time.Now().Add(linger)
	interval := 100 * time.Millisecond
	if e.PollInterval > 0 {
		interval = e.PollInterval
	}
	for {
		done, err := check(ctx)
		if done || err != nil || !time.Now().Add(interval).Before(deadline) {
			return err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return kube.Classify(ctx.Err())
		case <-t.C:
		}
		interval = min(interval*2, time.Second)
	}
}

// linger is how long the run that did the cluster step keeps checking before it lets
// the worker go: 3 s by default, long enough for quick transitions (most stops, a
// restart that stays Running) to finish without a second run, well short of a boot.
func (e *Executor) linger() time.Duration {
	if e.Linger > 0 {
		return e.Linger
	}
	return 3 * time.Second
}

// recheckAfter is the pause before the next check: short at first (most VMs settle
// within seconds), a quarter of the time waited so far later, at most 5 s.
func (e *Executor) recheckAfter(waited time.Duration) time.Duration {
	first := e.PollInterval
	if first <= 0 {
		first = 250 * time.Millisecond
	}
	return min(max(waited/4, first), 5*time.Second)
}

// stepDoneAt reports whether a step is recorded done, and when.
func stepDoneAt(steps []schema.ExecStep, name string) (time.Time, bool) {
	for _, s := range steps {
		if s.Name == name && s.State == domain.StepStateDone {
			return s.At, true
		}
	}
	return time.Time{}, false
}
