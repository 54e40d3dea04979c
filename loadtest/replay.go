package loadtest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Entry is one request of an access log.
type Entry struct {
	At     time.Time
	Method string
	Host   string
	// URI is the path and query as the client sent them.
	URI string
	// coarse: the log has whole seconds only (the combined format).
	coarse bool
}

// BadLine is a line the reader could not use, by its number.
type BadLine struct {
	Line int
	Why  string
}

// combined is nginx's and Apache's combined format:
// addr - user [02/Jan/2006:15:04:05 -0700] "GET /p HTTP/1.1" 200 12 "ref" "ua"
var combined = regexp.MustCompile(`^\S+ \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)(?: [^"]*)?" \d{3} `)

// ReadLog reads cutover's JSON access-log lines and combined-format lines,
// in any mix; a line that is neither, or lacks a time, method or path, is
// counted, not fatal.
func ReadLog(r io.Reader) ([]Entry, []BadLine, error) {
	var out []Entry
	var bad []BadLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			bad = append(bad, BadLine{n, err.Error()})
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, bad, err
	}
	slices.SortStableFunc(out, func(a, b Entry) int { return a.At.Compare(b.At) })
	spreadWholeSeconds(out)
	return out, bad, nil
}

// spreadWholeSeconds spaces the requests a whole-second log gives the same
// second evenly across it, so that a replay does not send each second's
// requests in one burst at its start.
func spreadWholeSeconds(es []Entry) {
	for i := 0; i < len(es); {
		j := i
		for j < len(es) && es[j].coarse && es[j].At.Equal(es[i].At) {
			j++
		}
		if j == i {
			i++
			continue
		}
		for k := i; k < j; k++ {
			es[k].At = es[k].At.Add(time.Duration(k-i) * time.Second / time.Duration(j-i))
		}
		i = j
	}
	slices.SortStableFunc(es, func(a, b Entry) int { return a.At.Compare(b.At) })
}

func parseLine(line string) (Entry, error) {
	if strings.HasPrefix(line, "{") {
		var j struct {
			Time       string  `json:"time"`
			Method     string  `json:"method"`
			Host       string  `json:"host"`
			Path       string  `json:"path"`
			Query      string  `json:"query"`
			DurationMS float64 `json:"duration_ms"`
		}
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			return Entry{}, fmt.Errorf("not JSON: %v", err)
		}
		at, err := time.Parse(time.RFC3339Nano, j.Time)
		if err != nil || j.Method == "" || !strings.HasPrefix(j.Path, "/") {
			return Entry{}, fmt.Errorf("a JSON line without a time, method or path")
		}
		uri := j.Path
		if j.Query != "" {
			uri += "?" + j.Query
		}
		// cutover logs when the answer ended; the request started earlier.
		at = at.Add(-time.Duration(j.DurationMS * float64(time.Millisecond)))
		return Entry{At: at, Method: j.Method, Host: j.Host, URI: uri}, nil
	}
	m := combined.FindStringSubmatch(line)
	if m == nil {
		return Entry{}, fmt.Errorf("neither a JSON line nor the combined format")
	}
	at, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[1])
	if err != nil || !strings.HasPrefix(m[3], "/") {
		return Entry{}, fmt.Errorf("a combined line with a bad time or request")
	}
	return Entry{At: at, Method: m[2], URI: m[3], coarse: true}, nil
}

// ReplayOptions are a replay's settings.
type ReplayOptions struct {
	Target *url.URL
	// Compare, when set, gets every request too; the answers are compared.
	Compare *url.URL
	// Speed divides the log's gaps: 2 replays twice as fast.
	Speed float64
	// Methods are replayed; the rest are skipped (default GET and HEAD:
	// replaying writes would repeat them).
	Methods []string
	// Host replaces the logged Host when set.
	Host        string
	Concurrency int
	Timeout     time.Duration
}

// Difference is how the two targets answered one path differently.
type Difference struct {
	Path            string
	Requests        int
	StatusDiffers   int
	BodyDiffers     int
	Example, Answer string // one request and what each side said
}

