package kubevirt

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"kv-shepherd.io/shepherd/internal/kube"
)

// MaxKubeconfigBytes bounds an uploaded kubeconfig; real ones are a few KiB.
const MaxKubeconfigBytes = 256 << 10

// KubeconfigInfo is what may be shown about a kubeconfig: where it points and as whom,
// never its credentials.
type KubeconfigInfo struct {
	Context string
	Cluster string
	User    string
	Server  string // the API server URL
	// AuthMethod says how the user authenticates ("token", "client certificate",
	// "basic"), so an admin can tell which credential a rotation replaces.
	AuthMethod string
}

// ParseKubeconfig validates a kubeconfig for use by a server: it must parse, name a
// current context that exists, and carry its credentials inline. Exec plugins,
// auth-provider plugins and file references are refused: Shepherd would run a
// command, or read a file, of the uploader's choosing on its own host.
//
// Errors are permanent VALIDATION_FAILED errors whose messages never quote the file:
// a kubeconfig is a secret, and parse errors can echo its content.
func ParseKubeconfig(data []byte) (*rest.Config, KubeconfigInfo, error) {
	var info KubeconfigInfo
	invalid := func(format string, args ...any) error {
		return kube.NewPermanent(kube.CodeValidationFailed, fmt.Sprintf(format, args...))
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, info, invalid("the kubeconfig is empty")
	}
	if len(data) > MaxKubeconfigBytes {
		return nil, info, invalid("the kubeconfig is larger than %d KiB", MaxKubeconfigBytes>>10)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, info, invalid("the file is not a kubeconfig (it does not parse as kubeconfig YAML or JSON)")
	}
	if cfg.CurrentContext == "" {
		return nil, info, invalid("the kubeconfig has no current-context; set one with `kubectl config use-context`")
	}
	kctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok || kctx == nil {
		return nil, info, invalid("the current context %q is not defined in the kubeconfig", cfg.CurrentContext)
	}
	info.Context, info.Cluster, info.User = cfg.CurrentContext, kctx.Cluster, kctx.AuthInfo
	cluster, ok := cfg.Clusters[kctx.Cluster]
	if !ok || cluster == nil {
		return nil, info, invalid("the current context refers to cluster %q, which the kubeconfig does not define", kctx.Cluster)
	}
	u, err := url.Parse(cluster.Server)
	if err != nil || cluster.Server == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, info, invalid("cluster %q has no valid server URL (want https://host:port)", kctx.Cluster)
	}
	info.Server = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
	if cluster.CertificateAuthority != "" {
		return nil, info, invalid("cluster %q refers to a CA file; embed it as certificate-authority-data", kctx.Cluster)
	}
	if cluster.ProxyURL != "" {
		return nil, info, invalid("cluster %q uses a proxy-url, which Shepherd does not support", kctx.Cluster)
	}
	user, ok := cfg.AuthInfos[kctx.AuthInfo]
	if !ok || user == nil {
		return nil, info, invalid("the current context refers to user %q, which the kubeconfig does not define", kctx.AuthInfo)
	}
	if info.AuthMethod, err = authMethod(kctx.AuthInfo, user); err != nil {
		return nil, info, err
	}
	// Only the current context is kept, so nothing else in the file is ever used.
	minimal := clientcmdapi.NewConfig()
	minimal.CurrentContext = cfg.CurrentContext
	minimal.Contexts[cfg.CurrentContext] = kctx
	minimal.Clusters[kctx.Cluster] = cluster
	minimal.AuthInfos[kctx.AuthInfo] = user
	rc, err := clientcmd.NewDefaultClientConfig(*minimal, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, info, invalid("the kubeconfig's current context is incomplete")
	}
	return rc, info, nil
}

// authMethod names the inline credential of user and refuses anything that would make
// Shepherd run a program or read a local file.
func authMethod(name string, user *clientcmdapi.AuthInfo) (string, error) {
	refuse := func(what string) error {
		return kube.NewPermanent(kube.CodeValidationFailed,
			fmt.Sprintf("user %q uses %s; use a service-account token or an inline client certificate", name, what))
	}
	switch {
	case user.Exec != nil:
		return "", refuse("an exec credential plugin")
	case user.AuthProvider != nil:
		return "", refuse("an auth-provider plugin")
	case user.TokenFile != "" || user.ClientCertificate != "" || user.ClientKey != "":
		return "", refuse("credential files")
	case user.Impersonate != "" || len(user.ImpersonateGroups) > 0:
		return "", refuse("impersonation")
	case user.Token != "":
		return "token", nil
	case len(user.ClientCertificateData) > 0 && len(user.ClientKeyData) > 0:
		return "client certificate", nil
	case user.Username != "" && user.Password != "":
		return "basic", nil
	}
	return "", kube.NewPermanent(kube.CodeValidationFailed,
		fmt.Sprintf("user %q carries no credentials (no token, client certificate or password)", name))
}

// Probe is the "test connection" of cluster onboarding: it validates kubeconfig,
// reaches the API server within timeout, checks that KubeVirt is served and the
// credentials may list VirtualMachines, and detects the capabilities.
func Probe(ctx context.Context, kubeconfig []byte, timeout time.Duration) (KubeconfigInfo, kube.Capabilities, error) {
	rc, info, err := ParseKubeconfig(kubeconfig)
	if err != nil {
		return info, kube.Capabilities{}, err
	}
	rc.Timeout = timeout // one-shot client: bound dialling and TLS too
	p, err := NewFromREST(info.Cluster, rc, Options{Timeout: timeout, BreakerFailures: 1 << 30})
	if err != nil {
		return info, kube.Capabilities{}, err
	}
	if err := p.Health(ctx); err != nil {
		return info, kube.Capabilities{}, err
	}
	caps, err := p.Capabilities(ctx)
	return info, caps, err
}
