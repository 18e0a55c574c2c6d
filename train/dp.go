package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/sirl-dev/sirl/dist"
	"github.com/sirl-dev/sirl/supervise"
)

// Data parallelism (issue 14). Every rank runs the same stage loop with the
// same stage RNG stream: each draws the step's whole list of prompts (SFT:
// the whole batch of sequences), then keeps its share (dist.Shard, whole
// prompt groups). The rollout randomness is per sample already (two
// uint64 of the stream per sample, rollout's package comment): every rank
// draws the step's full set of them and replays its share to its own
// Generate call, so which rank samples a completion does not change it and
// no per-rank RNG state exists. The loss weights use the global totals of
// the step's batch, gradients are summed once per optimizer update (inside
// Optimizer.Apply), and rank 0 alone writes the run folder.

// single reports whether the run has one rank (an env built without a
// Comm, as tests build it, has one).
func (e *env) single() bool { return e.comm == nil || e.comm.Size() == 1 }

// root reports whether this rank writes the run folder.
func (e *env) root() bool { return e.comm == nil || e.comm.Rank() == 0 }

// rank is this process's rank (0 without a Comm).
func (e *env) rank() int {
	if e.comm == nil {
		return 0
	}
	return e.comm.Rank()
}

// share is this rank's [lo, hi) of n items.
func (e *env) share(n int) (int, int) {
	if e.single() {
		return 0, n
	}
	lo, hi, err := dist.Shard(n, e.comm.Rank(), e.comm.Size())
	if err != nil {
		panic(err) // rank and size come from an open Comm
	}
	return lo, hi
}

// sumF64 sums xs across ranks in place (nothing with one rank).
func (e *env) sumF64(what string, xs ...*float64) error {
	if e.single() {
		return nil
	}
	buf := make([]float64, len(xs))
	for i, x := range xs {
		buf[i] = *x
	}
	if err := e.comm.AllReduceF64(buf); err != nil {
		return fmt.Errorf("all-reduce of %s: %w", what, err)
	}
	for i, x := range xs {
		*x = buf[i]
	}
	return nil
}

// onRoot runs write on rank 0 alone; every rank learns whether it failed.
func (e *env) onRoot(write func() error) error {
	if e.single() {
		return write()
	}
	return dist.OnRoot(e.comm, write)
}

// replay is a rand.Source that hands out recorded values in order: a
// rank's share of the uint64 a Generate call over the whole step would
// draw.
type replay struct {
	vals []uint64
	i    int
}

func (r *replay) Uint64() uint64 {
	if r.i >= len(r.vals) {
		panic("train: replayed random stream exhausted") // a miscount in this file
	}
	v := r.vals[r.i]
	r.i++
	return v
}

// sampleStreams draws the 2·n·perPrompt uint64 that rollout.Generate would
// draw for n prompts of perPrompt samples, and returns a generator that
// replays the part of prompts [lo, hi).
func sampleStreams(rng *rand.Rand, n, perPrompt, lo, hi int) *rand.Rand {
	vals := make([]uint64, 2*n*perPrompt)
	for i := range vals {
		vals[i] = rng.Uint64()
	}
	return rand.New(&replay{vals: vals[2*lo*perPrompt : 2*hi*perPrompt]})
}

// algoRNG is the generator an algorithm's build gets: the stage stream
// with one rank (unchanged single-process results), else a per-rank stream
// of (seed, step, rank), so no rank consumes the shared stream unequally
// and resume at the same world size continues it exactly.
func (e *env) algoRNG(shared *rand.Rand) *rand.Rand {
	if e.single() {
		return shared
	}
	return rand.New(rand.NewPCG(e.cfg.Seed^0xA160D15, uint64(e.state.Step)<<20|uint64(e.comm.Rank())))
}

// globalTotals sums a share's batch totals across ranks.
func (e *env) globalTotals(t supervise.Totals) (supervise.Totals, error) {
	err := e.sumF64("loss normalisers", &t.Seqs, &t.Tokens, &t.Gates)
	return t, err
}

// meanKeys are the counters that are per-rank means or gauges, not sums:
// after the reduction they are averaged over the ranks that report them.
func meanKey(k string) bool {
	return strings.HasSuffix(k, "_rate") || strings.HasSuffix(k, "_ratio") || strings.HasSuffix(k, "_mean")
}

// reduceCounters sums a step's counters across ranks. Ranks may hold
// different keys (a counter appears when its event does): the key sets
// are joined first. Means (meanKey) become the mean over the ranks that
// report them; sirl/repair_success_rate is recomputed from the summed
// counts.
func (e *env) reduceCounters(m map[string]float64) error {
	if e.single() {
		return nil
	}
	keys, err := e.unionKeys(m)
	if err != nil {
		return err
	}
	full := map[string]float64{}
	for _, k := range keys {
		full[k] = m[k]
		if meanKey(k) {
			if _, ok := m[k]; ok {
				full["#n/"+k] = 1
			} else {
				full["#n/"+k] = 0
			}
		}
	}
	if err := dist.ReduceMetrics(e.comm, full); err != nil {
		return err
	}
	clear(m)
	for _, k := range keys {
		v := full[k]
		if meanKey(k) {
			n := full["#n/"+k]
			if n == 0 {
				continue
			}
			v /= n
		}
		m[k] = v
	}
	if a := m["sirl/failures_attempted"]; a > 0 {
		m["sirl/repair_success_rate"] = m["sirl/failures_corrected"] / a
	}
	return nil
}

