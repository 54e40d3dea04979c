package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/spec"
)

// Event is a change of a plan, as the json format sends it.
type Event struct {
	// Kind is one of spec.NotificationEvents.
	Kind    string    `json:"kind"`
	Rollout string    `json:"rollout"`
	Route   string    `json:"route,omitempty"`
	Stable  string    `json:"stable,omitempty"`
	Canary  string    `json:"canary,omitempty"`
	Phase   string    `json:"phase,omitempty"`
	Step    int       `json:"step"`
	Steps   int       `json:"steps"`
	Weight  int       `json:"weight"`
	Actor   string    `json:"actor,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
}

// Delivery results, the result label of cutover_notifications_total.
const (
	ResultSent    = "sent"
	ResultRetried = "retried" // a try failed and another follows
	ResultFailed  = "failed"  // given up: out of tries, or refused for good (a 4xx)
	ResultDropped = "dropped" // the webhook's queue was full
)

// Dispatcher sends events to the webhooks of each plan, in the
// background: Send never blocks, a slow or dead receiver delays only its
// own queue, and each webhook's events arrive in order.
type Dispatcher struct {
	// Tries per event, Backoff before the second (doubling, with jitter,
	// up to MaxBackoff), Timeout per try, QueueSize events per webhook.
	// Set them before the first Configure.
	Tries      int
	Backoff    time.Duration
	MaxBackoff time.Duration
	Timeout    time.Duration
	QueueSize  int

	client *http.Client
	log    *slog.Logger
	total  *prometheus.CounterVec

	mu    sync.Mutex
	hooks map[string][]*webhook // by rollout
	wg    sync.WaitGroup
}

// New returns a dispatcher with no webhooks. Its metric,
// cutover_notifications_total, goes to reg when reg is not nil.
func New(log *slog.Logger, reg prometheus.Registerer) *Dispatcher {
	d := &Dispatcher{
		Tries: 6, Backoff: time.Second, MaxBackoff: time.Minute, Timeout: 10 * time.Second, QueueSize: 256,
		// Webhooks are addresses from the config; a redirect elsewhere is
		// not followed, so that a receiver cannot point the gateway on.
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		log:    log,
		hooks:  map[string][]*webhook{},
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_notifications_total",
			Help: "Notification deliveries by webhook (rollout/name) and result (sent, retried, failed, dropped).",
		}, []string{"webhook", "result"}),
	}
	if reg != nil {
		if err := reg.Register(d.total); err != nil {
			// Several dispatchers in one process (controllers in a test)
			// count into one series.
			are, ok := err.(prometheus.AlreadyRegisteredError)
			if !ok {
				panic(err)
			}
			d.total = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return d
}

// webhook is one Notification with its queue and the goroutine that
// empties it.
type webhook struct {
	id     string // rollout/name, for logs and metrics
	spec   spec.Notification
	url    string
	queue  chan Event
	failed bool // the last delivery failed; logged once per change
	// dropping: the last event found the queue full. Guarded by d.mu.
	dropping bool
}

// Set makes each plan's webhooks those named, by rollout; plans not
// named have none. A webhook whose address, format and events are
// unchanged keeps its queue; a removed one delivers what it holds, then
// stops.
func (d *Dispatcher) Set(byRollout map[string][]spec.Notification) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for rollout := range d.hooks {
		if _, ok := byRollout[rollout]; !ok {
			d.setLocked(rollout, nil)
		}
	}
	for rollout, ns := range byRollout {
		d.setLocked(rollout, ns)
	}
}

// SetFor makes the webhooks of one plan, by key, those of ns, as Set does.
func (d *Dispatcher) SetFor(key string, ns []spec.Notification) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setLocked(key, ns)
}

func (d *Dispatcher) setLocked(key string, ns []spec.Notification) {
	old := d.hooks[key]
	var next []*webhook
	for _, n := range ns {
		url, err := webhookURL(n)
		if err != nil {
			d.log.Error("notification webhook left out", "webhook", key+"/"+n.Name, "err", err)
			continue
		}
		if i := indexOf(old, n, url); i >= 0 {
			next = append(next, old[i])
			old = slices.Delete(old, i, i+1)
			continue
		}
		w := &webhook{id: key + "/" + n.Name, spec: n, url: url, queue: make(chan Event, d.QueueSize)}
		d.wg.Add(1)
		go d.run(w)
		next = append(next, w)
	}
	for _, w := range old {
		close(w.queue)
	}
	if len(next) == 0 {
		delete(d.hooks, key)
		return
	}
	d.hooks[key] = next
}

func indexOf(hooks []*webhook, n spec.Notification, url string) int {
	for i, w := range hooks {
		if w.spec.Name == n.Name && w.url == url && w.spec.Format == n.Format && strings.Join(w.spec.Events, ",") == strings.Join(n.Events, ",") {
			return i
		}
	}
	return -1
}

func webhookURL(n spec.Notification) (string, error) {
	if n.URLFile == "" {
		return n.URL, nil
	}
	data, err := os.ReadFile(n.URLFile)
	if err != nil {
		return "", err
	}
	u := strings.TrimSpace(string(data))
	if msg := spec.ValidateWebhookURL(u); msg != "" {
		return "", fmt.Errorf("%s: the URL in it %s", n.URLFile, msg)
	}
	return u, nil
}

// Send queues ev for the webhooks of its plan that want it. It never
// blocks: when a webhook's queue is full the event is dropped for it and
// counted.
func (d *Dispatcher) Send(ev Event) { d.SendTo(ev.Rollout, ev) }

// SendTo is Send to the webhooks set under key (SetFor), such as a
// Cutover's namespace/name.
func (d *Dispatcher) SendTo(key string, ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queue(ev, d.hooks[key])
}

// Broadcast queues ev, which concerns no one plan (a refused config), once
// for every distinct webhook address of any plan that wants it.
func (d *Dispatcher) Broadcast(ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[string]bool{}
	for _, hooks := range d.hooks {
		for _, w := range hooks {
			if w.spec.Wants(ev.Kind) && !seen[w.url] {
				seen[w.url] = true
				d.queue(ev, []*webhook{w})
			}
		}
	}
}

func (d *Dispatcher) queue(ev Event, hooks []*webhook) {
	for _, w := range hooks {
		if !w.spec.Wants(ev.Kind) {
			continue
		}
		select {
		case w.queue <- ev:
			w.dropping = false
		default:
			d.total.WithLabelValues(w.id, ResultDropped).Inc()
			if !w.dropping { // logged once until the queue takes events again
				w.dropping = true
				d.log.Warn("notifications dropped: the webhook's queue is full", "webhook", w.id, "kind", ev.Kind, "queue", d.QueueSize)
			}
		}
	}
}

// Close stops taking events and waits, until ctx ends, for the queued
// ones to be delivered or given up.
func (d *Dispatcher) Close(ctx context.Context) {
	d.mu.Lock()
	for _, hooks := range d.hooks {
		for _, w := range hooks {
			close(w.queue)
		}
	}
	d.hooks = map[string][]*webhook{}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (d *Dispatcher) run(w *webhook) {
	defer d.wg.Done()
	for ev := range w.queue {
		d.deliver(w, ev)
	}
}

// deliver tries ev until it is taken, refused for good, or out of tries.
func (d *Dispatcher) deliver(w *webhook, ev Event) {
	body, contentType := render(w.spec.Format, ev)
	wait := d.Backoff
	for try := 1; ; try++ {
		retry, after, err := d.post(w.url, body, contentType)
		if err == nil {
			d.total.WithLabelValues(w.id, ResultSent).Inc()
			if w.failed {
				w.failed = false
				d.log.Info("notification webhook delivers again", "webhook", w.id)
			}
			return
		}
		if !retry || try >= d.Tries {
			d.total.WithLabelValues(w.id, ResultFailed).Inc()
			d.fail(w, fmt.Errorf("%s event given up after %d tries: %w", ev.Kind, try, err))
			return
		}
		d.total.WithLabelValues(w.id, ResultRetried).Inc()
		d.fail(w, err)
		if after > wait {
			wait = after
		}
		// Jitter, so that webhooks failing together do not retry together.
		time.Sleep(min(wait, d.MaxBackoff) + rand.N(wait/4+1))
		wait *= 2
	}
}

// fail logs a failing webhook once, when it starts failing.
func (d *Dispatcher) fail(w *webhook, err error) {
	if !w.failed {
		w.failed = true
		d.log.Warn("notification webhook failing; retrying in the background", "webhook", w.id, "err", err)
	}
}

// post sends one try. retry says whether another try could do better;
// after is the receiver's Retry-After.
func (d *Dispatcher) post(url string, body []byte, contentType string) (retry bool, after time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "cutover-notifications")
	resp, err := d.client.Do(req)
	if err != nil {
		return true, 0, redact(err, url)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode < 300:
		return false, 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return true, after, fmt.Errorf("the receiver answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	default:
		// Another 4xx (Slack's invalid_payload, no_service, ...) will not
		// change by trying again.
		return false, 0, fmt.Errorf("the receiver refused it, %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
}

// redact keeps a webhook's URL, a secret with Slack, out of the logs.
func redact(err error, url string) error {
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), url, "<webhook>"))
}
