package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/admin"
	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/gateway"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/state"
)

func newAPI(t *testing.T) (*httptest.Server, string, *gateway.Gateway) {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	dir := t.TempDir()
	file := filepath.Join(dir, "cutover.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: t}
spec:
  backends:
  - {name: legacy, endpoints: [%[1]s]}
  - {name: new, endpoints: [%[1]s]}
  routes:
  - name: web
    backends: [{name: legacy, weight: 100}, {name: new, weight: 0}]
`, backend.URL)), 0o600)
	store, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	token, err := state.LoadOrCreateToken(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	gw, err := gateway.New(ctx, []string{file}, store, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.New(gw, rollout.NewManager(rollout.BoltStore(store), analysis.ProviderSet{}, log, nil), token, log))
	t.Cleanup(srv.Close)
	return srv, token, gw
}

func call(t *testing.T, srv *httptest.Server, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestTokenIsRequired(t *testing.T) {
	srv, token, _ := newAPI(t)
	for _, path := range []string{"/api/v1/status", "/metrics", "/api/v1/events"} {
		for _, tok := range []string{"", "wrong", token + "x"} {
			if code, _ := call(t, srv, tok, http.MethodGet, path, ""); code != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q: %d, want 401", path, tok, code)
			}
		}
		if code, _ := call(t, srv, token, http.MethodGet, path, ""); code != http.StatusOK {
			t.Errorf("GET %s with the token: %d", path, code)
		}
	}
	if code, _ := call(t, srv, "", http.MethodPut, "/api/v1/routes/web/weights", `{"weights":{"new":100}}`); code != 401 {
		t.Errorf("PUT weights without a token: %d", code)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := call(t, srv, "", http.MethodGet, path, ""); code != http.StatusOK {
			t.Errorf("GET %s without a token: %d, want 200", path, code)
		}
	}
}

func TestTokenFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	tok, err := state.LoadOrCreateToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, state.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || len(tok) != 64 {
		t.Fatalf("token file mode %v, token length %d", fi.Mode().Perm(), len(tok))
	}
	again, _ := state.LoadOrCreateToken(dir)
	if again != tok {
		t.Fatal("the token changed on a second start")
	}
}

func TestSetWeightsRejectsBadInput(t *testing.T) {
	srv, token, gw := newAPI(t)
	tests := []struct {
		desc, path, body string
		field            string
	}{
		{"unknown route", "/api/v1/routes/nope/weights", `{"weights":{"new":100}}`, "route"},
		{"unknown backend", "/api/v1/routes/web/weights", `{"weights":{"neww":100}}`, "weights.neww"},
		{"negative weight", "/api/v1/routes/web/weights", `{"weights":{"new":-10,"legacy":110}}`, "weights.legacy"},
		{"non-integer weight", "/api/v1/routes/web/weights", `{"weights":{"new":10.5,"legacy":89.5}}`, "weights."},
		{"string weight", "/api/v1/routes/web/weights", `{"weights":{"new":"10"}}`, "weights.new"},
		{"sum not 100", "/api/v1/routes/web/weights", `{"weights":{"new":10,"legacy":80}}`, "weights"},
		{"no weights", "/api/v1/routes/web/weights", `{}`, "weights"},
		{"unknown field", "/api/v1/routes/web/weights", `{"weight":{"new":100}}`, "body"},
		{"not JSON", "/api/v1/routes/web/weights", `new=100`, "body"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			code, out := call(t, srv, token, http.MethodPut, tc.path, tc.body)
			if code != http.StatusBadRequest {
				t.Fatalf("%d %v, want 400", code, out)
			}
			if f, _ := out["field"].(string); !strings.HasPrefix(f, tc.field) || out["error"] == "" {
				t.Fatalf("answer %v does not name field %q", out, tc.field)
			}
		})
	}
	if st := gw.Status(); st.Routes[0].Backends[0].Weight != 100 || st.Routes[0].Source != "config" {
		t.Fatalf("bad requests changed the weights: %+v", st.Routes[0])
	}
	evs, _ := gw.Store().Events(0, 0)
	if len(evs) != 1 || evs[0].Action != "gateway.started" {
		t.Fatalf("bad requests wrote events: %+v", evs)
	}
}

func TestWeightsAndEventsStream(t *testing.T) {
	srv, token, _ := newAPI(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/events?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	code, out := call(t, srv, token, http.MethodPut, "/api/v1/routes/web/weights", `{"weights":{"new":25,"legacy":75},"reason":"step 2"}`)
	if code != 200 {
		t.Fatalf("PUT weights: %d %v", code, out)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev state.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Action == "gateway.started" {
			continue // the stream starts with the whole log
		}
		if ev.Action != "weights.set" || ev.Target != "web" || ev.Reason != "step 2" ||
			string(ev.Before) != `{"legacy":100,"new":0}` || string(ev.After) != `{"legacy":75,"new":25}` {
			t.Fatalf("event %+v (before %s, after %s)", ev, ev.Before, ev.After)
		}
		return
	}
	t.Fatalf("stream ended without the event: %v", sc.Err())
}

// A weight PUT that changes nothing writes nothing and records no event:
// the plan engine sets the weight again on every reconcile.
func TestUnchangedWeightsWriteNothing(t *testing.T) {
	srv, token, gw := newAPI(t)
	for range 3 {
		if code, out := call(t, srv, token, http.MethodPut, "/api/v1/routes/web/weights", `{"weights":{"new":25,"legacy":75}}`); code != 200 {
			t.Fatalf("PUT weights: %d %v", code, out)
		}
	}
	evs, _ := gw.Store().Events(0, 0)
	sets := 0
	for _, ev := range evs {
		if ev.Action == "weights.set" {
			sets++
		}
	}
	if sets != 1 {
		t.Fatalf("%d weights.set events for one change set three times", sets)
	}
}
