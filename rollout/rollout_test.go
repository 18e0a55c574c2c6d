package rollout

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/model"
)

// testVocab is the vocabulary of the test models (literal ids: the
// tokenizer is not needed here).
const testVocab = 48

// newModel builds a tiny random model on a 2-thread CPU engine.
func newModel(t testing.TB, seed uint64) *model.Model {
	t.Helper()
	cfg, err := model.Preset("tiny", testVocab)
	if err != nil {
		t.Fatal(err)
	}
	// A larger init spreads the logits so greedy choices are far from ties
	// and sampled sequences differ between seeds.
	cfg.InitStd = 0.5
	m, err := model.New(cpu.New(2), cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newEngine(t testing.TB, m *model.Model, cfg Config) *Engine {
	t.Helper()
	e, err := New(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// testPrompts returns prompts of the given lengths with tokens in [4, V).
func testPrompts(seed uint64, lens ...int) [][]int32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	ps := make([][]int32, len(lens))
	for i, l := range lens {
		ps[i] = make([]int32, l)
		for j := range ps[i] {
			ps[i][j] = int32(4 + rng.IntN(testVocab-4))
		}
	}
	return ps
}

// fullLogits runs the training forward on ids (one sequence) and returns
// its logits hidden·Headᵀ, one row of V per position.
func fullLogits(t *testing.T, m *model.Model, ids []int32) [][]float32 {
	t.Helper()
	b := m.B
	b.ResetPool(backend.Activations)
	acts, err := m.Forward(ids, 1, len(ids))
	if err != nil {
		t.Fatal(err)
	}
	V := m.Cfg.Vocab
	out := b.Alloc(backend.Activations, backend.F32, len(ids), V)
	b.MatMul(out, acts.Hidden(), m.Head(), backend.MatMulParams{TransB: true, Alpha: 1})
	flat := make([]float32, len(ids)*V)
	b.Download(out, flat)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	rows := make([][]float32, len(ids))
	for i := range rows {
		rows[i] = flat[i*V : (i+1)*V]
	}
	return rows
}

// logSoftmax returns log_softmax(x / temp) in float64.
func logSoftmax(x []float32, temp float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v)/temp)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v)/temp - mx)
	}
	lse := mx + math.Log(s)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)/temp - lse
	}
	return out
}

// checkReleased fails when the engine's cache still holds blocks.
func checkReleased(t *testing.T, e *Engine) {
	t.Helper()
	if free := e.Cache().FreeBlocks(); free != e.cfg.NumBlocks {
		t.Errorf("cache has %d of %d blocks free after Generate", free, e.cfg.NumBlocks)
	}
}

// checkFlags checks the invariants every sample satisfies.
func checkFlags(t *testing.T, ss []Sample, maxNew int, eos int32) {
	t.Helper()
	for i, s := range ss {
		if len(s.Logp) != len(s.Tokens) {
			t.Errorf("sample %d: %d logps for %d tokens", i, len(s.Logp), len(s.Tokens))
		}
		if s.Finished == s.Truncated {
			t.Errorf("sample %d: finished=%v truncated=%v, want exactly one", i, s.Finished, s.Truncated)
		}
		if s.Truncated && len(s.Tokens) != maxNew {
			t.Errorf("sample %d truncated with %d tokens, maxNew %d", i, len(s.Tokens), maxNew)
		}
		if s.Finished && len(s.Tokens) >= maxNew {
			t.Errorf("sample %d finished with %d tokens, maxNew %d (EOS counts)", i, len(s.Tokens), maxNew)
		}
		if slices.Contains(s.Tokens, eos) {
			t.Errorf("sample %d holds EOS %d in its tokens", i, eos)
		}
	}
}

// greedyRef decodes prompt greedily by recomputing the full forward at every
// step. It returns the tokens and, per step, the reference logits row.
func greedyRef(t *testing.T, m *model.Model, prompt []int32, maxNew int, eos int32) ([]int32, [][]float32) {
	t.Helper()
	ids := slices.Clone(prompt)
	var out []int32
	var rows [][]float32
	for range maxNew {
		lg := fullLogits(t, m, ids)
		last := lg[len(lg)-1]
		best := int32(0)
		for v := range last {
			if last[v] > last[best] {
				best = int32(v)
			}
		}
		rows = append(rows, last)
		if best == eos {
			break
		}
		out = append(out, best)
		ids = append(ids, best)
	}
	return out, rows
}

