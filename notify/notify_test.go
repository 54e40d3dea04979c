package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cutover-dev/cutover/spec"
)

// receiver is a webhook endpoint on loopback that keeps what it is sent.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	types  []string
	// answer, when set, decides each request's fate.
	answer func(n int, w http.ResponseWriter) bool
	got    chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.bodies)
	answer := rc.answer
	rc.mu.Unlock()
	if answer != nil && !answer(n, w) {
		return
	}
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	rc.types = append(rc.types, r.Header.Get("Content-Type"))
	rc.mu.Unlock()
	select {
	case rc.got <- struct{}{}:
	default:
	}
}

func (rc *receiver) events(t *testing.T) []Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []Event
	for _, b := range rc.bodies {
		var ev Event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("not an event document: %v: %s", err, b)
		}
		out = append(out, ev)
	}
	return out
}

func serve(t *testing.T, ln net.Listener, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func newReceiver(t *testing.T) (*receiver, string) {
	rc := &receiver{got: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, rc)
	return rc, "http://" + ln.Addr().String() + "/hook"
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func quick(log *slog.Logger) *Dispatcher {
	d := New(log, nil)
	d.Backoff, d.MaxBackoff, d.Timeout = 20*time.Millisecond, 100*time.Millisecond, 200*time.Millisecond
	return d
}

func ev(kind string, step int) Event {
	return Event{Kind: kind, Rollout: "web", Route: "web", Stable: "legacy", Canary: "new", Phase: "Progressing", Step: step, Steps: 4, Weight: 10 * step, Actor: "system", Reason: "step <" + kind + "> & more", Time: time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)}
}

func TestWebhooksGetTheEventsTheyWantInOrder(t *testing.T) {
	all, allURL := newReceiver(t)
	slack, slackURL := newReceiver(t)
	d := quick(slog.New(slog.DiscardHandler))
	defer d.Close(context.Background())
	d.Set(map[string][]spec.Notification{"web": {
		{Name: "everything", URL: allURL},
		{Name: "team", URL: slackURL, Format: spec.FormatSlack, Events: []string{spec.EventAborted}},
	}})
	kinds := []string{spec.EventStepStarted, spec.EventPaused, spec.EventAnalysisVerdict, spec.EventAborted}
	for i, k := range kinds {
		d.Send(ev(k, i))
	}
	d.Send(Event{Kind: spec.EventAborted, Rollout: "other"}) // another plan's: nobody here wants it
	eventually(t, "four events", func() bool { return len(all.events(t)) == 4 })
	eventually(t, "the abort in Slack", func() bool { slack.mu.Lock(); defer slack.mu.Unlock(); return len(slack.bodies) == 1 })

	for i, got := range all.events(t) {
		if want := ev(kinds[i], i); got != want {
			t.Errorf("event %d: got %+v, want %+v", i, got, want)
		}
		if all.types[i] != "application/json" {
			t.Errorf("event %d: Content-Type %q", i, all.types[i])
		}
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct{ Type, Text string } `json:"fields"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(slack.bodies[0], &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "web: ABORTED at step 3, all traffic back on legacy") {
		t.Errorf("Slack text %q does not say what happened", msg.Text)
	}
	if strings.ContainsAny(msg.Text, "<>") || !strings.Contains(msg.Text, "&lt;aborted&gt; &amp; more") {
		t.Errorf("Slack text %q: <, > and & must be escaped", msg.Text)
	}
	if len(msg.Blocks) < 3 || msg.Blocks[0].Type != "section" || msg.Blocks[len(msg.Blocks)-1].Type != "context" {
		t.Fatalf("Slack blocks: %s", slack.bodies[0])
	}
	var fields []string
	for _, f := range msg.Blocks[1].Fields {
		fields = append(fields, f.Text)
	}
	if want := "*Step*\n3 of 4"; !strings.Contains(strings.Join(fields, "|"), want) {
		t.Errorf("Slack fields %q lack %q", fields, want)
	}
}

// A receiver that is down, then too slow to answer, then back: the
// events arrive in order, the failures are retried, and the failing
// webhook is logged once when it fails and once when it recovers.
func TestAReceiverDownThenSlowThenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: connections are refused

	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil))
	d := quick(log)
	d.Tries = 40
	defer d.Close(context.Background())
	d.Set(map[string][]spec.Notification{"web": {{Name: "hook", URL: "http://" + addr + "/services/T0/B0/SECRET"}}})
	start := time.Now()
	for i := range 3 {
		d.Send(ev(spec.EventStepStarted, i))
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("Send took %v with the receiver down: it must not wait for it", took)
	}
	eventually(t, "retries against the closed port", func() bool { return testutil.ToFloat64(d.total.WithLabelValues("web/hook", ResultRetried)) >= 3 })

	rc := &receiver{got: make(chan struct{}, 1)}
	var slow atomic.Int32
	slow.Store(3)
	rc.answer = func(n int, w http.ResponseWriter) bool {
		if slow.Add(-1) >= 0 {
			time.Sleep(2 * d.Timeout) // longer than the sender waits
			w.WriteHeader(http.StatusOK)
			return false
		}
		return true
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	serve(t, ln, rc)
	eventually(t, "the three events", func() bool { return len(rc.events(t)) >= 3 })

	got := rc.events(t)
	for i, e := range got {
		if e.Step != i {
			t.Errorf("event %d is step %d: out of order (%+v)", i, e.Step, got)
		}
	}
	if n := testutil.ToFloat64(d.total.WithLabelValues("web/hook", ResultSent)); n != 3 {
		t.Errorf("sent = %v, want 3", n)
	}
	if n := testutil.ToFloat64(d.total.WithLabelValues("web/hook", ResultFailed)); n != 0 {
		t.Errorf("failed = %v, want 0", n)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if n := strings.Count(out, "notification webhook failing"); n != 1 {
		t.Errorf("the failing webhook was logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "notification webhook delivers again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("the log shows the webhook's URL (a secret with Slack):\n%s", out)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestARefusalIsNotRetried(t *testing.T) {
	rc, url := newReceiver(t)
	var tries atomic.Int32
	rc.answer = func(n int, w http.ResponseWriter) bool {
		tries.Add(1)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return false
	}
	d := quick(slog.New(slog.DiscardHandler))
	d.Set(map[string][]spec.Notification{"web": {{Name: "hook", URL: url}}})
	d.Send(ev(spec.EventCompleted, 4))
	eventually(t, "the refusal", func() bool { return testutil.ToFloat64(d.total.WithLabelValues("web/hook", ResultFailed)) == 1 })
	d.Close(context.Background())
	if n := tries.Load(); n != 1 {
		t.Errorf("a 400 was tried %d times, want 1", n)
	}
}

// A full queue drops events for that webhook only, and Send never waits.
func TestAFullQueueDropsAndNeverBlocks(t *testing.T) {
	stuck, stuckURL := newReceiver(t)
	release := make(chan struct{})
	stuck.answer = func(n int, w http.ResponseWriter) bool { <-release; return true }
	fine, fineURL := newReceiver(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	d := quick(slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil)))
	d.Timeout = time.Minute
	d.QueueSize = 2
	d.Set(map[string][]spec.Notification{"web": {{Name: "stuck", URL: stuckURL}, {Name: "fine", URL: fineURL}}})
	const n = 10
	for i := range n {
		d.Send(ev(spec.EventStepStarted, i))
		if i == 0 {
			time.Sleep(50 * time.Millisecond) // the first is in flight
		}
		eventually(t, "the healthy webhook", func() bool { return len(fine.events(t)) == i+1 })
	}
	dropped := testutil.ToFloat64(d.total.WithLabelValues("web/stuck", ResultDropped))
	if dropped != n-3 {
		t.Errorf("dropped %v, want %d (one in flight, two queued)", dropped, n-3)
	}
	logMu.Lock()
	if c := strings.Count(logs.String(), "notifications dropped"); c != 1 {
		t.Errorf("the drops were logged %d times, want once:\n%s", c, logs.String())
	}
	logMu.Unlock()
	close(release)
	d.Close(context.Background())
	got := stuck.events(t)
	if len(got) != 3 || got[0].Step != 0 || got[1].Step != 1 || got[2].Step != 2 {
		t.Errorf("the stuck webhook got %+v, want steps 0, 1, 2", got)
	}
}

// A reload that keeps a webhook keeps what it had queued; one that
// removes it delivers what it held first.
func TestSetKeepsQueuedEvents(t *testing.T) {
	rc, url := newReceiver(t)
	release := make(chan struct{})
	rc.answer = func(n int, w http.ResponseWriter) bool {
		if n == 0 {
			<-release
		}
		return true
	}
	d := quick(slog.New(slog.DiscardHandler))
	d.Timeout = time.Minute
	hooks := map[string][]spec.Notification{"web": {{Name: "hook", URL: url}}}
	d.Set(hooks)
	for i := range 3 {
		d.Send(ev(spec.EventStepStarted, i))
	}
	d.Set(hooks) // unchanged: the same queue
	d.Send(ev(spec.EventStepStarted, 3))
	d.Set(nil) // removed: it delivers what it holds, then stops
	d.Send(ev(spec.EventStepStarted, 4))
	close(release)
	d.Close(context.Background())
	got := rc.events(t)
	if len(got) != 4 {
		t.Fatalf("got %d events, want 4 (%+v)", len(got), got)
	}
	for i, e := range got {
		if e.Step != i {
			t.Errorf("event %d is step %d", i, e.Step)
		}
	}
}

func TestBroadcastOncePerAddress(t *testing.T) {
	rc, url := newReceiver(t)
	d := quick(slog.New(slog.DiscardHandler))
	d.Set(map[string][]spec.Notification{
		"web": {{Name: "a", URL: url}},
		"api": {{Name: "b", URL: url}, {Name: "c", URL: url + "?other", Events: []string{spec.EventAborted}}},
	})
	d.Broadcast(Event{Kind: spec.EventConfigRefused, Reason: "bad.yaml:3:5: spec.routes: required"})
	d.Close(context.Background())
	got := rc.events(t)
	if len(got) != 1 || got[0].Kind != spec.EventConfigRefused || got[0].Reason == "" {
		t.Errorf("got %+v, want one configRefused", got)
	}
}
