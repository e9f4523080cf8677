package main

import (
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages pkg imports, directly or not, with whether each is
// in the standard library.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		m[path] = std == "true"
	}
	return m
}

// The package boundaries of STYLE.md: the domain stays plain Go so storage,
// transport and media can change around it, and the media server reaches the
// control plane only through interfaces it declares.
func TestDeps_PackageBoundaries(t *testing.T) {
	for path, std := range deps(t, "atlas11/control") {
		if !std && path != "atlas11/control" {
			t.Errorf("control imports %s: the domain must use the standard library only", path)
		}
	}
	for _, pkg := range []string{"atlas11/sfu", "atlas11/turn", "atlas11/web"} {
		for path := range deps(t, pkg) {
			if path == "atlas11/control" || strings.HasPrefix(path, "atlas11/control/") {
				t.Errorf("%s imports %s: only cmd/atlas11 wires packages together", pkg, path)
			}
		}
	}
	for path := range deps(t, "atlas11/control/bolt") {
		if strings.HasPrefix(path, "github.com/gin-gonic") || strings.HasPrefix(path, "github.com/pion") {
			t.Errorf("control/bolt imports %s", path)
		}
	}
}
