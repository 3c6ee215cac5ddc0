package testcluster_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	v1 "kubevirt.io/api/core/v1"
	"kubevirt.io/client-go/kubecli"
	kvcorev1 "kubevirt.io/client-go/kubevirt/typed/core/v1"

	"kv-shepherd.io/shepherd/internal/testcluster"
)

// privateCluster is true when TestMain started a cluster for this package (with the fake VNC
// backend below); false when the tests run against a shared one or skip.
var privateCluster bool

const rfbGreeting = "RFB 003.008\n"

func TestMain(m *testing.M) {
	// Decided before RunTests exports its own cluster into the environment.
	privateCluster = os.Getenv(testcluster.EnvKubeconfig) == ""
	os.Exit(testcluster.RunTests(m, testcluster.Options{DialVNC: fakeVNC}))
}

// fakeVNC stands in for an RFB server: it greets and then echoes, enough to prove the bytes
// cross the aggregation layer both ways.
func fakeVNC(context.Context, string, string) (net.Conn, error) {
	server, client := net.Pipe()
	go func() {
		defer server.Close()
		if _, err := io.WriteString(server, rfbGreeting); err != nil {
			return
		}
		_, _ = io.Copy(server, server)
	}()
	return client, nil
}

func setup(t *testing.T) (*testcluster.Shared, kubecli.KubevirtClient, string) {
	t.Helper()
	s := testcluster.FromEnv(t)
	return s, testcluster.KubeVirt(t, s.AdminConfig(t)), s.Namespace(t, "tc")
}

func newVM(ns, name string, strategy v1.VirtualMachineRunStrategy) *v1.VirtualMachine {
	return &v1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.VirtualMachineSpec{
			RunStrategy: &strategy,
			Template: &v1.VirtualMachineInstanceTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "kubevirt-shepherd.io/test": "yes"}},
				Spec: v1.VirtualMachineInstanceSpec{
					Domain: v1.DomainSpec{Resources: v1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}},
					Networks: []v1.Network{*v1.DefaultPodNetwork()},
					Volumes: []v1.Volume{{Name: "root", VolumeSource: v1.VolumeSource{
						ContainerDisk: &v1.ContainerDiskSource{Image: "quay.io/containerdisks/fedora:latest"}}}},
				},
			},
		},
	}
}