// compareGreedy checks got against the reference; at a disagreement it
// accepts only a near tie in the reference logits, and stops comparing that
// sequence there (the continuations differ from then on).
func compareGreedy(t *testing.T, i int, got Sample, want []int32, rows [][]float32) {
	t.Helper()
	for j := range max(len(got.Tokens), len(want)) {
		if j < len(got.Tokens) && j < len(want) && got.Tokens[j] == want[j] {
			continue
		}
		if j < len(rows) && j < len(got.Tokens) {
			r := rows[j]
			if mx := slices.Max(r); mx-r[got.Tokens[j]] < 1e-4 {
				t.Logf("prompt %d step %d: near tie (%g vs %g), stop comparing", i, j, r[got.Tokens[j]], mx)
				return
			}
		}
		t.Fatalf("prompt %d: greedy tokens %v, full-forward reference %v (first difference at %d)", i, got.Tokens, want, j)
	}
}

func TestGreedyMatchesFullForward(t *testing.T) {
	m := newModel(t, 1)
	prompts := testPrompts(1, 5, 1, 9, 3, 12, 4)
	const maxNew = 10
	refs := make([][]int32, len(prompts))
	rows := make([][][]float32, len(prompts))
	for i, p := range prompts {
		refs[i], rows[i] = greedyRef(t, m, p, maxNew, -1)
	}
	for _, cfg := range []Config{
		{BlockSize: 4, NumBlocks: 64, MaxBatch: 64, EOS: -1},
		{BlockSize: 4, NumBlocks: 64, MaxBatch: 4, EOS: -1},
		{BlockSize: 16, NumBlocks: 16, MaxBatch: 1, EOS: -1},
	} {
		e := newEngine(t, m, cfg)
		got, st, err := e.Greedy(prompts, maxNew)
		if err != nil {
			t.Fatal(err)
		}
		checkReleased(t, e)
		checkFlags(t, got, maxNew, cfg.EOS)
		for i := range prompts {
			if got[i].Prompt != i {
				t.Errorf("sample %d has Prompt %d", i, got[i].Prompt)
			}
			compareGreedy(t, i, got[i], refs[i], rows[i])
		}
		var plen int64
		for _, p := range prompts {
			plen += int64(len(p))
		}
		if st.Prefilled != plen || st.Decoded != int64(len(prompts)*maxNew) {
			t.Errorf("%+v: prefilled %d decoded %d, want %d and %d", cfg, st.Prefilled, st.Decoded, plen, len(prompts)*maxNew)
		}
		// maxNew−1 rounds of decode steps, each in ceil(6/MaxBatch) calls;
		// the 6 prompts in ceil(6/MaxBatch) Prefill calls.
		calls := (len(prompts) + cfg.MaxBatch - 1) / cfg.MaxBatch
		if st.Steps != (maxNew-1)*calls || st.Prefills != calls {
			t.Errorf("%+v: %d Step and %d Prefill calls, want %d and %d", cfg, st.Steps, st.Prefills, (maxNew-1)*calls, calls)
		}
	}
}

