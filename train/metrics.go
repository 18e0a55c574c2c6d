package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// CheckpointName is the rolling checkpoint of a run folder (what --resume
// continues from).
const CheckpointName = "checkpoint.safetensors"

const checkpointName = CheckpointName

// metricsWriter appends one JSON object per step to metrics.jsonl; the
// zero value (ranks other than 0) writes nothing.
type metricsWriter struct {
	f *os.File
}

// openMetrics opens metrics.jsonl. On resume it keeps only the lines the
// checkpoint had already seen (finished stages, and steps ≤ the resumed
// step), so that a resumed run's file equals an uninterrupted run's.
func openMetrics(path string, st *runState, resume bool) (*metricsWriter, error) {
	if !resume {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("metrics %s: %w", path, err)
		}
		return &metricsWriter{f: f}, nil
	}
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("metrics %s: %w", path, err)
	}
	var keep bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(old))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var row struct {
			Stage string `json:"stage"`
			Step  int    `json:"step"`
		}
		if json.Unmarshal(sc.Bytes(), &row) != nil {
			continue
		}
		if contains(st.Done, row.Stage) || (row.Stage == st.Stage && row.Step <= st.Step) {
			keep.Write(sc.Bytes())
			keep.WriteByte('\n')
		}
	}
	if err := writeFileAtomic(path, keep.Bytes()); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &metricsWriter{f: f}, nil
}

// Write appends one row; stage and step are always present.
func (w *metricsWriter) Write(stage string, step int, row map[string]any) error {
	row[MetricStage] = stage
	row[MetricStep] = step
	if w.f == nil {
		return nil
	}
	b, err := json.Marshal(row)
	if err != nil {
		return err
	}
	_, err = w.f.Write(append(b, '\n'))
	return err
}

// Close closes the file.
func (w *metricsWriter) Close() error {
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}

// checkpointMeta is the run state carried in a checkpoint's metadata.
func (e *env) checkpointMeta() map[string]string {
	st := *e.state
	st.Elapsed = e.elapsed()
	b, _ := json.Marshal(st)
	return map[string]string{"state": string(b), "saved_at": time.Now().UTC().Format(time.RFC3339)}
}

// elapsed is the run's wall time including earlier processes (resume).
func (e *env) elapsed() float64 {
	return e.state.Elapsed + time.Since(e.start).Seconds()
}

// saveCheckpoint writes the rolling checkpoint (weights, AdamW moments and
// the run state) atomically; rank 0 alone writes it, every rank learns
// whether it failed.
func (e *env) saveCheckpoint() error {
	return e.onRoot(func() error {
		return e.m.SaveCheckpoint(filepath.Join(e.out, checkpointName), e.checkpointMeta(), true)
	})
}
