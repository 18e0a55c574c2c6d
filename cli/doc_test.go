package cli

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEConfigTable: README.md's config reference is configDoc
// rendered, so the flags' help and the README cannot drift.
func TestREADMEConfigTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	want := configTable()
	if !strings.Contains(readme, "## Config reference\n\n"+want) {
		start := strings.Index(readme, "## Config reference")
		t.Errorf("README.md's config table differs from configDoc; it should read:\n%s\nREADME has:\n%s", want, readme[start:min(len(readme), start+len(want)+40)])
	}
}

// TestConfigDocCoversKeys: every config key has a row (so every flag has
// a meaning) and every key a row names exists.
func TestConfigDocCoversKeys(t *testing.T) {
	keys, err := defaultKeys()
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		if strings.HasPrefix(usageOf(k), "config key ") {
			t.Errorf("config key %s has no row in configDoc", k)
		}
	}
	for _, r := range configDoc() {
		for _, k := range r.keys() {
			if _, ok := keys[k]; !ok && !strings.HasSuffix(k, ".*") {
				t.Errorf("configDoc row %q names %s, which is not a config key", r.Keys, k)
			}
		}
	}
	if u := usageOf("model.layers"); !strings.Contains(u, "override the preset") || !strings.Contains(u, "model.layers") || strings.Contains(u, "`") {
		t.Errorf("usage of model.layers: %q", u)
	}
}

// TestUsageOfGroupedKeys: a flag documented in a row of several keys says
// which keys the row's text is about; a row of one key is its text alone.
func TestUsageOfGroupedKeys(t *testing.T) {
	for _, tc := range []struct {
		key, want string
		group     bool
	}{
		{"compare.seeds", "keys compare.tasks, compare.seeds, compare.methods (defaults", true},
		{"compare.tune_seed", "keys compare.lr_sweep, compare.tune_seed", true},
		{"seed", "the one seed [config key seed]", false},
	} {
		u := usageOf(tc.key)
		if !strings.Contains(u, tc.want) || strings.HasPrefix(u, "keys ") != tc.group {
			t.Errorf("usageOf(%q) = %q, want it to contain %q (group %v)", tc.key, u, tc.want, tc.group)
		}
	}
}
