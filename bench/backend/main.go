// Command backend is the upstream of the benchmarks: a small Go HTTP server
// that answers every request with a short fixed body and its own name.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19001", "listen address")
	name := flag.String("name", "legacy", "name sent in X-Backend")
	flag.Parse()
	body := []byte("hello from " + *name + "\n")
	srv := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", *name)
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		}),
	}
	log.Fatal(srv.ListenAndServe())
}
