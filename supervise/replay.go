package supervise

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Entry is one replay-pool entry (METHOD.md §3.11): a corrected trajectory ȳ
// with its gate g⁺, advantage A⁺, behaviour log-probs log π_beh(ȳ_t) (policy
// mode, at insertion time) and the RL step it was inserted at.
type Entry struct {
	Prompt  string
	Tokens  []int32
	Gate    []float32
	Adv     []float32
	BehLogp []float32
	Step    int
	// Source is where the trajectory came from (SourceRepaired or
	// SourceMCCont); SourceFailed is refused.
	Source string
}

// ErrFailedTrajectory is returned by Push for a failed trajectory (a negative
// advantage or Source "failed"): their negative signal goes stale fastest, so
// they are never replayed.
var ErrFailedTrajectory = errors.New("supervise: replay: failed trajectories are not replayed")

// Pool is the FIFO replay pool: at most Cap entries, each eligible for
// MaxAge RL steps after insertion. It is not safe for concurrent use.
type Pool struct {
	capacity, maxAge int
	entries          []Entry // oldest first
}

// NewPool makes a pool with capacity N_cap (default 4096) and max age a_max
// (default 4).
func NewPool(capacity, maxAge int) (*Pool, error) {
	if capacity < 1 || maxAge < 0 {
		return nil, fmt.Errorf("supervise: replay pool needs capacity ≥ 1 and max age ≥ 0, got %d, %d", capacity, maxAge)
	}
	return &Pool{capacity: capacity, maxAge: maxAge}, nil
}

// Len is the number of entries held.
func (p *Pool) Len() int { return len(p.entries) }

// Cap is N_cap.
func (p *Pool) Cap() int { return p.capacity }

// MaxAge is a_max.
func (p *Pool) MaxAge() int { return p.maxAge }

// Push appends e, dropping the oldest entry when the pool is full. It refuses
// failed trajectories (ErrFailedTrajectory) and entries whose per-token slices
// differ in length from Tokens.
func (p *Pool) Push(e Entry) error {
	if e.Source == SourceFailed {
		return ErrFailedTrajectory
	}
	for _, a := range e.Adv {
		if a < 0 {
			return ErrFailedTrajectory
		}
	}
	n := len(e.Tokens)
	if len(e.Gate) != n || len(e.Adv) != n || len(e.BehLogp) != n {
		return fmt.Errorf("supervise: replay entry has %d tokens but %d gates, %d advantages, %d log-probs", n, len(e.Gate), len(e.Adv), len(e.BehLogp))
	}
	if len(p.entries) == p.capacity {
		copy(p.entries, p.entries[1:])
		p.entries = p.entries[:len(p.entries)-1]
	}
	p.entries = append(p.entries, e)
	return nil
}

// Evict drops entries older than MaxAge at RL step step (step − e.Step > a_max).
func (p *Pool) Evict(step int) {
	keep := p.entries[:0]
	for _, e := range p.entries {
		if step-e.Step <= p.maxAge {
			keep = append(keep, e)
		}
	}
	clear(p.entries[len(keep):])
	p.entries = keep
}

// Sample returns up to n entries, newest first, that are at most MaxAge steps
// old at step and whose prompt is not in exclude (the prompts of the current
// batch). Entries stay in the pool; the slices are shared, not copied.
func (p *Pool) Sample(n, step int, exclude map[string]bool) []Entry {
	var out []Entry
	for i := len(p.entries) - 1; i >= 0 && len(out) < n; i-- {
		e := p.entries[i]
		if step-e.Step > p.maxAge || step < e.Step || exclude[e.Prompt] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// ISWeight is the truncated importance weight of replayed tokens,
// w_t = min(capW, π_old(z_t)/π_beh(z_t)) = min(capW, exp(oldLogp − behLogp))
// (TRL token_truncate, C_IS = 3). It returns nil if the lengths differ.
func ISWeight(oldLogp, behLogp []float32, capW float64) []float32 {
	if len(oldLogp) != len(behLogp) {
		return nil
	}
	out := make([]float32, len(oldLogp))
	for t := range out {
		out[t] = float32(math.Min(capW, math.Exp(float64(oldLogp[t])-float64(behLogp[t]))))
	}
	return out
}

// replayMagic starts the binary form of a pool.
const replayMagic = "SIRLRPL1"

// MarshalBinary encodes the pool exactly (float bits included) for
// checkpoints: magic, capacity, max age, entry count, then each entry.
func (p *Pool) MarshalBinary() ([]byte, error) {
	b := []byte(replayMagic)
	le := binary.LittleEndian
	b = le.AppendUint64(b, uint64(p.capacity))
	b = le.AppendUint64(b, uint64(p.maxAge))
	b = le.AppendUint64(b, uint64(len(p.entries)))
	for _, e := range p.entries {
		b = appendString(b, e.Prompt)
		b = appendString(b, e.Source)
		b = le.AppendUint64(b, uint64(int64(e.Step)))
		b = le.AppendUint64(b, uint64(len(e.Tokens)))
		for _, v := range e.Tokens {
			b = le.AppendUint32(b, uint32(v))
		}
		for _, s := range [][]float32{e.Gate, e.Adv, e.BehLogp} {
			for _, v := range s {
				b = le.AppendUint32(b, math.Float32bits(v))
			}
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes the binary form with bounds checks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errors.New("supervise: replay pool data is truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) count(per int) int {
	n := r.u64()
	if r.err == nil && n > uint64(len(r.b)/per) {
		r.err = fmt.Errorf("supervise: replay pool data claims %d items, only %d bytes left", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) u32s(n int) []uint32 {
	if r.err != nil {
		return nil
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(r.b[4*i:])
	}
	r.b = r.b[4*n:]
	return out
}

// UnmarshalBinary restores a pool written by MarshalBinary, replacing p's
// contents. Corrupt or truncated data is an error and leaves p unchanged.
func (p *Pool) UnmarshalBinary(data []byte) error {
	if len(data) < len(replayMagic) || string(data[:len(replayMagic)]) != replayMagic {
		return errors.New("supervise: not a replay pool (bad magic)")
	}
	r := &reader{b: data[len(replayMagic):]}
	capacity, maxAge, n := int(r.u64()), int(r.u64()), r.count(1)
	if r.err == nil && (capacity < 1 || maxAge < 0 || n > capacity) {
		return fmt.Errorf("supervise: replay pool data has capacity %d, max age %d, %d entries", capacity, maxAge, n)
	}
	entries := make([]Entry, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		var e Entry
		e.Prompt, e.Source = r.str(), r.str()
		e.Step = int(int64(r.u64()))
		m := r.count(16)
		if r.err != nil {
			break
		}
		raw := r.u32s(4 * m)
		e.Tokens = make([]int32, m)
		e.Gate, e.Adv, e.BehLogp = make([]float32, m), make([]float32, m), make([]float32, m)
		for t := 0; t < m; t++ {
			e.Tokens[t] = int32(raw[t])
			e.Gate[t] = math.Float32frombits(raw[m+t])
			e.Adv[t] = math.Float32frombits(raw[2*m+t])
			e.BehLogp[t] = math.Float32frombits(raw[3*m+t])
		}
		entries = append(entries, e)
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("supervise: replay pool data has %d trailing bytes", len(r.b))
	}
	p.capacity, p.maxAge, p.entries = capacity, maxAge, entries
	return nil
}
