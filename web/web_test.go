package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// ACC-2: an expert's shareable link is a plain path that opens the app.
func TestHandler_ACC2_ShareableProfileLinkServesTheApp(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, tc := range []struct {
		path string
		code int
		app  bool
	}{
		{"/e/marie-curie-x7k2", 200, true},
		{"/", 200, true},
		{"/e/a/b", 404, false},
		{"/no-such-file.js", 404, false},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || strings.Contains(string(body), "<title>Atlas11</title>") != tc.app {
			t.Errorf("%s: %d, app page %v", tc.path, resp.StatusCode, strings.Contains(string(body), "<title>Atlas11</title>"))
		}
	}
}
