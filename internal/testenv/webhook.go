package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/cutover-dev/cutover/notify"
)

// Webhook is a notification receiver on loopback that keeps the events
// posted to it, by path.
type Webhook struct {
	URL string

	mu     sync.Mutex
	events map[string][]notify.Event
}

// StartWebhook starts a receiver, stopped when the test ends.
func StartWebhook(t testing.TB) *Webhook {
	w := &Webhook{events: map[string][]notify.Event{}}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var ev notify.Event
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook: not an event document: %s", body)
		}
		w.mu.Lock()
		w.events[r.URL.Path] = append(w.events[r.URL.Path], ev)
		w.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// Events returns what was posted to path, in order.
func (w *Webhook) Events(path string) []notify.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]notify.Event(nil), w.events[path]...)
}

// Count is the number of posts to path, whatever their format.
func (w *Webhook) Count(path string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events[path])
}
