package views

import "testing"

func TestFailureTextSaysCodesInWords(t *testing.T) {
	for in, want := range map[string]string{
		"VALIDATION_FAILED: injected: the cluster refused the VM":                "Invalid input: injected: the cluster refused the VM",
		"create failed: NAMESPACE_QUOTA_EXCEEDED: exceeded quota: compute-quota": "create failed: Namespace quota exceeded: exceeded quota: compute-quota",
		"the node went away": "the node went away",
		"":                   "",
	} {
		if got := FailureText(in); got != want {
			t.Errorf("FailureText(%q) = %q, want %q", in, got, want)
		}
	}
}
