package catalog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/ent/clusterhealthcheck"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/testcluster"
)

// Credentials of the hand-written kubeconfigs; the secret scans look for them.
const (
	fakeToken = "s3cr3t-token-d0-not-leak-4f9a"
	tokenUser = "    token: " + fakeToken + "\n"
)

// kubeconfig writes a one-context kubeconfig whose user block is user (indented YAML).
func kubeconfig(server, user string) []byte {
	return []byte(`apiVersion: v1
kind: Config
current-context: ops
contexts:
- name: ops
  context:
    cluster: east
    user: shepherd
clusters:
- name: east
  cluster:
    server: ` + server + `
    insecure-skip-tls-verify: true
users:
- name: shepherd
  user:
` + user)
}

// closedPort is a loopback address where nothing listens: connections are refused.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

func kubeInput(name string, kc []byte) catalog.ClusterInput {
	return catalog.ClusterInput{Name: name, Environment: "test", Provider: "kubevirt", SchedulingWeight: 100, Kubeconfig: kc}
}

func TestRegisterRefusesUnusableKubeconfigs(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	execUser := "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"echo " + fakeToken + "\"]\n"
	cases := []struct {
		name string
		kc   []byte
		want string
	}{
		{"malformed", []byte("clusters: [this is: not: yaml"), "does not parse"},
		{"exec plugin", kubeconfig("https://127.0.0.1:6443", execUser), "exec credential plugin"},
		{"token file", kubeconfig("https://127.0.0.1:6443", "    tokenFile: /var/run/secrets/token\n"), "credential files"},
		{"no credentials", kubeconfig("https://127.0.0.1:6443", "    {}\n"), "carries no credentials"},
	}
	for _, tc := range cases {
		_, err := s.RegisterCluster(ctx, clusterOps, kubeInput("east-1", tc.kc))
		msg := fieldErrors(t, err)["kubeconfig"]
		if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "This kubeconfig cannot be used") {
			t.Errorf("%s: kubeconfig error %q, want %q", tc.name, msg, tc.want)
		}
		if strings.Contains(msg, fakeToken) {
			t.Errorf("%s: the error quotes the kubeconfig: %q", tc.name, msg)
		}
		if _, err := s.TestClusterConnection(ctx, clusterOps, tc.kc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: connection test: %v", tc.name, err)
		}
	}
	if n := s.Store.Ent.Cluster.Query().CountX(ctx); n != 0 {
		t.Errorf("%d clusters written", n)
	}
}

func TestRegisterUnreachableClusterFailsWithinTheTimeout(t *testing.T) {
	t.Parallel()
	s := newService(t)
	s.ProbeTimeout = 3 * time.Second
	ctx := t.Context()
	server := closedPort(t)
	start := time.Now()
	_, err := s.RegisterCluster(ctx, clusterOps, kubeInput("east-1", kubeconfig(server, tokenUser)))
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %s, want within the 3s probe timeout", took)
	}
	msg := fieldErrors(t, err)["kubeconfig"]
	if !strings.Contains(msg, "Could not reach the API server at "+server) || !strings.Contains(msg, "connection refused") ||
		!strings.Contains(msg, "Check the server URL") {
		t.Errorf("kubeconfig error %q", msg)
	}
	if n := s.Store.Ent.Cluster.Query().CountX(ctx); n != 0 {
		t.Errorf("%d clusters written for an unreachable cluster", n)
	}
	_, err = s.TestClusterConnection(ctx, clusterOps, kubeconfig(server, tokenUser))
	var ce *catalog.ConnectionError
	if !errors.As(err, &ce) || !ce.Unreachable || ce.Server != server || ce.Hint == "" {
		t.Errorf("connection test: %#v", err)
	}
	// A server that accepts connections and never answers: the probe ends at the timeout.
	s.ProbeTimeout = 500 * time.Millisecond
	start = time.Now()
	_, err = s.TestClusterConnection(ctx, clusterOps, kubeconfig(silentServer(t), tokenUser))
	if took := time.Since(start); took > 2*time.Second || !errors.As(err, &ce) || !ce.Unreachable || !strings.Contains(ce.Message, "No answer") {
		t.Errorf("silent server: %s, %v", took, err)
	}
}

