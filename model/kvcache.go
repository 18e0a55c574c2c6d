package model

import (
	"fmt"

	"github.com/sirl-dev/sirl/backend"
)

// SeqID names one sequence in a KVCache.
type SeqID int

// KVCache is a paged key/value cache: for every layer, K and V are
// [NumBlocks, BlockSize, KVHeads, HeadDim] tensors in the kv pool, and each
// sequence owns an ordered list of block ids. Blocks carry reference counts,
// so Fork shares a prefix without copying; the first append into a shared,
// partly filled block copies it (copy-on-write). A KVCache is not safe for
// concurrent use.
type KVCache struct {
	m                    *Model
	K, V                 []backend.Tensor // per layer
	numBlocks, blockSize int
	blockElems           int // BlockSize·KVHeads·HeadDim

	ref  []int32 // reference count per block
	free []int32 // free block ids, popped from the end
	seqs map[SeqID]*seqState
	next SeqID

	highWater, cowCopies int
	stamp                int64 // marks the sequences of one Step (duplicate check)

	tableBuf, lensBuf, posBuf, idsBuf []int32 // host scratch
}

// seqState is one sequence: its blocks in order and its token count.
type seqState struct {
	blocks []int32
	n      int
	mark   int64
}

// KVStats reports a cache's block use.
type KVStats struct {
	NumBlocks int `json:"num_blocks"`
	BlockSize int `json:"block_size"`
	// Used blocks now, and the most ever used at once.
	Used      int `json:"blocks_used"`
	HighWater int `json:"blocks_high_water"`
	// Shared counts blocks referenced by more than one sequence.
	Shared int `json:"blocks_shared"`
	// CoWCopies counts copy-on-write block copies so far.
	CoWCopies int `json:"cow_copies"`
	// Seqs is the number of live sequences.
	Seqs int `json:"seqs"`
}

// NewKVCache allocates a paged cache of numBlocks blocks of blockSize tokens
// for every layer of m.
func (m *Model) NewKVCache(numBlocks, blockSize int) (*KVCache, error) {
	if numBlocks <= 0 || blockSize <= 0 {
		return nil, fmt.Errorf("kv cache: %d blocks of %d tokens: both must be positive", numBlocks, blockSize)
	}
	c := m.Cfg
	kc := &KVCache{m: m, numBlocks: numBlocks, blockSize: blockSize,
		blockElems: blockSize * c.KVHeads * c.HeadDim(),
		ref:        make([]int32, numBlocks), free: make([]int32, numBlocks),
		seqs: map[SeqID]*seqState{}}
	for i := range kc.free {
		kc.free[i] = int32(numBlocks - 1 - i) // block 0 is handed out first
	}
	for l := 0; l < c.Layers; l++ {
		kc.K = append(kc.K, m.B.Alloc(backend.KV, backend.F32, numBlocks, blockSize, c.KVHeads, c.HeadDim()))
		kc.V = append(kc.V, m.B.Alloc(backend.KV, backend.F32, numBlocks, blockSize, c.KVHeads, c.HeadDim()))
	}
	if err := m.B.Err(); err != nil {
		return nil, fmt.Errorf("kv cache: %w", err)
	}
	return kc, nil
}

// Close frees the cache's tensors; the cache must not be used afterwards.
func (c *KVCache) Close() {
	for l := range c.K {
		c.m.B.Free(c.K[l])
		c.m.B.Free(c.V[l])
	}
	c.K, c.V, c.seqs = nil, nil, nil
}

// BlockSize is the number of tokens per block.
func (c *KVCache) BlockSize() int { return c.blockSize }

// NewSeq starts an empty sequence.
func (c *KVCache) NewSeq() SeqID {
	id := c.next
	c.next++
	c.seqs[id] = &seqState{}
	return id
}

// Fork starts a sequence that shares all of s's blocks (no copy): its
// reference counts go up, and whichever sequence next appends into a shared
// partly filled block copies that block first.
func (c *KVCache) Fork(s SeqID) (SeqID, error) {
	p, ok := c.seqs[s]
	if !ok {
		return 0, fmt.Errorf("kv cache: fork of unknown sequence %d", s)
	}
	id := c.next
	c.next++
	ch := &seqState{blocks: append([]int32(nil), p.blocks...), n: p.n}
	for _, blk := range ch.blocks {
		c.ref[blk]++
	}
	c.seqs[id] = ch
	return id, nil
}

// Release ends a sequence: its blocks' reference counts go down and blocks
// no longer referenced return to the free list. Unknown ids are ignored.
func (c *KVCache) Release(s SeqID) {
	st, ok := c.seqs[s]
	if !ok {
		return
	}
	for _, blk := range st.blocks {
		c.unref(blk)
	}
	delete(c.seqs, s)
}

