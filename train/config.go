// Package train holds Run and its stages: SFT and RL through one stage loop,
// the RL algorithms behind one interface (group baselines, VinePPO, SIRL),
// evaluation, the optimizer, metrics and checkpoint/resume. It speaks only
// backend.Backend, so the same code runs on either engine.
package train

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sirl-dev/sirl/task"
	"github.com/sirl-dev/sirl/tokenizer"
)

// Config is a whole run: what to build, what to train on and how. Every
// field is a config key (YAML, --flag and SIRL_<KEY> env var).
type Config struct {
	Name    string   `mapstructure:"name" yaml:"name"`
	Seed    uint64   `mapstructure:"seed" yaml:"seed"`
	Device  string   `mapstructure:"device" yaml:"device"`
	Threads int      `mapstructure:"threads" yaml:"threads"`
	Stages  []string `mapstructure:"stages" yaml:"stages"`
	// LogSamples writes this many training sequences per RL step to
	// samples.jsonl, with the gated tokens marked inline.
	LogSamples int `mapstructure:"log_samples" yaml:"log_samples"`
	// CheckpointEvery writes the rolling checkpoint every N steps of a
	// stage (0: only at stage ends and on interrupt).
	CheckpointEvery int `mapstructure:"checkpoint_every" yaml:"checkpoint_every"`

	Model ModelConfig `mapstructure:"model" yaml:"model"`
	Task  TaskConfig  `mapstructure:"task" yaml:"task"`
	SFT   SFTConfig   `mapstructure:"sft" yaml:"sft"`
	RL    RLConfig    `mapstructure:"rl" yaml:"rl"`
	SIRL  SIRLConfig  `mapstructure:"sirl" yaml:"sirl"`
	Eval  EvalConfig  `mapstructure:"eval" yaml:"eval"`

	Compare CompareConfig `mapstructure:"compare" yaml:"compare"`
}

// CompareConfig is `train compare`: methods × seeds × tasks from one Stage-0
// checkpoint per (task, seed) at equal total sampled tokens (METHOD.md §4.2).
type CompareConfig struct {
	Methods []string `mapstructure:"methods" yaml:"methods"`
	Seeds   []int    `mapstructure:"seeds" yaml:"seeds"`
	Tasks   []string `mapstructure:"tasks" yaml:"tasks"`
	// SFTSteps, when set, gives Stage 0's SFT steps per task (aligned with
	// Tasks), since tasks reach the mixed-accuracy regime at different steps.
	SFTSteps []int `mapstructure:"sft_steps" yaml:"sft_steps"`
	// RepairRatio, when set, gives Stage 0's sft.repair_ratio per task: a
	// task whose repair mode learns slowly gets more repair examples.
	RepairRatio []float64 `mapstructure:"repair_ratio" yaml:"repair_ratio"`
	// TrainMax, when set, gives task.train_max per task (the difficulty
	// range's top: operations for T1, digits for T2).
	TrainMax []int `mapstructure:"train_max" yaml:"train_max"`
	// TokenBudget, when set, gives rl.token_budget per task: a task whose
	// policy saturates early is compared over the part of the budget where
	// the methods differ. Left out of YAML when unset (see LRSweep).
	TokenBudget []int64 `mapstructure:"token_budget" yaml:"token_budget,omitempty"`
	// LRSweep, when set, tunes the RL learning rate per method and task:
	// each method runs on TuneSeed at every rate (full budget), and the
	// rate with the highest final held-out accuracy (ties: AUC) is used on
	// the reported seeds.
	//
	// Both keys are left out of YAML when unset, so the config.yaml of one
	// run of the grid (which clears the grid) stays byte-identical to that
	// of runs made before the keys existed, and those runs are reused.
	LRSweep []float64 `mapstructure:"lr_sweep" yaml:"lr_sweep,omitempty"`
	// TuneSeed is the sweep's seed; it must not be a reported seed.
	TuneSeed int `mapstructure:"tune_seed" yaml:"tune_seed,omitempty"`
	// LRs, when set, gives each method's RL learning rate (aligned with
	// Methods), for example the rates an earlier sweep chose: the grid
	// then runs no sweep. It excludes LRSweep; left out of YAML when unset.
	LRs []float64 `mapstructure:"lrs" yaml:"lrs,omitempty"`
	// Stage0Seed, when > 0, trains one Stage-0 checkpoint per task with
	// this seed and starts every reported seed and the sweep from it, as
	// RL from one released base model does: the seeds then vary the RL run
	// only. 0 trains one Stage 0 per (task, seed).
	Stage0Seed int `mapstructure:"stage0_seed" yaml:"stage0_seed,omitempty"`
}

