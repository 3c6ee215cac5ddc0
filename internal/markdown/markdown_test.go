package markdown

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRender(t *testing.T) {
	out := Render("# Shop\n\nThe **web shop**. [docs](https://example.com)\n\n| a | b |\n|---|---|\n| 1 | 2 |")
	for _, want := range []string{"<h1", "<strong>web shop</strong>", `href="https://example.com"`, `rel="nofollow`, "<table>"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %s", want, out)
		}
	}
}

// A source cut at MaxSource loses the character that straddles the limit, not half of it.
func TestRenderCutsLongSourceAtACharacter(t *testing.T) {
	src := strings.Repeat("a", MaxSource-1) + "é and more"
	out := Render(src)
	if !utf8.ValidString(out) || strings.Contains(out, "é") || !strings.Contains(out, strings.Repeat("a", MaxSource-1)) {
		t.Fatalf("cut source: valid=%v, tail %q", utf8.ValidString(out), out[max(len(out)-20, 0):])
	}
	if out := Excerpt("caf\xc3 \xff", 10); !utf8.ValidString(out) {
		t.Fatalf("invalid UTF-8 in an excerpt: %q", out)
	}
}

func TestRenderRemovesScript(t *testing.T) {
	for _, src := range []string{
		"<script>alert(1)</script>",
		"[x](javascript:alert(1))",
		"<img src=x onerror=alert(1)>",
		"<a href=\"javascript:alert(1)\">x</a>",
		"<iframe src=//evil></iframe>",
		"![x](data:text/html;base64,PHNjcmlwdD4=)",
	} {
		out := strings.ToLower(Render(src))
		if unsafe(out) {
			t.Errorf("%q rendered unsafe HTML: %s", src, out)
		}
	}
}

// Dangerous constructs inside tags: event handlers and script URLs in attributes.
var (
	eventAttr = regexp.MustCompile(`<[^>]*\son[a-z]+\s*=`)
	scriptURL = regexp.MustCompile(`<[^>]*=\s*["']?\s*(javascript|vbscript|data):`)
)

func unsafe(html string) bool {
	html = strings.ToLower(html)
	return strings.Contains(html, "<script") || strings.Contains(html, "<iframe") || strings.Contains(html, "<object") ||
		strings.Contains(html, "<embed") || eventAttr.MatchString(html) || scriptURL.MatchString(html)
}

func TestExcerpt(t *testing.T) {
	if got := Excerpt("**Bold** start\nsecond line", 50); got != "Bold start" {
		t.Fatalf("%q", got)
	}
	if got := Excerpt(strings.Repeat("a", 100), 10); got != "aaaaaaaaaa…" {
		t.Fatalf("%q", got)
	}
}

// FuzzRender: whatever users write, no script, event handler or javascript: URL survives.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"<script>x</script>", "[a](javascript:b)", "<svg onload=x>", "`<b>`", "<<script>script>", "<a href=\"jav&#x09;ascript:x\">"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if out := Render(src); unsafe(out) {
			t.Fatalf("unsafe output for %q: %s", src, out)
		}
	})
}
