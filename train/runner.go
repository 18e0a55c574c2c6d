package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/dist"
	"github.com/sirl-dev/sirl/hf"
	"github.com/sirl-dev/sirl/internal/atomicfile"
	"github.com/sirl-dev/sirl/memplan"
	"github.com/sirl-dev/sirl/model"
	"github.com/sirl-dev/sirl/rollout"
	"github.com/sirl-dev/sirl/task"
	"github.com/sirl-dev/sirl/tokenizer"
)

// Options are the per-invocation settings that are not config keys.
type Options struct {
	Out        string    // the run folder
	ConfigYAML []byte    // the resolved config, written to config.yaml
	Resume     bool      // continue from Out/checkpoint.safetensors
	Checkpoint string    // start from this checkpoint
	ModelDir   string    // start from this Hugging Face folder
	Log        io.Writer // progress and tables (stderr)
	// Comm is the data-parallel group (nil: one process). Rank 0 alone
	// writes the run folder; every rank must be given the same config.
	Comm dist.Comm

	stepHook func(stage string, step int) // tests: called after every step
}

// Summary is summary.json: flat dotted keys.
type Summary map[string]any

// env is everything a stage needs.
type env struct {
	ctx     context.Context
	cfg     Config
	be      backend.Backend
	tok     tokenizer.Tokenizer
	eos     int32
	task    task.Task
	splits  *task.Splits
	m       *model.Model
	gen     *rollout.Engine
	out     string
	log     io.Writer
	metrics *metricsWriter
	state   *runState
	start   time.Time
	hook    func(stage string, step int)
	form    textForm // prompts and steps for the run's tokenizer and task
	comm    dist.Comm
	grads   *dist.GradReducer // nil with one rank
}

// runState is what a checkpoint carries besides tensors: the typed state
// that drives the run, and the summary it writes for users.
type runState struct {
	Stage   string            `json:"stage"`     // stage in progress
	Step    int               `json:"step"`      // steps done in that stage
	Done    []string          `json:"done"`      // stages finished
	OptStep int               `json:"opt_step"`  // optimizer updates of the stage
	RNG     []byte            `json:"rng"`       // the stage's PCG state
	RL      rlProgress        `json:"rl"`        // the RL stage's budget and evaluation points
	Summary Summary           `json:"summary"`   // figures so far, for summary.json only
	Extra   map[string]string `json:"extra"`     // stage-specific state (replay pool, ...)
	Elapsed float64           `json:"elapsed_s"` // wall seconds before this process
}

// rlProgress is what decides when the RL stage evaluates and stops.
type rlProgress struct {
	Decoded        float64 `json:"decoded"`          // sampled tokens so far (rl.token_budget)
	EvalPointsDone int     `json:"eval_points_done"` // of rl.eval_points
}

