package wire

// Series is what GET /api/v1/routes/{route}/series returns: each backend's
// answers per second, From to To (Unix seconds, inclusive).
type Series struct {
	Route    string          `json:"route"`
	Interval int             `json:"interval"` // seconds per point
	From     int64           `json:"from"`
	To       int64           `json:"to"`
	Backends []BackendSeries `json:"backends"`
}

// BackendSeries is one backend of a route with its per-second answers.
type BackendSeries struct {
	Backend string      `json:"backend"`
	Version string      `json:"version,omitempty"`
	Seconds SecondStats `json:"seconds"`
}

// SecondStats are a backend's answers in each of a run of seconds, as
// columns, as a chart takes them.
type SecondStats struct {
	// Time is each second's start, Unix seconds.
	Time     []int64 `json:"t"`
	Requests []int   `json:"requests"`
	Errors   []int   `json:"errors"` // 5xx
	// P50 and P99 are latency quantiles in seconds: the upper bound of the
	// histogram bucket they fall in, so within a factor of √2; null for a
	// second without timed answers.
	P50 []*float64 `json:"p50"`
	P99 []*float64 `json:"p99"`
}
