package memplan

import (
	"fmt"

	"github.com/sirl-dev/sirl/model"
)

// Source says where the shape of the model that will run comes from, in
// the order a run decides it: a checkpoint's header, else a Hugging Face
// folder's config.json, else Preset (a preset with its overrides, resolved
// only when neither file is given).
type Source struct {
	Checkpoint string
	ModelDir   string
	Preset     func() (model.Config, error)
}

// Config returns the model's shape without reading any weights.
func (s Source) Config() (model.Config, error) {
	switch {
	case s.Checkpoint != "":
		return model.ReadCheckpointConfig(s.Checkpoint)
	case s.ModelDir != "":
		return model.ReadHFConfig(s.ModelDir)
	case s.Preset != nil:
		return s.Preset()
	}
	return model.Config{}, fmt.Errorf("memplan: no model source (no checkpoint, Hugging Face folder or preset)")
}
