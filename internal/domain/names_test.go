package domain

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	cases := []struct {
		name, code string
		warn       bool
	}{
		{"shop", "", false},
		{"a", "", false},
		{"web-shop-2", "", false},
		{"abcdefghijklm", "", true}, // 13: warning
		{"abcdefghijklmno", "", true},
		{"abcdefghijklmnop", CodeNameTooLong, false},
		{"", CodeNameInvalid, false},
		{"Shop", CodeNameInvalid, false},
		{"1shop", CodeNameInvalid, false},
		{"-shop", CodeNameInvalid, false},
		{"shop-", CodeNameInvalid, false},
		{"sh--op", CodeNameInvalid, false},
		{"sh_op", CodeNameInvalid, false},
		{"shöp", CodeNameInvalid, false},
		{"default", CodeNameInvalid, false},
		{"kube-sys", CodeNameInvalid, false},
	}
	for _, c := range cases {
		got := CheckName("System", c.name)
		if got.Code != c.code || (got.Warning != "") != c.warn {
			t.Errorf("CheckName(%q) = %+v, want code %q warn %v", c.name, got, c.code, c.warn)
		}
		if !got.OK() && got.Message == "" {
			t.Errorf("CheckName(%q): refusal without a message", c.name)
		}
	}
	if got := CheckName("System", "My_Very_Long_Shop_Name"); !strings.Contains(got.Message, `"myverylongshopn"`) {
		t.Errorf("suggestion: %s", got.Message)
	}
}

func TestVMName(t *testing.T) {
	if got := VMName("dev", "shop", "redis", 1); got != "dev-shop-redis-01" {
		t.Fatal(got)
	}
	if got := VMName("abcdefghijklmno", "abcdefghijklmno", "abcdefghijklmno", 99); len(got) != 50 {
		t.Fatalf("max VM name length %d", len(got))
	}
	parts, ok := CheckVMNameParts("ns", "averyveryverylongsystem", "svc")
	if ok || !parts[1].Exceeds || parts[1].Length != 23 {
		t.Fatalf("breakdown: %+v", parts)
	}
}

// FuzzCheckName: an accepted name is always a valid DNS label part of at most 15 characters.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"shop", "a-b", "--", "kube-x", "ÄÖ", "a\x00b", strings.Repeat("a", 16)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c := CheckName("System", name)
		if !c.OK() {
			if c.Message == "" {
				t.Fatalf("refused %q without a message", name)
			}
			if c.Code == CodeNameTooLong {
				if s := suggest(name); CheckName("System", s).Code == CodeNameTooLong {
					t.Fatalf("suggestion %q for %q is too long", s, name)
				}
			}
			return
		}
		if len(name) > NameMaxLength || !namePattern.MatchString(name) || strings.Contains(name, "--") {
			t.Fatalf("accepted invalid name %q", name)
		}
	})
}