// ModelConfig picks the transformer. Zero sizes keep the preset's.
type ModelConfig struct {
	Preset         string `mapstructure:"preset" yaml:"preset"`
	Dim            int    `mapstructure:"dim" yaml:"dim"`
	Layers         int    `mapstructure:"layers" yaml:"layers"`
	Heads          int    `mapstructure:"heads" yaml:"heads"`
	KVHeads        int    `mapstructure:"kv_heads" yaml:"kv_heads"`
	FFN            int    `mapstructure:"ffn" yaml:"ffn"`
	MaxSeq         int    `mapstructure:"max_seq" yaml:"max_seq"`
	TiedEmbeddings bool   `mapstructure:"tied_embeddings" yaml:"tied_embeddings"`
}

// TaskConfig picks the task and its splits.
type TaskConfig struct {
	Name      string `mapstructure:"name" yaml:"name"`
	Mod       int    `mapstructure:"mod" yaml:"mod"`
	TrainMin  int    `mapstructure:"train_min" yaml:"train_min"`
	TrainMax  int    `mapstructure:"train_max" yaml:"train_max"`
	HardMin   int    `mapstructure:"hard_min" yaml:"hard_min"`
	HardMax   int    `mapstructure:"hard_max" yaml:"hard_max"`
	HeldOut   int    `mapstructure:"heldout" yaml:"heldout"`
	Hard      int    `mapstructure:"hard" yaml:"hard"`
	TrainFile string `mapstructure:"train_file" yaml:"train_file"`
	TestFile  string `mapstructure:"test_file" yaml:"test_file"`
	HardFile  string `mapstructure:"hard_file" yaml:"hard_file"`
	// MaxResponseLen is L_max, the most response tokens generated.
	MaxResponseLen int `mapstructure:"max_response_len" yaml:"max_response_len"`
	// PromptKey and AnswerKey name the math task's columns (dotted for
	// nested fields; empty: the usual names, see task.MathPromptKeys).
	PromptKey string `mapstructure:"prompt_key" yaml:"prompt_key"`
	AnswerKey string `mapstructure:"answer_key" yaml:"answer_key"`
	// PromptSuffix is appended to the math task's last user message.
	PromptSuffix string `mapstructure:"prompt_suffix" yaml:"prompt_suffix"`
	// MaxRows caps the rows read from each math data file (0: all).
	MaxRows int `mapstructure:"max_rows" yaml:"max_rows"`
	// ChatTemplate renders prompts for a Hugging Face model (--model):
	// plain, chatml, qwen2.5, qwen3, qwen3-nothink; empty: chatml when the
	// folder's tokenizer_config.json has a chat_template, else plain.
	ChatTemplate string `mapstructure:"chat_template" yaml:"chat_template"`
	// SystemPrompt, when set, is the system turn of every chat prompt.
	SystemPrompt string `mapstructure:"system_prompt" yaml:"system_prompt"`
	// StepCheck is the jsonl task's user-declared checks: "" (none) or a
	// comma-separated list of "arith" (every step an equation of integer
	// expressions that holds; the method's audit then rejects repairs and
	// anchors whose steps do not hold, and the cold start propagates
	// injected errors) and "form" (every correct solution of a problem has
	// one form; a repair must have its anchor's form and the anchors of a
	// prompt must agree on one). T1 takes "arith" too: every step's
	// arithmetic holds modulo its modulus.
	StepCheck string `mapstructure:"step_check" yaml:"step_check"`
}

