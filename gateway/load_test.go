package gateway_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult counts what a load loop saw.
type loadResult struct {
	ok, non2xx, errors atomic.Int64
	byBackend          sync.Map // name -> *atomic.Int64
	firstErr           atomic.Value
}

func (r *loadResult) backend(name string) int64 {
	if v, ok := r.byBackend.Load(name); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// runLoad sends GETs from conns goroutines until ctx ends. It is bounded in
// time by ctx and never by count.
func runLoad(ctx context.Context, client *http.Client, url string, conns int) *loadResult {
	res := &loadResult{}
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := client.Get(url)
				if err != nil {
					if ctx.Err() == nil {
						res.errors.Add(1)
						res.firstErr.CompareAndSwap(nil, err.Error())
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					res.non2xx.Add(1)
					res.firstErr.CompareAndSwap(nil, resp.Status+" "+resp.Header.Get("X-Cutover-Reason"))
					continue
				}
				res.ok.Add(1)
				v, _ := res.byBackend.LoadOrStore(resp.Header.Get("X-Backend"), new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		})
	}
	wg.Wait()
	return res
}

func loadClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
		Timeout:   10 * time.Second,
	}
}
