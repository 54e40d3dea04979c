// Command rlsclient drives a RateLimitService over gRPC for the benchmarks:
// concurrent streams asking about a set of keys, reporting decisions per
// second and latency percentiles. With -request-file it only writes one
// such request as a gRPC message (length-prefixed protobuf), the body
// h2load sends in bench/rls.sh.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "the service's gRPC address")
	domain := flag.String("domain", "bench", "rate-limit domain")
	conc := flag.Int("concurrency", 32, "concurrent callers")
	keys := flag.Int("keys", 100, "distinct descriptor values")
	duration := flag.Duration("duration", 10*time.Second, "how long to run")
	requestFile := flag.String("request-file", "", "write the first key's request, framed as gRPC sends it, to this file and exit")
	flag.Parse()
	if *requestFile != "" {
		if err := writeRequest(*requestFile, request(*domain, 0)); err != nil {
			log.Fatal(err)
		}
		return
	}

	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := rlsv3.NewRateLimitServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	errors := 0
	// Built once, so that the client's own CPU, which shares the machine
	// with the service and Redis, goes to the calls.
	reqs := make([]*rlsv3.RateLimitRequest, *keys)
	for i := range reqs {
		reqs[i] = request(*domain, i)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *conc {
		wg.Go(func() {
			var mine []time.Duration
			fails := 0
			for i := w; ctx.Err() == nil; i += *conc {
				t := time.Now()
				_, err := client.ShouldRateLimit(context.Background(), reqs[i%*keys])
				if err != nil {
					fails++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errors += fails
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	// The client shares the machine with the service and Redis: say what it
	// cost, so that the three can be told apart.
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("decisions/s %.0f p50 %v p99 %v errors %d client-cpu/decision %.1fµs\n",
		float64(len(lat))/elapsed.Seconds(), q(0.5).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), errors,
		float64(cpu.Microseconds())/float64(max(len(lat), 1)))
}

// request asks about user u<i> in domain.
func request(domain string, i int) *rlsv3.RateLimitRequest {
	return &rlsv3.RateLimitRequest{Domain: domain, Descriptors: []*rlcommon.RateLimitDescriptor{{
		Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: "user", Value: fmt.Sprint("u", i)}},
	}}}
}

// writeRequest writes req as a gRPC message: no compression flag, a
// four-byte big-endian length, the protobuf.
func writeRequest(path string, req *rlsv3.RateLimitRequest) error {
	body, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	msg := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(msg[1:], uint32(len(body)))
	return os.WriteFile(path, append(msg, body...), 0o644)
}
