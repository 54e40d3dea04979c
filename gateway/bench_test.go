package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// BenchmarkProxy is one GET through the gateway to a loopback backend, over
// keep-alive connections, with metrics on: the per-request cost of the data
// plane. Compare it with BenchmarkDirect, the same request without the
// gateway, to see the gateway's share.
func BenchmarkProxy(b *testing.B) {
	legacy, next := newBenchBackend(b, "legacy"), newBenchBackend(b, "new")
	h := startGateway(b, twoBackendConfig(legacy, next, ""))
	benchGet(b, h.url+"/")
}

func BenchmarkDirect(b *testing.B) {
	benchGet(b, newBenchBackend(b, "legacy")+"/")
}

// BenchmarkProxyStickyMatch adds what a real route has: a header and path
// match in front and cookie stickiness.
func BenchmarkProxyStickyMatch(b *testing.B) {
	legacy, next := newBenchBackend(b, "legacy"), newBenchBackend(b, "new")
	h := startGateway(b, config(fmt.Sprintf(`  backends:
  - {name: legacy, endpoints: [%s]}
  - {name: new, endpoints: [%s]}
  routes:
  - name: preview
    match: [{headers: [{name: x-preview, exact: new}]}]
    backends: [{name: new}]
  - name: api
    match: [{path: {regex: '/api/v[0-9]+/.*'}}]
    backends: [{name: legacy, weight: 90}, {name: new, weight: 10}]
    stickiness: {cookie: {name: s}}
  - name: rest
    backends: [{name: legacy}]
`, legacy, next)))
	benchGet(b, h.url+"/api/v2/orders", "Cookie", "s=1234.legacy")
}

func newBenchBackend(b *testing.B, name string) string {
	return newBackend(b, name, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello\n")) }).URL
}

func benchGet(b *testing.B, url string, hdr ...string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