// Run executes the configured stages and writes the run folder.
func Run(ctx context.Context, be backend.Backend, cfg Config, opt Options) (Summary, error) {
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil { // every rank: a rank-local folder is fine
		return nil, fmt.Errorf("run folder %s: %w", opt.Out, err)
	}
	e := &env{ctx: ctx, cfg: cfg, be: be, out: opt.Out, log: opt.Log, start: time.Now(), hook: opt.stepHook,
		state: &runState{Summary: Summary{}, Extra: map[string]string{}}, comm: opt.Comm}
	if e.comm == nil {
		e.comm = dist.Single{}
	}
	if !e.single() {
		e.grads = dist.NewGradReducer(e.comm, be)
	}
	if err := e.checkTask(); err != nil {
		return nil, err
	}
	ckpt := opt.Checkpoint
	if opt.Resume {
		ckpt = filepath.Join(opt.Out, checkpointName)
		if _, err := os.Stat(ckpt); err != nil {
			return nil, fmt.Errorf("--resume %s: no %s to resume from", opt.Out, checkpointName)
		}
	} else if len(opt.ConfigYAML) > 0 && e.root() {
		if err := writeFileAtomic(filepath.Join(opt.Out, "config.yaml"), opt.ConfigYAML); err != nil {
			return nil, err
		}
	}
	if err := e.setup(ckpt, opt.ModelDir, opt.Resume); err != nil {
		return nil, err
	}
	mw := &metricsWriter{}
	var err error
	if e.root() {
		if mw, err = openMetrics(filepath.Join(opt.Out, "metrics.jsonl"), e.state, opt.Resume); err != nil {
			return nil, err
		}
	}
	e.metrics = mw
	defer mw.Close()
	e.state.Summary[KeyDevice] = be.Device()
	e.state.Summary[KeyEngine] = be.Name()
	e.state.Summary["params"] = e.m.Cfg.NumParams()
	for _, st := range cfg.Stages {
		if contains(e.state.Done, st) {
			continue
		}
		if e.state.Stage != st {
			e.state.Stage, e.state.Step, e.state.OptStep, e.state.RNG = st, 0, 0, nil
			e.zeroMoments()
		}
		var err error
		switch st {
		case "sft":
			err = e.runSFT()
		case "rl":
			err = e.runRL()
		case "eval":
			err = e.runFinalEval()
		}
		if err != nil {
			return e.state.Summary, err
		}
		e.state.Done = append(e.state.Done, st)
		e.state.Stage, e.state.Step = "", 0
		if err := e.saveCheckpoint(); err != nil {
			return nil, err
		}
	}
	if err := e.checkAgreement(); err != nil {
		return nil, err
	}
	err = e.onRoot(func() error {
		if err := e.m.SaveCheckpoint(filepath.Join(opt.Out, "final.safetensors"), e.checkpointMeta(), false); err != nil {
			return err
		}
		if err := e.exportHF(); err != nil {
			return err
		}
		if err := writeCurves(filepath.Join(opt.Out, "metrics.jsonl"), filepath.Join(opt.Out, curvesName), e.state.Summary); err != nil {
			return fmt.Errorf("run folder %s: %s: %w", opt.Out, curvesName, err)
		}
		e.state.Summary[KeyWallSeconds] = e.state.Elapsed + time.Since(e.start).Seconds()
		return e.writeSummary()
	})
	if err != nil {
		return nil, err
	}
	return e.state.Summary, nil
}

// setup opens what a run needs in dependency order: the model with its
// tokenizer (a checkpoint's or folder's, else the character vocabulary),
// then the task, rendered for that tokenizer, then the rollout engine.
func (e *env) setup(ckpt, modelDir string, resume bool) error {
	if err := e.setupModel(ckpt, modelDir, resume); err != nil {
		return err
	}
	if err := e.setupTask(); err != nil {
		return err
	}
	return e.setupGen()
}

// checkTask rejects task settings that cannot run, before anything loads.
func (e *env) checkTask() error {
	if e.cfg.Task.Name == "math" && e.cfg.SFT.RepairPairs > 0 && e.cfg.SFT.ColdStart() == ColdStartInject && contains(e.cfg.Stages, "sft") {
		return fmt.Errorf("config key sft.repair_pairs: task math has no error injector for the repair cold start; set it to 0 or sft.cold_start to failures")
	}
	return nil
}

// setupTask builds the task and its splits for the run's tokenizer (set by
// setupModel): math prompts are rendered once, at load, with the model's
// chat template.
func (e *env) setupTask() error {
	tc := e.cfg.Task
	opts := task.Options{Mod: tc.Mod, Train: tc.TrainFile, Test: tc.TestFile, Hard: tc.HardFile,
		PromptKey: tc.PromptKey, AnswerKey: tc.AnswerKey, PromptSuffix: tc.PromptSuffix, MaxRows: tc.MaxRows,
		StepCheck: tc.StepCheck}
	if tc.Name == "math" {
		if e.form.bpe == nil {
			return fmt.Errorf("task math needs a Hugging Face model and its tokenizer: pass --model DIR (or --checkpoint of a --model run); the character vocabulary cannot encode real data")
		}
		tpl := e.form.chat
		opts.Template = &tpl
		e.form.rendered = true
	}
	t, err := task.New(tc.Name, opts)
	if err != nil {
		return err
	}
	e.task = t
	e.form.steps = stepsFor(t)
	e.splits, err = task.NewSplits(t, task.SplitConfig{Seed: e.cfg.Seed, TrainMin: tc.TrainMin, TrainMax: tc.TrainMax,
		HeldOut: tc.HeldOut, Hard: tc.Hard, HardMin: tc.HardMin, HardMax: tc.HardMax})
	return err
}

