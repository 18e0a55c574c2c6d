package train

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/sirl-dev/sirl/supervise"
)

// failingMarshaler is a replay pool whose serialisation fails.
type failingMarshaler struct{}

func (failingMarshaler) MarshalBinary() ([]byte, error) { return nil, errors.New("disk pool gone") }

// TestReplaySnapshotError: a replay pool that cannot be serialised is an
// error naming the pool (it used to become "" and a resume silently lost
// the pool); a real pool round-trips.
func TestReplaySnapshotError(t *testing.T) {
	if s, err := encodeReplay(failingMarshaler{}); err == nil || !strings.Contains(err.Error(), "replay pool") || s != "" {
		t.Errorf("encodeReplay of a failing pool: %q, %v; want an error naming the replay pool", s, err)
	}
	p, err := supervise.NewPool(8, 2)
	if err != nil {
		t.Fatal(err)
	}
	s, err := encodeReplay(p)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := supervise.NewPool(1, 1)
	if err := q.UnmarshalBinary(raw); err != nil {
		t.Errorf("snapshot does not decode: %v", err)
	}
	var none *sirlState
	if s, err := none.snapshot(); s != "" || err != nil {
		t.Errorf("no SIRL state: %q, %v; want \"\", nil", s, err)
	}
}

// TestGSPOClipRange: GSPO's sequence clip range is 3e-4/4e-4 only when
// rl.gspo_epsilon(_high) are unset; a user's value, 0.2 included, is
// honoured (0.2 used to read as "unset"), and the token-level range
// (rl.epsilon, rl.epsilon_high) no longer decides it.
func TestGSPOClipRange(t *testing.T) {
	for _, tc := range []struct {
		name             string
		eps, epsHigh     float64 // token-level keys
		gspo, gspoHigh   float64 // GSPO keys
		wantLo, wantHigh float64
	}{
		{"unset", 0.2, 0.2, 0, 0, 3e-4, 4e-4},
		{"unset with clip-higher", 0.2, 0.28, 0, 0, 3e-4, 4e-4},
		{"user 0.2", 0.2, 0.2, 0.2, 0.2, 0.2, 0.2},
		{"user 0.2 and 0.28", 0.2, 0.28, 0.2, 0.28, 0.2, 0.28},
		{"only low set", 0.2, 0.2, 1e-3, 0, 1e-3, 4e-4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.RL.Algo = "gspo"
			c.RL.Epsilon, c.RL.EpsilonHigh = tc.eps, tc.epsHigh
			c.RL.GSPOEpsilon, c.RL.GSPOEpsilonHigh = tc.gspo, tc.gspoHigh
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := gspoEps(c); got != [2]float64{tc.wantLo, tc.wantHigh} {
				t.Errorf("gspoEps = %v, want [%g %g]", got, tc.wantLo, tc.wantHigh)
			}
		})
	}
}
