package redirect

import (
	"net/url"
	"strings"
	"testing"
)

func TestLocalPath(t *testing.T) {
	cases := map[string]string{
		"":                     "/",
		"/me/permissions":      "/me/permissions",
		"/a?b=c":               "/a?b=c",
		"https://evil.example": "/",
		"//evil.example/x":     "/",
		"/\\evil.example":      "/",
		"javascript:alert(1)":  "/",
		"relative/path":        "/",
	}
	for in, want := range cases {
		if got := LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzLocalPath: whatever comes in, the redirect target stays on this site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\\x", "https://x", "/a/../b", "/%2F%2Fx", "\t//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := LocalPath(in)
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.HasPrefix(out, "/\\") {
			t.Fatalf("LocalPath(%q) = %q leaves the site", in, out)
		}
		u, err := url.Parse(out)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("LocalPath(%q) = %q parses with a host", in, out)
		}
	})
}