// silentServer accepts TCP connections and never says a word.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // test-only accept loop; ends when the listener closes
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return "https://" + ln.Addr().String()
}

func TestClusterUseCasesNeedClusterManage(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	c := realCluster(t, s, "east-1")
	kc := kubeconfig(closedPort(t), tokenUser)
	if _, err := s.TestClusterConnection(ctx, operator, kc); code(err) != domain.CodeForbidden {
		t.Errorf("connection test: %v", err)
	}
	if _, err := s.RegisterCluster(ctx, operator, kubeInput("west-1", kc)); code(err) != domain.CodeForbidden {
		t.Errorf("register: %v", err)
	}
	if _, err := s.RotateClusterCredentials(ctx, operator, c.ID, kc); code(err) != domain.CodeForbidden {
		t.Errorf("rotate: %v", err)
	}
	if _, err := s.DeleteCluster(ctx, operator, c.ID, c.Name); code(err) != domain.CodeForbidden {
		t.Errorf("delete: %v", err)
	}
}

func TestRotateRefusesCredentialsThatDoNotWork(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	c := realCluster(t, s, "east-1")
	_, err := s.RotateClusterCredentials(ctx, clusterOps, c.ID, kubeconfig(closedPort(t), tokenUser))
	if msg := fieldErrors(t, err)["kubeconfig"]; !strings.Contains(msg, "Could not reach") {
		t.Errorf("rotate to an unreachable server: %q", msg)
	}
	_, err = s.RotateClusterCredentials(ctx, clusterOps, c.ID, nil)
	if msg := fieldErrors(t, err)["kubeconfig"]; !strings.Contains(msg, "Upload") {
		t.Errorf("rotate without a kubeconfig: %q", msg)
	}
	if after := s.Store.Ent.Cluster.GetX(ctx, c.ID); after.KubeconfigSealed != c.KubeconfigSealed || after.CredentialsRotatedAt != nil {
		t.Error("the working credentials were replaced")
	}
	sim, err := s.RegisterCluster(ctx, clusterOps, catalog.ClusterInput{Name: "sim-1", Environment: "test", Provider: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateClusterCredentials(ctx, clusterOps, sim.ID, kubeconfig(closedPort(t), tokenUser)); !errors.Is(err, catalog.ErrNoCredentials) {
		t.Errorf("rotating a simulated cluster: %v", err)
	}
	if got := actions(audits(t, s, c.ID.String())); len(got) != 0 {
		t.Errorf("refused rotations audited: %v", got)
	}
}

// sharedKubeconfig reads the test cluster's kubeconfig at path.
func sharedKubeconfig(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secretsOf lists the credentials inside a kubeconfig, raw and as the file spells them.
func secretsOf(t *testing.T, kc []byte) []string {
	t.Helper()
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, u := range cfg.AuthInfos {
		for _, s := range []string{u.Token, u.Password, string(u.ClientKeyData)} {
			if len(s) >= 8 {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the kubeconfig carries no credentials to scan for")
	}
	return out
}

// leaks reports which secrets appear in text.
func leaks(text string, secrets []string) []string {
	var found []string
	for _, s := range secrets {
		if strings.Contains(text, s) {
			found = append(found, s[:4]+"…")
		}
	}
	return found
}

// TestRegisterRotateAndDeleteARealCluster runs onboarding against the run's test
// cluster: a real API server with KubeVirt's APIs.
func TestRegisterRotateAndDeleteARealCluster(t *testing.T) {
	shared := testcluster.FromEnv(t)
	s := newService(t)
	ctx := t.Context()
	admin := sharedKubeconfig(t, shared.KubeconfigPath)

	conn, err := s.TestClusterConnection(ctx, clusterOps, admin)
	if err != nil {
		t.Fatal(err)
	}
	if conn.Caps.KubeVirtVersion != testcluster.KubeVirtVersion || conn.Caps.KubernetesVersion == "" || conn.Info.AuthMethod != "token" {
		t.Errorf("connection test found %+v", conn)
	}
	c, err := s.RegisterCluster(ctx, clusterOps, kubeInput("east-1", admin))
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != cluster.StatusHEALTHY || c.LastCheckedAt == nil || c.APIServerURL != conn.Info.Server || c.AuthMethod != "token" ||
		c.KubevirtVersion != testcluster.KubeVirtVersion || c.KubernetesVersion != conn.Caps.KubernetesVersion || c.CredentialsRotatedAt == nil {
		t.Errorf("registered %+v", c)
	}
	if opened, err := s.Box.Open(c.KubeconfigSealed); err != nil || !bytes.Equal(opened, admin) {
		t.Errorf("sealed kubeconfig does not open to the upload: %v", err)
	}
	if n := s.Store.Ent.ClusterHealthCheck.Query().Where(clusterhealthcheck.ClusterID(c.ID)).CountX(ctx); n != 1 {
		t.Errorf("%d health checks after registration", n)
	}

	// The same API server cannot be registered twice.
	_, err = s.RegisterCluster(ctx, clusterOps, kubeInput("east-2", admin))
	if msg := fieldErrors(t, err)["kubeconfig"]; !strings.Contains(msg, "already registered as cluster east-1") {
		t.Errorf("second registration of one API server: %q", msg)
	}

	// Credentials that reach the server but may not use KubeVirt do not replace working ones.
	limited := sharedKubeconfig(t, shared.LimitedKubeconfigPath)
	_, err = s.RotateClusterCredentials(ctx, clusterOps, c.ID, limited)
	if msg := fieldErrors(t, err)["kubeconfig"]; !strings.Contains(msg, "PERMISSION_DENIED") || !strings.Contains(msg, "Grant Shepherd") {
		t.Errorf("rotate to forbidden credentials: %q", msg)
	}
	rotated, err := s.RotateClusterCredentials(ctx, clusterOps, c.ID, admin)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KubeconfigSealed == c.KubeconfigSealed || !rotated.CredentialsRotatedAt.After(*c.CredentialsRotatedAt) {
		t.Error("rotation did not store a new sealed kubeconfig")
	}

	if _, err := s.DeleteCluster(ctx, clusterOps, c.ID, "east-1"); err != nil {
		t.Fatal(err)
	}
	rows := audits(t, s, c.ID.String())
	if got := strings.Join(actions(rows), ","); got != "cluster.register,cluster.credential_rotate,cluster.delete" {
		t.Fatalf("audit %s", got)
	}
	reg, rot := rows[0].Details, rows[1].Details
	if reg["api_server_url"] != conn.Info.Server || reg["auth_method"] != "token" || reg["context"] != conn.Info.Context ||
		reg["kubevirt_version"] != testcluster.KubeVirtVersion {
		t.Errorf("register details %v", reg)
	}
	if old, nw := rot["old"].(map[string]any), rot["new"].(map[string]any); old["api_server_url"] != conn.Info.Server || nw["auth_method"] != "token" {
		t.Errorf("rotate details %v", rot)
	}
	secrets := append(secretsOf(t, admin), secretsOf(t, limited)...)
	for _, r := range s.Store.Ent.AuditLog.Query().AllX(ctx) {
		b, _ := json.Marshal(r)
		if l := leaks(string(b), secrets); len(l) > 0 {
			t.Errorf("audit row %s carries kubeconfig secrets %v", r.Action, l)
		}
	}
}

func TestDeleteClusterRefusesWhileInUse(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := t.Context()
	c := realCluster(t, s, "east-1")
	v := liveVM(t, s.Store.Ent, c)
	_, err := s.DeleteCluster(ctx, clusterOps, c.ID, "east-1")
	if code(err) != domain.CodeDeleteRestricted || !strings.Contains(err.Error(), "1 VM still lives on it") {
		t.Fatalf("delete with a live VM: %v", err)
	}
	s.Store.Ent.VM.UpdateOne(v).SetStatus("DELETED").SetDeletedAt(time.Now()).ExecX(ctx)
	ticket := openTicket(t, s.Store.Ent, c)
	if _, err := s.DeleteCluster(ctx, clusterOps, c.ID, "east-1"); code(err) != domain.CodeDeleteRestricted || !strings.Contains(err.Error(), "1 request") {
		t.Fatalf("delete with an approved request: %v", err)
	}
	s.Store.Ent.ApprovalTicket.UpdateOne(ticket).SetStatus("SUCCESS").ExecX(ctx)
	if _, err := s.DeleteCluster(ctx, clusterOps, c.ID, "East-1"); code(err) != domain.CodeConfirmationMismatch {
		t.Fatalf("delete with a mistyped name: %v", err)
	}
	if _, err := s.DeleteCluster(ctx, clusterOps, c.ID, " east-1 "); err != nil {
		t.Fatal(err)
	}
	gone := s.Store.Ent.Cluster.GetX(ctx, c.ID)
	if gone.DeletedAt == nil || gone.Enabled || gone.KubeconfigSealed != "" {
		t.Errorf("deleted cluster %+v (sealed kept: %v)", gone, gone.KubeconfigSealed != "")
	}
	if _, err := s.Cluster(ctx, c.ID); code(err) != domain.CodeNotFound {
		t.Errorf("a deleted cluster is still found: %v", err)
	}
	if list, _ := s.ListClusters(ctx); len(list) != 0 {
		t.Errorf("a deleted cluster is listed: %v", list)
	}
	if _, err := s.SetClusterEnabled(ctx, clusterOps, c.ID, true); code(err) != domain.CodeNotFound {
		t.Errorf("a deleted cluster was enabled again: %v", err)
	}
	// The row still names the deleted VM's cluster, so the name is not reused.
	_, err = s.RegisterCluster(ctx, clusterOps, catalog.ClusterInput{Name: "east-1", Environment: "test", Provider: "sim"})
	if !strings.Contains(fieldErrors(t, err)["name"], "belonged to a deleted cluster") {
		t.Errorf("re-registering the name: %v", err)
	}
	if got := actions(audits(t, s, c.ID.String())); strings.Join(got, ",") != "cluster.delete" {
		t.Errorf("audit %v", got)
	}
}

func liveVM(t *testing.T, client *ent.Client, c *ent.Cluster) *ent.VM {
	t.Helper()
	return client.VM.Create().SetName("dev-shop-web-1").SetServiceID(newID()).SetSystemID(newID()).SetNamespaceID(newID()).
		SetNamespaceName("dev").SetEnvironment("test").SetClusterID(c.ID).SetInstanceIndex(1).SetInstanceSizeID(newID()).
		SetTemplateID(newID()).SetTicketID(newID()).SetCreatedBy(newID()).SetStatus("RUNNING").SaveX(t.Context())
}

func openTicket(t *testing.T, client *ent.Client, c *ent.Cluster) *ent.ApprovalTicket {
	t.Helper()
	return client.ApprovalTicket.Create().SetType("VM_CREATE").SetStatus("APPROVED").SetEventID(newID()).SetRequesterID(newID()).
		SetReason("test").SetSystemID(newID()).SetServiceID(newID()).SetNamespaceID(newID()).SetNamespaceName("dev").
		SetEnvironment("test").SetSelectedClusterID(c.ID).SaveX(t.Context())
}
