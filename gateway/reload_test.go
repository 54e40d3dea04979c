package gateway_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/spec"
)

func TestRefusedReloadKeepsServing(t *testing.T) {
	legacy, next := newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	good := twoBackendConfig(legacy.URL, next.URL, "")
	h := startGateway(t, good)
	tests := []struct {
		desc string
		cfg  string
		want string // a line of the error, after the file name
	}{
		{
			desc: "broken YAML",
			cfg:  good + "  - name: [unclosed\n",
			want: ":27:1: did not find expected ',' or ']'",
		},
		{
			desc: "unknown field",
			cfg:  strings.Replace(good, "    version: v2\n", "    version: v2\n    weigth: 3\n", 1),
			want: ":19:5: spec.backends[1].weigth: unknown field \"weigth\"",
		},
		{
			desc: "unknown backend in a route",
			cfg:  strings.Replace(good, "    - name: new\n      weight: 10", "    - name: neww\n      weight: 10", 1),
			want: ":25:7: spec.routes[0].backends[1].name: unknown backend \"neww\"",
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			writeConfig(t, h.file, tc.cfg)
			err := h.gw.Reload("test")
			var list spec.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("reload: %v, want a spec.ErrorList", err)
			}
			if !strings.Contains(err.Error(), h.file+tc.want) {
				t.Fatalf("error\n%v\ndoes not contain\n%s%s", err, h.file, tc.want)
			}
			st := h.gw.Status()
			if st.LastReload.OK || !strings.Contains(st.LastReload.Error, tc.want) || st.Generation != 1 {
				t.Fatalf("status after a refused reload: %+v", st.LastReload)
			}
			for range 20 {
				if code, _ := h.get("/"); code != 200 {
					t.Fatalf("old config stopped serving: %d", code)
				}
			}
		})
	}
	metrics := h.metricsText()
	for _, want := range []string{`cutover_config_reloads_total{result="failure"} 3`, "cutover_config_last_reload_successful 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	writeConfig(t, h.file, good)
	if err := h.gw.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if st := h.gw.Status(); !st.LastReload.OK {
		t.Fatalf("a good config after refused ones: %+v", st.LastReload)
	}
}

func TestReloadCannotChangeListeners(t *testing.T) {
	legacy, next := newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	good := twoBackendConfig(legacy.URL, next.URL, "")
	h := startGateway(t, good)
	writeConfig(t, h.file, strings.Replace(good, "    address: 127.0.0.1:0\n  admin", "    address: 127.0.0.1:1\n  admin", 1))
	err := h.gw.Reload("test")
	if err == nil || !strings.Contains(err.Error(), "spec.listeners: changes need a restart") {
		t.Fatalf("reload: %v", err)
	}
}

func TestRestartRestoresRuntimeWeights(t *testing.T) {
	legacy, next := newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	cfg := twoBackendConfig(legacy.URL, next.URL, "")
	h := startGateway(t, cfg)
	h.setWeights("web", map[string]int{"legacy": 66, "new": 34})
	h.stop()

	h.start()
	st := h.gw.Status()
	if w := st.Routes[0].Backends; w[0].Weight != 66 || w[1].Weight != 34 || st.Routes[0].Source != "runtime" {
		t.Fatalf("after restart: %+v, want legacy 66 new 34 from runtime", st.Routes[0])
	}
	counts := map[string]int{}
	for range 100 {
		_, b := h.get("/")
		counts[b]++
	}
	if counts["new"] != 34 {
		t.Fatalf("after restart 100 requests split %v", counts)
	}

	// A reload that changes the route's backends drops its runtime weights,
	// and the audit log says so.
	third := newBackend(t, "third", nil)
	changed := strings.Replace(cfg, "  routes:", fmt.Sprintf("  - name: third\n    endpoints: [%s]\n  routes:", third.URL), 1)
	changed = strings.Replace(changed, "      weight: 10\n", "      weight: 5\n    - name: third\n      weight: 5\n", 1)
	writeConfig(t, h.file, changed)
	if err := h.gw.Reload("test"); err != nil {
		t.Fatal(err)
	}
	st = h.gw.Status()
	if st.Routes[0].Source != "config" || st.Routes[0].Backends[0].Weight != 90 {
		t.Fatalf("after a reload that changed the backends: %+v", st.Routes[0])
	}
	var events struct {
		Events []struct{ Action, Target, Reason string }
	}
	h.api(http.MethodGet, "/api/v1/events", nil, &events)
	found := false
	for _, ev := range events.Events {
		if ev.Action == "weights.dropped" && ev.Target == "web" && strings.Contains(ev.Reason, "backends changed") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no weights.dropped event in %+v", events.Events)
	}
}

func (h *harness) metricsText() string {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

func TestFileChangeIsReloaded(t *testing.T) {
	legacy, next := newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	h := startGateway(t, twoBackendConfig(legacy.URL, next.URL, ""))
	writeConfig(t, h.file, strings.Replace(twoBackendConfig(legacy.URL, next.URL, ""), "weight: 90", "weight: 50", 1))
	time.Sleep(100 * time.Millisecond)
	writeConfig(t, h.file, strings.Replace(strings.Replace(twoBackendConfig(legacy.URL, next.URL, ""), "weight: 90", "weight: 50", 1), "weight: 10", "weight: 50", 1))
	waitFor(t, "the watcher to reload the changed file", 5*time.Second, func() bool {
		st := h.gw.Status()
		return st.Routes[0].Backends[1].Weight == 50 && st.LastReload.Actor == "file-watch" && st.LastReload.OK
	})
}
