package seed

import (
	"context"
	"fmt"
	"time"

	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/kube/kubevirt"
	"kv-shepherd.io/shepherd/internal/secrets"
)

// DevKubeClusterName is the real (KubeVirt provider) test cluster that `make run-kube`
// registers beside the simulated ones.
const DevKubeClusterName = "kube-test"

// DevKubeCluster registers the test cluster of `make run-kube` from its kubeconfig, or
// replaces the stored kubeconfig when the cluster exists: the test cluster makes new
// certificates and tokens each time it starts. Capabilities and health come from the
// first health check, as for any real cluster. Dev mode only.
func DevKubeCluster(ctx context.Context, store *db.Store, box *secrets.Box, kubeconfig []byte) error {
	_, info, err := kubevirt.ParseKubeconfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("SHEPHERD_DEV_KUBECONFIG: %w", err)
	}
	sealed, err := box.Seal(kubeconfig)
	if err != nil {
		return err
	}
	return store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		now := time.Now()
		existing, err := tx.Ent.Cluster.Query().Where(cluster.Name(DevKubeClusterName)).Only(ctx)
		if err == nil {
			// Also brings back a kube-test an admin deleted: make run-kube asks for it.
			return existing.Update().
				SetKubeconfigSealed(sealed).
				SetAPIServerURL(info.Server).
				SetKubeconfigContext(info.Context).
				SetAuthMethod(info.AuthMethod).
				SetCredentialsRotatedAt(now).
				SetStatus(cluster.StatusUNKNOWN).
				SetStatusMessage("").
				ClearDeletedAt().
				SetEnabled(true).
				Exec(ctx)
		}
		return tx.Ent.Cluster.Create().
			SetName(DevKubeClusterName).
			SetEnvironment(cluster.EnvironmentTest).
			SetProvider(cluster.ProviderKubevirt).
			SetSchedulingWeight(100).
			SetKubeconfigSealed(sealed).
			SetAPIServerURL(info.Server).
			SetKubeconfigContext(info.Context).
			SetAuthMethod(info.AuthMethod).
			SetCredentialsRotatedAt(now).
			Exec(ctx)
	})
}
