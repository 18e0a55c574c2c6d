package train

import (
	"context"
	"math"
	"testing"

	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/model"
)

// tinyEnv builds an env with a fresh tiny model (no run folder).
func tinyEnv(t *testing.T, c Config) *env {
	t.Helper()
	e := &env{ctx: context.Background(), cfg: c, be: cpu.New(2), state: &runState{Summary: Summary{}, Extra: map[string]string{}}}
	if err := e.setup("", "", false); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestAdvantageSign: after one update a positive advantage raises the
// token's log-prob and a negative one lowers it, for every algorithm path
// (detached ratio, explicit π_old, sequence-level GSPO).
func TestAdvantageSign(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"grpo", func(c *Config) {}},
		{"explicit-old", func(c *Config) { c.RL.NumIterations = 2 }},
		{"gspo", func(c *Config) { c.RL.Algo = "gspo" }},
		{"kl", func(c *Config) { c.RL.Beta = 0.01 }},
	} {
		for _, sign := range []float32{1, -1} {
			c := tinyConfig()
			c.RL.Optim.LR, c.RL.Optim.WarmupSteps = 1e-2, 0
			tc.mutate(&c)
			e := tinyEnv(t, c)
			ctx := e.policyContext("3 +4 %97")
			resp := append(e.tok.Encode("3+4=7;#7"), e.eos)
			adv := make([]float32, len(resp))
			for i := range adv {
				adv[i] = sign
			}
			seqs := []Seq{{Context: ctx, Response: resp, Adv: adv}}
			if err := e.normalise(seqs, "seq-mean-token-mean", false); err != nil {
				t.Fatal(err)
			}
			before, err := logpOf(e.m, seqs)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "kl" {
				seqs[0].RefLogp = before[0]
			}
			st := &rlStep{seqs: seqs, counters: map[string]float64{}, phase: map[string]float64{}}
			var ref *model.Model
			opt := &Optimizer{cfg: c.RL.Optim, total: 1}
			if err := e.update(st, opt, ref, map[string]any{}); err != nil {
				t.Fatal(err)
			}
			after, err := logpOf(e.m, seqs)
			if err != nil {
				t.Fatal(err)
			}
			var d float64
			for j := range before[0] {
				d += float64(after[0][j] - before[0][j])
			}
			if math.IsNaN(d) || d*float64(sign) <= 0 {
				t.Errorf("%s, advantage %+v: Σ Δlogp = %g, want the advantage's sign", tc.name, sign, d)
			}
		}
	}
}
