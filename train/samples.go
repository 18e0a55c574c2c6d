package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// renderGated decodes a response with every token that carries loss weight
// marked inline: [+x] for a positive advantage, [-x] for a negative one.
// Tokens outside the gates are printed plain.
func (e *env) renderGated(s Seq) string {
	var b strings.Builder
	for j, tok := range s.Response {
		t := e.tok.Decode([]int32{tok})
		w, a := float32(1), float32(0)
		if s.Weight != nil {
			w = s.Weight[j]
		}
		if s.Adv != nil {
			a = s.Adv[j]
		}
		switch {
		case w != 0 && a > 0:
			b.WriteString("[+" + t + "]")
		case w != 0 && a < 0:
			b.WriteString("[-" + t + "]")
		default:
			b.WriteString(t)
		}
	}
	return b.String()
}

// logSamples appends the first cfg.LogSamples sequences of a step's policy
// batch to samples.jsonl.
func (e *env) logSamples(step int, seqs []Seq) error {
	n := min(e.cfg.LogSamples, len(seqs))
	if n == 0 || !e.root() { // rank 0 logs its own share's samples
		return nil
	}
	f, err := os.OpenFile(filepath.Join(e.out, "samples.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	for _, s := range seqs[:n] {
		row := map[string]any{"stage": "rl", "step": step, "algo": e.cfg.RL.Algo,
			"context": e.tok.Decode(s.Context), "response": e.renderGated(s)}
		if err := enc.Encode(row); err != nil {
			return err
		}
	}
	return nil
}
