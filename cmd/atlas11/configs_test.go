package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The shipped alert rules must load in Prometheus and name only metrics the
// binary really exports, or they would silently never fire.
func TestConfigs_AlertRulesValidAndBackedByRealMetrics(t *testing.T) {
	const rules = "../../configs/prometheus/atlas11-alerts.yml"
	if out, err := exec.Command("promtool", "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	base := startServer(t)
	get(t, base+"/api/v1/me") // one API request so the HTTP series exist
	_, scrape := get(t, adminOf(t, base)+"/metrics")
	text, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`atlas11_[a-z_]+`).FindAllString(string(text), -1) {
		name = strings.TrimSuffix(name, "_bucket")
		if !strings.Contains(scrape, "# TYPE "+name+" ") {
			t.Errorf("alert rules use %s, which /metrics does not export", name)
		}
	}
}

// The shipped Prometheus config loads and scrapes the admin listener at its
// default address.
func TestConfigs_PrometheusScrapesTheAdminListener(t *testing.T) {
	const file = "../../configs/prometheus/prometheus.yml"
	if out, err := exec.Command("promtool", "check", "config", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), `"`+DefaultConfig().AdminAddr+`"`) {
		t.Fatalf("prometheus.yml does not target the default admin_addr %s", DefaultConfig().AdminAddr)
	}
}