// unionKeys is the sorted union of every rank's keys of m: each rank in
// turn broadcasts its own.
func (e *env) unionKeys(m map[string]float64) ([]string, error) {
	set := map[string]bool{}
	for k := range m {
		set[k] = true
	}
	own := []byte(strings.Join(slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}), "\n"))
	all, err := e.allGather("metric names", own)
	if err != nil {
		return nil, err
	}
	for _, b := range all {
		if len(b) > 0 {
			for _, k := range strings.Split(string(b), "\n") {
				set[k] = true
			}
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for k := range set {
			if !yield(k) {
				return
			}
		}
	}), nil
}

// maxOverRanks is the largest of every rank's v.
func (e *env) maxOverRanks(v float64) (float64, error) {
	if e.single() {
		return v, nil
	}
	all, err := dist.GatherF64(e.comm, e.comm.Size(), []float64{v})
	if err != nil {
		return 0, err
	}
	return slices.Max(all), nil
}

// ParamsDigest is the SHA-256 of every parameter's float32 bits, in the
// model's order: ranks that agree on it hold bitwise the same weights.
func (e *env) paramsDigest() string {
	h := sha256.New()
	var buf []float32
	b := make([]byte, 4)
	for _, p := range e.m.Params {
		if cap(buf) < p.W.Len() {
			buf = make([]float32, p.W.Len())
		}
		v := buf[:p.W.Len()]
		e.be.Download(p.W, v)
		h.Write([]byte(p.Name))
		for _, x := range v {
			binary.LittleEndian.PutUint32(b, math.Float32bits(x))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkAgreement compares every rank's parameter digest with rank 0's and
// fails on every rank when one differs; it logs the digest (the MPI tests
// read it) and records it in the summary.
func (e *env) checkAgreement() error {
	d := e.paramsDigest()
	e.state.Summary[KeyParamsSHA256] = d
	if e.single() {
		return nil
	}
	root := []byte(d)
	if err := e.comm.Broadcast(root, 0); err != nil {
		return fmt.Errorf("parameter agreement: %w", err)
	}
	same := 0.0
	if bytes.Equal(root, []byte(d)) {
		same = 1
	}
	if err := e.sumF64("parameter agreement", &same); err != nil {
		return err
	}
	if int(same) != e.comm.Size() {
		return fmt.Errorf("parameters differ across ranks after training: %d of %d ranks hold rank 0's (this rank: sha256 %s, rank 0: %s)", int(same), e.comm.Size(), d, root)
	}
	e.logf("parameters bitwise identical on %d ranks: sha256 %s", e.comm.Size(), d)
	return nil
}

// allGather returns every rank's own bytes, indexed by rank: each rank in
// turn broadcasts its length, then its bytes.
func (e *env) allGather(what string, own []byte) ([][]byte, error) {
	out := make([][]byte, e.comm.Size())
	for r := range out {
		n := make([]byte, 8)
		if r == e.comm.Rank() {
			binary.LittleEndian.PutUint64(n, uint64(len(own)))
		}
		if err := e.comm.Broadcast(n, r); err != nil {
			return nil, fmt.Errorf("%s of rank %d: %w", what, r, err)
		}
		buf := make([]byte, binary.LittleEndian.Uint64(n))
		if r == e.comm.Rank() {
			copy(buf, own)
		}
		if len(buf) > 0 {
			if err := e.comm.Broadcast(buf, r); err != nil {
				return nil, fmt.Errorf("%s of rank %d: %w", what, r, err)
			}
		}
		out[r] = buf
	}
	return out, nil
}

// rankKey is the run-state key of rank r's copy of per-rank state: key
// itself for rank 0 (the one-process name), key.rank<r> for the others.
func rankKey(key string, r int) string {
	if r == 0 {
		return key
	}
	return fmt.Sprintf("%s.rank%d", key, r)
}

// gatherExtra collects every rank's run-state value of key into rank 0's
// run state under rankKey(key, r), so that the one checkpoint rank 0
// writes carries the per-rank state of all ranks (SIRL's replay pools).
func (e *env) gatherExtra(key string) error {
	if _, ok := e.state.Extra[key]; !ok || e.single() {
		return nil // the same on every rank: they run the same algorithm
	}
	all, err := e.allGather("run state "+key, []byte(e.state.Extra[key]))
	if err != nil {
		return err
	}
	for r := 1; r < len(all); r++ {
		e.state.Extra[rankKey(key, r)] = string(all[r])
	}
	return nil
}

// cancelled reports whether the run was cancelled (SIGINT, SIGTERM) on any
// rank: the ranks agree, so all of them write the checkpoint and stop at
// the same step.
func (e *env) cancelled() (bool, error) {
	n := 0.0
	if e.ctx.Err() != nil {
		n = 1
	}
	if err := e.sumF64("cancellation", &n); err != nil {
		return false, err
	}
	return n > 0, nil
}