// OptimConfig is AdamW with linear warm-up then a constant or cosine rate.
type OptimConfig struct {
	LR          float64 `mapstructure:"lr" yaml:"lr"`
	Beta1       float64 `mapstructure:"beta1" yaml:"beta1"`
	Beta2       float64 `mapstructure:"beta2" yaml:"beta2"`
	WeightDecay float64 `mapstructure:"weight_decay" yaml:"weight_decay"`
	GradClip    float64 `mapstructure:"grad_clip" yaml:"grad_clip"`
	WarmupSteps int     `mapstructure:"warmup_steps" yaml:"warmup_steps"`
	Schedule    string  `mapstructure:"schedule" yaml:"schedule"`
}

// SFTConfig is the supervised stage (Stage 0 of METHOD.md §3.3).
type SFTConfig struct {
	Steps     int         `mapstructure:"steps" yaml:"steps"`
	BatchSize int         `mapstructure:"batch_size" yaml:"batch_size"`
	EvalEvery int         `mapstructure:"eval_every" yaml:"eval_every"`
	Optim     OptimConfig `mapstructure:"optim" yaml:"optim"`
	// RepairPairs is N_cold, the error-injected repair pairs mixed in
	// (METHOD.md §3.3); 0 disables the repair cold start.
	RepairPairs int `mapstructure:"repair_pairs" yaml:"repair_pairs"`
	// RepairRatio is the share of repair examples in a batch (1:4 → 0.2).
	RepairRatio float64 `mapstructure:"repair_ratio" yaml:"repair_ratio"`
	// TargetAccuracy ends Stage 0 early, at the first periodic evaluation
	// (eval_every) whose held-out greedy accuracy reaches it (METHOD.md §3.3:
	// RL needs mixed groups, so stop inside [0.3, 0.7]); 0 runs every step.
	TargetAccuracy float64 `mapstructure:"target_accuracy" yaml:"target_accuracy"`
	// TargetRepairAccuracy additionally requires the repair mode's greedy
	// accuracy on injected errors to reach it before stopping early.
	TargetRepairAccuracy float64 `mapstructure:"target_repair_accuracy" yaml:"target_repair_accuracy"`
	// ColdStartMode is where the repair examples come from (train/coldstart.go):
	// "" or inject (error injection into reference traces), failures (the
	// policy's own failed samples) or none (no repair examples whatever
	// repair_pairs says). The cold-start keys are left out of YAML when
	// unset, so the config.yaml of an existing run (and `train compare`'s
	// reuse of it) is unchanged.
	ColdStartMode string `mapstructure:"cold_start" yaml:"cold_start,omitempty"`
	// ColdStartAfter is the policy-only SFT steps before failures are first
	// sampled (0: a third of steps).
	ColdStartAfter int `mapstructure:"cold_start_after" yaml:"cold_start_after,omitempty"`
	// ColdStartPrompts is the training prompts sampled per refresh of the
	// failure pool (0: batch_size).
	ColdStartPrompts int `mapstructure:"cold_start_prompts" yaml:"cold_start_prompts,omitempty"`
}

