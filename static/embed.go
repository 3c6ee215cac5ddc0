// Package static serves Shepherd's own CSS, JS and images, plus the npm-provided
// libraries that `make assets` copies into vendor/ (htmx, Pico CSS).
package static

import (
	"embed"
	"net/http"
)

//go:embed css js img vendor
var files embed.FS

// Handler serves the embedded files with long caching for vendored, versioned assets.
func Handler() http.Handler {
	fs := http.FileServer(http.FS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || r.URL.Path[len(r.URL.Path)-1] == '/' {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fs.ServeHTTP(w, r)
	})
}
