// Package web holds the browser app. Everything it loads is embedded in the
// binary so the platform works on a network with no internet access.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:static
var static embed.FS

// FS returns the app's files rooted at the static directory.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// Cannot happen: the directory is embedded at build time.
		panic(err)
	}
	return sub
}

// Handler serves the embedded app. An expert's shareable link is a plain
// path (/e/<slug>, ACC-2): the app's index answers it and routes in the page.
func Handler() http.Handler {
	files := http.FileServer(http.FS(FS()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/e/") && !strings.Contains(r.URL.Path[3:], "/") {
			http.ServeFileFS(w, r, FS(), "index.html")
			return
		}
		files.ServeHTTP(w, r)
	})
}
