package provisioning

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/domainevent"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/sim"
)

func TestCreateProvisionsTheApprovedVM(t *testing.T) {
	f := newFixture(t)
	ev, v := f.approved()
	if err := f.drive(f.exec.Create, ev, Attempt{N: 1, Max: 5}); err != nil {
		t.Fatal(err)
	}
	got := f.vm(v.ID)
	if got.Status != vm.StatusRUNNING || got.K8sUID == "" || got.IP == "" || !got.K8sExists {
		t.Fatalf("vm after create: status %s uid %q ip %q exists %v", got.Status, got.K8sUID, got.IP, got.K8sExists)
	}
	tk := f.ticketOf(ev)
	if tk.Status != approvalticket.StatusSUCCESS || tk.ExecutedAt == nil {
		t.Fatalf("ticket %s executed_at %v", tk.Status, tk.ExecutedAt)
	}
	var names []string
	for _, s := range tk.Steps {
		if s.State != domain.StepStateDone {
			t.Errorf("step %s is %s", s.Name, s.State)
		}
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != strings.Join(domain.PlannedSteps("VM_CREATE"), ",") {
		t.Errorf("steps %v, want %v", names, domain.PlannedSteps("VM_CREATE"))
	}
	if e := f.event(ev); e.Status != domainevent.StatusCOMPLETED || e.ProcessedAt == nil {
		t.Errorf("event %s", e.Status)
	}
	if n := f.count("SELECT count(*) FROM audit_logs WHERE action = 'vm.create' AND resource_id = $1", v.ID.String()); n != 1 {
		t.Errorf("vm.create audit rows: %d", n)
	}
	// Requester and System owner hear about it; the plain member who is also the
	// requester gets one message, not two.
	if n := f.count("SELECT count(*) FROM notifications WHERE type = 'VM_CREATED' AND recipient_id IN ($1, $2)", f.Alice.ID, f.Olga.ID); n != 2 {
		t.Errorf("VM_CREATED notifications: %d", n)
	}
	if n := f.count("SELECT count(*) FROM domain_events WHERE event_type = 'NAMESPACE_CREATED'"); n != 1 {
		t.Errorf("NAMESPACE_CREATED events: %d", n)
	}
	// The cluster object carries the platform labels of spec/domain §1.5.
	st, err := f.sim.GetVM(f.ctx, kube.VMRef{Namespace: "dev", Name: got.Name})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{LabelManagedBy: ManagedByValue, LabelSystem: "shop", LabelService: "web",
		LabelInstance: "01", LabelTicketID: tk.ID.String(), LabelCreatedBy: "alice", LabelHostname: got.Name} {
		if st.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, st.Labels[k], want)
		}
	}
	// A second delivery of the same job is a no-op.
	if err := f.drive(f.exec.Create, ev, Attempt{N: 2, Max: 5}); err != nil {
		t.Fatal(err)
	}
	if n := f.count("SELECT count(*) FROM audit_logs WHERE action = 'vm.create'"); n != 1 {
		t.Errorf("rerun wrote audit again: %d", n)
	}
}

// A job that dies after the cluster applied the VM but before the commit runs again:
// server-side apply finds the same VM, and exactly one exists.
func TestCreateRunTwiceAfterCrashMakesOneVM(t *testing.T) {
	f := newFixture(t)
	ev, v := f.approved()
	crash := errors.New("process killed")
	f.exec.afterApply = func() error { return crash }
	if err := f.drive(f.exec.Create, ev, Attempt{N: 1, Max: 5}); !errors.Is(err, crash) {
		t.Fatalf("first run: %v", err)
	}
	first, err := f.sim.GetVM(f.ctx, kube.VMRef{Namespace: "dev", Name: v.Name})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.vm(v.ID); got.Status != vm.StatusCREATING {
		t.Fatalf("after crash the row is %s", got.Status)
	}
	f.exec.afterApply = nil
	if err := f.drive(f.exec.Create, ev, Attempt{N: 2, Max: 5}); err != nil {
		t.Fatal(err)
	}
	all, err := f.sim.ListVMs(f.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].UID != first.UID {
		t.Fatalf("cluster has %d VMs (uid %v, first %s)", len(all), all, first.UID)
	}
	if got := f.vm(v.ID); got.Status != vm.StatusRUNNING || got.K8sUID != first.UID {
		t.Fatalf("row %s uid %s", got.Status, got.K8sUID)
	}
}

func forbidden(what string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: what}, "x", errors.New("service account may not create it"))
}

