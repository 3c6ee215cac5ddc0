//go:build tools

// Package kubetest pins the Kubernetes binaries that Shepherd's test cluster runs: kube-apiserver
// and kubectl from k8s.io/kubernetes. They need k8s.io/* v0.37, which the main module cannot
// take (kubevirt.io/client-go pins v0.34), so they build here, in a module of their own.
package kubetest

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
