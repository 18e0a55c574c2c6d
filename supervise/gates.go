package supervise

import "fmt"

// Gate scopes (config key gate_scope, METHOD.md §3.8).
const (
	ScopeOps             = "ops"
	ScopeFirstDivergence = "first_divergence"
	ScopeStep            = "step"
)

// Advantage scales (config key adv_scale, METHOD.md §3.8).
const (
	ScalePair = "pair"
	ScaleGRPO = "grpo"
	ScaleMC   = "mc"
)

// Sources of a gated sequence in the policy batch.
const (
	SourceFailed   = "failed"
	SourceRepaired = "repaired"
	SourceMCCont   = "mc_cont"
	SourceReplay   = "replay"
)

// Gated is one sequence of the policy batch B_pol: response tokens with a
// gate g_t ∈ {0,1} and a token advantage A_t per token (A_t = 0 where g_t = 0).
type Gated struct {
	Prompt string
	Tokens []int32
	Gate   []float32
	Adv    []float32
	// Source is SourceFailed, SourceRepaired, SourceMCCont or SourceReplay.
	Source string
}

// GateConfig selects the gate scope. StepOfY and StepOfYb map a token index
// of y and ȳ to its 0-based step index; they are required for ScopeStep only.
type GateConfig struct {
	Scope             string
	StepOfY, StepOfYb func(tok int) int
}

// Gates returns g⁻ (on y, length es.N) and g⁺ (on ȳ, length es.M) from the
// first kstar ops of es (METHOD.md §3.8):
//
//	ops:              g⁻ on y[I] of sub/del ops and on y[I] at each insertion
//	                  point; g⁺ on ȳ[J] of sub/ins ops and on ȳ[J] at each
//	                  deletion point (nothing where that point is the end);
//	first_divergence: only t* = es.Prefix on each side (kstar is ignored);
//	step:             the ops gates widened to whole steps.
func Gates(es EditScript, kstar int, cfg GateConfig) (gy, gyb []float32, err error) {
	if kstar < 0 || kstar > len(es.Ops) {
		return nil, nil, fmt.Errorf("supervise: gates: kstar %d outside [0, %d]", kstar, len(es.Ops))
	}
	gy, gyb = make([]float32, es.N), make([]float32, es.M)
	set := func(g []float32, t int) {
		if t >= 0 && t < len(g) {
			g[t] = 1
		}
	}
	switch cfg.Scope {
	case ScopeFirstDivergence:
		if len(es.Ops) > 0 {
			set(gy, es.Prefix)
			set(gyb, es.Prefix)
		}
		return gy, gyb, nil
	case ScopeOps, ScopeStep, "":
	default:
		return nil, nil, fmt.Errorf("supervise: gate_scope %q is not ops, first_divergence or step", cfg.Scope)
	}
	for _, op := range es.Ops[:kstar] {
		switch op.Kind {
		case Sub, Del, Ins:
			set(gy, op.I)
			set(gyb, op.J)
		default:
			return nil, nil, fmt.Errorf("supervise: gates: unknown op kind %d", op.Kind)
		}
	}
	if cfg.Scope == ScopeStep {
		if cfg.StepOfY == nil || cfg.StepOfYb == nil {
			return nil, nil, fmt.Errorf("supervise: gate_scope step needs StepOfY and StepOfYb")
		}
		widenToSteps(gy, cfg.StepOfY)
		widenToSteps(gyb, cfg.StepOfYb)
	}
	return gy, gyb, nil
}

// widenToSteps sets the gate of every token whose step holds a gated token.
func widenToSteps(g []float32, stepOf func(int) int) {
	steps := map[int]bool{}
	for t, v := range g {
		if v != 0 {
			steps[stepOf(t)] = true
		}
	}
	for t := range g {
		if steps[stepOf(t)] {
			g[t] = 1
		}
	}
}

// AdvConfig selects the scale of the pair advantages A⁻ = −α⁻·g⁻, A⁺ = +α⁺·g⁺.
type AdvConfig struct {
	// Scale is ScalePair (α⁻ = AlphaMinus, α⁺ = AlphaPlus) or ScaleGRPO
	// (α⁻ = μ_G/(σ_G+ε), α⁺ = (1−μ_G)/(σ_G+ε) from the original group's
	// reward mean and std, see GroupStats). ScaleMC is built by MCGated.
	Scale                 string
	AlphaMinus, AlphaPlus float64
	GroupMean, GroupStd   float64
	Eps                   float64
}

// DefaultAdvConfig is adv_scale pair with α⁻ = α⁺ = 1 and ε = 1e-6.
func DefaultAdvConfig() AdvConfig {
	return AdvConfig{Scale: ScalePair, AlphaMinus: 1, AlphaPlus: 1, Eps: 1e-6}
}

