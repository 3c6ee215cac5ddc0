package catalog

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/cluster"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/kubevirt"
)

// DefaultProbeTimeout bounds a connection test when Service.ProbeTimeout is unset.
const DefaultProbeTimeout = 15 * time.Second

// Connection is what a successful connection test found: where the kubeconfig points
// and as whom (never its credentials), and the cluster's capabilities.
type Connection struct {
	Info kubevirt.KubeconfigInfo
	Caps kube.Capabilities
	Took time.Duration
}

// ConnectionError is why a kubeconfig cannot be used: it was refused as a file, the API
// server could not be reached, or it answered and refused Shepherd. Message and Hint are
// safe to show: they never quote the kubeconfig.
type ConnectionError struct {
	Server      string // the API server URL, when the kubeconfig named one
	Code        string // the kube error code, e.g. CLUSTER_UNHEALTHY
	Unreachable bool
	Message     string
	Hint        string
}

func (e *ConnectionError) Error() string { return e.Code + ": " + e.Message }

// Text is the message and the hint in one sentence, for a form field.
func (e *ConnectionError) Text() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + " " + e.Hint
}

// TestClusterConnection probes a kubeconfig without saving anything: the "Test
// connection" button of the register and rotate forms. Refusals are *ConnectionError.
func (s *Service) TestClusterConnection(ctx context.Context, a Actor, kubeconfig []byte) (Connection, error) {
	if err := require(a, authz.ClusterManage); err != nil {
		return Connection{}, err
	}
	if strings.TrimSpace(string(kubeconfig)) == "" {
		return Connection{}, &ConnectionError{Code: kube.CodeValidationFailed, Message: noKubeconfig}
	}
	return s.probe(ctx, kubeconfig)
}

const noKubeconfig = "Upload the cluster's kubeconfig or paste it here."

// checkKubeconfig requires a kubeconfig that Shepherd accepts as a file; whether the
// cluster answers is the probe's question.
func checkKubeconfig(fe domain.FieldErrors, kubeconfig []byte) {
	if strings.TrimSpace(string(kubeconfig)) == "" {
		fe.Add("kubeconfig", noKubeconfig)
		return
	}
	if _, info, err := kubevirt.ParseKubeconfig(kubeconfig); err != nil {
		fe.Add("kubeconfig", connectionError(info, err, 0).Text())
	}
}

// probe reaches the cluster within the probe timeout: the whole test, not each call.
func (s *Service) probe(ctx context.Context, kubeconfig []byte) (Connection, error) {
	timeout := s.ProbeTimeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	info, caps, err := kubevirt.Probe(ctx, kubeconfig, timeout)
	took := time.Since(start)
	if err != nil {
		return Connection{}, connectionError(info, err, timeout)
	}
	return Connection{Info: info, Caps: caps, Took: took}, nil
}

// connectionError words a failed probe for the admin: what happened, then what to do.
func connectionError(info kubevirt.KubeconfigInfo, err error, timeout time.Duration) *ConnectionError {
	ke := kube.Classify(err)
	ce := &ConnectionError{Server: info.Server, Code: ke.Code, Unreachable: ke.Kind == kube.Retryable}
	detail := ke.Message
	if detail == "" {
		detail = ke.Error()
	}
	low := strings.ToLower(detail)
	switch {
	case isParseError(ke):
		ce.Message = "This kubeconfig cannot be used: " + detail + "."
	case ce.Unreachable && (ke.Code == kube.CodeTimeout || timedOut.MatchString(low)):
		ce.Message = "No answer from the API server at " + info.Server + " within " + timeout.String() + " (" + ke.Code + ": " + detail + ")."
		ce.Hint = "Check that Shepherd can reach this address (DNS, firewalls, VPN) and that the API server is up."
	case ce.Unreachable && (strings.Contains(low, "x509") || strings.Contains(low, "certificate")):
		ce.Message = "The API server at " + info.Server + " presented a certificate the kubeconfig does not trust (" + detail + ")."
		ce.Hint = "Embed the cluster's CA as certificate-authority-data, and make sure the server URL is a name or address the certificate covers."
	case ce.Unreachable:
		ce.Message = "Could not reach the API server at " + info.Server + " (" + ke.Code + ": " + detail + ")."
		ce.Hint = "Check the server URL and that Shepherd can reach it (DNS, firewalls, VPN); the API server may also be down."
	case strings.Contains(low, "unauthorized"):
		ce.Message = "The API server at " + info.Server + " did not accept the credentials (" + ke.Code + ": " + detail + ")."
		ce.Hint = "The token or client certificate is wrong, expired or revoked: create a new one and try again."
	case ke.Code == kube.CodePermissionDenied:
		ce.Message = "The credentials were accepted but may not do what Shepherd needs (" + ke.Code + ": " + detail + ")."
		ce.Hint = "Grant Shepherd's user or service account cluster-wide access to kubevirt.io VirtualMachines and VirtualMachineInstances " +
			"(get, list, watch, create, patch, delete and their subresources), namespaces (get, create), and read access to nodes, " +
			"storage classes and network-attachment-definitions for capability detection."
	case ke.Code == kube.CodeClusterUnhealthy:
		ce.Message = "The API server at " + info.Server + " answered, but " + detail + "."
		ce.Hint = "Install KubeVirt on this cluster (or check that its API is available), then test again."
	default:
		ce.Message = "The cluster at " + info.Server + " could not be used (" + ke.Code + ": " + detail + ")."
		ce.Hint = "Test the same kubeconfig with kubectl from where Shepherd runs (kubectl get virtualmachines -A)."
	}
	ce.Message = upperFirst(ce.Message)
	return ce
}

