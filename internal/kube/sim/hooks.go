package sim

import (
	"context"
	"slices"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
)

// Failure-injection and lifecycle hooks; see Options for the happy path.

// FailNext makes the next call of op return err (classified, like the real
// provider would). One-shot: a second FailNext for op replaces the first.
func (c *Cluster) FailNext(op string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failNext[op] = err
}

// SetSlow adds latency d to every call, honouring ctx, to exercise timeouts.
func (c *Cluster) SetSlow(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slow = d
}

// SetHealthy toggles a cluster-wide outage: while unhealthy every call fails
// with a retryable CLUSTER_UNHEALTHY, as an unreachable API server would.
func (c *Cluster) SetHealthy(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unhealthy = !ok
}

// DropWatches closes every open watch channel, like an API server restart.
func (c *Cluster) DropWatches() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.watchers {
		c.closeWatcherLocked(w)
	}
}

// Close cancels pending transitions, closes all watches and ends the consoles.
func (c *Cluster) Close() {
	c.closeLocked()
	c.run.Wait()
}

func (c *Cluster) closeLocked() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.vms {
		if v.timer != nil {
			v.timer.Stop()
		}
		v.epoch++
	}
	for w := range c.watchers {
		c.closeWatcherLocked(w)
	}
	for _, v := range c.vms {
		c.closeConsoleLocked(v)
	}
	c.stop()
}

// enter runs the shared prologue of every operation: injected latency,
// outage and one-shot faults. On success it returns with c.mu held.
func (c *Cluster) enter(ctx context.Context, op string) error {
	c.mu.Lock()
	slow := c.slow
	c.mu.Unlock()
	if slow > 0 {
		t := time.NewTimer(slow)
		select {
		case <-ctx.Done():
			t.Stop()
			return kube.Classify(ctx.Err())
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return kube.Classify(err)
	}
	c.mu.Lock()
	if err, ok := c.failNext[op]; ok {
		delete(c.failNext, op)
		c.mu.Unlock()
		return kube.Classify(err)
	}
	if c.unhealthy && op != OpHealth {
		c.mu.Unlock()
		return kube.NewRetryable(kube.CodeClusterUnhealthy, "simulated cluster is unhealthy")
	}
	return nil
}

// SetCapabilities replaces what the simulated hardware offers. The registry calls it
// with the cluster record, since for a simulated cluster the record is the hardware.
func (c *Cluster) SetCapabilities(caps kube.Capabilities) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if caps.KubeVirtVersion == "" {
		caps.KubeVirtVersion = c.opts.Capabilities.KubeVirtVersion
	}
	caps.GPUDevices = slices.Clone(caps.GPUDevices)
	caps.Hugepages = slices.Clone(caps.Hugepages)
	caps.StorageClasses = slices.Clone(caps.StorageClasses)
	c.opts.Capabilities = caps
}
