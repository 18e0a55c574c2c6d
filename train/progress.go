package train

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress is a progress bar on a terminal and plain log lines otherwise.
type progress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	desc  string
	total int
	last  int
}

func newProgress(w io.Writer, total int, desc string) *progress {
	p := &progress{w: w, desc: desc, total: total, last: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && total > 0 {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	return p
}

// Set moves the bar to n done; without a terminal it logs every 10 %.
func (p *progress) Set(n int) {
	if p.bar != nil {
		_ = p.bar.Set(n)
		return
	}
	if p.total <= 0 {
		return
	}
	tenth := n * 10 / p.total
	if tenth != p.last && n > 0 {
		p.last = tenth
		fmt.Fprintf(p.w, "%s: step %d/%d\n", p.desc, n, p.total)
	}
}

// Finish closes the bar.
func (p *progress) Finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
