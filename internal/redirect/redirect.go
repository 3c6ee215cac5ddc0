// Package redirect validates where the portal may send a browser after sign-in.
package redirect

import (
	"net/url"
	"strings"
)

// LocalPath returns next when it is a path on this site, and "/" otherwise, so a crafted
// ?next= can never send a signed-in user to another site.
func LocalPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
