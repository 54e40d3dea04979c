package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func twoBackendConfig(legacy, newURL string, extra string) string {
	return config(fmt.Sprintf(`  backends:
  - name: legacy
    version: v1
    endpoints: [%s]
  - name: new
    version: v2
    endpoints: [%s]
  routes:
  - name: web
    backends:
    - name: legacy
      weight: 90
    - name: new
      weight: 10
%s`, legacy, newURL, extra))
}

func TestSplitIsExactWithoutStickiness(t *testing.T) {
	legacy, next := newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	h := startGateway(t, twoBackendConfig(legacy.URL, next.URL, ""))
	const n = 10000
	seq := make([]string, 0, n)
	for range n {
		code, b := h.get("/")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		seq = append(seq, b)
	}
	counts := map[string]int{}
	for _, b := range seq {
		counts[b]++
	}
	if counts["legacy"] != 9000 || counts["new"] != 1000 {
		t.Fatalf("10,000 requests at 90/10 split %v, want legacy 9000 new 1000", counts)
	}
	// Smooth: any 100 consecutive requests split exactly 90/10.
	for start := 0; start+100 <= n; start += 37 {
		c := 0
		for _, b := range seq[start : start+100] {
			if b == "new" {
				c++
			}
		}
		if c != 10 {
			t.Fatalf("requests %d..%d sent %d to new, want 10", start, start+100, c)
		}
	}
}

// stickyClient is one browser: it keeps the cookies the gateway sets.
type stickyClient struct {
	cookie string
	seen   []string
}

func (c *stickyClient) get(t *testing.T, h *harness) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+"/", nil)
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, sc := range resp.Cookies() {
		c.cookie = sc.Name + "=" + sc.Value
	}
	b := resp.Header.Get("X-Backend")
	c.seen = append(c.seen, b)
	return b
}

func TestStickyClientsOnlyMoveForward(t *testing.T) {
	legacy, next := newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	h := startGateway(t, twoBackendConfig(legacy.URL, next.URL, `    stickiness:
      cookie: {name: cutover-web, maxAge: 1h}
`))
	clients := make([]*stickyClient, 2000)
	for i := range clients {
		clients[i] = &stickyClient{}
	}
	for _, pct := range []int{10, 34, 67, 100} {
		h.setWeights("web", map[string]int{"legacy": 100 - pct, "new": pct})
		onNew := 0
		for round := range 2 {
			for _, c := range clients {
				if c.get(t, h) == "new" && round == 1 {
					onNew++
				}
			}
		}
		// Buckets are drawn at random, so the share is close, not exact.
		if got := 100 * onNew / len(clients); got < pct-4 || got > pct+4 {
			t.Errorf("at %d%%, %d%% of clients are on new", pct, got)
		}
	}
	for i, c := range clients {
		if !strings.HasPrefix(c.cookie, "cutover-web=") {
			t.Fatalf("client %d has no sticky cookie: %q", i, c.cookie)
		}
		movedOn := false
		for _, b := range c.seen {
			if b == "new" {
				movedOn = true
			} else if movedOn {
				t.Fatalf("client %d went back to legacy after new: %v", i, c.seen)
			}
		}
	}
}

func TestHeaderStickinessIsStable(t *testing.T) {
	legacy, next := newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	h := startGateway(t, twoBackendConfig(legacy.URL, next.URL, `    stickiness:
      header: X-User
`))
	h.setWeights("web", map[string]int{"legacy": 50, "new": 50})
	onNew := 0
	for u := range 400 {
		user := fmt.Sprintf("user-%d", u)
		_, first := h.get("/", "X-User", user)
		for range 3 {
			if _, b := h.get("/", "X-User", user); b != first {
				t.Fatalf("%s moved from %s to %s at a constant weight", user, first, b)
			}
		}
		if first == "new" {
			onNew++
		}
	}
	if onNew < 160 || onNew > 240 {
		t.Errorf("%d of 400 users on new at 50%%", onNew)
	}
}

func TestDrainKeepsStickyClientsOnZeroWeightBackend(t *testing.T) {
	legacy, next := newBackend(t, "legacy", nil), newBackend(t, "new", nil)
	cfg := func(drain bool) string {
		return twoBackendConfig(legacy.URL, next.URL, fmt.Sprintf(`    stickiness:
      cookie: {name: s}
    drain: %v
`, drain))
	}
	for _, drain := range []bool{true, false} {
		t.Run(fmt.Sprintf("drain=%v", drain), func(t *testing.T) {
			h := startGateway(t, cfg(drain))
			h.setWeights("web", map[string]int{"legacy": 50, "new": 50})
			var onNew []*stickyClient
			for range 200 {
				c := &stickyClient{}
				if c.get(t, h) == "new" {
					onNew = append(onNew, c)
				}
			}
			h.setWeights("web", map[string]int{"legacy": 100, "new": 0})
			for _, c := range onNew {
				b := c.get(t, h)
				if drain && b != "new" || !drain && b != "legacy" {
					t.Fatalf("a client of new, after new fell to 0, went to %s", b)
				}
			}
			fresh := &stickyClient{}
			if b := fresh.get(t, h); b != "legacy" {
				t.Fatalf("a new client went to %s at new=0", b)
			}
		})
	}
}