func TestLogpMatchesFullForward(t *testing.T) {
	m := newModel(t, 2)
	prompts := testPrompts(2, 6, 2, 9, 4, 1)
	const maxNew = 12
	for _, p := range []backend.SampleParams{
		{Temperature: 1, TopP: 1},
		{Temperature: 0.7, TopK: 5, TopP: 1},
		{Temperature: 1.3, TopP: 0.8},
	} {
		e := newEngine(t, m, Config{BlockSize: 4, NumBlocks: 128, MaxBatch: 5, EOS: 2})
		ss, _, err := e.Generate(prompts, 4, p, maxNew, rand.New(rand.NewPCG(9, 9)))
		if err != nil {
			t.Fatal(err)
		}
		checkReleased(t, e)
		checkFlags(t, ss, maxNew, 2)
		for i, s := range ss {
			ids := append(slices.Clone(prompts[s.Prompt]), s.Tokens...)
			lg := fullLogits(t, m, ids)
			lp := len(prompts[s.Prompt])
			for j, tok := range s.Tokens {
				ref := logSoftmax(lg[lp-1+j], float64(p.Temperature))
				if d := math.Abs(ref[tok] - float64(s.Logp[j])); d > 1e-4 {
					t.Errorf("%+v sample %d token %d: logp %g, full forward %g", p, i, j, s.Logp[j], ref[tok])
				}
				if p.TopK > 0 {
					above := 0
					for _, v := range ref {
						if v > ref[tok] {
							above++
						}
					}
					if above >= p.TopK {
						t.Errorf("%+v sample %d token %d has rank %d, outside top-k", p, i, j, above)
					}
				}
			}
			if s.Finished {
				ref := logSoftmax(lg[lp-1+len(s.Tokens)], float64(p.Temperature))
				if d := math.Abs(ref[2] - float64(s.EOSLogp)); d > 1e-4 {
					t.Errorf("%+v sample %d: EOS logp %g, full forward %g", p, i, s.EOSLogp, ref[2])
				}
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	m := newModel(t, 3)
	e := newEngine(t, m, Config{BlockSize: 4, NumBlocks: 128, MaxBatch: 8, EOS: 2})
	prompts := testPrompts(3, 3, 7, 5)
	p := backend.SampleParams{Temperature: 1, TopP: 1}
	gen := func(seed uint64) []Sample {
		ss, _, err := e.Generate(prompts, 4, p, 12, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	a, b, c := gen(5), gen(5), gen(6)
	if !sameSamples(a, b, 0) {
		t.Error("same seed gave different samples")
	}
	if sameSamples(a, c, 0) {
		t.Error("different seeds gave identical samples")
	}
	// Samples of one prompt differ from each other (different streams).
	if slices.Equal(a[0].Tokens, a[1].Tokens) && slices.Equal(a[1].Tokens, a[2].Tokens) && slices.Equal(a[2].Tokens, a[3].Tokens) {
		t.Error("all samples of prompt 0 are identical")
	}
}

// sameSamples compares tokens and flags exactly and log-probs within tol.
func sameSamples(a, b []Sample, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Prompt != b[i].Prompt || a[i].Finished != b[i].Finished || a[i].Truncated != b[i].Truncated ||
			!slices.Equal(a[i].Tokens, b[i].Tokens) {
			return false
		}
		for j := range a[i].Logp {
			if math.Abs(float64(a[i].Logp[j]-b[i].Logp[j])) > tol {
				return false
			}
		}
	}
	return true
}

func TestForkSharesPromptBlocks(t *testing.T) {
	m := newModel(t, 4)
	prompts := testPrompts(4, 10, 6, 13) // none a multiple of BlockSize
	const n, maxNew = 4, 9
	p := backend.SampleParams{Temperature: 1, TopP: 1}
	cfg := Config{BlockSize: 4, NumBlocks: 128, MaxBatch: 16, EOS: 2}

	e := newEngine(t, m, cfg)
	forked, fst, err := e.Generate(prompts, n, p, maxNew, rand.New(rand.NewPCG(11, 0)))
	if err != nil {
		t.Fatal(err)
	}
	checkReleased(t, e)

	// The same samples, each prompt prefilled separately per sample.
	var rep [][]int32
	for _, pr := range prompts {
		for range n {
			rep = append(rep, pr)
		}
	}
	sep, sst, err := e.Generate(rep, 1, p, maxNew, rand.New(rand.NewPCG(11, 0)))
	if err != nil {
		t.Fatal(err)
	}
	checkReleased(t, e)
	for i := range sep {
		sep[i].Prompt /= n
	}
	if !sameSamples(forked, sep, 1e-5) {
		t.Error("forked samples differ from samples generated separately")
	}
	if fst.KVShared == 0 {
		t.Error("KVShared = 0: the samples did not share the prompt's blocks")
	}
	if fst.CopyOnWrite == 0 {
		t.Error("CopyOnWrite = 0 with partly filled shared prompt blocks")
	}
	if sst.KVShared != 0 {
		t.Errorf("KVShared = %d without forks", sst.KVShared)
	}
	if fst.Prefilled*n != sst.Prefilled {
		t.Errorf("prefilled %d with forks, %d without; want a factor %d", fst.Prefilled, sst.Prefilled, n)
	}
	if fst.KVHighWater >= sst.KVHighWater {
		t.Errorf("high water %d with forks, %d without; sharing should save blocks", fst.KVHighWater, sst.KVHighWater)
	}
	// And each sample re-scored by a full forward gives its recorded logps.
	for i, s := range forked {
		lg := fullLogits(t, m, append(slices.Clone(prompts[s.Prompt]), s.Tokens...))
		for j, tok := range s.Tokens {
			ref := logSoftmax(lg[len(prompts[s.Prompt])-1+j], 1)
			if d := math.Abs(ref[tok] - float64(s.Logp[j])); d > 1e-4 {
				t.Fatalf("sample %d token %d: logp %g, full forward %g", i, j, s.Logp[j], ref[tok])
			}
		}
	}
}

func TestWavesWhenCacheIsSmall(t *testing.T) {
	m := newModel(t, 5)
	prompts := testPrompts(5, 7, 3, 11, 5, 9, 2, 6)
	const n, maxNew = 3, 8
	p := backend.SampleParams{Temperature: 1, TopP: 1}
	big := newEngine(t, m, Config{BlockSize: 4, NumBlocks: 256, MaxBatch: 32, EOS: 2})
	// The largest group (11 tokens) needs 3 + 3·(5−2) = 12 blocks.
	small := newEngine(t, m, Config{BlockSize: 4, NumBlocks: 13, MaxBatch: 32, EOS: 2})

	for _, tc := range []struct {
		name string
		gen  func(e *Engine) ([]Sample, Stats, error)
	}{
		{"greedy", func(e *Engine) ([]Sample, Stats, error) { return e.Greedy(prompts, maxNew) }},
		{"sampled", func(e *Engine) ([]Sample, Stats, error) {
			return e.Generate(prompts, n, p, maxNew, rand.New(rand.NewPCG(3, 3)))
		}},
	} {
		want, bst, err := tc.gen(big)
		if err != nil {
			t.Fatal(err)
		}
		got, sst, err := tc.gen(small)
		if err != nil {
			t.Fatalf("%s with a small cache: %v", tc.name, err)
		}
		checkReleased(t, small)
		if !sameSamples(got, want, 1e-5) {
			t.Errorf("%s: small-cache samples differ from big-cache samples", tc.name)
		}
		if sst.Steps <= bst.Steps || sst.Prefills <= bst.Prefills {
			t.Errorf("%s: %d Step and %d Prefill calls in waves vs %d and %d at once; waves should take more",
				tc.name, sst.Steps, sst.Prefills, bst.Steps, bst.Prefills)
		}
		if sst.KVHighWater > 13 || sst.KVHighWater >= bst.KVHighWater {
			t.Errorf("%s: high water %d blocks in waves, %d at once", tc.name, sst.KVHighWater, bst.KVHighWater)
		}
	}

	tooSmall := newEngine(t, m, Config{BlockSize: 4, NumBlocks: 11, MaxBatch: 32, EOS: 2})
	_, _, err := tooSmall.Generate(prompts, n, p, maxNew, rand.New(rand.NewPCG(3, 3)))
	if err == nil || !strings.Contains(err.Error(), "prompt 2") || !strings.Contains(err.Error(), "NumBlocks") {
		t.Errorf("a group larger than the cache: error %v, want one naming prompt 2 and NumBlocks", err)
	}
	checkReleased(t, tooSmall)
}

func TestStopFlags(t *testing.T) {
	m := newModel(t, 6)
	prompts := testPrompts(6, 4, 8, 1, 6)
	const maxNew = 12
	free := newEngine(t, m, Config{BlockSize: 8, NumBlocks: 64, MaxBatch: 8, EOS: -1})
	base, _, err := free.Greedy(prompts, maxNew)
	if err != nil {
		t.Fatal(err)
	}
	checkFlags(t, base, maxNew, -1)
	for i, s := range base {
		if !s.Truncated || len(s.Tokens) != maxNew {
			t.Fatalf("prompt %d without EOS: truncated=%v with %d tokens", i, s.Truncated, len(s.Tokens))
		}
	}
	// Make the token greedy decoding produces at step 3 of prompt 1 the EOS:
	// every greedy sample must now stop at its first occurrence of it.
	eos := base[1].Tokens[3]
	stop := newEngine(t, m, Config{BlockSize: 8, NumBlocks: 64, MaxBatch: 8, EOS: eos})
	got, st, err := stop.Greedy(prompts, maxNew)
	if err != nil {
		t.Fatal(err)
	}
	checkReleased(t, stop)
	checkFlags(t, got, maxNew, eos)
	var decoded int64
	for i, s := range got {
		k := slices.Index(base[i].Tokens, eos)
		switch {
		case k < 0:
			if !s.Truncated || !slices.Equal(s.Tokens, base[i].Tokens) {
				t.Errorf("prompt %d: %v truncated=%v, want %v truncated", i, s.Tokens, s.Truncated, base[i].Tokens)
			}
			decoded += maxNew
		default:
			if !s.Finished || !slices.Equal(s.Tokens, base[i].Tokens[:k]) {
				t.Errorf("prompt %d: %v finished=%v, want %v finished", i, s.Tokens, s.Finished, base[i].Tokens[:k])
			}
			decoded += int64(k + 1)
		}
	}
	if !got[1].Finished || len(got[1].Tokens) > 3 {
		t.Errorf("prompt 1 did not stop by step 3: %+v", got[1])
	}
	if st.Decoded != decoded {
		t.Errorf("decoded %d tokens, want %d (EOS included)", st.Decoded, decoded)
	}
	// EOS as the first greedy token of prompt 0, and a cache that holds one
	// group at a time: each wave ends on its first token, without a Step.
	first := newEngine(t, m, Config{BlockSize: 8, NumBlocks: 3, MaxBatch: 8, EOS: base[0].Tokens[0]})
	same := [][]int32{prompts[0], prompts[0], prompts[0]}
	fs, fst, err := first.Greedy(same, maxNew)
	if err != nil {
		t.Fatal(err)
	}
	checkReleased(t, first)
	for i, s := range fs {
		if !s.Finished || len(s.Tokens) != 0 {
			t.Errorf("copy %d of prompt 0 with EOS first: %+v, want finished and empty", i, s)
		}
	}
	if fst.Steps != 0 || fst.Prefills != 3 || fst.Decoded != 3 {
		t.Errorf("EOS first: %d Step, %d Prefill calls, %d decoded; want 0, 3, 3", fst.Steps, fst.Prefills, fst.Decoded)
	}
	// maxNew = 1: one token, no decode step after the prompts.
	one, st1, err := free.Greedy(prompts, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range one {
		if !s.Truncated || len(s.Tokens) != 1 || s.Tokens[0] != base[i].Tokens[0] {
			t.Errorf("prompt %d maxNew 1: %+v, want [%d] truncated", i, s, base[i].Tokens[0])
		}
	}
	if st1.Steps != 0 || st1.Prefills != 1 {
		t.Errorf("maxNew 1: %d Step and %d Prefill calls, want 0 and 1", st1.Steps, st1.Prefills)
	}
}

func TestBadInput(t *testing.T) {
	m := newModel(t, 7)
	e := newEngine(t, m, Config{BlockSize: 4, NumBlocks: 16, MaxBatch: 4, EOS: 2})
	good := testPrompts(7, 3)
	p := backend.SampleParams{Temperature: 1, TopP: 1}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name    string
		prompts [][]int32
		n       int
		p       backend.SampleParams
		maxNew  int
		rng     *rand.Rand
		want    string
	}{
		{"n", good, 0, p, 4, rng, "n = 0"},
		{"maxNew", good, 1, p, 0, rng, "maxNew"},
		{"empty prompt", [][]int32{{5}, {}}, 1, p, 4, rng, "prompt 1 is empty"},
		{"token", [][]int32{{5, testVocab}}, 1, p, 4, rng, "outside the vocabulary"},
		{"negative token", [][]int32{{-1}}, 1, p, 4, rng, "outside the vocabulary"},
		{"temperature", good, 1, backend.SampleParams{Temperature: -1}, 4, rng, "temperature"},
		{"top_p", good, 1, backend.SampleParams{Temperature: 1, TopP: 1.5}, 4, rng, "top_p"},
		{"top_k", good, 1, backend.SampleParams{Temperature: 1, TopK: -1}, 4, rng, "top_k"},
		{"rng", good, 1, p, 4, nil, "rng"},
		{"max_seq", good, 1, p, 100, rng, "max_seq"},
	} {
		_, _, err := e.Generate(tc.prompts, tc.n, tc.p, tc.maxNew, tc.rng)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	checkReleased(t, e)
	for _, cfg := range []Config{
		{BlockSize: 0, NumBlocks: 4, MaxBatch: 1},
		{BlockSize: 4, NumBlocks: 0, MaxBatch: 1},
		{BlockSize: 4, NumBlocks: 4, MaxBatch: 0},
		{BlockSize: 4, NumBlocks: 4, MaxBatch: 1, EOS: testVocab},
	} {
		if _, err := New(m, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	// TopP 0 reads as 1 (disabled): same samples as TopP 1.
	a, _, err := e.Generate(good, 2, backend.SampleParams{Temperature: 1}, 4, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := e.Generate(good, 2, p, 4, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if !sameSamples(a, b, 0) {
		t.Error("TopP 0 and TopP 1 gave different samples")
	}
}
