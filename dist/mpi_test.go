//go:build mpi

package dist_test

// The MPI tests run under mpirun (scripts/test-mpi.sh: 2 and 3 ranks) and
// also alone (an MPI singleton, one rank). TestMain opens MPI once for the
// whole binary.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/dist"
	"github.com/sirl-dev/sirl/model"
)

// world is the MPI Comm of this test binary, opened by TestMain.
var world dist.Comm

func TestMain(m *testing.M) {
	l, err := dist.ResolveLaunch(dist.Launch{}, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if world, err = dist.Open(dist.KindMPI, l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	// A failed test on one rank must not leave the others waiting in a
	// collective of a later test: agree on the outcome, abort when bad.
	ok := []float64{0}
	if code == 0 {
		ok[0] = 1
	}
	if err := world.AllReduceF64(ok); err != nil || ok[0] != float64(world.Size()) {
		world.Abort(1, fmt.Errorf("a test failed on some rank (%v)", err))
	}
	if err := world.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func TestMPIWorld(t *testing.T) {
	if s := os.Getenv("OMPI_COMM_WORLD_SIZE"); s != "" && s != strconv.Itoa(world.Size()) {
		t.Errorf("size %d, OMPI_COMM_WORLD_SIZE=%s", world.Size(), s)
	}
	if world.Rank() < 0 || world.Rank() >= world.Size() || world.LocalRank() < 0 || world.LocalRank() >= world.Size() {
		t.Errorf("rank %d, local rank %d of %d", world.Rank(), world.LocalRank(), world.Size())
	}
	t.Logf("rank %d of %d (local %d)", world.Rank(), world.Size(), world.LocalRank())
}

// TestMPIAllReduceIntegers: integer-valued sums are exact, in float32 and
// float64, over a length that is not a round number.
func TestMPIAllReduceIntegers(t *testing.T) {
	const n = 1<<16 + 7
	r, S := world.Rank(), world.Size()
	f := make([]float32, n)
	d := make([]float64, n)
	for i := range f {
		f[i] = float32(r*1000 + i)
		d[i] = float64(r)*(1<<40) + float64(i)
	}
	if err := world.AllReduceF32(f); err != nil {
		t.Fatal(err)
	}
	if err := world.AllReduceF64(d); err != nil {
		t.Fatal(err)
	}
	for i := range f {
		if want := float32(1000*S*(S-1)/2 + S*i); f[i] != want {
			t.Fatalf("f32[%d] = %g, want %g", i, f[i], want)
		}
		if want := float64(S*(S-1)/2)*(1<<40) + float64(S*i); d[i] != want {
			t.Fatalf("f64[%d] = %g, want %g", i, d[i], want)
		}
	}
}

// randomBuf is rank's buffer of values over many magnitudes, so that the
// order of additions changes the rounding.
func randomBuf(rank, n int) []float32 {
	rng := rand.New(rand.NewPCG(uint64(rank), 99))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(9)-4)))
	}
	return v
}

