package gpu

import (
	"math/rand/v2"
	"testing"
)

func TestArena(t *testing.T) {
	a := newArena(4096)
	x, _ := a.alloc(100)
	y, _ := a.alloc(300)
	if x != 0 || y != 256 || a.inUse() != 256+512 {
		t.Fatalf("offsets %d %d, in use %d", x, y, a.inUse())
	}
	a.free(x, 100) // not on top: stays until y goes
	if a.top != 768 || a.inUse() != 512 {
		t.Fatalf("after freeing the bottom: top %d, in use %d", a.top, a.inUse())
	}
	a.free(y, 300)
	if a.top != 0 || a.inUse() != 0 {
		t.Fatalf("after freeing both: top %d, in use %d", a.top, a.inUse())
	}
	m := a.mark()
	a.alloc(1000)
	a.alloc(1000)
	a.release(m)
	if a.top != 0 || a.inUse() != 0 {
		t.Fatalf("after release: top %d, in use %d", a.top, a.inUse())
	}
	if _, err := a.alloc(5000); err == nil {
		t.Fatal("allocating past the capacity did not fail")
	}
	a.alloc(10)
	a.reset()
	if a.top != 0 || a.inUse() != 0 {
		t.Fatal("reset left memory in use")
	}
}

// TestFreeList allocates and frees at random and checks that live ranges
// never overlap, stay in bounds, and that freeing everything coalesces
// back to one hole.
func TestFreeList(t *testing.T) {
	const capacity = 1 << 20
	f := newFreeList(capacity)
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[int64]int64{}
	for step := 0; step < 5000; step++ {
		if len(live) > 0 && rng.IntN(2) == 0 {
			for off, size := range live {
				f.free(off, size)
				delete(live, off)
				break
			}
			continue
		}
		size := int64(1 + rng.IntN(20000))
		off, err := f.alloc(size)
		if err != nil {
			continue
		}
		if off%align != 0 || off+size > capacity {
			t.Fatalf("bad range [%d, %d)", off, off+size)
		}
		for o, s := range live {
			if off < o+alignUp(s) && o < off+alignUp(size) {
				t.Fatalf("[%d,+%d) overlaps [%d,+%d)", off, size, o, s)
			}
		}
		live[off] = size
	}
	for off, size := range live {
		f.free(off, size)
	}
	if f.inUse() != 0 || len(f.holes) != 1 || f.holes[0] != (span{0, capacity}) {
		t.Fatalf("after freeing all: in use %d, holes %v", f.inUse(), f.holes)
	}
}

func TestPoolPlanTotal(t *testing.T) {
	p := PoolPlan{"weights": 100}
	if p.Total() != 100+DefaultScratch {
		t.Fatalf("total %d", p.Total())
	}
	p[Scratch] = 7
	if p.Total() != 107 {
		t.Fatalf("total %d", p.Total())
	}
}
