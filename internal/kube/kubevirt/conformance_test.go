package kubevirt_test

import (
	"os"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/conformance"
	"kv-shepherd.io/shepherd/internal/kube/kubevirt"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

// sharedProvider is a provider on the run's test cluster, built like production
// builds it: from the kubeconfig bytes an admin would upload.
func sharedProvider(t *testing.T, path string) *kubevirt.Provider {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := kubevirt.New("testcluster", data, kubevirt.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConformance runs the same suite as the simulator against a real API server,
// KubeVirt's CRDs and the stand-in virt-controller and virt-api.
func TestConformance(t *testing.T) {
	shared := testcluster.FromEnv(t)
	p := sharedProvider(t, shared.KubeconfigPath)
	start := time.Now()
	conformance.Run(t, func(*testing.T) kube.Provider { return p })
	t.Logf("conformance suite on the kubevirt provider: %s", time.Since(start).Round(time.Millisecond))
}
