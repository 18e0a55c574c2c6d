package train

import (
	"fmt"
	"sort"
	"strings"
)

// methodOverrides maps a comparison method name to the config changes that
// select it (algo, SIRL variant).
func methodOverrides(name string) (func(*Config), bool) {
	m := map[string]func(*Config){
		"grpo":    func(c *Config) { c.RL.Algo = "grpo" },
		"dapo":    func(c *Config) { c.RL.Algo = "dapo"; c.RL.EpsilonHigh = 0.28 },
		"dr_grpo": func(c *Config) { c.RL.Algo = "dr_grpo" },
		"gspo":    func(c *Config) { c.RL.Algo = "gspo" },
		"vineppo": func(c *Config) { c.RL.Algo = "vineppo" },
		"sirl-repair": func(c *Config) {
			c.RL.Algo, c.SIRL.Identify, c.RL.EpsilonHigh = "sirl", "repair", 0.28
		},
		"sirl-mc": func(c *Config) {
			c.RL.Algo, c.SIRL.Identify, c.SIRL.AdvScale, c.RL.EpsilonHigh = "sirl", "mc", "mc", 0.28
		},
		"sirl-sibling": func(c *Config) {
			c.RL.Algo, c.SIRL.Identify, c.RL.EpsilonHigh = "sirl", "sibling", 0.28
		},
	}
	f, ok := m[name]
	return f, ok
}

// MethodNames lists the methods `train compare` knows.
func MethodNames() []string {
	names := []string{"grpo", "dapo", "dr_grpo", "gspo", "vineppo", "sirl-repair", "sirl-mc", "sirl-sibling"}
	sort.Strings(names)
	return names
}

// ApplyMethod sets the config keys that select a comparison method.
func ApplyMethod(c *Config, name string) error {
	f, ok := methodOverrides(name)
	if !ok {
		return fmt.Errorf("unknown method %q (known: %s)", name, strings.Join(MethodNames(), ", "))
	}
	f(c)
	return nil
}
