package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Weight flips twenty times a second and ten config reloads under steady
// load must not cost a single request.
func TestZeroLossUnderWeightFlipsAndReloads(t *testing.T) {
	legacy, next := newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	h := startGateway(t, twoBackendConfig(legacy.URL, next.URL, ""))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resCh := make(chan *loadResult)
	go func() { resCh <- runLoad(ctx, loadClient(64), h.url+"/", 64) }()

	flips, reloads := 0, 0
	flip := time.NewTicker(50 * time.Millisecond)
	defer flip.Stop()
	reload := time.NewTicker(400 * time.Millisecond)
	defer reload.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-flip.C:
			w := map[string]int{"legacy": 100, "new": 0}
			if flips%2 == 1 {
				w = map[string]int{"legacy": 0, "new": 100}
			}
			h.setWeights("web", w)
			flips++
		case <-reload.C:
			if reloads == 10 {
				continue
			}
			// A real change each time: the route timeout differs.
			cfg := twoBackendConfig(legacy.URL, next.URL, fmt.Sprintf("    timeout: %ds\n", 10+reloads))
			writeConfig(t, h.file, cfg)
			if err := h.gw.Reload("test"); err != nil {
				t.Fatal(err)
			}
			reloads++
		}
	}
	res := <-resCh
	t.Logf("%d ok, %d flips, %d reloads, legacy %d, new %d", res.ok.Load(), flips, reloads, res.backend("legacy"), res.backend("new"))
	if res.non2xx.Load() != 0 || res.errors.Load() != 0 {
		t.Fatalf("%d non-2xx and %d transport errors (first: %v)", res.non2xx.Load(), res.errors.Load(), res.firstErr.Load())
	}
	if flips < 80 || reloads != 10 {
		t.Fatalf("only %d flips and %d reloads ran", flips, reloads)
	}
	if res.backend("legacy") == 0 || res.backend("new") == 0 {
		t.Fatalf("flips did not move traffic: legacy %d, new %d", res.backend("legacy"), res.backend("new"))
	}
	if st := h.gw.Status(); st.Generation != 11 || !strings.HasPrefix(st.LastReload.Hash, st.ConfigHash[:8]) {
		t.Fatalf("generation %d after 10 reloads, last reload %+v", st.Generation, st.LastReload)
	}
}