// Alphas returns (α⁻, α⁺) for cfg; both are ≥ 0.
func Alphas(cfg AdvConfig) (aMinus, aPlus float64, err error) {
	switch cfg.Scale {
	case ScalePair:
		aMinus, aPlus = cfg.AlphaMinus, cfg.AlphaPlus
	case ScaleGRPO:
		if cfg.GroupMean < 0 || cfg.GroupMean > 1 || cfg.GroupStd < 0 || cfg.Eps <= 0 {
			return 0, 0, fmt.Errorf("supervise: adv_scale grpo needs mean in [0,1], std ≥ 0, eps > 0 (got %v, %v, %v)", cfg.GroupMean, cfg.GroupStd, cfg.Eps)
		}
		d := cfg.GroupStd + cfg.Eps
		aMinus, aPlus = cfg.GroupMean/d, (1-cfg.GroupMean)/d
	case ScaleMC:
		return 0, 0, fmt.Errorf("supervise: adv_scale mc advantages come from MCGated")
	default:
		return 0, 0, fmt.Errorf("supervise: adv_scale %q is not pair, grpo or mc", cfg.Scale)
	}
	if aMinus < 0 || aPlus < 0 {
		return 0, 0, fmt.Errorf("supervise: negative advantage scale (α⁻=%v, α⁺=%v)", aMinus, aPlus)
	}
	return aMinus, aPlus, nil
}

// PairAdvantages returns A⁻_t = −α⁻·g⁻_t and A⁺_t = +α⁺·g⁺_t.
func PairAdvantages(gy, gyb []float32, cfg AdvConfig) (ay, ayb []float32, err error) {
	am, ap, err := Alphas(cfg)
	if err != nil {
		return nil, nil, err
	}
	ay, ayb = make([]float32, len(gy)), make([]float32, len(gyb))
	for t, g := range gy {
		ay[t] = float32(-am) * g
	}
	for t, g := range gyb {
		ayb[t] = float32(ap) * g
	}
	return ay, ayb, nil
}

// BuildPair gates and scores one (failure, repair) pair: the failed sequence y
// with g⁻, A⁻ and the repaired sequence ȳ with g⁺, A⁺, from the first kstar
// ops of es = Diff(y, yb).
func BuildPair(prompt string, y, yb []int32, es EditScript, kstar int, gcfg GateConfig, acfg AdvConfig) (failed, repaired Gated, err error) {
	if es.N != len(y) || es.M != len(yb) {
		return Gated{}, Gated{}, fmt.Errorf("supervise: script is for lengths %d→%d, got %d→%d", es.N, es.M, len(y), len(yb))
	}
	gy, gyb, err := Gates(es, kstar, gcfg)
	if err != nil {
		return Gated{}, Gated{}, err
	}
	ay, ayb, err := PairAdvantages(gy, gyb, acfg)
	if err != nil {
		return Gated{}, Gated{}, err
	}
	failed = Gated{Prompt: prompt, Tokens: y, Gate: gy, Adv: ay, Source: SourceFailed}
	repaired = Gated{Prompt: prompt, Tokens: yb, Gate: gyb, Adv: ayb, Source: SourceRepaired}
	return failed, repaired, nil
}

// StepBoundary is b_k for a sequence of n tokens: the number of tokens in
// steps 1..k, i.e. the first index whose 0-based step is ≥ k (n if none).
// The state s_k of METHOD.md is prompt ⊕ y[:StepBoundary(n, stepOf, k)].
func StepBoundary(n int, stepOf func(int) int, k int) int {
	for t := 0; t < n; t++ {
		if stepOf(t) >= k {
			return t
		}
	}
	return n
}

// MCGated builds the adv_scale mc sequences of variant mc (METHOD.md §3.8)
// from a bisection result: e is the 1-based first wrong step, vPrev =
// V̂(s_{e−1}), conts the continuations drawn at s_{e−1} (suffix tokens only).
// The first result is y gated on the tokens of step e (0-based step e−1) with
// A = −vPrev; then one sequence y[:b_{e−1}] ⊕ c_m per continuation, gated on
// its suffix with A = r_m − vPrev (source mc_cont).
func MCGated(prompt string, y []int32, stepOf func(int) int, e int, vPrev float64, conts []Continuation) ([]Gated, error) {
	if stepOf == nil {
		return nil, fmt.Errorf("supervise: MCGated needs a StepOf mapping")
	}
	if e < 1 {
		return nil, fmt.Errorf("supervise: MCGated: first wrong step e=%d must be ≥ 1 (1-based)", e)
	}
	if vPrev < 0 || vPrev > 1 {
		return nil, fmt.Errorf("supervise: MCGated: V̂(s_e−1)=%v outside [0,1]", vPrev)
	}
	g := make([]float32, len(y))
	a := make([]float32, len(y))
	active := 0
	for t := range y {
		if stepOf(t) == e-1 {
			g[t], a[t] = 1, float32(-vPrev)
			active++
		}
	}
	if active == 0 {
		return nil, fmt.Errorf("supervise: MCGated: step %d has no tokens in a %d-token response", e, len(y))
	}
	out := []Gated{{Prompt: prompt, Tokens: y, Gate: g, Adv: a, Source: SourceFailed}}
	b := StepBoundary(len(y), stepOf, e-1)
	for _, c := range conts {
		z := make([]int32, 0, b+len(c.Tokens))
		z = append(append(z, y[:b]...), c.Tokens...)
		gz, az := make([]float32, len(z)), make([]float32, len(z))
		for t := b; t < len(z); t++ {
			gz[t], az[t] = 1, float32(c.Reward-vPrev)
		}
		out = append(out, Gated{Prompt: prompt, Tokens: z, Gate: gz, Adv: az, Source: SourceMCCont})
	}
	return out, nil
}