// timedOut matches the ways Go's network stack says it gave up waiting (not "?timeout="
// in a request URL).
var timedOut = regexp.MustCompile(`timeout exceeded|i/o timeout|handshake timeout|deadline exceeded|awaiting headers`)

// isParseError: ParseKubeconfig's refusals are VALIDATION_FAILED with no underlying cause.
func isParseError(ke *kube.Error) bool {
	return ke.Code == kube.CodeValidationFailed && ke.Err == nil && ke.Kind == kube.Permanent
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// kubeconfigError turns a failed probe into a field error on the kubeconfig, so the
// form shows it where the admin pastes or uploads the file.
func kubeconfigError(err error) error {
	var ce *ConnectionError
	if errors.As(err, &ce) {
		fe := domain.FieldErrors{}
		fe.Add("kubeconfig", ce.Text())
		return invalid(fe)
	}
	return err
}

// seal encrypts a kubeconfig for the clusters table.
func (s *Service) seal(kubeconfig []byte) (string, error) {
	if s.Box == nil {
		return "", errors.New("catalog: no encryption key to seal cluster credentials with")
	}
	return s.Box.Seal(kubeconfig)
}

// ApplyCapabilities stores what a cluster reported on its row; the health check uses it
// too. currentDefault is the admin's default storage class, kept while still offered.
func ApplyCapabilities(m *ent.ClusterMutation, caps kube.Capabilities, currentDefault string) {
	m.SetKubernetesVersion(caps.KubernetesVersion)
	m.SetKubevirtVersion(caps.KubeVirtVersion)
	m.SetGpuDevices(orEmpty(caps.GPUDevices))
	m.SetHugepages(orEmpty(caps.Hugepages))
	m.SetDedicatedCPU(caps.DedicatedCPU)
	m.SetSriovNetworks(orEmpty(caps.SRIOVNetworks))
	m.SetStorageClasses(orEmpty(caps.StorageClasses))
	m.SetDefaultStorageClass(DetectedDefaultStorageClass(currentDefault, caps))
}

// DetectedDefaultStorageClass keeps the admin's choice while the cluster still offers it,
// otherwise takes the cluster's own default, or the only class there is.
func DetectedDefaultStorageClass(current string, caps kube.Capabilities) string {
	has := func(name string) bool { return slices.Contains(caps.StorageClasses, name) }
	switch {
	case current != "" && has(current):
		return current
	case caps.DefaultStorageClass != "" && has(caps.DefaultStorageClass):
		return caps.DefaultStorageClass
	case len(caps.StorageClasses) == 1:
		return caps.StorageClasses[0]
	}
	return ""
}

// credentialDetails is what the audit log records about a kubeconfig: where it points
// and how it authenticates, and what the cluster offered. Never the file.
func credentialDetails(conn *Connection) map[string]any {
	return map[string]any{
		"api_server_url":     conn.Info.Server,
		"context":            conn.Info.Context,
		"auth_method":        conn.Info.AuthMethod,
		"kubernetes_version": conn.Caps.KubernetesVersion,
		"kubevirt_version":   conn.Caps.KubeVirtVersion,
		"sriov_networks":     orEmpty(conn.Caps.SRIOVNetworks),
	}
}

// credentialRef is the audit view of a cluster's current credentials.
func credentialRef(c *ent.Cluster) map[string]any {
	return map[string]any{
		"api_server_url": c.APIServerURL,
		"context":        c.KubeconfigContext,
		"auth_method":    c.AuthMethod,
	}
}

// sealedProbe probes and seals a kubeconfig for a cluster that will store it; both
// happen before any transaction opens (no cluster call inside a transaction).
func (s *Service) sealedProbe(ctx context.Context, kubeconfig []byte) (Connection, string, error) {
	fe := domain.FieldErrors{}
	checkKubeconfig(fe, kubeconfig)
	if len(fe) > 0 {
		return Connection{}, "", fe.Err()
	}
	conn, err := s.probe(ctx, kubeconfig)
	if err != nil {
		return Connection{}, "", kubeconfigError(err)
	}
	sealed, err := s.seal(kubeconfig)
	return conn, sealed, err
}

// statusAfterProbe is a cluster just proven reachable.
func statusAfterProbe(u *ent.ClusterUpdateOne, now time.Time) *ent.ClusterUpdateOne {
	return u.SetStatus(cluster.StatusHEALTHY).SetStatusMessage("").SetLastCheckedAt(now)
}
