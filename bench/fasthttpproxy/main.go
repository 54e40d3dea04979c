// Command fasthttpproxy is the other baseline of the benchmarks: fasthttp's
// server handing each request to fasthttp's HostClient for one of the same
// two backends, 9 requests in 10 to the first, with no metrics, no
// forwarding headers, no health checks and no stickiness. It is about the
// least a Go proxy on fasthttp does per request, the floor under the
// gateway's fast path.
package main

import (
	"flag"
	"log"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18089", "listen address")
	flag.Parse()
	legacy := &fasthttp.HostClient{Addr: "127.0.0.1:19001", MaxConns: 256}
	next := &fasthttp.HostClient{Addr: "127.0.0.1:19002", MaxConns: 256}
	var n atomic.Uint64
	handler := func(ctx *fasthttp.RequestCtx) {
		c := legacy
		if n.Add(1)%10 == 0 {
			c = next
		}
		// Hop-by-hop: the client's Connection header is not the upstream's.
		ctx.Request.Header.Del("Connection")
		if err := c.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
		}
	}
	srv := &fasthttp.Server{Handler: handler, ReadTimeout: time.Minute, IdleTimeout: time.Minute}
	log.Fatal(srv.ListenAndServe(*addr))
}