// RLConfig is the RL stage; names follow TRL/verl where one exists.
type RLConfig struct {
	Algo           string  `mapstructure:"algo" yaml:"algo"`
	Steps          int     `mapstructure:"steps" yaml:"steps"`
	PromptsPerStep int     `mapstructure:"prompts_per_step" yaml:"prompts_per_step"`
	NumGenerations int     `mapstructure:"num_generations" yaml:"num_generations"`
	Temperature    float64 `mapstructure:"temperature" yaml:"temperature"`
	TopP           float64 `mapstructure:"top_p" yaml:"top_p"`
	TopK           int     `mapstructure:"top_k" yaml:"top_k"`
	Epsilon        float64 `mapstructure:"epsilon" yaml:"epsilon"`
	EpsilonHigh    float64 `mapstructure:"epsilon_high" yaml:"epsilon_high"`
	// GSPOEpsilon and GSPOEpsilonHigh are GSPO's sequence-level clip range
	// (rl.algo gspo, sirl.loss gated_gspo); 0 means GSPO's own default,
	// 3e-4 and 4e-4. The command copies rl.epsilon / rl.epsilon_high here
	// when a user sets those and not these, so a user's value is honoured.
	GSPOEpsilon              float64 `mapstructure:"gspo_epsilon" yaml:"gspo_epsilon,omitempty"`
	GSPOEpsilonHigh          float64 `mapstructure:"gspo_epsilon_high" yaml:"gspo_epsilon_high,omitempty"`
	Beta                     float64 `mapstructure:"beta" yaml:"beta"`
	LossType                 string  `mapstructure:"loss_type" yaml:"loss_type"`
	ScaleRewards             bool    `mapstructure:"scale_rewards" yaml:"scale_rewards"`
	NumIterations            int     `mapstructure:"num_iterations" yaml:"num_iterations"`
	Minibatches              int     `mapstructure:"minibatches" yaml:"minibatches"`
	MaskTruncatedCompletions bool    `mapstructure:"mask_truncated_completions" yaml:"mask_truncated_completions"`
	DynamicSampling          bool    `mapstructure:"dynamic_sampling" yaml:"dynamic_sampling"`
	MaxGenBatches            int     `mapstructure:"max_gen_batches" yaml:"max_gen_batches"`
	MCRollouts               int     `mapstructure:"mc_rollouts" yaml:"mc_rollouts"`
	EvalEvery                int     `mapstructure:"eval_every" yaml:"eval_every"`
	TokenBudget              int64   `mapstructure:"token_budget" yaml:"token_budget"`
	// EvalPoints evaluates held-out greedy accuracy at this many evenly
	// spaced fractions of the token budget (the compare curves).
	EvalPoints int         `mapstructure:"eval_points" yaml:"eval_points"`
	Optim      OptimConfig `mapstructure:"optim" yaml:"optim"`
}

// SIRLConfig holds the method's knobs (METHOD.md §3.12).
type SIRLConfig struct {
	Identify            string  `mapstructure:"identify" yaml:"identify"`
	RewardThreshold     float64 `mapstructure:"reward_threshold" yaml:"reward_threshold"`
	MaxRepairsPerPrompt int     `mapstructure:"max_repairs_per_prompt" yaml:"max_repairs_per_prompt"`
	RepairCandidates    int     `mapstructure:"repair_candidates" yaml:"repair_candidates"`
	RepairTemperature   float64 `mapstructure:"repair_temperature" yaml:"repair_temperature"`
	LambdaEdit          float64 `mapstructure:"lambda_edit" yaml:"lambda_edit"`
	DeltaMax            float64 `mapstructure:"delta_max" yaml:"delta_max"`
	Audit               string  `mapstructure:"audit" yaml:"audit"`
	// AuditFromPrompt enables the audit's rule 4 (foreign_symbols) on tasks
	// that can check that copied symbols come from the prompt (T1, T2).
	AuditFromPrompt bool    `mapstructure:"audit_from_prompt" yaml:"audit_from_prompt"`
	Truncation      string  `mapstructure:"truncation" yaml:"truncation"`
	K               int     `mapstructure:"k" yaml:"k"`
	LambdaRep       float64 `mapstructure:"lambda_rep" yaml:"lambda_rep"`
	RepLoss         string  `mapstructure:"rep_loss" yaml:"rep_loss"`
	AdvScale        string  `mapstructure:"adv_scale" yaml:"adv_scale"`
	Alpha           float64 `mapstructure:"alpha" yaml:"alpha"`
	GateScope       string  `mapstructure:"gate_scope" yaml:"gate_scope"`
	GateNorm        string  `mapstructure:"gate_norm" yaml:"gate_norm"`
	Loss            string  `mapstructure:"loss" yaml:"loss"`
	IncludeCorrect  string  `mapstructure:"include_correct" yaml:"include_correct"`
	Fallback        string  `mapstructure:"fallback" yaml:"fallback"`
	Replay          bool    `mapstructure:"replay" yaml:"replay"`
	ReplayCapacity  int     `mapstructure:"replay_capacity" yaml:"replay_capacity"`
	ReplayMaxAge    int     `mapstructure:"replay_max_age" yaml:"replay_max_age"`
	ReplayFraction  float64 `mapstructure:"replay_fraction" yaml:"replay_fraction"`
	ISCap           float64 `mapstructure:"is_cap" yaml:"is_cap"`
	MCRollouts      int     `mapstructure:"mc_rollouts" yaml:"mc_rollouts"`
	Gates           string  `mapstructure:"gates" yaml:"gates"`
}

