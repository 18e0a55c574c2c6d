package task

import (
	"fmt"
	"strings"
)

// Options configures the task New builds. Fields a task does not use are
// ignored.
type Options struct {
	// Mod is T1's modulus (0: DefaultMod).
	Mod int `mapstructure:"mod" json:"mod" yaml:"mod"`
	// Train, Test and Hard are the JSONL files of the "jsonl" task. Train is
	// required; Test and Hard are optional (see NewSplits).
	Train string `mapstructure:"train" json:"train" yaml:"train"`
	Test  string `mapstructure:"test" json:"test" yaml:"test"`
	Hard  string `mapstructure:"hard" json:"hard" yaml:"hard"`
}

// Names lists the task names New accepts.
func Names() []string { return []string{"t1", "t2", "t4", "t7", "jsonl"} }

// New builds the task called name ("t1", "t2", "t4", "t7" or "jsonl").
func New(name string, opts Options) (Task, error) {
	switch name {
	case "t1":
		return NewT1(opts.Mod)
	case "t2":
		return NewT2(), nil
	case "t4":
		return NewT4(), nil
	case "t7":
		return NewT7(), nil
	case "jsonl":
		return NewJSONL(opts.Train, opts.Test, opts.Hard)
	}
	return nil, fmt.Errorf("unknown task %q (known: %s)", name, strings.Join(Names(), ", "))
}
