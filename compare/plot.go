package compare

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/sirl-dev/sirl/train"
)

// plotTask draws held-out accuracy against sampled tokens per method: the
// mean over seeds with its 95 % t-interval as a band, the reference
// method's (the grid's first) mean final accuracy as a dashed line, and
// each method's mean tokens to that level as a marker on it when every seed
// reached it. The y axis spans the seeds' accuracies (a band wider than
// the data, as a t-interval over 3 seeds often is, is clipped).
func plotTask(path, tk string, cfg train.Config, runs []RunResult, budget float64) error {
	p, err := taskPlot(tk, cfg, runs, budget)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

// taskPlot builds plotTask's figure.
func taskPlot(tk string, cfg train.Config, runs []RunResult, budget float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "held-out greedy accuracy vs sampled tokens: " + tk
	p.X.Label.Text = "sampled tokens"
	p.Y.Label.Text = "greedy accuracy (mean, 95 % CI over seeds)"
	methods := append([]string(nil), cfg.Compare.Methods...)
	sort.Strings(methods)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, m := range methods {
		const n = 40
		mean := make(plotter.XYs, n+1)
		band := make(plotter.XYs, 2*(n+1))
		for k := 0; k <= n; k++ {
			x := budget * float64(k) / n
			var ys []float64
			for _, r := range runs {
				if r.Task == tk && r.Method == m {
					ys = append(ys, accAt(r.Curve, x))
				}
			}
			mu, h := math.NaN(), 0.0
			if len(ys) > 0 {
				mu, h = meanCI(ys)
			}
			mean[k].X, mean[k].Y = x, mu
			band[k] = plotter.XY{X: x, Y: mu - h}
			band[2*n+1-k] = plotter.XY{X: x, Y: mu + h}
			for _, y := range ys {
				lo, hi = math.Min(lo, y), math.Max(hi, y)
			}
		}
		if math.IsNaN(mean[0].Y) {
			continue
		}
		c := palette(i)
		if poly, err := plotter.NewPolygon(band); err == nil {
			r, g, b, _ := c.RGBA()
			poly.Color = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 40}
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
		l, err := plotter.NewLine(mean)
		if err != nil {
			return nil, err
		}
		l.Color = c
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(m, l)
	}
	if err := markReference(p, tk, cfg.Compare.Methods, methods, runs, budget); err != nil {
		return nil, err
	}
	if lo <= hi {
		pad := math.Max(0.02, 0.08*(hi-lo))
		p.Y.Min, p.Y.Max = math.Max(0, lo-pad), math.Min(1, hi+pad)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return p, nil
}

// markReference draws the reference method's mean final accuracy as a
// dashed line and, on it, each method's mean tokens to reach the
// reference's final accuracy seed by seed (only methods where every seed
// reached it). sorted is the plot's method order (for colours).
func markReference(p *plot.Plot, tk string, grid, sorted []string, runs []RunResult, budget float64) error {
	if len(grid) == 0 {
		return nil
	}
	var finals []float64
	for _, r := range runs {
		if r.Task == tk && r.Method == grid[0] && len(r.Curve) > 0 {
			finals = append(finals, accAt(r.Curve, budget))
		}
	}
	if len(finals) == 0 {
		return nil
	}
	level := stat.Mean(finals, nil)
	ln, err := plotter.NewLine(plotter.XYs{{X: 0, Y: level}, {X: budget, Y: level}})
	if err != nil {
		return err
	}
	ln.Color = color.Gray{Y: 90}
	ln.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(ln)
	p.Legend.Add(grid[0]+" final (mean)", ln)
	for _, rc := range reachAll(tk, grid, runs, budget) {
		if !rc.Reached() {
			continue
		}
		sc, err := plotter.NewScatter(plotter.XYs{{X: stat.Mean(rc.Tokens, nil), Y: level}})
		if err != nil {
			return err
		}
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		sc.GlyphStyle.Radius = vg.Points(4)
		sc.GlyphStyle.Color = palette(sort.SearchStrings(sorted, rc.Method))
		p.Add(sc)
	}
	return nil
}

func palette(i int) color.Color {
	cs := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
		{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}}
	return cs[i%len(cs)]
}
