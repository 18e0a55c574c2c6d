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
		// Ablations of METHOD.md §4.1: the repair mode frozen after the cold
		// start (λ_rep = 0), and a GRPO signal for the failures that are not
		// repaired and for all-fail groups (fallback grpo).
		"sirl-repair-frozen": func(c *Config) {
			c.RL.Algo, c.SIRL.Identify, c.RL.EpsilonHigh, c.SIRL.LambdaRep = "sirl", "repair", 0.28, 0
		},
		"sirl-repair-fallback": func(c *Config) {
			c.RL.Algo, c.SIRL.Identify, c.RL.EpsilonHigh, c.SIRL.Fallback = "sirl", "repair", 0.28, "grpo"
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
	names := []string{"grpo", "dapo", "dr_grpo", "gspo", "vineppo", "sirl-repair", "sirl-repair-frozen", "sirl-repair-fallback", "sirl-mc", "sirl-sibling"}
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