// waitVM polls the VM until ok holds, failing with the last status seen.
func waitVM(t *testing.T, kv kubecli.KubevirtClient, ns, name, what string, ok func(*v1.VirtualMachine) bool) *v1.VirtualMachine {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		vm, err := kv.VirtualMachine(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err == nil && ok(vm) {
			return vm
		}
		if time.Now().After(deadline) {
			t.Fatalf("VM %s/%s never became %s; last: %+v err=%v", ns, name, what, vm.Status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func running(vm *v1.VirtualMachine) bool {
	return vm.Status.PrintableStatus == v1.VirtualMachineStatusRunning && vm.Status.Ready && vm.Status.Created
}

func stopped(vm *v1.VirtualMachine) bool {
	return vm.Status.PrintableStatus == v1.VirtualMachineStatusStopped && !vm.Status.Ready && !vm.Status.Created
}

func waitNoVMI(t *testing.T, kv kubecli.KubevirtClient, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := kv.VirtualMachineInstance(ns).Get(t.Context(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("VMI %s/%s still there (err=%v)", ns, name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getVMI(t *testing.T, kv kubecli.KubevirtClient, ns, name string) *v1.VirtualMachineInstance {
	t.Helper()
	vmi, err := kv.VirtualMachineInstance(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get VMI: %v", err)
	}
	return vmi
}

func wantConflict(t *testing.T, err error, msg string) {
	t.Helper()
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), msg) {
		t.Fatalf("want 409 Conflict containing %q, got %v", msg, err)
	}
}

func TestPowerLifecycle(t *testing.T) {
	_, kv, ns := setup(t)
	vms := kv.VirtualMachine(ns)
	if _, err := vms.Create(t.Context(), newVM(ns, "vm1", v1.RunStrategyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vm := waitVM(t, kv, ns, "vm1", "Running", running)
	vmi := getVMI(t, kv, ns, "vm1")
	if vmi.Status.Phase != v1.Running || vmi.Status.NodeName != testcluster.NodeName ||
		len(vmi.Status.Interfaces) == 0 || !strings.HasPrefix(vmi.Status.Interfaces[0].IP, "10.244.") {
		t.Fatalf("VMI status not like a running one: %+v", vmi.Status)
	}
	if vmi.Labels["app"] != "vm1" || metav1.GetControllerOf(vmi) == nil || metav1.GetControllerOf(vmi).UID != vm.UID {
		t.Fatalf("VMI labels/owner wrong: %v %v", vmi.Labels, vmi.OwnerReferences)
	}

	// Start on a running VM is refused like virt-api does.
	wantConflict(t, vms.Start(t.Context(), "vm1", &v1.StartOptions{}), "VM is already running")

	// Restart: a new VMI replaces the old one and the requests are consumed.
	if err := vms.Restart(t.Context(), "vm1", &v1.RestartOptions{}); err != nil {
		t.Fatalf("restart: %v", err)
	}
	vm = waitVM(t, kv, ns, "vm1", "restarted", func(vm *v1.VirtualMachine) bool {
		cur, err := kv.VirtualMachineInstance(ns).Get(t.Context(), "vm1", metav1.GetOptions{})
		return err == nil && cur.UID != vmi.UID && running(vm) && len(vm.Status.StateChangeRequests) == 0
	})

	// Stop: runStrategy flips to Halted, Stopping, then Stopped without a VMI.
	if err := vms.Stop(t.Context(), "vm1", &v1.StopOptions{}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitVM(t, kv, ns, "vm1", "Stopping", func(vm *v1.VirtualMachine) bool {
		return vm.Status.PrintableStatus == v1.VirtualMachineStatusStopping || stopped(vm)
	})
	vm = waitVM(t, kv, ns, "vm1", "Stopped", stopped)
	if rs, _ := vm.RunStrategy(); rs != v1.RunStrategyHalted {
		t.Fatalf("runStrategy after stop = %s", rs)
	}
	waitNoVMI(t, kv, ns, "vm1")
	wantConflict(t, vms.Stop(t.Context(), "vm1", &v1.StopOptions{}), "VM is not running")
	wantConflict(t, vms.Restart(t.Context(), "vm1", &v1.RestartOptions{}), "RunStategy Halted does not support manual restart requests")

	// Start brings it back.
	if err := vms.Start(t.Context(), "vm1", &v1.StartOptions{}); err != nil {
		t.Fatalf("start: %v", err)
	}
	vm = waitVM(t, kv, ns, "vm1", "Running again", running)
	if rs, _ := vm.RunStrategy(); rs != v1.RunStrategyAlways {
		t.Fatalf("runStrategy after start = %s", rs)
	}

	// Deleting the VM deletes its VMI: there is no garbage collector, the controller does it.
	if err := vms.Delete(t.Context(), "vm1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNoVMI(t, kv, ns, "vm1")
}

func TestHaltedVMStaysStopped(t *testing.T) {
	_, kv, ns := setup(t)
	if _, err := kv.VirtualMachine(ns).Create(t.Context(), newVM(ns, "off", v1.RunStrategyHalted), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitVM(t, kv, ns, "off", "Stopped", stopped)
	if _, err := kv.VirtualMachineInstance(ns).Get(t.Context(), "off", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("halted VM has a VMI: %v", err)
	}
}

func TestSubresourceErrors(t *testing.T) {
	_, kv, ns := setup(t)
	vms := kv.VirtualMachine(ns)
	if err := vms.Start(t.Context(), "missing", &v1.StartOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("start of a missing VM: want 404, got %v", err)
	}
	// A VM without a template never gets a VMI: Always then refuses manual starts, and
	// restart has nothing to restart.
	vm := newVM(ns, "empty", v1.RunStrategyAlways)
	vm.Spec.Template = nil
	if _, err := vms.Create(t.Context(), vm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, vms.Start(t.Context(), "empty", &v1.StartOptions{}), "Always does not support manual start requests")
	wantConflict(t, vms.Restart(t.Context(), "empty", &v1.RestartOptions{}), "VM is not running")
}

func TestLimitedUserIsForbidden(t *testing.T) {
	s, kv, ns := setup(t)
	limited := testcluster.KubeVirt(t, s.LimitedConfig(t))
	if _, err := limited.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("limited user may read namespaces: %v", err)
	}
	_, err := limited.VirtualMachine(ns).Create(t.Context(), newVM(ns, "nope", v1.RunStrategyHalted), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("limited user creating a VM: want 403, got %v", err)
	}
	// Subresources are authorised by the API server before it proxies to virt-api.
	if _, err := kv.VirtualMachine(ns).Create(t.Context(), newVM(ns, "vm", v1.RunStrategyHalted), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := limited.VirtualMachine(ns).Start(t.Context(), "vm", &v1.StartOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("limited user starting a VM: want 403, got %v", err)
	}
}

func TestVNC(t *testing.T) {
	_, kv, ns := setup(t)
	_, err := kv.VirtualMachineInstance(ns).VNC("missing", false)
	var ae *kvcorev1.AsyncSubresourceError
	if !errors.As(err, &ae) || ae.GetStatusCode() != 404 {
		t.Fatalf("VNC without a VMI: want a 404 error, got %v", err)
	}
	if _, err := kv.VirtualMachine(ns).Create(t.Context(), newVM(ns, "console", v1.RunStrategyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitVM(t, kv, ns, "console", "Running", running)
	stream, err := kv.VirtualMachineInstance(ns).VNC("console", false)
	if err != nil {
		if !privateCluster && errors.As(err, &ae) && ae.GetStatusCode() == 503 {
			t.Skip("the shared test cluster has no VNC backend")
		}
		t.Fatalf("VNC: %v", err)
	}
	conn := stream.AsConn()
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Any RFB 3.8 server (the fake here, or the RFB console shepherd-testcluster plugs in)
	// starts with the same greeting.
	buf := make([]byte, len(rfbGreeting))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != rfbGreeting {
		t.Fatalf("greeting %q, %v", buf, err)
	}
	if !privateCluster {
		return
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 4)
	if _, err := io.ReadFull(conn, echo); err != nil || string(echo) != "ping" {
		t.Fatalf("echo %q, %v", echo, err)
	}
}

func TestBootstrapObjects(t *testing.T) {
	s, kv, ns := setup(t)
	cr, err := kv.KubeVirt(testcluster.KubeVirtNamespace).Get(t.Context(), "kubevirt", metav1.GetOptions{})
	if err != nil || cr.Status.ObservedKubeVirtVersion != testcluster.KubeVirtVersion {
		t.Fatalf("KubeVirt CR: %v %+v", err, cr)
	}
	if info, err := kv.ServerVersion().Get(); err != nil || info.GitVersion != testcluster.KubeVirtVersion {
		t.Fatalf("virt-api version: %+v %v", info, err)
	}
	scs, err := kv.StorageV1().StorageClasses().List(t.Context(), metav1.ListOptions{})
	if err != nil || len(scs.Items) < 2 {
		t.Fatalf("storage classes: %v %v", scs, err)
	}
	node, err := kv.CoreV1().Nodes().Get(t.Context(), testcluster.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gpu := node.Status.Allocatable[testcluster.GPUResource]
	huge := node.Status.Allocatable["hugepages-2Mi"]
	if gpu.IsZero() || huge.IsZero() {
		t.Fatalf("node allocatable lacks GPU/hugepages: %v", node.Status.Allocatable)
	}
	// kubectl shows the VM columns a real KubeVirt install shows.
	if _, err := kv.VirtualMachine(ns).Create(t.Context(), newVM(ns, "shown", v1.RunStrategyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitVM(t, kv, ns, "shown", "Running", running)
	out, err := s.Kubectl(t, "get", "vm", "-n", ns)
	if err != nil || !strings.Contains(out, "STATUS") || !strings.Contains(out, "Running") || !strings.Contains(out, "True") {
		t.Fatalf("kubectl get vm: %v\n%s", err, out)
	}
}
