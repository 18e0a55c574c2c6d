package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// curvesName is the run's own curves, beside metrics.jsonl.
const curvesName = "curves.png"

// curve is one line of the curves figure: a metric of the rows of a stage.
type curve struct {
	stage, metric, label string
	color                color.RGBA
}

// writeCurves draws the run's loss, reward and held-out greedy accuracy
// against the run's step (SFT steps, then RL steps) from metricsPath into
// path: three panels, one above the other. The accuracy at each stage's end
// comes from the summary.
func writeCurves(metricsPath, path string, sum Summary) error {
	f, err := os.Open(metricsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	pts := map[string]plotter.XYs{}
	offset := map[string]float64{}
	lastStep := map[string]float64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return fmt.Errorf("%s: %w", metricsPath, err)
		}
		stage, _ := row[MetricStage].(string)
		step, _ := row[MetricStep].(float64)
		if stage == "rl" {
			offset["rl"] = lastStep["sft"]
		}
		lastStep[stage] = step
		for _, m := range []string{MetricLoss, MetricPolicyLoss, MetricReward, MetricGreedyAccuracy} {
			if v, ok := row[m].(float64); ok {
				k := stage + "\x00" + m
				pts[k] = append(pts[k], plotter.XY{X: step + offset[stage], Y: v})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", metricsPath, err)
	}
	for _, stage := range []string{"sft", "rl"} {
		if v, ok := sum.Float(stage + "." + KeyEvalGreedy); ok && lastStep[stage] > 0 {
			k := stage + "\x00" + MetricGreedyAccuracy
			pts[k] = append(pts[k], plotter.XY{X: lastStep[stage] + offset[stage], Y: v})
		}
	}
	blue, orange, green := color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255}
	panels := []struct {
		y      string
		unit   bool // a [0, 1] axis
		curves []curve
	}{
		{"loss", false, []curve{{"sft", MetricLoss, "SFT loss", blue}, {"rl", MetricPolicyLoss, "RL policy loss", orange}}},
		{"reward", true, []curve{{"rl", MetricReward, "RL mean reward", orange}}},
		{"greedy accuracy", true, []curve{{"sft", MetricGreedyAccuracy, "held-out (SFT)", blue}, {"rl", MetricGreedyAccuracy, "held-out (RL)", green}}},
	}
	steps := lastStep["sft"] + lastStep["rl"]
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		p.X.Label.Text = "step (SFT, then RL)"
		p.Y.Label.Text = pn.y
		p.Legend.Top = true
		p.X.Min, p.X.Max = 0, max(steps, 1)
		if pn.unit {
			p.Y.Min, p.Y.Max = 0, 1
		}
		for _, c := range pn.curves {
			xy := pts[c.stage+"\x00"+c.metric]
			if len(xy) == 0 {
				continue
			}
			l, s, err := plotter.NewLinePoints(xy)
			if err != nil {
				return err
			}
			l.Color, s.Color = c.color, c.color
			s.Radius = vg.Points(1.5)
			p.Add(l, s)
			p.Legend.Add(c.label, l)
		}
		plots[i] = []*plot.Plot{p}
	}
	img := vgimg.New(7*vg.Inch, 9*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(8), PadTop: vg.Points(4), PadBottom: vg.Points(4),
		PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