// modelConfig resolves the preset and its overrides.
func (e *env) modelConfig() (model.Config, error) {
	mc := e.cfg.Model
	c, err := model.Preset(mc.Preset, e.tok.VocabSize())
	if err != nil {
		return c, fmt.Errorf("config key model.preset: %w", err)
	}
	set := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	set(&c.Dim, mc.Dim)
	set(&c.Layers, mc.Layers)
	set(&c.Heads, mc.Heads)
	set(&c.KVHeads, mc.KVHeads)
	set(&c.FFN, mc.FFN)
	set(&c.MaxSeq, mc.MaxSeq)
	c.TiedEmbeddings = mc.TiedEmbeddings
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config key model: %w", err)
	}
	return c, nil
}

// setupModel loads or builds the model and sets the run's tokenizer: the
// one a checkpoint records or a Hugging Face folder holds, else the
// character vocabulary.
func (e *env) setupModel(ckpt, modelDir string, resume bool) error {
	var err error
	tc := e.cfg.Task
	ch := tokenizer.NewChar()
	e.tok = ch
	e.eos, _ = ch.Special(tokenizer.EOS)
	switch {
	case ckpt != "":
		var meta map[string]string
		e.m, meta, err = model.LoadCheckpoint(e.be, ckpt)
		if err != nil {
			return err
		}
		if resume {
			if err := json.Unmarshal([]byte(meta["state"]), e.state); err != nil {
				return fmt.Errorf("checkpoint %s: bad run state: %w", ckpt, err)
			}
			if e.state.Extra == nil {
				e.state.Extra = map[string]string{}
			}
		}
		src, err := hf.CheckpointSource(ckpt, meta)
		if err != nil {
			return err
		}
		if src != nil || modelDir != "" {
			bpe, tpl, src, err := hf.CheckpointTokenizer(ckpt, src, modelDir, e.m.Cfg.Vocab, tc.ChatTemplate, tc.SystemPrompt)
			if err != nil {
				return err
			}
			if err := e.useHF(bpe, tpl, src); err != nil {
				return err
			}
		} else if e.m.Cfg.Vocab != e.tok.VocabSize() {
			return fmt.Errorf("checkpoint %s: vocabulary %d does not match the task tokenizer's %d", ckpt, e.m.Cfg.Vocab, e.tok.VocabSize())
		}
	case modelDir != "":
		m, bpe, tpl, src, err := hf.LoadFolder(e.be, modelDir, tc.ChatTemplate, tc.SystemPrompt)
		if err != nil {
			return err
		}
		e.m = m
		if err := e.useHF(bpe, tpl, src); err != nil {
			return err
		}
	default:
		c, err := e.modelConfig()
		if err != nil {
			return err
		}
		if e.m, err = model.New(e.be, c, e.cfg.Seed); err != nil {
			return err
		}
	}
	return nil
}

// setupGen opens the rollout engine over the model's paged KV cache.
func (e *env) setupGen() error {
	var err error
	e.gen, err = rollout.New(e.m, rollout.Config{BlockSize: memplan.KVBlockSize,
		NumBlocks: memplan.KVCacheTokens / memplan.KVBlockSize, MaxBatch: memplan.DecodeBatch, EOS: e.eos})
	return err
}

// stageRNG returns the stage's generator, restored from the checkpoint when
// resuming mid-stage.
func (e *env) stageRNG(stage string) (*rand.PCG, error) {
	var h uint64 = 1469598103934665603
	for _, c := range stage {
		h = (h ^ uint64(c)) * 1099511628211
	}
	p := rand.NewPCG(e.cfg.Seed, h)
	if len(e.state.RNG) > 0 {
		if err := p.UnmarshalBinary(e.state.RNG); err != nil {
			return nil, fmt.Errorf("checkpoint: bad RNG state: %w", err)
		}
	}
	return p, nil
}

func (e *env) writeSummary() error {
	b, err := json.MarshalIndent(e.state.Summary, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(e.out, "summary.json"), append(b, '\n'))
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// writeFileAtomic writes a run-folder file whole or not at all.
func writeFileAtomic(path string, data []byte) error { return atomicfile.Write(path, data) }

// zeroMoments clears the AdamW moments a previous stage left in memory: a
// new stage restarts its optimizer at update 0, whose bias correction
// assumes zero moments (as when the stage starts from a checkpoint file).
func (e *env) zeroMoments() {
	for _, p := range e.m.Params {
		if p.M != nil {
			e.be.Fill(p.M, 0)
		}
		if p.V != nil {
			e.be.Fill(p.V, 0)
		}
	}
}
