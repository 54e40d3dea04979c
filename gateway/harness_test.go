package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/admin"
	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/gateway"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/state"
)

// backendServer is a real HTTP server on loopback that stamps its name on
// every answer.
type backendServer struct {
	*httptest.Server
	name     string
	hits     atomic.Int64
	inflight atomic.Int64
}

func newBackend(t testing.TB, name string, h http.HandlerFunc) *backendServer {
	t.Helper()
	b := &backendServer{name: name}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.inflight.Add(1)
		defer b.inflight.Add(-1)
		if r.URL.Path != "/healthz" {
			b.hits.Add(1)
		}
		w.Header().Set("X-Backend", name)
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprint(w, name)
	}))
	t.Cleanup(b.Close)
	return b
}

// harness is a gateway serving a config file, with its admin API.
type harness struct {
	t        testing.TB
	gw       *gateway.Gateway
	file     string
	stateDir string
	url      string // the first listener
	admin    string
	token    string
	client   *http.Client
	stop     func()
}

// writeConfig writes a config whose listener and admin addresses are
// loopback ports picked by the kernel.
func writeConfig(t testing.TB, file, body string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// config wraps a spec body (backends and routes) in a Gateway document.
// The shutdown timeout is more than the 5 s net/http waits for a
// connection that has sent no request yet, such as one a client dialled in
// a race and kept unused.
func config(specBody string) string {
	return `apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata:
  name: test
spec:
  listeners:
  - name: http
    address: 127.0.0.1:0
  admin:
    address: 127.0.0.1:0
  drainDelay: 0s
  shutdownTimeout: 10s
` + specBody
}

func startGateway(t testing.TB, cfg string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, file: filepath.Join(dir, "cutover.yaml"), stateDir: filepath.Join(dir, "state")}
	writeConfig(t, h.file, cfg)
	h.start()
	return h
}

func (h *harness) start() {
	t := h.t
	t.Helper()
	store, err := state.Open(h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	token, err := state.LoadOrCreateToken(h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	gw, err := gateway.New(ctx, []string{h.file}, store, log)
	if err != nil {
		cancel()
		store.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- gw.Run(ctx, admin.New(gw, rollout.NewManager(rollout.BoltStore(store), analysis.ProviderSet{}, log, nil), token, log))
	}()
	select {
	case <-gw.Started():
	case err := <-done:
		t.Fatal(err)
	}
	h.gw, h.token = gw, token
	h.url = "http://" + gw.Addr("http")
	h.admin = "http://" + gw.Addr("admin")
	h.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 10 * time.Second}
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
		store.Close()
	}
	t.Cleanup(h.stop)
}

// get sends a GET and returns the status and the X-Backend that answered.
func (h *harness) get(path string, hdr ...string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Backend")
}

// api calls the admin API with the token and decodes a JSON answer.
func (h *harness) api(method, path string, body any, out any) int {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = strings.NewReader(string(data))
	}
	req, _ := http.NewRequest(method, h.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (h *harness) setWeights(route string, w map[string]int) {
	h.t.Helper()
	if err := h.gw.SetWeights(route, w, "test", ""); err != nil {
		h.t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadAddr returns a loopback address nothing listens on. It is on
// 127.0.0.3, where no test listens, so that the kernel cannot hand the
// port to a gateway's listener next, which would make it proxy to itself.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func regexpFind(expr, s string) bool { return regexp.MustCompile(expr).MatchString(s) }
