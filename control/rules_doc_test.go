package control_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRuleIDsAreDocumented keeps docs/rules.md and the code in step: every
// rule ID that a source file cites must be defined there, so a reader of a
// clone can always look a citation up.
func TestRuleIDsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`\*\*([A-Z]+-[0-9]+)\*\*`).FindAllStringSubmatch(string(doc), -1) {
		if defined[m[1]] {
			t.Errorf("docs/rules.md defines %s twice", m[1])
		}
		defined[m[1]] = true
	}
	if len(defined) < 40 {
		t.Fatalf("docs/rules.md defines only %d rules", len(defined))
	}
	cite := regexp.MustCompile(`\b(ACC|EVT|APT|CLM|PAY|CALL|TIME|LANG|NOTE)-[0-9]+\b`)
	cited := 0
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name != ".." && strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".js", ".html", ".yaml", ".yml", ".json":
		default:
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, id := range cite.FindAllString(string(src), -1) {
			cited++
			if !defined[id] {
				t.Errorf("%s cites %s, which docs/rules.md does not define", path, id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cited == 0 {
		t.Fatal("no rule citation found in the code: the walk is broken")
	}
}
