// Command reverseproxy is the baseline of the benchmarks: Go's plain
// httputil.ReverseProxy over the same two backends, 9 requests in 10 to
// the first, with no metrics, no health checks and no stickiness.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18084", "listen address")
	flag.Parse()
	var n atomic.Uint64
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			host := "127.0.0.1:19001"
			if n.Add(1)%10 == 0 {
				host = "127.0.0.1:19002"
			}
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", host
			pr.SetXForwarded()
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
		ErrorLog:  log.New(discard{}, "", 0),
	}
	srv := &http.Server{Addr: *addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