// EvalConfig is held-out evaluation: greedy accuracy plus avg@k / pass@k.
type EvalConfig struct {
	Samples     int     `mapstructure:"samples" yaml:"samples"`
	Temperature float64 `mapstructure:"temperature" yaml:"temperature"`
	Hard        bool    `mapstructure:"hard" yaml:"hard"`
}

// Defaults is the configuration every run starts from before its file,
// env vars and flags are applied (METHOD.md §3.12 defaults).
func Defaults() Config {
	adam := OptimConfig{LR: 2e-5, Beta1: 0.9, Beta2: 0.95, WeightDecay: 0.01, GradClip: 1.0, WarmupSteps: 10, Schedule: "constant"}
	sftAdam := adam
	sftAdam.LR = 1e-3
	sftAdam.Schedule = "cosine"
	return Config{
		Name: "run", Seed: 1, Device: "auto", Stages: []string{"sft", "rl", "eval"},
		Model: ModelConfig{Preset: "small"},
		Task: TaskConfig{Name: "t1", Mod: 97, TrainMin: 2, TrainMax: 4, HardMin: 5, HardMax: 6,
			HeldOut: 200, Hard: 200, MaxResponseLen: 64},
		SFT: SFTConfig{Steps: 300, BatchSize: 32, EvalEvery: 100, Optim: sftAdam, RepairPairs: 0, RepairRatio: 0.2},
		RL: RLConfig{Algo: "grpo", Steps: 50, PromptsPerStep: 16, NumGenerations: 8, Temperature: 1.0,
			TopP: 1.0, Epsilon: 0.2, EpsilonHigh: 0.2, LossType: "", ScaleRewards: true, NumIterations: 1,
			Minibatches: 1, MaskTruncatedCompletions: true, MaxGenBatches: 4, MCRollouts: 4,
			EvalEvery: 0, Optim: adam},
		SIRL: SIRLConfig{Identify: "repair", RewardThreshold: 0.5, MaxRepairsPerPrompt: 4, RepairCandidates: 2,
			RepairTemperature: 1.0, LambdaEdit: 0.5, DeltaMax: 0.9, Audit: "rules", AuditFromPrompt: true, Truncation: "adaptive", K: 8,
			LambdaRep: 0.1, RepLoss: "grpo", AdvScale: "pair", Alpha: 1.0, GateScope: "ops",
			GateNorm: "seq_mean_active", Loss: "gated_token", IncludeCorrect: "false", Fallback: "none",
			ReplayCapacity: 4096, ReplayMaxAge: 4, ReplayFraction: 0.25, ISCap: 3.0, MCRollouts: 4,
			Gates: "diff"},
		Eval:    EvalConfig{Samples: 0, Temperature: 1.0, Hard: true},
		Compare: CompareConfig{Methods: []string{"grpo", "sirl-repair"}, Seeds: []int{1, 2, 3}, Tasks: []string{"t1"}},
	}
}

