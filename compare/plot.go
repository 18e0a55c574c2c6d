package compare

import (
	"image/color"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/sirl-dev/sirl/train"
)

// plotTask draws mean held-out accuracy against sampled tokens per method.
func plotTask(path, tk string, cfg train.Config, runs []RunResult, budget float64) error {
	p := plot.New()
	p.Title.Text = "held-out greedy accuracy vs sampled tokens: " + tk
	p.X.Label.Text = "sampled tokens"
	p.Y.Label.Text = "greedy accuracy"
	methods := append([]string(nil), cfg.Compare.Methods...)
	sort.Strings(methods)
	for i, m := range methods {
		const n = 20
		pts := make(plotter.XYs, n+1)
		for k := 0; k <= n; k++ {
			x := budget * float64(k) / n
			var ys []float64
			for _, r := range runs {
				if r.Task == tk && r.Method == m {
					ys = append(ys, accAt(r.Curve, x))
				}
			}
			pts[k].X, pts[k].Y = x, stat.Mean(ys, nil)
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = palette(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(m, l)
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top = true
	p.Legend.Left = true
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

func palette(i int) color.Color {
	cs := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
		{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}}
	return cs[i%len(cs)]
}
