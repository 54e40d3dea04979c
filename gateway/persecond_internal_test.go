package gateway

import (
	"math"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func TestLatencyBucketsHoldTheirDurations(t *testing.T) {
	for _, d := range []time.Duration{
		0, 100 * time.Microsecond, 250 * time.Microsecond, 300 * time.Microsecond, 353 * time.Microsecond,
		time.Millisecond, 3 * time.Millisecond, 47 * time.Millisecond, 999 * time.Millisecond, 2 * time.Second, 11 * time.Second,
	} {
		i := latencyBucket(d)
		if hi := bucketBound(i); d.Seconds() >= hi && i < latencyBuckets-1 {
			t.Errorf("%v in bucket %d, whose upper bound is %gs", d, i, hi)
		}
		if i > 0 {
			if lo := bucketBound(i - 1); d.Seconds() < lo*(1-1e-9) {
				t.Errorf("%v in bucket %d, whose lower bound is %gs", d, i, lo)
			}
		}
	}
	if i := latencyBucket(time.Hour); i != latencyBuckets-1 {
		t.Errorf("an hour in bucket %d, want the last", i)
	}
}

// Concurrent writers lose no count, a second 15 minutes later replaces
// the one it shares a slot with, and the size is what the docs say.
func TestSecondRing(t *testing.T) {
	var r secondRing
	if size := unsafe.Sizeof(r); size != 244800 {
		t.Errorf("secondRing is %d bytes, the docs say 244,800", size)
	}
	t0 := time.Unix(1_800_000_000, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				at := t0.Add(time.Duration(i%3) * time.Second)
				code := 200
				if i%10 == g%10 {
					code = 503
				}
				r.add(at, code, time.Duration(1+i%2)*time.Millisecond)
			}
		})
	}
	wg.Wait()
	var got SecondStats
	r.read(t0.Unix()-1, t0.Unix()+3, &got)
	wantReq := []int{0, 334 * 8, 333 * 8, 333 * 8, 0}
	for i, n := range wantReq {
		if got.Requests[i] != n {
			t.Errorf("second %d: %d requests, want %d", i, got.Requests[i], n)
		}
	}
	if total := got.Errors[1] + got.Errors[2] + got.Errors[3]; total != 800 {
		t.Errorf("%d errors, want 800", total)
	}
	if got.P50[0] != nil || got.P50[4] != nil {
		t.Error("a second without answers has a latency")
	}
	// Half the answers took 1 ms and half 2 ms: p50 is 1 ms's bucket, p99 2 ms's.
	if p50, p99 := *got.P50[1], *got.P99[1]; math.Abs(p50-bucketBound(latencyBucket(time.Millisecond))) > 1e-12 || math.Abs(p99-bucketBound(latencyBucket(2*time.Millisecond))) > 1e-12 {
		t.Errorf("p50 %g p99 %g", p50, p99)
	}

	later := t0.Add(SeriesSeconds * time.Second) // the same slot as t0
	r.add(later, 200, time.Millisecond)
	got = SecondStats{}
	r.read(t0.Unix(), later.Unix(), &got)
	if len(got.Time) != SeriesSeconds || got.Time[0] != t0.Unix()+1 {
		t.Fatalf("read %d seconds from %d, want %d from %d", len(got.Time), got.Time[0], SeriesSeconds, t0.Unix()+1)
	}
	if last := got.Requests[len(got.Requests)-1]; last != 1 {
		t.Errorf("the new second counts %d, want 1", last)
	}
	if got.Requests[0] != 333*8 {
		t.Errorf("t0+1 counts %d after the wrap, want %d", got.Requests[0], 333*8)
	}
	got = SecondStats{}
	r.read(t0.Unix()+SeriesSeconds+1, t0.Unix()+SeriesSeconds+1, &got)
	if got.Requests[0] != 0 {
		t.Errorf("a second not yet written shows %d requests from 15 minutes before", got.Requests[0])
	}
}
