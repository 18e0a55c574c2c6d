package rollout

import (
	"fmt"
	"math/rand/v2"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/model"
)

// lane is one sample being decoded: its sequence and the token it feeds next.
type lane struct {
	seq    model.SeqID
	sample int   // sample index
	next   int32 // the token fed next (the last one sampled)
}

// row is one row of a Sample call: which logits row, for which sample.
type row struct {
	src, sample int
}

// run is the state of one Generate call.
type run struct {
	e       *Engine
	prompts [][]int32
	n       int
	p       backend.SampleParams
	maxNew  int
	samples []Sample
	streams []*rand.Rand
	stats   Stats

	lanes     []lane              // lanes of the next round, in order
	live      map[model.SeqID]int // live sequence → its group
	groupLive []int               // live sequences per group
	nextGroup int                 // first prompt not yet admitted
	reserved  int                 // worst-case blocks of the admitted groups
}

// loop runs rounds until every prompt has been admitted and every sample
// has finished. A round admits the prompt groups that fit, prefills them
// (MaxBatch prompts per Prefill call) and forks their samples, then steps
// every lane once (MaxBatch lanes per Step call).
func (r *run) loop() error {
	r.live = make(map[model.SeqID]int)
	r.groupLive = make([]int, len(r.prompts))
	mb := r.e.cfg.MaxBatch
	for {
		admitted := r.admit()
		for off := 0; off < len(admitted); off += mb {
			if err := r.prefill(admitted[off:min(off+mb, len(admitted))]); err != nil {
				return err
			}
		}
		if len(r.lanes) == 0 {
			switch {
			case r.nextGroup == len(r.prompts):
				return nil
			case len(admitted) == 0:
				return fmt.Errorf("rollout: prompt %d does not fit in an empty cache", r.nextGroup)
			}
			continue // every admitted sample ended on its first token
		}
		cur := r.lanes
		r.lanes = make([]lane, 0, len(cur))
		for off := 0; off < len(cur); off += mb {
			if err := r.step(cur[off:min(off+mb, len(cur))]); err != nil {
				return err
			}
		}
	}
}

// admit returns the next prompt groups, in order, whose worst-case block
// needs fit next to the groups already running, and reserves their blocks.
func (r *run) admit() []int {
	var gs []int
	for r.nextGroup < len(r.prompts) {
		g := r.nextGroup
		need := groupBlocks(len(r.prompts[g]), r.n, r.maxNew, r.e.cfg.BlockSize)
		if r.reserved+need > r.e.cfg.NumBlocks {
			break
		}
		r.reserved += need
		gs = append(gs, g)
		r.nextGroup++
	}
	return gs
}

// prefill runs the prompts of groups through one Prefill call, samples each
// prompt's n first tokens from its last-position logits and gives every
// sample that goes on a sequence sharing the prompt's blocks.
func (r *run) prefill(groups []int) error {
	e := r.e
	seqs := make([]model.SeqID, len(groups))
	prompts := make([][]int32, len(groups))
	var rows []row
	for i, g := range groups {
		seqs[i] = e.cache.NewSeq()
		r.live[seqs[i]] = g
		r.groupLive[g] = 1
		prompts[i] = r.prompts[g]
		r.stats.Prefilled += int64(len(prompts[i]))
		for k := range r.n {
			rows = append(rows, row{i, g*r.n + k})
		}
	}
	e.b.ResetPool(backend.Activations)
	logits, err := e.m.Prefill(e.cache, seqs, prompts)
	if err != nil {
		return fmt.Errorf("rollout: prefill of prompts %d..%d: %w", groups[0], groups[len(groups)-1], err)
	}
	r.stats.Prefills++
	r.stats.KVHighWater = max(r.stats.KVHighWater, e.cfg.NumBlocks-e.cache.FreeBlocks())
	next, logp, err := r.draw(logits, len(groups), rows)
	if err != nil {
		return err
	}
	// The samples that go on fork the prompt's sequence, except the last of
	// each prompt, which takes the sequence over.
	goOn := make([][]lane, len(groups))
	for i, rw := range rows {
		if r.record(rw.sample, next[i], logp[i]) {
			goOn[rw.src] = append(goOn[rw.src], lane{sample: rw.sample, next: next[i]})
		}
	}
	for i, lns := range goOn {
		parent := seqs[i]
		if len(lns) == 0 {
			r.release(parent)
			continue
		}
		for k := range lns {
			lns[k].seq = parent
			if k < len(lns)-1 {
				child, err := e.cache.Fork(parent)
				if err != nil {
					return fmt.Errorf("rollout: fork of prompt %d: %w", groups[i], err)
				}
				r.live[child] = groups[i]
				r.groupLive[groups[i]]++
				lns[k].seq = child
			}
			r.lanes = append(r.lanes, lns[k])
		}
	}
	// Measured after the forks, before the samples' first writes copy any
	// partly filled prompt block.
	r.stats.KVShared = max(r.stats.KVShared, e.cache.Stats().Shared)
	return nil
}