func oneOf(key, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("config key %s: %q is not one of %s", key, v, strings.Join(allowed, ", "))
}

func positive(key string, v int) error {
	if v <= 0 {
		return fmt.Errorf("config key %s: must be > 0, got %d", key, v)
	}
	return nil
}

func nonNeg(key string, v int) error {
	if v < 0 {
		return fmt.Errorf("config key %s: must be ≥ 0, got %d", key, v)
	}
	return nil
}

func inRange(key string, v, lo, hi float64) error {
	if v < lo || v > hi {
		return fmt.Errorf("config key %s: %g is out of range [%g, %g]", key, v, lo, hi)
	}
	return nil
}

// stepCheckKey checks task.step_check ("" or a comma-separated list of
// arith and form).
func stepCheckKey(v string) error {
	if _, err := task.ParseStepCheck(v); err != nil {
		return fmt.Errorf("config key %w", err)
	}
	return nil
}

// chatTemplateKey checks task.chat_template (empty: chosen per model).
func chatTemplateKey(name string) error {
	if name == "" {
		return nil
	}
	if _, err := tokenizer.ChatTemplateByName(name); err != nil {
		return fmt.Errorf("config key task.chat_template: %w", err)
	}
	return nil
}

// Validate checks every key's range; the error names the key.
func (c *Config) Validate() error {
	checks := []error{
		oneOf("device", c.Device, "cpu", "cuda", "auto"),
		nonNeg("threads", c.Threads),
		nonNeg("log_samples", c.LogSamples),
		positive("task.max_response_len", c.Task.MaxResponseLen),
		positive("task.train_min", c.Task.TrainMin),
		positive("task.heldout", c.Task.HeldOut),
		nonNeg("task.hard", c.Task.Hard),
		nonNeg("sft.steps", c.SFT.Steps),
		positive("sft.batch_size", c.SFT.BatchSize),
		nonNeg("sft.eval_every", c.SFT.EvalEvery),
		nonNeg("sft.repair_pairs", c.SFT.RepairPairs),
		inRange("sft.repair_ratio", c.SFT.RepairRatio, 0, 1),
		inRange("sft.target_accuracy", c.SFT.TargetAccuracy, 0, 1),
		inRange("sft.target_repair_accuracy", c.SFT.TargetRepairAccuracy, 0, 1),
		oneOf("sft.cold_start", c.SFT.ColdStartMode, coldStartModes()...),
		nonNeg("sft.cold_start_after", c.SFT.ColdStartAfter),
		nonNeg("sft.cold_start_prompts", c.SFT.ColdStartPrompts),
		oneOf("rl.algo", c.RL.Algo, algoNames()...),
		nonNeg("rl.steps", c.RL.Steps),
		positive("rl.prompts_per_step", c.RL.PromptsPerStep),
		positive("rl.num_generations", c.RL.NumGenerations),
		inRange("rl.temperature", c.RL.Temperature, 0, 10),
		inRange("rl.top_p", c.RL.TopP, 1e-6, 1),
		nonNeg("rl.top_k", c.RL.TopK),
		inRange("rl.epsilon", c.RL.Epsilon, 0, 1),
		inRange("rl.epsilon_high", c.RL.EpsilonHigh, 0, 10),
		inRange("rl.gspo_epsilon", c.RL.GSPOEpsilon, 0, 1),
		inRange("rl.gspo_epsilon_high", c.RL.GSPOEpsilonHigh, 0, 10),
		inRange("rl.beta", c.RL.Beta, 0, 10),
		oneOf("rl.loss_type", c.RL.LossType, "", "grpo", "dapo", "dr_grpo", "bnpo"),
		positive("rl.num_iterations", c.RL.NumIterations),
		positive("rl.minibatches", c.RL.Minibatches),
		positive("rl.max_gen_batches", c.RL.MaxGenBatches),
		positive("rl.mc_rollouts", c.RL.MCRollouts),
		nonNeg("rl.eval_every", c.RL.EvalEvery),
		nonNeg("checkpoint_every", c.CheckpointEvery),
		oneOf("sirl.identify", c.SIRL.Identify, "repair", "mc", "sibling"),
		inRange("sirl.reward_threshold", c.SIRL.RewardThreshold, 0, 1),
		positive("sirl.max_repairs_per_prompt", c.SIRL.MaxRepairsPerPrompt),
		positive("sirl.repair_candidates", c.SIRL.RepairCandidates),
		inRange("sirl.repair_temperature", c.SIRL.RepairTemperature, 0, 10),
		inRange("sirl.lambda_edit", c.SIRL.LambdaEdit, 0, 0.999),
		inRange("sirl.delta_max", c.SIRL.DeltaMax, 0, 1),
		oneOf("sirl.audit", c.SIRL.Audit, "rules", "none", "oracle"),
		oneOf("sirl.truncation", c.SIRL.Truncation, "adaptive", "off"),
		positive("sirl.k", c.SIRL.K),
		inRange("sirl.lambda_rep", c.SIRL.LambdaRep, 0, 100),
		oneOf("sirl.rep_loss", c.SIRL.RepLoss, "grpo", "sft"),
		oneOf("sirl.adv_scale", c.SIRL.AdvScale, "pair", "grpo", "mc"),
		inRange("sirl.alpha", c.SIRL.Alpha, 0, 100),
		oneOf("sirl.gate_scope", c.SIRL.GateScope, "ops", "first_divergence", "step"),
		oneOf("sirl.gate_norm", c.SIRL.GateNorm, "seq_mean_active", "token_mean_active", "const"),
		oneOf("sirl.loss", c.SIRL.Loss, "gated_token", "gated_gspo"),
		oneOf("sirl.include_correct", c.SIRL.IncludeCorrect, "false", "grpo"),
		oneOf("sirl.fallback", c.SIRL.Fallback, "none", "grpo"),
		positive("sirl.replay_capacity", c.SIRL.ReplayCapacity),
		positive("sirl.replay_max_age", c.SIRL.ReplayMaxAge),
		inRange("sirl.replay_fraction", c.SIRL.ReplayFraction, 0, 1),
		inRange("sirl.is_cap", c.SIRL.ISCap, 1, 100),
		positive("sirl.mc_rollouts", c.SIRL.MCRollouts),
		oneOf("sirl.gates", c.SIRL.Gates, "diff", "oracle"),
		nonNeg("task.max_rows", c.Task.MaxRows),
		chatTemplateKey(c.Task.ChatTemplate),
		stepCheckKey(c.Task.StepCheck),
		nonNeg("eval.samples", c.Eval.Samples),
		nonNeg("rl.eval_points", c.RL.EvalPoints),
		inRange("eval.temperature", c.Eval.Temperature, 0, 10),
	}
	for _, o := range []struct {
		key string
		o   OptimConfig
	}{{"sft.optim", c.SFT.Optim}, {"rl.optim", c.RL.Optim}} {
		checks = append(checks,
			inRange(o.key+".lr", o.o.LR, 0, 1),
			inRange(o.key+".beta1", o.o.Beta1, 0, 0.99999),
			inRange(o.key+".beta2", o.o.Beta2, 0, 0.99999999),
			inRange(o.key+".weight_decay", o.o.WeightDecay, 0, 10),
			inRange(o.key+".grad_clip", o.o.GradClip, 0, 1e6),
			nonNeg(o.key+".warmup_steps", o.o.WarmupSteps),
			oneOf(o.key+".schedule", o.o.Schedule, "constant", "cosine", "linear"))
	}
	for _, m := range c.Compare.Methods {
		if _, ok := methodOverrides(m); !ok {
			checks = append(checks, fmt.Errorf("config key compare.methods: unknown method %q (known: %s)", m, strings.Join(MethodNames(), ", ")))
		}
	}
	// Per-task lists are aligned with compare.tasks (or empty).
	for _, l := range []struct {
		key string
		n   int
	}{{"sft_steps", len(c.Compare.SFTSteps)}, {"repair_ratio", len(c.Compare.RepairRatio)}, {"train_max", len(c.Compare.TrainMax)}, {"token_budget", len(c.Compare.TokenBudget)}} {
		if l.n > 0 && l.n != len(c.Compare.Tasks) {
			checks = append(checks, fmt.Errorf("config key compare.%s: %d entries for %d tasks", l.key, l.n, len(c.Compare.Tasks)))
		}
	}
	for _, m := range c.Compare.TrainMax {
		if m < c.Task.TrainMin {
			checks = append(checks, fmt.Errorf("config key compare.train_max: %d is below task.train_min %d", m, c.Task.TrainMin))
		}
	}
	for _, r := range c.Compare.RepairRatio {
		checks = append(checks, inRange("compare.repair_ratio", r, 0, 1))
	}
	for _, b := range c.Compare.TokenBudget {
		if b <= 0 {
			checks = append(checks, fmt.Errorf("config key compare.token_budget: %d is not a positive number of sampled tokens", b))
		}
	}
	for _, lr := range c.Compare.LRSweep {
		checks = append(checks, inRange("compare.lr_sweep", lr, 1e-12, 10))
	}
	for _, lr := range c.Compare.LRs {
		checks = append(checks, inRange("compare.lrs", lr, 1e-12, 10))
	}
	if len(c.Compare.LRSweep) > 0 && slices.Contains(c.Compare.Seeds, c.Compare.TuneSeed) {
		checks = append(checks, fmt.Errorf("config key compare.tune_seed: %d is a reported seed (compare.seeds); tune on another seed", c.Compare.TuneSeed))
	}
	if (c.SFT.TargetAccuracy > 0 || c.SFT.TargetRepairAccuracy > 0) && c.SFT.EvalEvery == 0 {
		checks = append(checks, fmt.Errorf("config key sft.target_accuracy: stopping at a target accuracy needs sft.eval_every > 0"))
	}
	if c.SFT.TargetRepairAccuracy > 0 && !c.SFT.repairColdStart() {
		checks = append(checks, fmt.Errorf("config key sft.target_repair_accuracy: needs the repair cold start (sft.repair_pairs > 0, sft.cold_start not none)"))
	}
	if c.SFT.ColdStart() == ColdStartFailures {
		if c.SFT.RepairPairs == 0 {
			checks = append(checks, fmt.Errorf("config key sft.cold_start: failures needs sft.repair_pairs > 0 (the failure pool's capacity)"))
		}
		if c.SFT.Steps > 0 && c.SFT.coldAfter() >= c.SFT.Steps {
			checks = append(checks, fmt.Errorf("config key sft.cold_start_after: %d leaves no step of sft.steps %d to train on failures", c.SFT.coldAfter(), c.SFT.Steps))
		}
	}
	if c.Task.StepCheck != "" && c.Task.Name != "jsonl" && (c.Task.Name != "t1" || c.Task.StepCheck != "arith") {
		checks = append(checks, fmt.Errorf("config key task.step_check: only the jsonl task takes a step checker, and t1 arith (task.name is %q)", c.Task.Name))
	}
	for _, s := range c.Stages {
		checks = append(checks, oneOf("stages", s, "sft", "rl", "eval"))
	}
	if c.Task.TrainMax < c.Task.TrainMin {
		checks = append(checks, fmt.Errorf("config key task.train_max: %d is below task.train_min %d", c.Task.TrainMax, c.Task.TrainMin))
	}
	if c.Task.Hard > 0 && c.Task.HardMax < c.Task.HardMin {
		checks = append(checks, fmt.Errorf("config key task.hard_max: %d is below task.hard_min %d", c.Task.HardMax, c.Task.HardMin))
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}
