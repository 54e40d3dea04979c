package loadtest

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Tally counts results as they come, for the progress line and the errors
// by kind.
type Tally struct {
	mu       sync.Mutex
	n, fails int
	recent   []time.Duration // latencies since the last line
	kinds    map[string]int
}

// Add counts one result.
func (t *Tally) Add(r *vegeta.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	t.recent = append(t.recent, r.Latency)
	if k := errorKind(r); k != "" {
		t.fails++
		if t.kinds == nil {
			t.kinds = map[string]int{}
		}
		t.kinds[k]++
	}
}

var addrs = regexp.MustCompile(`(\d{1,3}\.){3}\d{1,3}:\d+|\[[0-9a-f:]+\]:\d+`)

// errorKind names why a result failed: its status, or its error with the
// addresses taken out, so that one cause counts once.
func errorKind(r *vegeta.Result) string {
	switch {
	case r.Error != "" && r.Code == 0:
		e := addrs.ReplaceAllString(r.Error, "ADDR")
		if i := strings.LastIndex(e, ": "); i >= 0 && strings.Contains(e[:i], "ADDR") {
			e = e[i+2:]
		}
		return e
	case r.Code < 200 || r.Code >= 400:
		return fmt.Sprintf("status %d", r.Code)
	}
	return ""
}

// Line is the progress line since the last: results per second, p50 and
// p99 of that interval, errors so far and the time left.
func (t *Tally) Line(interval, left time.Duration) string {
	t.mu.Lock()
	lat := t.recent
	t.recent = nil
	n, fails := t.n, t.fails
	t.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))].Round(10 * time.Microsecond)
	}
	errPct := 0.0
	if n > 0 {
		errPct = 100 * float64(fails) / float64(n)
	}
	return fmt.Sprintf("%7.0f req/s  p50 %-9v p99 %-9v errors %5.2f%% (%d)  %v left",
		float64(len(lat))/interval.Seconds(), q(0.5), q(0.99), errPct, fails, left.Round(time.Second))
}

// Progress writes the line every interval until stop is closed: redrawn
// in place on a terminal, one plain line each time otherwise.
func (t *Tally) Progress(w io.Writer, terminal bool, interval, total time.Duration, stop <-chan struct{}) {
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			if terminal {
				fmt.Fprint(w, "\r\033[K")
			}
			return
		case <-tick.C:
			line := t.Line(interval, max(total-time.Since(start), 0))
			if terminal {
				fmt.Fprint(w, "\r\033[K"+line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}
}

// Report writes vegeta's text report, the latency histogram and the
// errors by kind.
func (t *Tally) Report(w io.Writer, m *vegeta.Metrics) error {
	if err := vegeta.NewTextReporter(m).Report(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nLatency histogram")
	if m.Histogram != nil {
		if err := vegeta.NewHistogramReporter(m.Histogram).Report(w); err != nil {
			return err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.kinds) > 0 {
		fmt.Fprintln(w, "\nErrors by kind")
		kinds := make([]string, 0, len(t.kinds))
		for k := range t.kinds {
			kinds = append(kinds, k)
		}
		sort.Slice(kinds, func(i, j int) bool { return t.kinds[kinds[i]] > t.kinds[kinds[j]] })
		for _, k := range kinds {
			fmt.Fprintf(w, "%8d  %s\n", t.kinds[k], k)
		}
	}
	return nil
}
