package train

// Metric names of metrics.jsonl rows, shared by the loops that write them
// and the readers (package compare): renaming one renames it everywhere.
const (
	MetricStage             = "stage"                     // the stage of the row
	MetricStep              = "step"                      // steps done in that stage
	MetricGreedyAccuracy    = "eval/greedy_accuracy"      // held-out greedy accuracy (evaluation rows)
	MetricStepAccuracy      = "eval/greedy_step_accuracy" // reference steps right before the first wrong one (greedy)
	MetricRepairAccuracy    = "eval/repair_accuracy"      // the repair mode's accuracy on injected errors
	MetricDecodedCumulative = "tokens/decoded_cumulative" // sampled tokens of the RL stage so far
	MetricReward            = "reward"                    // mean reward of the step's rollouts (RL)
	MetricLoss              = "loss"                      // SFT loss (mean NLL per token)
	MetricPolicyLoss        = "policy_loss"               // RL policy loss
	MetricStepSeconds       = "step_seconds"              // wall time of the step
	MetricGroupsMixed       = "groups/mixed"              // share of groups with mixed rewards (RL)
	MetricDecoded           = "tokens/decoded"            // tokens sampled this step (RL)
	MetricTrained           = "tokens/trained"            // response tokens with a gradient this step (RL)
	MetricLocalised         = "sirl/localised"            // failures whose first wrong step SIRL localised
	// The failures cold start's refresh rows (SFT): samples drawn, those
	// that failed, failures added to the pool, and the pool's size.
	MetricColdSampled = "cold_start/sampled"
	MetricColdFailed  = "cold_start/failed"
	MetricColdKept    = "cold_start/added"
	MetricColdPool    = "cold_start/pool"
	// MetricTimePrefix starts the names of a step's phase times (RL):
	// time/generation, time/scoring, time/identify_correct, time/training.
	MetricTimePrefix = "time/"
)

// Summary keys of summary.json read outside this package.
const (
	KeyDevice = "device" // the engine's hardware in words
	KeyEngine = "engine" // cpu or cuda
	// KeyParamsSHA256 is the SHA-256 of the final parameters (every rank
	// holds the same; train/dp.go).
	KeyParamsSHA256 = "params_sha256"
	KeyWallSeconds  = "wall_seconds" // wall time of the run, resumes included
	KeySFTStepsRun  = "sft.steps_run"
	// KeyEvalGreedy is a stage's held-out greedy accuracy after the stage
	// prefix: "sft." + KeyEvalGreedy, "rl." + KeyEvalGreedy.
	KeyEvalGreedy         = "eval.greedy_accuracy"
	KeySFTRepairAccuracy  = "sft.eval.repair_accuracy"
	KeySFTColdKept        = "sft.cold_start.added" // failures added to the pool, all refreshes
	KeySFTColdPool        = "sft.cold_start.pool"  // the failure pool's size at the last refresh
	KeyRLDecoded          = "rl.tokens.decoded"
	KeyRLPrefilled        = "rl.tokens.prefilled"
	KeyRLTrained          = "rl.tokens.trained"
	KeyRLLocalised        = "rl.localised"
	KeyRLLocalisedCorrect = "rl.localised_correct"
	KeyRLAttempted        = "rl.failures_attempted"
	KeyRLCorrected        = "rl.failures_corrected"
)

// Float is the number under key (JSON numbers read back are float64, ints
// written in this process are int) and whether there is one.
func (s Summary) Float(key string) (float64, bool) {
	switch v := s[key].(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	}
	return 0, false
}
