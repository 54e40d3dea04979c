package gateway_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func hardenedGateway(t *testing.T, b string) *harness {
	return startGateway(t, config(fmt.Sprintf(`  limits:
    readHeaderTimeout: 300ms
    readTimeout: 600ms
  backends:
  - {name: app, endpoints: [%s]}
  routes:
  - name: upload
    match: [{path: {prefix: /upload}}]
    maxBodyBytes: 100
    backends: [{name: app}]
  - name: web
    backends: [{name: app}]
`, b)))
}

// closedWithin reports whether the server closes conn within d, cleanly or
// with a reset (it may reset a client still writing).
func closedWithin(conn net.Conn, d time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadAll(conn)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

func TestSlowClientsAreCut(t *testing.T) {
	b := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	h := hardenedGateway(t, b.URL)
	addr := strings.TrimPrefix(h.url, "http://")

	// Slowloris: headers that never end.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	start := time.Now()
	go func() {
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	if !closedWithin(conn, 3*time.Second) {
		t.Fatal("a client trickling headers was not cut")
	}
	t.Logf("slow headers cut after %v", time.Since(start).Round(10*time.Millisecond))

	// A slow body is cut by the read timeout.
	conn2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	fmt.Fprint(conn2, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	go func() {
		for range 30 {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn2.Write([]byte("b")); err != nil {
				return
			}
		}
	}()
	if !closedWithin(conn2, 3*time.Second) {
		t.Fatal("a client trickling its body was not cut")
	}
}

func TestRouteBodyLimit(t *testing.T) {
	b := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	h := hardenedGateway(t, b.URL)
	for _, tc := range []struct {
		path string
		size int
		want int
	}{{"/upload", 100, 200}, {"/upload", 101, 413}, {"/other", 5000, 200}} {
		resp, err := h.client.Post(h.url+tc.path, "text/plain", strings.NewReader(strings.Repeat("x", tc.size)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST %s of %d bytes: %d, want %d", tc.path, tc.size, resp.StatusCode, tc.want)
		}
	}
	// A chunked body without a length is cut at the limit too.
	req, _ := http.NewRequest(http.MethodPost, h.url+"/upload", io.MultiReader(strings.NewReader(strings.Repeat("y", 150))))
	req.ContentLength = -1
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked 150 bytes: %d, want 413", resp.StatusCode)
	}
}

// Neither an absolute-form URI nor CONNECT makes the gateway connect
// anywhere but a configured endpoint.
func TestNoOpenProxy(t *testing.T) {
	b := newBackend(t, "app", nil)
	var elsewhere atomic.Int64
	bait, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bait.Close()
	go func() {
		for {
			c, err := bait.Accept()
			if err != nil {
				return
			}
			elsewhere.Add(1)
			c.Close()
		}
	}()
	h := hardenedGateway(t, b.URL)
	for _, raw := range []string{
		"GET http://" + bait.Addr().String() + "/steal HTTP/1.1\r\nHost: " + bait.Addr().String() + "\r\n\r\n",
		"CONNECT " + bait.Addr().String() + " HTTP/1.1\r\nHost: " + bait.Addr().String() + "\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(conn, raw)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		conn.Close()
		method := strings.Fields(raw)[0]
		switch {
		case method == "GET" && (resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "app"):
			t.Errorf("absolute-form GET: %d from %q, want the configured backend", resp.StatusCode, resp.Header.Get("X-Backend"))
		case method == "CONNECT" && resp.StatusCode != http.StatusMethodNotAllowed:
			t.Errorf("CONNECT: %d, want 405", resp.StatusCode)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the gateway connected %d times to an address not in its config", n)
	}
}

// A request without a body keeps its head's deadline while the upstream
// answers (moving it would cost a timer update per request): an answer
// that comes after readHeaderTimeout still reaches the client, and the
// next request on the same connection is served.
func TestSlowUpstreamAfterTheHeadDeadline(t *testing.T) {
	b := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(700 * time.Millisecond)
		io.WriteString(w, "late")
	})
	h := hardenedGateway(t, b.URL)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range 2 {
		fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on one connection: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "late" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
}