// sameOnAllRanks reports whether b is bitwise rank 0's b on this rank.
func sameOnAllRanks(t *testing.T, b []byte) bool {
	t.Helper()
	root := bytes.Clone(b)
	if err := world.Broadcast(root, 0); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(root, b)
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// TestMPIAllReduceBitwise: after a float32 all-reduce every rank holds the
// same bits, the sum is within float32 rounding of the float64 sum, and the
// same inputs reduce to the same bits again.
func TestMPIAllReduceBitwise(t *testing.T) {
	for _, n := range []int{1, 1000, 1<<20 + 3} {
		buf := randomBuf(world.Rank(), n)
		again := randomBuf(world.Rank(), n)
		if err := world.AllReduceF32(buf); err != nil {
			t.Fatal(err)
		}
		if err := world.AllReduceF32(again); err != nil {
			t.Fatal(err)
		}
		if !sameOnAllRanks(t, f32Bytes(buf)) {
			t.Errorf("n %d: rank %d's reduced buffer differs from rank 0's", n, world.Rank())
		}
		if !bytes.Equal(f32Bytes(buf), f32Bytes(again)) {
			t.Errorf("n %d: the same inputs reduced to other bits", n)
		}
		ref := make([]float64, n)
		abs := make([]float64, n)
		for r := range world.Size() {
			for i, x := range randomBuf(r, n) {
				ref[i] += float64(x)
				abs[i] += math.Abs(float64(x))
			}
		}
		for i := range buf {
			// Each of Size−1 float32 additions rounds by ≤ 2^-24 of a
			// partial sum bounded by Σ|x|.
			if tol := float64(world.Size()) * abs[i] * 0x1p-24; math.Abs(float64(buf[i])-ref[i]) > tol {
				t.Fatalf("n %d [%d]: %g, float64 sum %g (tolerance %g)", n, i, buf[i], ref[i], tol)
			}
		}
	}
}

func TestMPIBroadcast(t *testing.T) {
	root := world.Size() - 1
	const n = 1<<20 + 3
	buf := make([]byte, n)
	if world.Rank() == root {
		for i := range buf {
			buf[i] = byte(i*7 + 3)
		}
	}
	if err := world.Broadcast(buf, root); err != nil {
		t.Fatal(err)
	}
	for i, b := range buf {
		if b != byte(i*7+3) {
			t.Fatalf("rank %d: byte %d = %d after broadcast from %d", world.Rank(), i, b, root)
		}
	}
	if err := world.Broadcast(buf[:1], world.Size()); err == nil {
		t.Error("broadcast from a rank outside the world: no error")
	}
}

// TestMPIBarrier: rank r arrives r×100 ms late; no rank leaves before the
// last one arrived.
func TestMPIBarrier(t *testing.T) {
	base := []float64{float64(time.Now().UnixNano())}
	if err := world.Broadcast(f64Bytes(base), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Duration(world.Rank()) * 100 * time.Millisecond)
	arrive := float64(time.Now().UnixNano())
	if err := world.Barrier(); err != nil {
		t.Fatal(err)
	}
	leave := float64(time.Now().UnixNano())
	// Arrival and departure of every rank, gathered by slot.
	times := make([]float64, 2*world.Size())
	times[2*world.Rank()], times[2*world.Rank()+1] = arrive, leave
	if err := world.AllReduceF64(times); err != nil {
		t.Fatal(err)
	}
	lastArrive, firstLeave := math.Inf(-1), math.Inf(1)
	for r := range world.Size() {
		lastArrive, firstLeave = max(lastArrive, times[2*r]), min(firstLeave, times[2*r+1])
	}
	if firstLeave < lastArrive {
		t.Errorf("a rank left the barrier %.1f ms before the last arrived", (lastArrive-firstLeave)/1e6)
	}
}

func f64Bytes(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

// TestMPIHelpers runs the training-loop helpers over MPI: gradients of CPU
// tensors (bitwise the same on every rank), metrics, gather, rank-0 write.
func TestMPIHelpers(t *testing.T) {
	be := cpu.New(1)
	var ts []backend.Tensor
	for _, s := range [][]int{{64, 33}, {1000}, {5}} {
		x := be.Alloc(backend.Optim, backend.F32, s...)
		be.Upload(x, randomBuf(world.Rank()+7, x.Len()))
		ts = append(ts, x)
	}
	if err := dist.NewGradReducer(world, be).AllReduce(ts); err != nil {
		t.Fatal(err)
	}
	var all []float32
	for _, x := range ts {
		v := make([]float32, x.Len())
		be.Download(x, v)
		all = append(all, v...)
	}
	if !sameOnAllRanks(t, f32Bytes(all)) {
		t.Errorf("rank %d: reduced gradients differ from rank 0's", world.Rank())
	}
	m := map[string]float64{"tokens": float64(world.Rank() + 1)}
	if err := dist.ReduceMetrics(world, m); err != nil {
		t.Fatal(err)
	}
	if S := world.Size(); m["tokens"] != float64(S*(S+1)/2) {
		t.Errorf("tokens %g", m["tokens"])
	}
	lo, hi, _ := dist.Shard(11, world.Rank(), world.Size())
	local := make([]float64, hi-lo)
	for i := range local {
		local[i] = float64(lo + i)
	}
	got, err := dist.GatherF64(world, 11, local)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != float64(i) {
			t.Fatalf("gathered %v", got)
		}
	}
	wrote := 0
	if err := dist.OnRoot(world, func() error { wrote++; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{true: 1, false: 0}[world.Rank() == 0]; wrote != want {
		t.Errorf("rank %d wrote %d times", world.Rank(), wrote)
	}
}

// TestMPIFailingRankHelper is run by scripts/test-mpi.sh alone, under
// mpirun: the rank named by DIST_ABORT_RANK aborts (DIST_FAIL_MODE=abort,
// through Comm.Abort) or exits without finalising MPI (crash) while the
// others wait in a barrier. The job must end non-zero within seconds;
// the script times it. Without DIST_ABORT_RANK it does nothing.
func TestMPIFailingRankHelper(t *testing.T) {
	s := os.Getenv("DIST_ABORT_RANK")
	if s == "" {
		t.Skip("helper for scripts/test-mpi.sh (set DIST_ABORT_RANK)")
	}
	bad, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("DIST_ABORT_RANK=%q", s)
	}
	if world.Rank() == bad {
		time.Sleep(200 * time.Millisecond) // the others are in the barrier by now
		if os.Getenv("DIST_FAIL_MODE") == "crash" {
			fmt.Fprintf(os.Stderr, "rank %d: exiting with status 4 without MPI_Finalize\n", bad)
			os.Exit(4)
		}
		world.Abort(3, fmt.Errorf("rank %d: bad input (planted by the test)", bad))
	}
	world.Barrier() // never returns: the failing rank ends the job
	t.Fatalf("rank %d left the barrier although rank %d failed", world.Rank(), bad)
}

// dpSeqs is step's global batch: 6 sequences of 12 token ids below vocab.
func dpSeqs(step, vocab int) [][]int32 {
	rng := rand.New(rand.NewPCG(uint64(step), 7))
	seqs := make([][]int32, 6)
	for i := range seqs {
		seqs[i] = make([]int32, 12)
		for j := range seqs[i] {
			seqs[i][j] = int32(rng.IntN(vocab))
		}
	}
	return seqs
}

// nllGrads accumulates into m's gradients the next-token NLL of seqs, each
// token weighted 1/globalTokens (the global normalisation a data-parallel
// loop all-reduces first).
func nllGrads(t *testing.T, m *model.Model, seqs [][]int32, globalTokens int) {
	t.Helper()
	if len(seqs) == 0 {
		return
	}
	be, B, T := m.B, len(seqs), len(seqs[0])
	N := B * T
	ids, tg, w := make([]int32, 0, N), make([]int32, N), make([]float32, N)
	for s, q := range seqs {
		ids = append(ids, q...)
		for j := 0; j+1 < T; j++ {
			tg[s*T+j], w[s*T+j] = q[j+1], 1/float32(globalTokens)
		}
	}
	acts, err := m.Forward(ids, B, T)
	if err != nil {
		t.Fatal(err)
	}
	f := func() backend.Tensor { return be.Alloc(backend.Activations, backend.F32, N) }
	tgt := be.Alloc(backend.Activations, backend.I32, N)
	be.UploadI32(tgt, tg)
	wt, zero := f(), f()
	be.Upload(wt, w)
	out := backend.PGLossOut{Logp: f(), Entropy: f(), LSE: f(), Loss: f(), Coef: f(), Clip: f(), KL: f()}
	in := backend.PGLossIn{Hidden: acts.Hidden(), Head: m.Head(), Targets: tgt, Adv: zero, OldLogp: zero, Weight: wt, Mode: backend.PGNLL}
	be.PGLossForward(out, in)
	dh := be.Alloc(backend.Activations, backend.F32, N, m.Cfg.Dim)
	be.PGLossBackward(dh, m.HeadGrad(), in, out.LSE, out.Coef)
	if err := m.Backward(acts, dh); err != nil {
		t.Fatal(err)
	}
	be.ResetPool(backend.Activations)
}

// weights downloads every parameter of m, in order.
func weights(m *model.Model) []float32 {
	var all []float32
	for _, p := range m.Params {
		v := make([]float32, p.W.Len())
		m.B.Download(p.W, v)
		all = append(all, v...)
	}
	return all
}

// TestMPIDataParallelSteps: three AdamW steps where each rank takes its
// shard of the global batch and the gradients are summed by GradReducer
// leave every rank with bitwise the same parameters, and agree with the
// same steps on the whole batch in one process: bitwise with one rank,
// within 1e-5 otherwise (the gradient sums are added in another order).
func TestMPIDataParallelSteps(t *testing.T) {
	cfg, err := model.Preset("tiny", 29)
	if err != nil {
		t.Fatal(err)
	}
	newModel := func() *model.Model {
		m, err := model.New(cpu.New(1), cfg, 11)
		if err != nil {
			t.Fatal(err)
		}
		m.EnsureTrainState()
		return m
	}
	dp, ref := newModel(), newModel()
	red := dist.NewGradReducer(world, dp.B)
	grads := make([]backend.Tensor, len(dp.Params))
	for i, p := range dp.Params {
		grads[i] = p.G
	}
	adam := func(m *model.Model, step int) {
		for _, p := range m.Params {
			m.B.AdamW(p.W, p.G, p.M, p.V, backend.AdamWParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.01, Step: step})
		}
	}
	for step := 1; step <= 3; step++ {
		seqs := dpSeqs(step, cfg.Vocab)
		global := len(seqs) * (len(seqs[0]) - 1)
		lo, hi, err := dist.Shard(len(seqs), world.Rank(), world.Size())
		if err != nil {
			t.Fatal(err)
		}
		dp.ZeroGrads()
		nllGrads(t, dp, seqs[lo:hi], global)
		if err := red.AllReduce(grads); err != nil {
			t.Fatal(err)
		}
		adam(dp, step)
		ref.ZeroGrads()
		nllGrads(t, ref, seqs, global)
		adam(ref, step)
	}
	if err := errors.Join(dp.B.Err(), ref.B.Err()); err != nil {
		t.Fatal(err)
	}
	got, want := weights(dp), weights(ref)
	if !sameOnAllRanks(t, f32Bytes(got)) {
		t.Errorf("rank %d: parameters differ from rank 0's after 3 data-parallel steps", world.Rank())
	}
	var maxDiff float64
	for i := range got {
		maxDiff = max(maxDiff, math.Abs(float64(got[i])-float64(want[i])))
	}
	t.Logf("%d ranks: max |θ_dp − θ_1proc| = %.3g over %d parameters", world.Size(), maxDiff, len(got))
	if world.Size() == 1 && maxDiff != 0 || maxDiff > 1e-5 {
		t.Errorf("%d ranks: parameters differ from the one-process run by %.3g", world.Size(), maxDiff)
	}
}

// TestMPIAllReduceTiming times fixed all-reduces of the gradient sizes of
// the small preset (821,376 floats) and of a 64 MiB buffer when
// DIST_TIMING is set (a fixed count, so every rank makes the same calls);
// it is a measurement, run by hand under mpirun.
func TestMPIAllReduceTiming(t *testing.T) {
	if os.Getenv("DIST_TIMING") == "" {
		t.Skip("measurement: set DIST_TIMING=1")
	}
	for _, n := range []int{821376, 16 << 20} {
		buf := make([]float32, n)
		const reps = 10
		if err := world.Barrier(); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		for range reps {
			if err := world.AllReduceF32(buf); err != nil {
				t.Fatal(err)
			}
		}
		sec := time.Since(t0).Seconds() / reps
		if world.Rank() == 0 {
			t.Logf("%d ranks: all-reduce of %.2f MB: %.2f ms (%.2f GB/s algorithm bandwidth)", world.Size(), float64(4*n)/1e6, sec*1e3, float64(4*n)/sec/1e9)
		}
	}
}
