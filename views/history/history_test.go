package history

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	cases := []struct {
		action  string
		details map[string]any
		want    string
	}{
		{"role.assign", map[string]any{"user": "bob", "role": "admin", "scope": "system:shop"}, "bob as admin"},
		{"role.update", map[string]any{"user": "alice", "old_role": "member", "new_role": "viewer"}, "alice: member → viewer"},
		{"system.transfer_ownership", map[string]any{"from": []any{"dana"}, "to": "alice"}, "dana → alice"},
		{"system.update", map[string]any{"field": "description", "old": "a\nb", "new": "c"}, "description: “a b” → “c”"},
		{"system.create", map[string]any{"name": "shop", "token": "[REDACTED]", "n": float64(3)}, "n: 3 · name: shop"},
		{"vnc.request", map[string]any{"duration": "1 hour", "reason": "kernel panic", "minutes": float64(60)}, "for 1 hour: kernel panic"},
		{"vnc.grant", map[string]any{"user": "dana", "duration": "30 minutes", "expires_at": "2026-11-30T13:35:00Z"}, "dana, 30 minutes until 13:35 UTC"},
		{"approval.auto_approve", map[string]any{"policy": "small-dev", "policy_version": float64(3), "vm": "dev-shop-web-01", "cluster": "sim-a"},
			"Approved automatically by policy small-dev (v3): dev-shop-web-01 on sim-a"},
	}
	for _, c := range cases {
		if got := Summary(c.action, c.details); got != c.want {
			t.Errorf("%s: got %q, want %q", c.action, got, c.want)
		}
	}
	long := Summary("x", map[string]any{"description": strings.Repeat("é", 100)})
	if n := len([]rune(long)); n > len("description: ")+61 {
		t.Errorf("long value not shortened: %d runes", n)
	}
}

func TestLabel(t *testing.T) {
	if Label("system.create") != "System created" || Label("cluster.credential_rotate") != "Cluster credential rotate" {
		t.Fatal(Label("cluster.credential_rotate"))
	}
}
