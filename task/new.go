package task

import (
	"fmt"
	"strings"

	"github.com/sirl-dev/sirl/tokenizer"
)

// Options configures the task New builds. Fields a task does not use are
// ignored.
type Options struct {
	// Mod is T1's modulus (0: DefaultMod).
	Mod int `mapstructure:"mod" json:"mod" yaml:"mod"`
	// Train, Test and Hard are the data files of the "jsonl" task (Train
	// required; Test and Hard optional, see NewSplits) and of the "math"
	// task (Train and/or Test; Hard is ignored: real data has no hard set).
	Train string `mapstructure:"train" json:"train" yaml:"train"`
	Test  string `mapstructure:"test" json:"test" yaml:"test"`
	Hard  string `mapstructure:"hard" json:"hard" yaml:"hard"`
	// PromptKey, AnswerKey, PromptSuffix and MaxRows are the math task's
	// MathConfig fields of the same names.
	PromptKey    string `mapstructure:"prompt_key" json:"prompt_key" yaml:"prompt_key"`
	AnswerKey    string `mapstructure:"answer_key" json:"answer_key" yaml:"answer_key"`
	PromptSuffix string `mapstructure:"prompt_suffix" json:"prompt_suffix" yaml:"prompt_suffix"`
	MaxRows      int    `mapstructure:"max_rows" json:"max_rows" yaml:"max_rows"`
	// StepCheck is the jsonl task's user-declared checks: "" (none) or a
	// comma-separated list of "arith" and "form" (see ParseStepCheck); t1
	// takes "arith" (arithmetic modulo its modulus).
	StepCheck string `mapstructure:"step_check" json:"step_check" yaml:"step_check"`
	// Template renders the math task's prompts (nil: the plain template).
	Template *tokenizer.ChatTemplate `mapstructure:"-" json:"-" yaml:"-"`
}

// Names lists the task names New accepts.
func Names() []string { return []string{"t1", "t2", "t4", "t7", "jsonl", "math"} }

// New builds the task called name ("t1", "t2", "t4", "t7", "jsonl" or
// "math").
//
// For "math", a row whose answer column holds only the final answer (no
// worked solution) gets the Solution `\boxed{answer}`, so that supervised
// fine-tuning has a target in the format the verifier reads.
func New(name string, opts Options) (Task, error) {
	switch name {
	case "t1":
		t, err := NewT1(opts.Mod)
		if err != nil {
			return nil, err
		}
		if err := t.SetStepCheck(opts.StepCheck); err != nil {
			return nil, err
		}
		return t, nil
	case "t2":
		return NewT2(), nil
	case "t4":
		return NewT4(), nil
	case "t7":
		return NewT7(), nil
	case "jsonl":
		j, err := NewJSONL(opts.Train, opts.Test, opts.Hard)
		if err != nil {
			return nil, err
		}
		if err := j.SetStepCheck(opts.StepCheck); err != nil {
			return nil, err
		}
		return j, nil
	case "math":
		m, err := LoadMath(MathConfig{TrainPath: opts.Train, TestPath: opts.Test, PromptKey: opts.PromptKey,
			AnswerKey: opts.AnswerKey, PromptSuffix: opts.PromptSuffix, MaxRows: opts.MaxRows, Template: opts.Template})
		if err != nil {
			return nil, err
		}
		for _, ps := range [][]Problem{m.train, m.test} {
			for i := range ps {
				if ps[i].Solution == "" {
					ps[i].Solution = `\boxed{` + ps[i].Answer + `}`
				}
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown task %q (known: %s)", name, strings.Join(Names(), ", "))
}
