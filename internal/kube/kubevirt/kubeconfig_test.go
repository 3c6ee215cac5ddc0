package kubevirt_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"kv-shepherd.io/shepherd/internal/kube"
	"kv-shepherd.io/shepherd/internal/kube/kubevirt"
)

// kubeconfigFor builds a kubeconfig with one context; user is the YAML body of the user.
func kubeconfigFor(server, user string) []byte {
	return []byte(`apiVersion: v1
kind: Config
current-context: ctx
clusters:
- name: c1
  cluster:
    server: ` + server + `
    insecure-skip-tls-verify: true
contexts:
- name: ctx
  context:
    cluster: c1
    user: u1
users:
- name: u1
  user:
` + user)
}

const secretToken = "s3cr3t-token-never-shown"

func TestParseKubeconfig(t *testing.T) {
	t.Parallel()
	good := kubeconfigFor("https://10.0.0.1:6443", "    token: "+secretToken+"\n")
	rc, info, err := kubevirt.ParseKubeconfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if info.Server != "https://10.0.0.1:6443" || info.Context != "ctx" || info.Cluster != "c1" || info.User != "u1" ||
		info.AuthMethod != "token" || rc.BearerToken != secretToken {
		t.Errorf("info = %+v, host %s", info, rc.Host)
	}

	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":            {nil, "empty"},
		"not yaml":         {[]byte("{{{ " + secretToken), "not a kubeconfig"},
		"no context":       {[]byte("apiVersion: v1\nkind: Config\nclusters: []\n"), "no current-context"},
		"missing context":  {[]byte("apiVersion: v1\nkind: Config\ncurrent-context: nope\n"), `"nope" is not defined`},
		"no server":        {kubeconfigFor(`""`, "    token: x\n"), "no valid server URL"},
		"ftp server":       {kubeconfigFor("ftp://x", "    token: x\n"), "no valid server URL"},
		"exec plugin":      {kubeconfigFor("https://h:6443", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n"), "exec credential plugin"},
		"token file":       {kubeconfigFor("https://h:6443", "    tokenFile: /etc/passwd\n"), "credential files"},
		"client cert file": {kubeconfigFor("https://h:6443", "    client-certificate: /a\n    client-key: /b\n"), "credential files"},
		"no credentials":   {kubeconfigFor("https://h:6443", "    {}\n"), "carries no credentials"},
		"too large":        {append(good, make([]byte, kubevirt.MaxKubeconfigBytes)...), "larger than"},
	} {
		_, _, err := kubevirt.ParseKubeconfig(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
			continue
		}
		if !kube.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
		if strings.Contains(err.Error(), secretToken) {
			t.Errorf("%s: the error quotes the kubeconfig: %v", name, err)
		}
	}
}

// An API server that does not answer is a retryable error within the timeout, not a hang.
func TestProbeUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	start := time.Now()
	_, _, err = kubevirt.Probe(context.Background(), kubeconfigFor("https://"+addr, "    token: "+secretToken+"\n"), 3*time.Second)
	if !kube.IsRetryable(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("probe took %s", time.Since(start))
	}
	if strings.Contains(err.Error(), secretToken) {
		t.Errorf("the error quotes the token: %v", err)
	}
}
