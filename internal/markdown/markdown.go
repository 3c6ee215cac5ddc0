// Package markdown renders user-written descriptions (Systems, Services) to safe HTML:
// CommonMark + GitHub tables via goldmark, then a strict allow-list via bluemonday.
package markdown

import (
	"bytes"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"kv-shepherd.io/shepherd/internal/textutil"
)

// MaxSource bounds what is rendered (descriptions are short texts, not documents).
const MaxSource = 20000

var (
	md     = goldmark.New(goldmark.WithExtensions(extension.GFM))
	policy = func() *bluemonday.Policy {
		p := bluemonday.UGCPolicy()
		p.RequireNoFollowOnLinks(true)
		p.AddTargetBlankToFullyQualifiedLinks(true)
		p.AllowURLSchemes("http", "https", "mailto")
		return p
	}()
)

// Render turns Markdown into sanitized HTML. Raw HTML in the source is escaped by
// goldmark and anything that slips through is removed by the sanitizer.
func Render(src string) string {
	src = textutil.Truncate(src, MaxSource) // whole characters only
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		return policy.Sanitize(src)
	}
	return policy.Sanitize(buf.String())
}

// Excerpt is the first line of plain text, for lists.
func Excerpt(src string, max int) string {
	plain := bluemonday.StrictPolicy().Sanitize(Render(src))
	for i, r := range plain {
		if r == '\n' {
			plain = plain[:i]
			break
		}
	}
	if len([]rune(plain)) > max {
		plain = string([]rune(plain)[:max]) + "…"
	}
	return plain
}
