// Command ckptdiff compares the parameters of two checkpoints
// (.safetensors): it prints the largest absolute difference and the tensor
// it is in, and exits 1 when it exceeds the tolerance (default 0: bitwise)
// or the files hold other tensors. scripts/test-mpi.sh uses it to compare
// runs on 1 and on N ranks.
//
//	go run ./scripts/ckptdiff A.safetensors B.safetensors [tolerance]
package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"

	"github.com/sirl-dev/sirl/model"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ckptdiff:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 || len(args) > 3 {
		return fmt.Errorf("usage: ckptdiff A.safetensors B.safetensors [tolerance]")
	}
	tol := 0.0
	if len(args) == 3 {
		var err error
		if tol, err = strconv.ParseFloat(args[2], 64); err != nil || tol < 0 {
			return fmt.Errorf("tolerance %q: want a number ≥ 0", args[2])
		}
	}
	a, err := model.ReadSafetensors(args[0])
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	b, err := model.ReadSafetensors(args[1])
	if err != nil {
		return fmt.Errorf("%s: %w", args[1], err)
	}
	names := a.Names()
	slices.Sort(names)
	if bn := b.Names(); len(bn) != len(names) {
		return fmt.Errorf("%s holds %d tensors, %s %d", args[0], len(names), args[1], len(bn))
	}
	worst, where := 0.0, ""
	for _, n := range names {
		x, err := a.Tensor(n)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", args[0], n, err)
		}
		y, err := b.Tensor(n)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", args[1], n, err)
		}
		if len(x.Data) != len(y.Data) {
			return fmt.Errorf("%s: %d values in %s, %d in %s", n, len(x.Data), args[0], len(y.Data), args[1])
		}
		for i := range x.Data {
			d := math.Abs(float64(x.Data[i]) - float64(y.Data[i]))
			if d > worst || math.IsNaN(d) {
				worst, where = d, n
			}
		}
	}
	fmt.Printf("max |Δ| %.3g (%s) over %d tensors, tolerance %g\n", worst, where, len(names), tol)
	if !(worst <= tol) {
		return fmt.Errorf("the checkpoints differ by %.3g in %s, more than %g", worst, where, tol)
	}
	return nil
}
