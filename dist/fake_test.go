package dist_test

import (
	"errors"
	"testing"

	"github.com/sirl-dev/sirl/dist"
	"github.com/sirl-dev/sirl/dist/disttest"
)

// onRanks runs f on n in-process ranks at once (dist/disttest) and returns
// their errors.
func onRanks(t *testing.T, n int, f func(c dist.Comm) error) []error {
	t.Helper()
	return disttest.Run(n, f)
}

// noErrors fails t for each rank's error.
func noErrors(t *testing.T, errs []error) {
	t.Helper()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
