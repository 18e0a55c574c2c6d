package cpu

import (
	"fmt"
	"math"
	"sort"

	"github.com/sirl-dev/sirl/backend"
	"gorgonia.org/tensor"
)

// Tensor is the CPU engine's tensor: a gorgonia.org/tensor dense tensor whose
// backing slice the ops read and write directly. BF16 tensors hold float32
// values rounded to bfloat16 on every write.
type Tensor struct {
	eng   *Engine
	dense *tensor.Dense // nil when the tensor has no elements
	f     []float32     // backing of F32 and BF16 tensors
	i     []int32       // backing of I32 tensors
	shape []int
	n     int
	dt    backend.DType
	pool  backend.Pool
	freed bool
}

// Shape returns a copy of the tensor's shape.
func (t *Tensor) Shape() []int { return append([]int(nil), t.shape...) }

// DType is the element type.
func (t *Tensor) DType() backend.DType { return t.dt }

// Pool is the pool the tensor was allocated from.
func (t *Tensor) Pool() backend.Pool { return t.pool }

// Len is the number of elements.
func (t *Tensor) Len() int { return t.n }

// Dense returns the host tensor behind t (nil for an empty tensor). Writes
// through it bypass bf16 rounding.
func (t *Tensor) Dense() *tensor.Dense { return t.dense }

// bytes is the tensor's size as the pools account it.
func (t *Tensor) bytes() int64 { return int64(t.n) * int64(t.dt.Size()) }

// Alloc returns a zeroed tensor from pool p. A negative dimension or an
// unknown dtype sets the sticky error and returns an unusable tensor.
func (e *Engine) Alloc(p backend.Pool, dt backend.DType, shape ...int) backend.Tensor {
	t := &Tensor{eng: e, shape: append([]int(nil), shape...), dt: dt, pool: p}
	for _, s := range shape {
		if s < 0 {
			e.fail(fmt.Errorf("cpu: Alloc: negative dimension in shape %v", shape))
			t.freed = true
			return t
		}
	}
	if dt != backend.F32 && dt != backend.BF16 && dt != backend.I32 {
		e.fail(fmt.Errorf("cpu: Alloc: unknown dtype %v", dt))
		t.freed = true
		return t
	}
	t.n = backend.Numel(shape)
	if t.n > 0 {
		hs := shape
		if len(hs) == 0 {
			hs = []int{1}
		}
		if dt == backend.I32 {
			t.dense = tensor.New(tensor.WithShape(hs...), tensor.Of(tensor.Int32))
			t.i = t.dense.Data().([]int32)
		} else {
			t.dense = tensor.New(tensor.WithShape(hs...), tensor.Of(tensor.Float32))
			t.f = t.dense.Data().([]float32)
		}
	}
	e.mu.Lock()
	ps := e.pool(p)
	ps.live[t] = struct{}{}
	ps.inUse += t.bytes()
	if ps.inUse > ps.high {
		ps.high = ps.inUse
	}
	e.mu.Unlock()
	return t
}

// pool returns the state of p, creating it; e.mu must be held.
func (e *Engine) pool(p backend.Pool) *poolState {
	ps := e.pools[p]
	if ps == nil {
		ps = &poolState{live: map[*Tensor]struct{}{}}
		e.pools[p] = ps
	}
	return ps
}

// Free releases t. Freeing a tensor twice sets the sticky error.
func (e *Engine) Free(t backend.Tensor) {
	if t == nil {
		return
	}
	c := &opCheck{e: e, op: "Free"}
	ct := c.tensor(t, "tensor")
	if !c.ok() {
		return
	}
	e.mu.Lock()
	ps := e.pool(ct.pool)
	delete(ps.live, ct)
	ps.inUse -= ct.bytes()
	e.mu.Unlock()
	ct.release()
}

// release marks t freed and drops its storage.
func (t *Tensor) release() {
	t.freed = true
	t.dense, t.f, t.i = nil, nil, nil
}

// ResetPool frees every tensor of pool p; later use of them is an error.
func (e *Engine) ResetPool(p backend.Pool) {
	e.mu.Lock()
	ps := e.pool(p)
	for t := range ps.live {
		t.release()
	}
	ps.live = map[*Tensor]struct{}{}
	ps.inUse = 0
	e.mu.Unlock()
}

// PoolStats reports every pool (backend.Pools first, then others by name).
// Capacity is 0: CPU pools grow on demand.
func (e *Engine) PoolStats() []backend.PoolStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []backend.PoolStats
	seen := map[backend.Pool]bool{}
	for _, p := range backend.Pools {
		ps := e.pool(p)
		out = append(out, backend.PoolStats{Pool: p, InUse: ps.inUse, HighWater: ps.high})
		seen[p] = true
	}
	var extra []string
	for p := range e.pools {
		if !seen[p] {
			extra = append(extra, string(p))
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		ps := e.pools[backend.Pool(name)]
		out = append(out, backend.PoolStats{Pool: backend.Pool(name), InUse: ps.inUse, HighWater: ps.high})
	}
	return out
}

