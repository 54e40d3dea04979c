package loadtest

import (
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// RatePlot draws the steps of a limit search as latency against rate
// (p50 and p99, milliseconds), as a PNG: where the latency bends upward is
// where the pod reaches its limit.
func RatePlot(w io.Writer, steps []Step) error {
	p := plot.New()
	p.Title.Text = "latency against rate"
	p.X.Label.Text = "requests per second"
	p.Y.Label.Text = "latency (ms)"
	var p50, p99 plotter.XYs
	for _, s := range steps {
		p50 = append(p50, plotter.XY{X: s.Rate, Y: float64(s.Metrics.Latencies.P50.Microseconds()) / 1000})
		p99 = append(p99, plotter.XY{X: s.Rate, Y: float64(s.Metrics.Latencies.P99.Microseconds()) / 1000})
	}
	sortXY(p50)
	sortXY(p99)
	if err := plotutil.AddLinePoints(p, "p50", p50, "p99", p99); err != nil {
		return err
	}
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

func sortXY(xy plotter.XYs) {
	for i := 1; i < len(xy); i++ {
		for j := i; j > 0 && xy[j].X < xy[j-1].X; j-- {
			xy[j], xy[j-1] = xy[j-1], xy[j]
		}
	}
}
