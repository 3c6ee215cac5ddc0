package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"kv-shepherd.io/shepherd/internal/kube"
)

// stateVersion is bumped on incompatible changes to the state file so an
// old file is reported instead of being half understood.
const stateVersion = 1

// stateFile is the on-disk form of a cluster. The spec is kube.VMSpec as
// is: the file is a development convenience, not an interchange format.
type stateFile struct {
	Version    int                          `json:"version"`
	Namespaces map[string]map[string]string `json:"namespaces"`
	VMs        []vmRecord                   `json:"vms"`
	// The allocators are kept so a reopened cluster does not hand out an IP
	// that a VM from before the restart still holds.
	NextIP   int `json:"nextIP"`
	NextNode int `json:"nextNode"`
}

type vmRecord struct {
	Spec     kube.VMSpec  `json:"spec"`
	UID      string       `json:"uid"`
	Phase    kube.Phase   `json:"phase"`
	Ready    bool         `json:"ready,omitempty"`
	IP       string       `json:"ip,omitempty"`
	Node     string       `json:"node,omitempty"`
	Message  string       `json:"message,omitempty"`
	Plan     []kube.Phase `json:"plan,omitempty"`
	Deleting bool         `json:"deleting,omitempty"`
}

// Open returns a simulated cluster. With opts.StateFile set, the cluster is
// loaded from that file (a missing file is an empty cluster; an unreadable
// or corrupt one is an error, never silently discarded) and every change is
// saved back to it. VMs that were mid-transition when the file was last
// written resume their remaining steps at opts.StepDelay, as a real
// cluster's controllers carry on after the portal restarts.
//
// Only one Cluster may use a state file at a time; nothing enforces it.
func Open(opts Options) (*Cluster, error) {
	c := newCluster(opts)
	if opts.StateFile == "" {
		return c, nil
	}
	st, err := readState(opts.StateFile)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st != nil {
		c.restoreLocked(st)
	} else {
		c.dirty = true // create the file now: an unwritable path fails here, not at the first VM
	}
	if err := c.commitLocked(); err != nil {
		return nil, err
	}
	return c, nil
}

// readState loads and validates path; (nil, nil) when it does not exist.
func readState(path string) (*stateFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("simulated cluster state %s: %w", path, err)
	}
	var st stateFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("simulated cluster state %s is corrupt: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("simulated cluster state %s is corrupt: trailing data after the JSON document", path)
	}
	if err := st.validate(); err != nil {
		return nil, fmt.Errorf("simulated cluster state %s is corrupt: %w", path, err)
	}
	return &st, nil
}

var knownPhases = []kube.Phase{kube.PhasePending, kube.PhaseStarting, kube.PhaseRunning,
	kube.PhaseStopping, kube.PhaseStopped, kube.PhaseFailed, kube.PhaseUnknown}

// validate rejects files this code did not write, so a hand-edited or
// truncated file fails loudly at startup rather than misbehaving later.
func (st *stateFile) validate() error {
	if st.Version != stateVersion {
		return fmt.Errorf("version %d, want %d", st.Version, stateVersion)
	}
	seen := map[kube.VMRef]bool{}
	for i, r := range st.VMs {
		ref := r.Spec.Ref
		if err := kube.ValidateRef(ref); err != nil {
			return fmt.Errorf("vm #%d: %w", i, err)
		}
		if _, ok := st.Namespaces[ref.Namespace]; !ok {
			return fmt.Errorf("vm %s: namespace %q not in the file", ref, ref.Namespace)
		}
		if seen[ref] {
			return fmt.Errorf("vm %s: listed twice", ref)
		}
		seen[ref] = true
		if r.UID == "" {
			return fmt.Errorf("vm %s: empty uid", ref)
		}
		for _, p := range append([]kube.Phase{r.Phase}, r.Plan...) {
			if !slices.Contains(knownPhases, p) {
				return fmt.Errorf("vm %s: unknown phase %q", ref, p)
			}
		}
	}
	return nil
}

// restoreLocked installs st and restarts the timers of unfinished plans.
func (c *Cluster) restoreLocked(st *stateFile) {
	for name, labels := range st.Namespaces {
		c.namespaces[name] = labels
	}
	c.nextIP, c.nextNode = st.NextIP, st.NextNode
	for _, r := range st.VMs {
		v := &vm{spec: r.Spec, plan: r.Plan, deleting: r.Deleting, status: kube.VMStatus{
			Ref: r.Spec.Ref, UID: r.UID, Phase: r.Phase, Ready: r.Ready,
			IP: r.IP, Node: r.Node, Message: r.Message, Exists: true,
		}}
		c.vms[v.spec.Ref] = v
	}
	for _, v := range c.vms {
		if len(v.plan) > 0 || v.deleting {
			c.scheduleLocked(v)
		}
	}
}

// commitLocked writes the state file if anything changed since the last
// successful write. The write happens before the mutating call returns, so
// a process killed right after, say, ApplyVM returned still has the VM when
// it restarts. A failed write is a retryable error: the caller's retry
// finds dirty still set and writes again.
func (c *Cluster) commitLocked() error {
	if c.opts.StateFile == "" || !c.dirty {
		return nil
	}
	if err := writeAtomic(c.opts.StateFile, c.snapshotLocked()); err != nil {
		return kube.NewRetryable(kube.CodeInternal, "simulated cluster: saving state: "+err.Error())
	}
	c.dirty = false
	return nil
}

func (c *Cluster) snapshotLocked() []byte {
	st := stateFile{Version: stateVersion, Namespaces: c.namespaces,
		VMs: make([]vmRecord, 0, len(c.vms)), NextIP: c.nextIP, NextNode: c.nextNode}
	for _, v := range c.vms {
		st.VMs = append(st.VMs, vmRecord{Spec: v.spec, UID: v.status.UID, Phase: v.status.Phase,
			Ready: v.status.Ready, IP: v.status.IP, Node: v.status.Node, Message: v.status.Message,
			Plan: v.plan, Deleting: v.deleting})
	}
	// Stable order keeps the file diffable when someone looks at it.
	slices.SortFunc(st.VMs, func(a, b vmRecord) int {
		return strings.Compare(a.Spec.Ref.String(), b.Spec.Ref.String())
	})
	data, err := json.MarshalIndent(st, "", " ")
	if err != nil { // only plain strings, ints and bools: cannot fail
		panic("sim: encoding state: " + err.Error())
	}
	return append(data, '\n')
}

// writeAtomic replaces path with data so that a crash at any moment leaves
// either the old or the new file, never a torn one: temp file in the same
// directory, fsync, rename, fsync of the directory to make the rename stick.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
