package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// ReadHFConfig returns the Config of a Hugging Face folder from its
// config.json alone (no weights are read), with the same defaults and
// checks as LoadHF.
func ReadHFConfig(dir string) (Config, error) {
	c, _, err := readHFConfig(dir)
	return c, err
}

// maxHeaderBytes bounds the safetensors header ReadCheckpointConfig reads.
const maxHeaderBytes = 100 << 20

// ReadCheckpointConfig returns the Config of a checkpoint written by
// SaveCheckpoint, reading only the safetensors header (not the weights).
func ReadCheckpointConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	defer f.Close()
	var n [8]byte
	if _, err := io.ReadFull(f, n[:]); err != nil {
		return Config{}, fmt.Errorf("checkpoint %s: no safetensors header length: %w", path, err)
	}
	hlen := binary.LittleEndian.Uint64(n[:])
	if hlen > maxHeaderBytes {
		return Config{}, fmt.Errorf("checkpoint %s: safetensors header of %d bytes (over %d: not a safetensors file?)", path, hlen, maxHeaderBytes)
	}
	raw := make([]byte, hlen)
	if _, err := io.ReadFull(f, raw); err != nil {
		return Config{}, fmt.Errorf("checkpoint %s: truncated safetensors header: %w", path, err)
	}
	var header struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(raw, &header); err != nil {
		return Config{}, fmt.Errorf("checkpoint %s: bad safetensors header: %w", path, err)
	}
	cj, ok := header.Meta[MetaConfig]
	if !ok {
		return Config{}, fmt.Errorf("checkpoint %s: metadata has no %q entry (not a sirl checkpoint?)", path, MetaConfig)
	}
	var c Config
	if err := json.Unmarshal([]byte(cj), &c); err != nil {
		return Config{}, fmt.Errorf("checkpoint %s: bad config metadata: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return c, nil
}

// ParamSizes lists the element count of every parameter tensor, in the
// order the model allocates them (the tied head counted once).
func (c Config) ParamSizes() []int64 {
	ps := c.paramShapes()
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = int64(p.numel())
	}
	return out
}