// Each step's provider errors: permanent ones fail the request at once with the code
// and a hint; retryable ones are returned for River to retry, and fail on the last try.
func TestCreateProviderErrorOnEachStep(t *testing.T) {
	cases := []struct {
		name      string
		op        string
		err       error
		at        Attempt
		retry     bool
		step      string
		wantInMsg string
	}{
		{"namespace forbidden", sim.OpEnsureNamespace, forbidden("namespaces"), Attempt{N: 1, Max: 5}, false, domain.StepNamespace, kube.CodeNamespacePermissionDenied},
		{"namespace quota", sim.OpEnsureNamespace, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "dev", errors.New("exceeded quota: ns-limit")), Attempt{N: 1, Max: 5}, false, domain.StepNamespace, kube.CodeNamespaceQuotaExceeded},
		{"namespace timeout", sim.OpEnsureNamespace, apierrors.NewTimeoutError("slow", 1), Attempt{N: 1, Max: 5}, true, domain.StepNamespace, "retrying"},
		{"apply invalid", sim.OpApplyVM, apierrors.NewInvalid(schema.GroupKind{Kind: "VirtualMachine"}, "x", nil), Attempt{N: 1, Max: 5}, false, domain.StepApplied, kube.CodeValidationFailed},
		{"apply unavailable", sim.OpApplyVM, apierrors.NewServiceUnavailable("apiserver restarting"), Attempt{N: 2, Max: 5}, true, domain.StepApplied, "attempt 2 of 5"},
		{"apply unavailable, last attempt", sim.OpApplyVM, apierrors.NewServiceUnavailable("apiserver restarting"), Attempt{N: 5, Max: 5}, false, domain.StepApplied, "gave up after 5 attempts"},
		{"status read fails", sim.OpGetVM, apierrors.NewInternalError(errors.New("etcd leader changed")), Attempt{N: 1, Max: 5}, true, domain.StepRunning, "retrying"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ev, v := f.approved()
			f.sim.FailNext(tc.op, tc.err)
			err := f.drive(f.exec.Create, ev, tc.at)
			if err == nil {
				t.Fatal("no error")
			}
			tk := f.ticketOf(ev)
			var step string
			for _, s := range tk.Steps {
				if s.Name == tc.step {
					step = s.State + ": " + s.Message
				}
			}
			if tc.retry {
				if IsPermanent(err) {
					t.Fatalf("retryable error ended the job: %v", err)
				}
				if tk.Status != approvalticket.StatusEXECUTING || f.vm(v.ID).Status != vm.StatusCREATING {
					t.Fatalf("ticket %s vm %s during retries", tk.Status, f.vm(v.ID).Status)
				}
				if !strings.Contains(step, tc.wantInMsg) {
					t.Errorf("step %s shows %q", tc.step, step)
				}
				// The retry succeeds.
				if err := f.drive(f.exec.Create, ev, Attempt{N: tc.at.N + 1, Max: tc.at.Max}); err != nil {
					t.Fatalf("retry: %v", err)
				}
				if got := f.vm(v.ID); got.Status != vm.StatusRUNNING {
					t.Fatalf("after retry %s", got.Status)
				}
				return
			}
			if !IsPermanent(err) {
				t.Fatalf("want a permanent error, got %v", err)
			}
			got := f.vm(v.ID)
			if tk.Status != approvalticket.StatusFAILED || got.Status != vm.StatusFAILED || f.event(ev).Status != domainevent.StatusFAILED {
				t.Fatalf("ticket %s vm %s event %s", tk.Status, got.Status, f.event(ev).Status)
			}
			if want := map[string]string{"apply unavailable, last attempt": kube.CodeClusterUnhealthy}[tc.name]; want != "" && tk.ErrorCode != want {
				t.Errorf("error code %q, want %q", tk.ErrorCode, want)
			} else if want == "" && tk.ErrorCode != tc.wantInMsg {
				t.Errorf("error code %q, want %q", tk.ErrorCode, tc.wantInMsg)
			}
			if !strings.Contains(tk.ErrorMessage, tc.wantInMsg) || !strings.Contains(got.StatusMessage, tc.wantInMsg) {
				t.Errorf("error message %q / vm message %q, want %q", tk.ErrorMessage, got.StatusMessage, tc.wantInMsg)
			}
			if !strings.HasPrefix(step, domain.StepStateFailed) {
				t.Errorf("step %s: %q", tc.step, step)
			}
			// Requester and approver are told, with a hint.
			n := f.count("SELECT count(*) FROM notifications WHERE type = 'VM_FAILED' AND recipient_id IN ($1,$2) AND body LIKE '%An admin%'", f.Alice.ID, f.Bob.ID)
			if n != 2 {
				t.Errorf("VM_FAILED notifications: %d", n)
			}
			if f.count("SELECT count(*) FROM audit_logs WHERE action = 'vm.create_failed'") != 1 {
				t.Error("no vm.create_failed audit")
			}
		})
	}
}

// A cluster that goes unhealthy in the middle of a job: the job retries and finishes
// once the cluster is back.
func TestCreateClusterUnhealthyDuringJob(t *testing.T) {
	f := newFixture(t)
	ev, v := f.approved()
	f.sim.SetHealthy(false)
	err := f.drive(f.exec.Create, ev, Attempt{N: 1, Max: 5})
	if err == nil || IsPermanent(err) || !kube.IsRetryable(err) {
		t.Fatalf("unhealthy cluster: %v", err)
	}
	f.sim.SetHealthy(true)
	if err := f.drive(f.exec.Create, ev, Attempt{N: 2, Max: 5}); err != nil {
		t.Fatal(err)
	}
	if got := f.vm(v.ID); got.Status != vm.StatusRUNNING {
		t.Fatalf("vm %s", got.Status)
	}
}

func TestCreateOfMissingEventCancelsTheJob(t *testing.T) {
	f := newFixture(t)
	ev, _ := f.approved()
	if _, err := f.store.SQL.ExecContext(f.ctx, "DELETE FROM domain_events WHERE id = $1", ev); err != nil {
		t.Fatal(err)
	}
	err := f.drive(f.exec.Create, ev, Attempt{N: 1, Max: 5})
	if !IsPermanent(err) || !errors.Is(err, ErrEventGone) {
		t.Fatalf("got %v", err)
	}
}
