package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/bench"
	"github.com/sirl-dev/sirl/gpu"
)

// TestBenchE2ECPU runs `train bench e2e --device cpu` at tiny shapes through
// the command and reads its JSON report.
func TestBenchE2ECPU(t *testing.T) {
	cmd := NewRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs([]string{"bench", "e2e", "--device", "cpu", "--json", "--parts", "train,generate",
		"--preset", "tiny", "--vocab", "40", "--batch", "2", "--seq", "16", "--steps", "1",
		"--prompts", "3", "--prompt-len", "4", "--new-tokens", "6"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var rep bench.E2EReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, out.String())
	}
	if rep.Engine != "cpu" || rep.Train == nil || rep.Train.Batch != 2 || rep.Train.Seq != 16 || rep.Train.Model.Vocab != 40 {
		t.Errorf("train part %+v on %q", rep.Train, rep.Engine)
	}
	if rep.Generate == nil || rep.Generate.Decoded != 3*6 || rep.RL != nil {
		t.Errorf("generate part %+v, rl part run: %v", rep.Generate, rep.RL != nil)
	}
}

// TestBenchErrors: the GPU suites without a GPU engine, and bad arguments,
// are one clear error each.
func TestBenchErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "gpu"}, `unknown suite "gpu"`},
		{[]string{"bench", "e2e", "--device", "tpu"}, `"tpu"`},
		{[]string{"bench", "e2e", "--device", "cpu", "--parts", "train,warp"}, `"warp"`},
		{[]string{"bench", "e2e", "--device", "cpu", "--parts", "train", "--seq", "1"}, "seq 1"},
	}
	if !gpu.Available() {
		cases = append(cases,
			struct {
				args []string
				want string
			}{[]string{"bench", "e2e"}, "--device cpu"},
			struct {
				args []string
				want string
			}{[]string{"bench", "kernels", "--device", "cuda"}, "no GPU engine"})
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			cmd := NewRootCmd()
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %s", err, tc.want)
			}
		})
	}
}