// step feeds each lane of chunk its last token in one Step call, samples
// the next token of each and queues the lanes that go on.
func (r *run) step(chunk []lane) error {
	e := r.e
	seqs := make([]model.SeqID, len(chunk))
	toks := make([]int32, len(chunk))
	rows := make([]row, len(chunk))
	for i, ln := range chunk {
		seqs[i], toks[i], rows[i] = ln.seq, ln.next, row{i, ln.sample}
	}
	e.b.ResetPool(backend.Activations)
	logits, err := e.m.Step(e.cache, seqs, toks)
	if err != nil {
		return fmt.Errorf("rollout: step %d: %w", r.stats.Steps, err)
	}
	r.stats.Steps++
	r.stats.KVHighWater = max(r.stats.KVHighWater, e.cfg.NumBlocks-e.cache.FreeBlocks())
	r.stats.KVShared = max(r.stats.KVShared, e.cache.Stats().Shared)
	next, logp, err := r.draw(logits, len(chunk), rows)
	if err != nil {
		return err
	}
	for i, ln := range chunk {
		if r.record(ln.sample, next[i], logp[i]) {
			ln.next = next[i]
			r.lanes = append(r.lanes, ln)
		} else {
			r.release(ln.seq)
		}
	}
	return nil
}

// draw samples one token per row from the rows' logits with one uniform per
// row from the row's sample stream. Rows that read the same logits row (the
// samples of a just-prefilled prompt) each get their own copy of it.
func (r *run) draw(logits backend.Tensor, nrows int, rows []row) ([]int32, []float32, error) {
	if len(rows) == 0 {
		return nil, nil, nil
	}
	e := r.e
	V := e.vocab
	if sh := logits.Shape(); len(sh) != 2 || sh[0] != nrows || sh[1] != V {
		return nil, nil, fmt.Errorf("rollout: Step returned logits %v, want [%d %d]", sh, nrows, V)
	}
	src := logits
	if !identity(rows, nrows) {
		src = e.b.Alloc(backend.Activations, logits.DType(), len(rows), V)
		for i, rw := range rows {
			e.b.CopyRange(src, i*V, logits, rw.src*V, V)
		}
	}
	u := make([]float32, len(rows))
	for i, rw := range rows {
		u[i] = r.streams[rw.sample].Float32()
	}
	ut := e.b.Alloc(backend.Activations, backend.F32, len(rows))
	e.b.Upload(ut, u)
	tt := e.b.Alloc(backend.Activations, backend.I32, len(rows))
	lt := e.b.Alloc(backend.Activations, backend.F32, len(rows))
	e.b.Sample(tt, lt, src, ut, r.p)
	next := make([]int32, len(rows))
	logp := make([]float32, len(rows))
	e.b.DownloadI32(tt, next)
	e.b.Download(lt, logp)
	if err := e.b.Err(); err != nil {
		return nil, nil, fmt.Errorf("rollout: sample: %w", err)
	}
	for i, t := range next {
		if t < 0 || int(t) >= V {
			return nil, nil, fmt.Errorf("rollout: Sample op returned token %d outside the vocabulary (%d) for row %d", t, V, i)
		}
	}
	return next, logp, nil
}

// identity reports whether rows are exactly the logits rows 0..nrows−1 in order.
func identity(rows []row, nrows int) bool {
	if len(rows) != nrows {
		return false
	}
	for i, rw := range rows {
		if rw.src != i {
			return false
		}
	}
	return true
}

// record appends a sampled token to sample s and reports whether the sample
// goes on (no EOS and fewer than maxNew tokens).
func (r *run) record(s int, tok int32, lp float32) bool {
	r.stats.Decoded++
	sm := &r.samples[s]
	if tok == r.e.cfg.EOS {
		sm.Finished = true
		sm.EOSLogp = lp
		return false
	}
	sm.Tokens = append(sm.Tokens, tok)
	sm.Logp = append(sm.Logp, lp)
	if len(sm.Tokens) == r.maxNew {
		sm.Truncated = true
		return false
	}
	return true
}

// release frees a sequence's blocks and, when its group has no live
// sequence left, returns the group's reservation.
func (r *run) release(seq model.SeqID) {
	g, ok := r.live[seq]
	if !ok {
		return
	}
	r.e.cache.Release(seq)
	delete(r.live, seq)
	r.groupLive[g]--
	if r.groupLive[g] == 0 {
		r.reserved -= groupBlocks(len(r.prompts[g]), r.n, r.maxNew, r.e.cfg.BlockSize)
	}
}

// releaseAll frees every live sequence (after an error, or as a no-op after
// a complete run).
func (r *run) releaseAll() {
	for seq := range r.live {
		r.release(seq)
	}
}
