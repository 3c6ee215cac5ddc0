package textutil_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"kv-shepherd.io/shepherd/internal/textutil"
)

func TestTruncate(t *testing.T) {
	cases := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short ASCII unchanged", "alice", 255, "alice"},
		{"ASCII cut", "abcdef", 3, "abc"},
		{"exact fit", "abc", 3, "abc"},
		{"empty", "", 10, ""},
		{"zero max", "abc", 0, ""},
		{"negative max", "abc", -1, ""},
		{"2-byte char fits whole", "aé", 3, "aé"},
		{"2-byte char split is left out", "aé", 2, "a"},
		{"3-byte char split after 1 byte", "a€b", 2, "a"},
		{"3-byte char split after 2 bytes", "a€b", 3, "a"},
		{"3-byte char fits", "a€b", 4, "a€"},
		{"4-byte emoji split after 1..3 bytes", "x😀", 4, "x"},
		{"4-byte emoji fits", "x😀y", 5, "x😀"},
		{"only an emoji, too small", "😀", 3, ""},
		{"255 bytes of é plus emoji", strings.Repeat("é", 150) + "😀", 255, strings.Repeat("é", 127)},
		{"256 bytes cut to 255", strings.Repeat("é", 128), 255, strings.Repeat("é", 127)},
		{"invalid byte replaced", "a\xffb", 10, "a\uFFFDb"},
		{"invalid run replaced once", "a\xff\xfeb", 10, "a\uFFFDb"},
		{"truncated sequence at end replaced", "ab\xe2\x82", 10, "ab\uFFFD"},
		{"replacement not split", "a\xff", 2, "a"},
		{"invalid input, cut", "\xff\xffabc", 4, "\uFFFDa"},
	}
	for _, tc := range cases {
		got := textutil.Truncate(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("%s: Truncate(%q, %d) = %q, want %q", tc.name, tc.in, tc.max, got, tc.want)
		}
		if !utf8.ValidString(got) || len(got) > max(tc.max, 0) {
			t.Errorf("%s: %q is not valid UTF-8 within %d bytes", tc.name, got, tc.max)
		}
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("é😀€a\xff", 5)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := textutil.Truncate(s, n)
		if !utf8.ValidString(got) || len(got) > max(n, 0) {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !strings.HasPrefix(s, got) {
			t.Fatalf("Truncate(%q, %d) = %q is not a prefix", s, n, got)
		}
		if utf8.ValidString(s) && len(s) <= n && got != s {
			t.Fatalf("Truncate(%q, %d) = %q changed text that fits", s, n, got)
		}
	})
}
