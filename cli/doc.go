package cli

import (
	"fmt"
	"strings"
)

// docRow is one row of the config reference (configdoc.go): the key cell
// as README.md shows it ("`a.b`, `.c`" names a.b and a.c; "`a.*`" every key
// under a), the default as shown, and the meaning.
type docRow struct {
	Keys, Default, Meaning string
}

// keys lists the key patterns of a row's key cell.
func (r docRow) keys() []string {
	var out []string
	prefix := ""
	for _, cell := range strings.Split(r.Keys, ", ") {
		k := strings.Trim(cell, "`")
		if strings.HasPrefix(k, ".") {
			k = prefix + k
		} else if i := strings.LastIndex(k, "."); i >= 0 {
			prefix = k[:i]
		} else {
			prefix = ""
		}
		out = append(out, k)
	}
	return out
}

// matches reports whether key is one of the row's keys.
func (r docRow) matches(key string) bool {
	for _, k := range r.keys() {
		if k == key || (strings.HasSuffix(k, ".*") && strings.HasPrefix(key, strings.TrimSuffix(k, "*"))) {
			return true
		}
	}
	return false
}

// usageOf is the --flag help of a config key: its row's meaning (backticks
// dropped: pflag would read a backquoted word as the value's name) and the
// key it sets.
func usageOf(key string) string {
	for _, r := range configDoc() {
		if r.matches(key) {
			keys := strings.ReplaceAll(r.Keys, "`", "")
			if keys == key {
				return fmt.Sprintf("%s [config key %s]", strings.ReplaceAll(r.Meaning, "`", ""), key)
			}
			// A row that documents several keys together says so: its
			// text is about the group (keys: default values in order).
			return fmt.Sprintf("keys %s (defaults %s): %s [config key %s]", keys, r.Default, strings.ReplaceAll(r.Meaning, "`", ""), key)
		}
	}
	return "config key " + key
}

// configTable renders the config reference as README.md's table.
func configTable() string {
	var b strings.Builder
	b.WriteString("| key | default | meaning |\n|---|---|---|\n")
	for _, r := range configDoc() {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.Keys, r.Default, r.Meaning)
	}
	return b.String()
}
