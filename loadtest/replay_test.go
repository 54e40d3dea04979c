package loadtest

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// A 10,000-line log with a known rate each second, in both formats, with
// bad lines and writes among them: the replay keeps each second's rate
// within 5 % of the log's, sends exactly the logged GETs per path, skips
// the POSTs and counts the bad lines by number.
func TestReplayKeepsTheLogsPaceAndPathMix(t *testing.T) {
	perSecond := []int{500, 700, 900, 1100, 1300, 1300, 1100, 900, 700, 1500}
	paths := []string{"/", "/search", "/item/1", "/item/2"}
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var log strings.Builder
	want := map[string]int{}
	var badLines []int
	line := 0
	for s, n := range perSecond {
		for i := range n {
			at := base.Add(time.Duration(s)*time.Second + time.Duration(i)*time.Second/time.Duration(n))
			p := paths[(s*7+i)%len(paths)]
			line++
			if i%2 == 0 {
				fmt.Fprintf(&log, `{"time":%q,"method":"GET","host":"www.example.com","path":%q,"query":"","status":200,"duration_ms":0.000}`+"\n", at.Format(time.RFC3339Nano), p)
			} else {
				fmt.Fprintf(&log, "10.0.0.%d - - [%s] \"GET %s HTTP/1.1\" 200 12 \"-\" \"ua\"\n", i%250, at.Format("02/Jan/2006:15:04:05 -0700"), p)
			}
			want[p]++
			if i == 3 {
				line++
				fmt.Fprintf(&log, `{"time":%q,"method":"POST","path":"/cart"}`+"\n", at.Format(time.RFC3339Nano))
			}
		}
		line++
		badLines = append(badLines, line)
		log.WriteString("this is not a log line\n")
	}
	entries, bad, err := ReadLog(strings.NewReader(log.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != len(badLines) || bad[0].Line != badLines[0] || bad[len(bad)-1].Line != badLines[len(badLines)-1] {
		t.Fatalf("bad lines %v, want lines %v", bad, badLines)
	}
	// The combined format has whole seconds: its requests keep their second.
	var mu sync.Mutex
	got := map[string]int{}
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path]++
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	res := Replay(context.Background(), entries, ReplayOptions{Target: u, Concurrency: 512})
	if res.Sent != 10000 || res.Skipped != len(perSecond) || res.Metrics.Success != 1 {
		t.Fatalf("sent %d, skipped %d, success %.3f; want 10000, %d, 1", res.Sent, res.Skipped, res.Metrics.Success, len(perSecond))
	}
	for _, p := range paths {
		if got[p] != want[p] {
			t.Errorf("%s: %d requests, the log has %d", p, got[p], want[p])
		}
	}
	start := arrivals[0]
	counts := make([]int, len(perSecond))
	for _, a := range arrivals {
		if s := int(a.Sub(start) / time.Second); s < len(counts) {
			counts[s]++
		}
	}
	for s, n := range perSecond {
		if math.Abs(float64(counts[s]-n))/float64(n) > 0.05 {
			t.Errorf("second %d: %d requests, the log has %d (all: %v)", s, counts[s], n, counts)
		}
	}
}

// --compare sends each request to both sides and reports per path where
// the status or the body differ.
func TestReplayCompare(t *testing.T) {
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "same") }))
	defer a.Close()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone":
			http.NotFound(w, r)
		case "/changed":
			fmt.Fprint(w, "other")
		default:
			fmt.Fprint(w, "same")
		}
	}))
	defer b.Close()
	now := time.Now()
	var entries []Entry
	for i, p := range []string{"/", "/gone", "/changed", "/", "/gone"} {
		entries = append(entries, Entry{At: now.Add(time.Duration(i) * time.Millisecond), Method: "GET", URI: p})
	}
	ua, _ := url.Parse(a.URL)
	ub, _ := url.Parse(b.URL)
	res := Replay(context.Background(), entries, ReplayOptions{Target: ua, Compare: ub})
	got := fmt.Sprint(res.Differences)
	if len(res.Differences) != 2 || res.Differences[0].Path != "/changed" || res.Differences[0].BodyDiffers != 1 ||
		res.Differences[1].Path != "/gone" || res.Differences[1].StatusDiffers != 2 {
		t.Fatalf("differences %s", got)
	}
}
