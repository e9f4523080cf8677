// Package web holds the browser app. Everything it loads is embedded in the
// binary so the platform works on a network with no internet access.
package web

import (
	"embed"
	"io/fs"
	"net/http"
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

// Handler serves the embedded app.
func Handler() http.Handler {
	return http.FileServer(http.FS(FS()))
}
