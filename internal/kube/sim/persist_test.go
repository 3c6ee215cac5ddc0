package sim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

func open(t *testing.T, opts sim.Options) *sim.Cluster {
	t.Helper()
	c, err := sim.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func statePath(t *testing.T) string { return filepath.Join(t.TempDir(), "cluster.json") }

func TestStateSurvivesReopen(t *testing.T) {
	ctx, file := context.Background(), statePath(t)
	c := open(t, sim.Options{StateFile: file})
	if _, err := c.EnsureNamespace(ctx, "ns", map[string]string{"team": "a"}); err != nil {
		t.Fatal(err)
	}
	a := spec("a", true)
	a.Labels = map[string]string{"kubevirt-shepherd.io/vm-id": "42"}
	a.CPUCores, a.GPUs = 2, []kube.GPU{{Name: "gpu1", DeviceName: "nvidia.com/A100"}}
	for _, s := range []kube.VMSpec{a, spec("b", false), spec("gone", true)} {
		if _, err := c.ApplyVM(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteVM(ctx, spec("gone", true).Ref); err != nil {
		t.Fatal(err)
	}
	before, _ := c.ListVMs(ctx, "")
	c.Close()

	c = open(t, sim.Options{StateFile: file})
	after, err := c.ListVMs(ctx, "")
	if err != nil || len(after) != 2 {
		t.Fatalf("after reopen: %+v %v, want a and b", after, err)
	}
	for i := range before {
		b, g := before[i], after[i]
		if b.UID != g.UID || b.Phase != g.Phase || b.Ready != g.Ready || b.IP != g.IP || b.Node != g.Node ||
			!g.Exists || len(g.Labels) != len(b.Labels) {
			t.Errorf("status changed across reopen:\n before %+v\n after  %+v", b, g)
		}
	}
	if after[0].Labels["kubevirt-shepherd.io/vm-id"] != "42" {
		t.Errorf("labels lost: %v", after[0].Labels)
	}
	// The spec came back whole: re-applying it is a no-op that keeps the UID.
	if st, err := c.ApplyVM(ctx, a); err != nil || st.UID != before[0].UID {
		t.Errorf("re-apply after reopen: %+v %v", st, err)
	}
	if created, err := c.EnsureNamespace(ctx, "ns", nil); err != nil || created {
		t.Errorf("namespace not restored: created=%v err=%v", created, err)
	}
	// Power operations and deletion persist too, and the IP allocator does
	// not hand b the address a still holds.
	if err := c.StartVM(ctx, after[1].Ref); err != nil {
		t.Fatal(err)
	}
	if err := c.StopVM(ctx, after[0].Ref); err != nil {
		t.Fatal(err)
	}
	bIP := waitFor(t, c, after[1].Ref, kube.PhaseRunning).IP
	if bIP == "" || bIP == before[0].IP {
		t.Errorf("b got IP %q, a had %q", bIP, before[0].IP)
	}
	if err := c.DeleteVM(ctx, after[1].Ref); err != nil {
		t.Fatal(err)
	}
	c.Close()

	c = open(t, sim.Options{StateFile: file})
	if st, err := c.GetVM(ctx, after[0].Ref); err != nil || st.Phase != kube.PhaseStopped {
		t.Errorf("a after stop+reopen: %+v %v", st, err)
	}
	if _, err := c.GetVM(ctx, after[1].Ref); !kube.IsNotFound(err) {
		t.Errorf("b after delete+reopen: %v, want NotFound", err)
	}
}

func TestMidTransitionResumesAfterReopen(t *testing.T) {
	ctx, file := context.Background(), statePath(t)
	opts := sim.Options{StateFile: file, StepDelay: 30 * time.Millisecond}
	c := open(t, opts)
	if _, err := c.EnsureNamespace(ctx, "ns", nil); err != nil {
		t.Fatal(err)
	}
	starting, _ := c.ApplyVM(ctx, spec("starting", true))
	deleting, _ := c.ApplyVM(ctx, spec("deleting", true))
	waitFor(t, c, deleting.Ref, kube.PhaseRunning)
	if err := c.DeleteVM(ctx, deleting.Ref); err != nil {
		t.Fatal(err)
	}
	st, _ := c.GetVM(ctx, starting.Ref)
	c.Close() // timers cancelled: only the file carries the plans on

	c = open(t, opts)
	if got, err := c.GetVM(ctx, starting.Ref); err != nil || got.Phase != st.Phase {
		t.Fatalf("reopened %+v %v, want phase %s kept", got, err, st.Phase)
	}
	if got, err := c.GetVM(ctx, deleting.Ref); err != nil || got.Phase != kube.PhaseStopping || got.Message != "Terminating" {
		t.Fatalf("terminating VM after reopen: %+v %v", got, err)
	}
	if run := waitFor(t, c, starting.Ref, kube.PhaseRunning); run.UID != starting.UID || run.IP == "" {
		t.Errorf("resumed start: %+v", run)
	}
	waitGone(t, c, deleting.Ref)
	c.Close()

	// Whatever finished after the reopen was saved as well.
	c = open(t, sim.Options{StateFile: file, StepDelay: time.Hour})
	if list, _ := c.ListVMs(ctx, ""); len(list) != 1 || list[0].Phase != kube.PhaseRunning {
		t.Errorf("after second reopen: %+v", list)
	}
}

func TestReopenWithoutDelayFinishesPendingSteps(t *testing.T) {
	ctx, file := context.Background(), statePath(t)
	c := open(t, sim.Options{StateFile: file, StepDelay: time.Hour})
	_, _ = c.EnsureNamespace(ctx, "ns", nil)
	st, _ := c.ApplyVM(ctx, spec("a", true))
	c.Close()
	c = open(t, sim.Options{StateFile: file})
	if got, err := c.GetVM(ctx, st.Ref); err != nil || got.Phase != kube.PhaseRunning {
		t.Fatalf("got %+v %v, want Running right after Open", got, err)
	}
}

func TestStateWritesLeaveNoTempFiles(t *testing.T) {
	ctx, file := context.Background(), statePath(t)
	c := open(t, sim.Options{StateFile: file, StepDelay: 5 * time.Millisecond})
	_, _ = c.EnsureNamespace(ctx, "ns", nil)
	for _, n := range []string{"a", "b", "c"} {
		st, _ := c.ApplyVM(ctx, spec(n, true))
		waitFor(t, c, st.Ref, kube.PhaseRunning)
		_ = c.RestartVM(ctx, st.Ref)
		_ = c.DeleteVM(ctx, st.Ref)
	}
	time.Sleep(50 * time.Millisecond)
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 || entries[0].Name() != "cluster.json" {
		t.Fatalf("directory holds %v, want only cluster.json", entries)
	}
	data, _ := os.ReadFile(file)
	if !json.Valid(data) {
		t.Fatalf("state file is not JSON: %s", data)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", info.Mode().Perm())
	}
}

func TestFailedWriteIsRetryableAndRetried(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cluster.json")
	c := open(t, sim.Options{StateFile: file})
	_, _ = c.EnsureNamespace(ctx, "ns", nil)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyVM(ctx, spec("a", false)); !kube.IsRetryable(err) {
		t.Fatalf("ApplyVM with unwritable state = %v, want retryable", err)
	}
	_ = os.Mkdir(dir, 0o700)
	// The retry applies an unchanged spec, yet must still save the VM.
	if _, err := c.ApplyVM(ctx, spec("a", false)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	c.Close()
	c = open(t, sim.Options{StateFile: file})
	if _, err := c.GetVM(ctx, spec("a", false).Ref); err != nil {
		t.Fatalf("VM not saved by the retry: %v", err)
	}
}

func TestMissingStateFileIsEmptyCluster(t *testing.T) {
	file := statePath(t)
	c := open(t, sim.Options{StateFile: file})
	if list, err := c.ListVMs(context.Background(), ""); err != nil || len(list) != 0 {
		t.Fatalf("ListVMs = %v %v", list, err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("Open did not create the state file: %v", err)
	}
	if _, err := sim.Open(sim.Options{StateFile: filepath.Join(file, "not-a-dir", "x.json")}); err == nil {
		t.Fatal("Open with an unwritable path succeeded")
	}
}

func TestCorruptStateFileIsAnError(t *testing.T) {
	vm := `{"spec":{"Ref":{"Namespace":"ns","Name":"a"}},"uid":"u1","phase":%q}`
	for name, content := range map[string]string{
		"garbage":         "{not json",
		"empty":           "",
		"truncated":       `{"version":1,"namespaces":{"ns":null},"vms":[`,
		"trailing":        `{"version":1} {}`,
		"no version":      `{}`,
		"future version":  `{"version":99}`,
		"orphan vm":       `{"version":1,"vms":[` + strings.Replace(vm, "%q", `"Running"`, 1) + `]}`,
		"unknown phase":   `{"version":1,"namespaces":{"ns":null},"vms":[` + strings.Replace(vm, "%q", `"Dancing"`, 1) + `]}`,
		"duplicate vm":    `{"version":1,"namespaces":{"ns":null},"vms":[` + strings.Replace(vm, "%q", `"Running"`, 1) + `,` + strings.Replace(vm, "%q", `"Running"`, 1) + `]}`,
		"vm without name": `{"version":1,"namespaces":{"ns":null},"vms":[{"spec":{"Ref":{"Namespace":"ns"}},"uid":"u","phase":"Running"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			file := statePath(t)
			_ = os.WriteFile(file, []byte(content), 0o600)
			c, err := sim.Open(sim.Options{StateFile: file})
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "corrupt") {
				t.Errorf("error %q should name the file and say it is corrupt", err)
			}
			if data, _ := os.ReadFile(file); string(data) != content {
				t.Error("a corrupt state file was overwritten")
			}
		})
	}
}

func TestNewRefusesStateFile(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New with StateFile did not panic")
		}
	}()
	sim.New(sim.Options{StateFile: statePath(t)})
}

// TestKilledProcessKeepsAppliedVM SIGKILLs a process right after ApplyVM
// returned: on restart exactly one VM exists and its start resumes.
func TestKilledProcessKeepsAppliedVM(t *testing.T) {
	if file := os.Getenv("SIM_KILL_HELPER_STATE"); file != "" {
		killHelper(file)
		return
	}
	file := statePath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledProcessKeepsAppliedVM$")
	cmd.Env = append(os.Environ(), "SIM_KILL_HELPER_STATE="+file)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "applied ") {
		_ = cmd.Process.Kill()
		t.Fatalf("helper said %q, %v", line, err)
	}
	uid := strings.TrimSpace(strings.TrimPrefix(line, "applied "))
	_ = cmd.Process.Kill() // SIGKILL: no deferred code runs in the helper
	_ = cmd.Wait()

	c := open(t, sim.Options{StateFile: file, StepDelay: 10 * time.Millisecond})
	list, err := c.ListVMs(context.Background(), "")
	if err != nil || len(list) != 1 || list[0].UID != uid {
		t.Fatalf("after kill: %+v %v, want exactly the applied VM %s", list, err, uid)
	}
	waitFor(t, c, list[0].Ref, kube.PhaseRunning)
}

func killHelper(file string) {
	ctx := context.Background()
	c, err := sim.Open(sim.Options{StateFile: file, StepDelay: time.Hour})
	if err != nil {
		panic(err)
	}
	if _, err := c.EnsureNamespace(ctx, "ns", nil); err != nil {
		panic(err)
	}
	st, err := c.ApplyVM(ctx, spec("a", true))
	if err != nil {
		panic(err)
	}
	os.Stdout.WriteString("applied " + st.UID + "\n")
	time.Sleep(time.Minute) // killed long before this
}