// Upload copies src into dst (len(src) must equal dst.Len()), rounding for bf16.
func (e *Engine) Upload(dst backend.Tensor, src []float32) {
	c := e.begin("Upload")
	if c == nil {
		return
	}
	d := c.floatN(dst, "dst", len(src))
	if !c.ok() {
		return
	}
	copy(d.f, src)
	d.round(0, d.n)
}

// UploadI32 copies src into the I32 tensor dst.
func (e *Engine) UploadI32(dst backend.Tensor, src []int32) {
	c := e.begin("UploadI32")
	if c == nil {
		return
	}
	d := c.ints(dst, "dst", len(src))
	if !c.ok() {
		return
	}
	copy(d.i, src)
}

// Download copies src into dst (len(dst) must equal src.Len()).
func (e *Engine) Download(src backend.Tensor, dst []float32) {
	c := e.begin("Download")
	if c == nil {
		return
	}
	s := c.floatN(src, "src", len(dst))
	if !c.ok() {
		return
	}
	copy(dst, s.f)
}

// DownloadI32 copies the I32 tensor src into dst.
func (e *Engine) DownloadI32(src backend.Tensor, dst []int32) {
	c := e.begin("DownloadI32")
	if c == nil {
		return
	}
	s := c.ints(src, "src", len(dst))
	if !c.ok() {
		return
	}
	copy(dst, s.i)
}

// Copy copies src into dst: same element count, both float (fp32/bf16,
// converting) or both i32.
func (e *Engine) Copy(dst, src backend.Tensor) {
	c := e.begin("Copy")
	if c == nil {
		return
	}
	d, s := c.tensor(dst, "dst"), c.tensor(src, "src")
	if !c.ok() {
		return
	}
	c.require(d.n == s.n, "dst %v and src %v differ in size", d.shape, s.shape)
	c.require((d.dt == backend.I32) == (s.dt == backend.I32), "dst is %v, src is %v", d.dt, s.dt)
	if !c.ok() {
		return
	}
	if d.dt == backend.I32 {
		copy(d.i, s.i)
		return
	}
	copy(d.f, s.f)
	d.round(0, d.n)
}

// CopyRange copies n elements from src[srcOff:] to dst[dstOff:] (same dtype).
func (e *Engine) CopyRange(dst backend.Tensor, dstOff int, src backend.Tensor, srcOff, n int) {
	c := e.begin("CopyRange")
	if c == nil {
		return
	}
	d, s := c.tensor(dst, "dst"), c.tensor(src, "src")
	if !c.ok() {
		return
	}
	c.require(d.dt == s.dt, "dst is %v, src is %v", d.dt, s.dt)
	c.require(n >= 0 && dstOff >= 0 && srcOff >= 0 && dstOff+n <= d.n && srcOff+n <= s.n,
		"range dst[%d:+%d] of %d, src[%d:+%d] of %d out of bounds", dstOff, n, d.n, srcOff, n, s.n)
	if !c.ok() {
		return
	}
	if d.dt == backend.I32 {
		copy(d.i[dstOff:dstOff+n], s.i[srcOff:srcOff+n])
		return
	}
	copy(d.f[dstOff:dstOff+n], s.f[srcOff:srcOff+n])
}

// Fill sets every element of t to v (truncated to an integer for i32).
func (e *Engine) Fill(t backend.Tensor, v float32) {
	c := e.begin("Fill")
	if c == nil {
		return
	}
	d := c.tensor(t, "t")
	if !c.ok() {
		return
	}
	if d.dt == backend.I32 {
		iv := int32(v)
		for i := range d.i {
			d.i[i] = iv
		}
		return
	}
	if d.dt == backend.BF16 {
		v = bf16Round(v)
	}
	for i := range d.f {
		d.f[i] = v
	}
}

// round rounds elements [lo, hi) to bfloat16 when t is a BF16 tensor.
func (t *Tensor) round(lo, hi int) {
	if t == nil || t.dt != backend.BF16 {
		return
	}
	s := t.f[lo:hi]
	for i, v := range s {
		s[i] = bf16Round(v)
	}
}

// bf16Round rounds a float32 to the nearest bfloat16 (ties to even) and
// returns it as a float32. NaN stays NaN; infinities stay infinite.
func bf16Round(x float32) float32 {
	b := math.Float32bits(x)
	if b&0x7f800000 == 0x7f800000 {
		if b&0x007fffff != 0 {
			return math.Float32frombits((b | 0x00400000) &^ 0xffff)
		}
		return x
	}
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}
