package rollout

import (
	"math/rand/v2"
	"testing"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/backend/cpu"
	"github.com/sirl-dev/sirl/model"
)

// BenchmarkGenerate samples 64 prompts × 8 samples × 32 new tokens (no EOS)
// from a random model and reports generated tokens per second.
func BenchmarkGenerate(b *testing.B) {
	for _, preset := range []string{"tiny", "small"} {
		b.Run(preset, func(b *testing.B) {
			cfg, err := model.Preset(preset, 64)
			if err != nil {
				b.Fatal(err)
			}
			m, err := model.New(cpu.New(2), cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			const prompts, n, maxNew, plen = 64, 8, 32, 16
			e, err := New(m, Config{BlockSize: 16, NumBlocks: prompts * (1 + n*3), MaxBatch: 256, EOS: -1})
			if err != nil {
				b.Fatal(err)
			}
			lens := make([]int, prompts)
			for i := range lens {
				lens[i] = plen
			}
			ps := testPrompts(1, lens...)
			p := backend.SampleParams{Temperature: 1, TopP: 1}
			var tokens int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, st, err := e.Generate(ps, n, p, maxNew, rand.New(rand.NewPCG(uint64(i), 0)))
				if err != nil {
					b.Fatal(err)
				}
				tokens += st.Decoded
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
