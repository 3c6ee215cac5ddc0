package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/vm"
	"kv-shepherd.io/shepherd/internal/audit"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/db"
	"kv-shepherd.io/shepherd/internal/domain"
)

// ErrNoCredentials refuses a credential rotation on a simulated cluster.
var ErrNoCredentials = domain.Errf(domain.CodeInvalidInput, "",
	"Simulated clusters run inside Shepherd and have no credentials to rotate.")

// RotateClusterCredentials replaces a real cluster's kubeconfig. The new one is probed
// first and replaces the old only when the cluster answers to it, so a wrong file
// never takes a working cluster offline. The cluster registry notices the new sealed
// value and rebuilds its client.
func (s *Service) RotateClusterCredentials(ctx context.Context, a Actor, id uuid.UUID, kubeconfig []byte) (*ent.Cluster, error) {
	if err := require(a, authz.ClusterManage); err != nil {
		return nil, err
	}
	c, err := s.Cluster(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Provider == cluster.ProviderSim {
		return nil, ErrNoCredentials
	}
	conn, sealed, err := s.sealedProbe(ctx, kubeconfig)
	if err != nil {
		return nil, err
	}
	err = s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		old, err := liveCluster(ctx, tx.Ent, id, true)
		if err != nil {
			return err
		}
		if err := serverFree(ctx, tx.Ent, conn.Info.Server, id); err != nil {
			return err
		}
		now := time.Now()
		u := statusAfterProbe(old.Update(), now).
			SetKubeconfigSealed(sealed).
			SetAPIServerURL(conn.Info.Server).
			SetKubeconfigContext(conn.Info.Context).
			SetAuthMethod(conn.Info.AuthMethod).
			SetCredentialsRotatedAt(now)
		ApplyCapabilities(u.Mutation(), conn.Caps, old.DefaultStorageClass)
		if c, err = u.Save(ctx); err != nil {
			return err
		}
		if err := recordCheck(ctx, tx.Ent, c, "Credentials rotated: the connection test passed.", conn.Took); err != nil {
			return err
		}
		return audit.Write(ctx, tx.Ent, a.entry("cluster.credential_rotate", "cluster", id.String(), c.Name, string(c.Environment),
			map[string]any{"old": credentialRef(old), "new": credentialRef(c)}))
	})
	return c, err
}

// Blockers are what keeps a cluster from being deleted.
type Blockers struct {
	LiveVMs     int // VMs on the cluster that are not deleted
	OpenTickets int // requests pending, approved or executing with this cluster chosen
}

// Any reports whether something blocks the delete.
func (b Blockers) Any() bool { return b.LiveVMs > 0 || b.OpenTickets > 0 }

// Reason words the refusal: "2 VMs still live on it and 1 request is in progress; ...".
func (b Blockers) Reason() string {
	var parts []string
	switch {
	case b.LiveVMs == 1:
		parts = append(parts, "1 VM still lives on it")
	case b.LiveVMs > 1:
		parts = append(parts, fmt.Sprintf("%d VMs still live on it", b.LiveVMs))
	}
	switch {
	case b.OpenTickets == 1:
		parts = append(parts, "1 request placed on it is pending, approved or running")
	case b.OpenTickets > 1:
		parts = append(parts, fmt.Sprintf("%d requests placed on it are pending, approved or running", b.OpenTickets))
	}
	return "This cluster cannot be deleted: " + strings.Join(parts, " and ") +
		". Delete its VMs and let its requests finish (or cancel them) first; disabling the cluster keeps new VMs off it meanwhile."
}

func clusterBlockers(ctx context.Context, client *ent.Client, id uuid.UUID) (Blockers, error) {
	var b Blockers
	var err error
	b.LiveVMs, err = client.VM.Query().Where(vm.ClusterID(id), vm.DeletedAtIsNil(), vm.StatusNEQ(vm.StatusDELETED)).Count(ctx)
	if err != nil {
		return b, err
	}
	b.OpenTickets, err = client.ApprovalTicket.Query().Where(approvalticket.SelectedClusterID(id),
		approvalticket.StatusIn(approvalticket.StatusPENDING_APPROVAL, approvalticket.StatusAPPROVED, approvalticket.StatusEXECUTING)).
		Count(ctx)
	return b, err
}

// DeleteCluster retires a cluster after the typed-name confirmation, refusing while VMs
// live on it or requests placed on it are open (restrict, never cascade).
//
// The delete is soft: the row stays, marked deleted and disabled, so the pages of its
// deleted VMs, finished requests and audit rows keep naming it (a hard delete would
// leave them pointing at nothing). Its kubeconfig is erased, since nothing will use
// those credentials again; its name stays reserved.
func (s *Service) DeleteCluster(ctx context.Context, a Actor, id uuid.UUID, confirmName string) (*ent.Cluster, error) {
	if err := require(a, authz.ClusterManage); err != nil {
		return nil, err
	}
	confirmName = strings.TrimSpace(confirmName)
	var c *ent.Cluster
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		// The row lock makes a concurrent rotation or edit wait, then find it gone.
		var err error
		if c, err = liveCluster(ctx, tx.Ent, id, true); err != nil {
			return err
		}
		b, err := clusterBlockers(ctx, tx.Ent, id)
		if err != nil {
			return err
		}
		if b.Any() {
			e := domain.Errf(domain.CodeDeleteRestricted, "", "%s (%s)", b.Reason(), domain.CodeDeleteRestricted)
			e.Params = map[string]any{"entity": "cluster", "live_vms": b.LiveVMs, "open_tickets": b.OpenTickets}
			return e
		}
		if e := domain.ConfirmTypedName("cluster", c.Name, confirmName); e != nil {
			return e
		}
		err = c.Update().
			SetDeletedAt(time.Now()).
			SetEnabled(false).
			ClearKubeconfigSealed().
			Exec(ctx)
		if err != nil {
			return err
		}
		details := credentialRef(c)
		details["provider"] = string(c.Provider)
		details["confirmation"] = confirmName
		return audit.Write(ctx, tx.Ent, a.entry("cluster.delete", "cluster", id.String(), c.Name, string(c.Environment), details))
	})
	return c, err
}

// ClusterDetail is everything the cluster page shows.
type ClusterDetail struct {
	Cluster  *ent.Cluster
	Blockers Blockers
	History  []*ent.ClusterHealthCheck
}

// ClusterPage loads a cluster with its VM and request counts and its newest health
// checks (at most historyLimit).
func (s *Service) ClusterPage(ctx context.Context, id uuid.UUID, historyLimit int) (ClusterDetail, error) {
	var d ClusterDetail
	var err error
	if d.Cluster, err = s.Cluster(ctx, id); err != nil {
		return d, err
	}
	if d.Blockers, err = clusterBlockers(ctx, s.Store.Ent, id); err != nil {
		return d, err
	}
	d.History, err = HealthHistory(ctx, s.Store.Ent, id, historyLimit)
	return d, err
}