// ReplayResult is what a replay did.
type ReplayResult struct {
	Metrics     *vegeta.Metrics
	Sent        int
	Skipped     int
	Differences []Difference
	// Late is how far the last request was behind its schedule, when the
	// concurrency cap held requests back.
	Late time.Duration
}

// Replay sends the entries at the log's pace, divided by the speed; each
// result goes to the observers as vegeta results.
func Replay(ctx context.Context, entries []Entry, o ReplayOptions, observers ...func(*vegeta.Result)) *ReplayResult {
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if len(o.Methods) == 0 {
		o.Methods = []string{"GET", "HEAD"}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 256
	}
	client := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res := &ReplayResult{Metrics: &vegeta.Metrics{}}
	res.Metrics.Histogram = &vegeta.Histogram{Buckets: DefaultBuckets}
	var mu sync.Mutex
	diffs := map[string]*Difference{}
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	var first time.Time
	for i, e := range entries {
		if !slices.Contains(o.Methods, e.Method) {
			res.Skipped++
			continue
		}
		if first.IsZero() {
			first = e.At
		}
		due := start.Add(time.Duration(float64(e.At.Sub(first)) / o.Speed))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		res.Late = max(res.Late, time.Since(due))
		res.Sent++
		wg.Add(1)
		go func(seq int, e Entry) {
			defer wg.Done()
			defer func() { <-sem }()
			r, hashA := send(ctx, client, o.Target, o.Host, e, uint64(seq))
			var cmp *vegeta.Result
			var hashB string
			if o.Compare != nil {
				cmp, hashB = send(ctx, client, o.Compare, o.Host, e, uint64(seq))
			}
			mu.Lock()
			defer mu.Unlock()
			res.Metrics.Add(r) // the histogram too
			for _, f := range observers {
				f(r)
			}
			if cmp == nil {
				return
			}
			path, _, _ := strings.Cut(e.URI, "?")
			d := diffs[path]
			if d == nil {
				d = &Difference{Path: path}
				diffs[path] = d
			}
			d.Requests++
			switch {
			case r.Code != cmp.Code:
				d.StatusDiffers++
			case hashA != hashB:
				d.BodyDiffers++
			default:
				return
			}
			if d.Example == "" {
				d.Example = e.Method + " " + e.URI
				d.Answer = fmt.Sprintf("%d (%s) against %d (%s)", r.Code, hashA[:12], cmp.Code, hashB[:12])
			}
		}(i, e)
	}
	wg.Wait()
	res.Metrics.Close()
	for _, d := range diffs {
		if d.StatusDiffers+d.BodyDiffers > 0 {
			res.Differences = append(res.Differences, *d)
		}
	}
	slices.SortFunc(res.Differences, func(a, b Difference) int { return strings.Compare(a.Path, b.Path) })
	return res
}

// send makes one request and returns it as a vegeta result with the
// body's hash.
func send(ctx context.Context, client *http.Client, base *url.URL, host string, e Entry, seq uint64) (*vegeta.Result, string) {
	u := base.String() + e.URI
	r := &vegeta.Result{Attack: "replay", Seq: seq, Method: e.Method, URL: u, Timestamp: time.Now()}
	req, err := http.NewRequestWithContext(ctx, e.Method, u, nil)
	if err != nil {
		r.Error = err.Error()
		return r, ""
	}
	switch {
	case host != "":
		req.Host = host
	case e.Host != "":
		req.Host = e.Host
	}
	resp, err := client.Do(req)
	if err != nil {
		r.Latency, r.Error = time.Since(r.Timestamp), err.Error()
		return r, ""
	}
	h := sha256.New()
	n, _ := io.Copy(h, resp.Body)
	resp.Body.Close()
	r.Latency, r.Code, r.BytesIn = time.Since(r.Timestamp), uint16(resp.StatusCode), uint64(n)
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		r.Error = resp.Status
	}
	return r, fmt.Sprintf("%x", h.Sum(nil))
}
