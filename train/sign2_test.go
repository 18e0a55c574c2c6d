package train

import "testing"

func TestAdvantageSignBatch(t *testing.T) {
	c := tinyConfig()
	c.RL.Optim.LR, c.RL.Optim.WarmupSteps = 3e-3, 0
	e := tinyEnv(t, c)
	mk := func(p, r string, a float32) Seq {
		resp := append(e.tok.Encode(r), e.eos)
		adv := make([]float32, len(resp))
		for i := range adv {
			adv[i] = a
		}
		return Seq{Context: e.policyContext(p), Response: resp, Adv: adv}
	}
	seqs := []Seq{mk("3 +4 %13", "3+4=7;#7", 1), mk("3 +4 %13", "3+4=8;8*2=3;#3", -1), mk("5 -1 *2 %13", "5-1=4;4*2=8;#8", 1), mk("5 -1 *2 %13", "5-1=9;#9", -1)}
	if err := e.normalise(seqs, "seq-mean-token-mean", false); err != nil {
		t.Fatal(err)
	}
	before, _ := logpOf(e.m, seqs)
	for it := 0; it < 3; it++ {
		st := &rlStep{seqs: seqs, counters: map[string]float64{}, phase: map[string]float64{}}
		opt := &Optimizer{cfg: c.RL.Optim, total: 3, step: it}
		if err := e.update(st, opt, nil, map[string]any{}); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := logpOf(e.m, seqs)
	for i := range seqs {
		var d float64
		for j := range before[i] {
			d += float64(after[i][j] - before[i][j])
		}
		t.Logf("seq %d adv %+v Σ Δlogp %g", i, seqs[i].Adv[0], d)
		if d*float64(seqs[i].Adv[0]) <= 0 {
			t.Errorf("seq %d moved against its advantage", i)
		}
	}
}
