package backend

import (
	"fmt"
	"slices"
	"strings"
)

// PoolPlan gives the bytes of device memory each pool takes at start. A pool
// absent from the plan has no memory: allocating from it is an error. The
// CPU engine grows its pools on demand and ignores plans; the memplan
// package builds one from the model that will run.
type PoolPlan map[Pool]int64

// Scratch is a GPU engine's private pool for the temporaries of its ops
// (attention statistics, logits chunks of the loss, sort keys, partial
// sums). A plan without it gets DefaultScratch bytes.
const Scratch Pool = "scratch"

// DefaultScratch is the scratch pool size when a plan does not give one.
const DefaultScratch int64 = 512 << 20

// Total is the sum of the plan's pool sizes, scratch included (with its
// default when absent).
func (p PoolPlan) Total() int64 {
	var t int64
	for _, b := range p {
		t += b
	}
	if _, ok := p[Scratch]; !ok {
		t += DefaultScratch
	}
	return t
}

// String lists the pools in a fixed order (Pools, then the others as
// Scratch last) with their sizes in MiB, and the total.
func (p PoolPlan) String() string {
	var b strings.Builder
	seen := map[Pool]bool{}
	add := func(pl Pool, n int64) {
		fmt.Fprintf(&b, "%s %.1f MiB, ", pl, float64(n)/(1<<20))
		seen[pl] = true
	}
	for _, pl := range Pools {
		if n, ok := p[pl]; ok {
			add(pl, n)
		}
	}
	var extra []string
	for pl := range p {
		if !seen[pl] && pl != Scratch {
			extra = append(extra, string(pl))
		}
	}
	slices.Sort(extra)
	for _, pl := range extra {
		add(Pool(pl), p[Pool(pl)])
	}
	sc, ok := p[Scratch]
	if !ok {
		sc = DefaultScratch
	}
	add(Scratch, sc)
	fmt.Fprintf(&b, "total %.2f GiB", float64(p.Total())/(1<<30))
	return b.String()
}
