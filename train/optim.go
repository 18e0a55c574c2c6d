package train

import (
	"fmt"
	"math"

	"github.com/sirl-dev/sirl/backend"
	"github.com/sirl-dev/sirl/dist"
	"github.com/sirl-dev/sirl/model"
)

// Optimizer is AdamW over every parameter of a model with a learning-rate
// schedule and global gradient-norm clipping: the optimizer of every stage.
type Optimizer struct {
	cfg   OptimConfig
	total int // steps of the stage (for cosine/linear decay)
	step  int // updates done so far
	// grads sums the gradients across ranks before the clip and the
	// update (nil: one process).
	grads *dist.GradReducer
}

// NewOptimizer is a stage's optimizer at update 0; total is the stage's
// steps (for the schedule's decay).
func NewOptimizer(cfg OptimConfig, total int) *Optimizer {
	return &Optimizer{cfg: cfg, total: total}
}

// lr is the learning rate of update number step+1.
func (o *Optimizer) lr() float64 {
	s := o.step + 1
	base := o.cfg.LR
	if o.cfg.WarmupSteps > 0 && s <= o.cfg.WarmupSteps {
		return base * float64(s) / float64(o.cfg.WarmupSteps)
	}
	if o.total <= o.cfg.WarmupSteps {
		return base
	}
	frac := float64(s-o.cfg.WarmupSteps) / float64(o.total-o.cfg.WarmupSteps)
	frac = math.Min(math.Max(frac, 0), 1)
	switch o.cfg.Schedule {
	case "cosine":
		return base * (0.1 + 0.9*0.5*(1+math.Cos(math.Pi*frac)))
	case "linear":
		return base * (1 - 0.9*frac)
	}
	return base
}

// Apply clips the gradient norm, takes one AdamW step and returns the
// pre-clip gradient norm and the learning rate used. A non-finite norm is an
// error naming the first parameter whose gradient is not finite.
func (o *Optimizer) Apply(m *model.Model) (gradNorm, lr float64, err error) {
	if !m.HasTrainState() {
		return 0, 0, fmt.Errorf("optimizer: the model has no gradients or moments (EnsureTrainState was not called)")
	}
	be := m.B
	grads := make([]backend.Tensor, len(m.Params))
	for i, p := range m.Params {
		grads[i] = p.G
	}
	if o.grads != nil {
		if err := o.grads.AllReduce(grads); err != nil {
			return 0, 0, err
		}
	}
	ss := be.SumSquares(grads...)
	gradNorm = math.Sqrt(ss)
	if math.IsNaN(gradNorm) || math.IsInf(gradNorm, 0) {
		for _, p := range m.Params {
			if v := be.SumSquares(p.G); math.IsNaN(v) || math.IsInf(v, 0) {
				return gradNorm, 0, fmt.Errorf("gradient of %s is not finite", p.Name)
			}
		}
		return gradNorm, 0, fmt.Errorf("gradient norm is not finite")
	}
	if c := o.cfg.GradClip; c > 0 && gradNorm > c {
		s := float32(c / (gradNorm + 1e-6))
		for _, g := range grads {
			be.Scale(g, s)
		}
	}
	lr = o.lr()
	o.step++
	for _, p := range m.Params {
		wd := o.cfg.WeightDecay
		if len(p.Shape) < 2 { // no decay on norms and biases
			wd = 0
		}
		be.AdamW(p.W, p.G, p.M, p.V, backend.AdamWParams{LR: float32(lr), Beta1: float32(o.cfg.Beta1),
			Beta2: float32(o.cfg.Beta2), Eps: 1e-8, WeightDecay: float32(wd), Step: o.step})
	}
	return gradNorm, lr, be.Err()
}
