package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// What the fast server sends upstream is the client's request as it came:
// its request target unnormalised, its Host, and, from a trusted proxy with
// a long chain, X-Real-IP from that chain.
func TestFastServerForwardsTheRequestAsItCame(t *testing.T) {
	type seenReq struct{ uri, host, realIP, xff string }
	seen := make(chan seenReq, 1)
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		seen <- seenReq{r.RequestURI, r.Host, r.Header.Get("X-Real-Ip"), r.Header.Get("X-Forwarded-For")}
	})
	h := startGateway(t, oneBackendConfig(app.URL, "", "  trustedProxies: [127.0.0.1, 10.0.0.0/8]\n"))
	chain := "203.0.113.7, 10.1.1.1, 10.2.2.2, 10.3.3.3, 10.4.4.4, 10.5.5.5, 10.6.6.6, 10.7.7.7, 10.8.8.8"
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /a/../b//c%%2Fd?x=1&y=%%20 HTTP/1.1\r\nHost: Shop.Example.com:8080\r\nX-Forwarded-For: %s\r\n\r\n", chain)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	got := <-seen
	want := seenReq{"/a/../b//c%2Fd?x=1&y=%20", "Shop.Example.com:8080", "203.0.113.7", chain + ", 127.0.0.1"}
	if got != want {
		t.Errorf("upstream saw\n %+v\nwant\n %+v", got, want)
	}
}

// An answer larger than what is read whole before the client is answered
// streams to the client, and the access log still says how much was sent;
// a request body larger than what arrives with the head is handed over to
// net/http and streamed.
func TestFastServerStreamsLargeBodies(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body) // whole first: net/http stops the body once the answer flows
			w.Write(body)
			return
		}
		io.WriteString(w, big)
	})
	logFile := filepath.Join(t.TempDir(), "access.log")
	h := startGateway(t, oneBackendConfig(app.URL, "", fmt.Sprintf("  accessLog: {sinks: [{file: {path: %q}}]}\n", logFile)))
	got, err := h.client.Get(h.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != 200 || string(body) != big {
		t.Fatalf("GET: %d, %d bytes", got.StatusCode, len(body))
	}
	resp, err := h.client.Post(h.url+"/", "text/plain", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	echoed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(echoed) != big {
		t.Fatalf("POST of %d bytes: %d, %d bytes back", len(big), resp.StatusCode, len(echoed))
	}
	if m := h.metricsText(); !strings.Contains(m, `cutover_handovers_total{reason="large-body"} 1`) {
		t.Errorf("the large body was not handed over:\n%s", grepLines(m, "cutover_handovers_total"))
	}
	h.stop()
	lines := accessLines(t, logFile)
	if len(lines) != 2 {
		t.Fatalf("%d access-log lines, want 2", len(lines))
	}
	for i, l := range lines {
		if l["bytes_out"] != float64(len(big)) || l["status"] != float64(200) || l["fault"] != "" {
			t.Errorf("line %d: bytes_out %v status %v fault %q, want %d 200 none", i, l["bytes_out"], l["status"], l["fault"], len(big))
		}
	}
	if lines[1]["bytes_in"] != float64(len(big)) {
		t.Errorf("POST bytes_in %v, want %d", lines[1]["bytes_in"], len(big))
	}
}