func (c *KVCache) unref(blk int32) {
	c.ref[blk]--
	if c.ref[blk] == 0 {
		c.free = append(c.free, blk)
	}
}

// Len is the number of tokens cached for s (0 for an unknown id).
func (c *KVCache) Len(s SeqID) int {
	if st, ok := c.seqs[s]; ok {
		return st.n
	}
	return 0
}

// FreeBlocks is the number of unused blocks.
func (c *KVCache) FreeBlocks() int { return len(c.free) }

// Stats reports block use.
func (c *KVCache) Stats() KVStats {
	st := KVStats{NumBlocks: c.numBlocks, BlockSize: c.blockSize, Used: c.numBlocks - len(c.free),
		HighWater: c.highWater, CoWCopies: c.cowCopies, Seqs: len(c.seqs)}
	for _, r := range c.ref {
		if r > 1 {
			st.Shared++
		}
	}
	return st
}

// take pops a free block with reference count 1.
func (c *KVCache) take() int32 {
	blk := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.ref[blk] = 1
	if used := c.numBlocks - len(c.free); used > c.highWater {
		c.highWater = used
	}
	return blk
}

// lookup returns the states of seqs, checking that they exist, appear once
// and have room for extra more tokens under max_seq.
func (c *KVCache) lookup(seqs []SeqID, extra []int) ([]*seqState, error) {
	c.stamp++
	sts := make([]*seqState, len(seqs))
	for i, s := range seqs {
		st, ok := c.seqs[s]
		if !ok {
			return nil, fmt.Errorf("kv cache: unknown sequence %d", s)
		}
		if st.mark == c.stamp {
			return nil, fmt.Errorf("kv cache: sequence %d listed twice in one step", s)
		}
		st.mark = c.stamp
		if st.n+extra[i] > c.m.Cfg.MaxSeq {
			return nil, fmt.Errorf("kv cache: sequence %d would reach %d tokens, over max_seq %d", s, st.n+extra[i], c.m.Cfg.MaxSeq)
		}
		sts[i] = st
	}
	return sts, nil
}

// reserve makes room for extra[i] more tokens in sts[i]: it copies a shared
// last block that will be written (copy-on-write) and appends new blocks.
// It checks the free count first, so on error nothing has changed.
func (c *KVCache) reserve(sts []*seqState, extra []int) error {
	need := 0
	for i, st := range sts {
		if extra[i] == 0 {
			continue
		}
		if st.n%c.blockSize != 0 && c.ref[st.blocks[len(st.blocks)-1]] > 1 {
			need++
		}
		need += ceilDiv(st.n+extra[i], c.blockSize) - len(st.blocks)
	}
	if need > len(c.free) {
		return fmt.Errorf("kv cache: out of blocks: need %d, %d free of %d (block size %d, %d sequences)",
			need, len(c.free), c.numBlocks, c.blockSize, len(c.seqs))
	}
	for i, st := range sts {
		if extra[i] == 0 {
			continue
		}
		if st.n%c.blockSize != 0 {
			last := len(st.blocks) - 1
			if old := st.blocks[last]; c.ref[old] > 1 {
				blk := c.take()
				for l := range c.K {
					c.m.B.CopyRange(c.K[l], int(blk)*c.blockElems, c.K[l], int(old)*c.blockElems, c.blockElems)
					c.m.B.CopyRange(c.V[l], int(blk)*c.blockElems, c.V[l], int(old)*c.blockElems, c.blockElems)
				}
				c.unref(old)
				st.blocks[last] = blk
				c.cowCopies++
			}
		}
		for len(st.blocks) < ceilDiv(st.n+extra[i], c.blockSize) {
			st.blocks = append(st.blocks, c.take())
		}
	}
	return nil
}

// paged uploads the block tables and lengths of sts (after their tokens of
// this step were counted) and returns the op descriptor for layer l's
// tensors (fill in K and V per layer).
func (c *KVCache) paged(sts []*seqState) backend.PagedKV {
	width := 1
	for _, st := range sts {
		width = max(width, len(st.blocks))
	}
	c.tableBuf = grow(c.tableBuf, len(sts)*width)
	c.lensBuf = grow(c.lensBuf, len(sts))
	for i, st := range sts {
		row := c.tableBuf[i*width : (i+1)*width]
		n := copy(row, st.blocks)
		clear(row[n:])
		c.lensBuf[i] = int32(st.n)
	}
	table := c.m.B.Alloc(backend.Activations, backend.I32, len(sts), width)
	c.m.B.UploadI32(table, c.tableBuf)
	return backend.PagedKV{BlockTable: table, SeqLens: c.m.actI32(c.lensBuf), BlockSize: c.blockSize}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
