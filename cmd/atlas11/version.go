package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version is the release name, set at build time:
//
//	go build -ldflags "-X main.version=v1.2.0" ./cmd/atlas11
//
// Without it, the module version Go recorded (a tag or a pseudo-version
// from the VCS), else "devel".
var version = ""

// revision is the VCS revision, settable the same way (-X main.revision=…)
// when the build records no VCS information (-buildvcs=false, a tarball).
var revision = ""

// buildInfo says what this binary is.
type buildInfo struct {
	Version, Revision, GoVersion string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Revision: revision, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		vcs, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcs = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if b.Revision == "" && vcs != "" {
			b.Revision = vcs
			if dirty {
				b.Revision += "-dirty"
			}
		}
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

func versionCmd(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{"usage: atlas11 version"}
	}
	b := readBuildInfo()
	fmt.Fprintf(stdout, "atlas11 %s (revision %s, %s)\n", b.Version, b.Revision, b.GoVersion)
	return nil
}

// registerBuildInfo exports atlas11_build_info{version,revision,go_version} 1,
// so dashboards and alerts can tell which build each node runs.
func registerBuildInfo(reg prometheus.Registerer) {
	b := readBuildInfo()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "atlas11_build_info",
		Help: "The running build: version, VCS revision and Go version (always 1).",
	}, []string{"version", "revision", "go_version"})
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	reg.MustRegister(g)
}
