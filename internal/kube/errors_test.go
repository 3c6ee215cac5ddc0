package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestClassify(t *testing.T) {
	vmGR := schema.GroupResource{Group: "kubevirt.io", Resource: "virtualmachines"}
	nsGR := schema.GroupResource{Resource: "namespaces"}
	cases := []struct {
		name string
		err  error
		kind Kind
		code string
	}{
		{"not found", apierrors.NewNotFound(vmGR, "x"), NotFound, CodeResourceNotFound},
		{"forbidden", apierrors.NewForbidden(nsGR, "x", errors.New("no")), Permanent, CodePermissionDenied},
		{"quota", apierrors.NewForbidden(nsGR, "x", errors.New("exceeded quota: compute")), Permanent, CodeQuotaExceeded},
		{"unauthorized", apierrors.NewUnauthorized("bad token"), Permanent, CodePermissionDenied},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Group: "kubevirt.io", Kind: "VirtualMachine"}, "x", nil), Permanent, CodeValidationFailed},
		{"bad request", apierrors.NewBadRequest("nope"), Permanent, CodeValidationFailed},
		{"already exists", apierrors.NewAlreadyExists(vmGR, "x"), Permanent, CodeAlreadyExists},
		{"conflict", apierrors.NewConflict(vmGR, "x", errors.New("rv")), Retryable, CodeConflict},
		{"gone", apierrors.NewGone("too old"), Retryable, CodeResourceExpired},
		{"expired", apierrors.NewResourceExpired("too old"), Retryable, CodeResourceExpired},
		{"429", apierrors.NewTooManyRequests("slow down", 1), Retryable, CodeRateLimited},
		{"timeout", apierrors.NewTimeoutError("slow", 1), Retryable, CodeTimeout},
		{"server timeout", apierrors.NewServerTimeout(vmGR, "get", 1), Retryable, CodeTimeout},
		{"ctx deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), Retryable, CodeTimeout},
		{"503", apierrors.NewServiceUnavailable("down"), Retryable, CodeClusterUnhealthy},
		{"500", apierrors.NewInternalError(errors.New("boom")), Retryable, CodeInternal},
		{"502", apierrors.NewGenericServerResponse(502, "get", vmGR, "x", "", 0, false), Retryable, CodeInternal},
		{"net", &net.OpError{Op: "dial", Err: errors.New("refused")}, Retryable, CodeClusterUnhealthy},
		{"unknown", io.ErrUnexpectedEOF, Retryable, CodeInternal},
		{"typed passthrough", fmt.Errorf("wrap: %w", NewVMNotFound(VMRef{"a", "b"})), NotFound, CodeVMNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(tc.err)
			if got == nil || got.Kind != tc.kind || got.Code != tc.code {
				t.Fatalf("Classify = %+v, want kind %v code %s", got, tc.kind, tc.code)
			}
			if got.Kind == Retryable != IsRetryable(tc.err) || got.Kind == NotFound != IsNotFound(tc.err) {
				t.Fatalf("helpers disagree with Classify for %v", tc.err)
			}
			if tc.name != "typed passthrough" && !errors.Is(got, tc.err) {
				t.Fatalf("cause not preserved")
			}
		})
	}
	if Classify(nil) != nil || IsRetryable(nil) || IsNotFound(nil) {
		t.Fatal("nil must classify as nil")
	}
}

func TestClassifyNamespace(t *testing.T) {
	nsGR := schema.GroupResource{Resource: "namespaces"}
	cases := []struct {
		name string
		err  error
		code string // "" = success
	}{
		{"exists is success", apierrors.NewAlreadyExists(nsGR, "x"), ""},
		{"forbidden", apierrors.NewForbidden(nsGR, "x", errors.New("no")), CodeNamespacePermissionDenied},
		{"quota", apierrors.NewForbidden(nsGR, "x", errors.New("exceeded quota")), CodeNamespaceQuotaExceeded},
		{"invalid name", apierrors.NewInvalid(schema.GroupKind{Kind: "Namespace"}, "X_", nil), CodeNamespaceNameInvalid},
		{"500 stays retryable", apierrors.NewInternalError(errors.New("boom")), CodeInternal},
		{"already typed", NewPermanent(CodeNamespaceQuotaExceeded, "q"), CodeNamespaceQuotaExceeded},
		{"other permanent", apierrors.NewAlreadyExists(schema.GroupResource{Resource: "x"}, "y"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassifyNamespace(tc.err)
			switch {
			case tc.code == "" && got != nil:
				t.Fatalf("got %v, want success", got)
			case tc.code != "" && (got == nil || got.Code != tc.code):
				t.Fatalf("got %+v, want %s", got, tc.code)
			}
		})
	}
}

func TestHintSaysWhatAnAdminCanDo(t *testing.T) {
	for code, want := range map[string]string{
		CodeNamespacePermissionDenied: "kubectl create namespace dev",
		CodeNamespaceQuotaExceeded:    "raise the quota of namespace dev",
		CodeClusterUnhealthy:          "Cluster sync",
		CodeTimeout:                   "did not answer",
		CodeVMNotFound:                "deleted outside Shepherd",
		CodeValidationFailed:          "template and the size",
		"SOMETHING_NEW":               "Admin → Jobs",
	} {
		if h := Hint(code, "dev", "sim-a"); !strings.Contains(h, want) {
			t.Errorf("%s: %q lacks %q", code, h, want)
		}
	}
	if Hint("", "dev", "sim-a") != "" {
		t.Error("no failure, no hint")
	}
}
