package routing

import "testing"

func FuzzStickyCookie(f *testing.F) {
	f.Add("4821.legacy")
	f.Add("-1.x")
	f.Add("99999999999999999999.new")
	f.Fuzz(func(t *testing.T, v string) {
		b, _, ok := ParseStickyCookie(v)
		if ok && (b < 0 || b >= Buckets) {
			t.Fatalf("%q gave bucket %d", v, b)
		}
	})
}

// The split is exact over any cycle and smooth within it, and a backend
// that cannot serve gives its share to the others; no sockets needed.
func TestSplit(t *testing.T) {
	s := NewSplit([]int{10, 90}, []bool{true, true})
	counts := [2]int{}
	for n := range uint64(100) {
		counts[s.Next(n)]++
	}
	if counts != [2]int{10, 90} {
		t.Errorf("100 requests at 10/90 went %v", counts)
	}
	if s.ForBucket(999) != 0 || s.ForBucket(1000) != 1 || s.ForBucket(Buckets) != -1 {
		t.Errorf("bucket bounds %v", s.Bounds)
	}
	down := NewSplit([]int{10, 90}, []bool{true, false})
	if down.Share(0) != 100 || down.Share(1) != 0 {
		t.Errorf("with the second backend down: %v%% / %v%%", down.Share(0), down.Share(1))
	}
	zero := NewSplit([]int{0, 100}, []bool{true, false})
	if zero.Total == 0 || zero.Share(0) != 100 {
		t.Errorf("only a backend set to 0 is usable: it must still serve, got %+v", zero)
	}
	none := NewSplit([]int{50, 50}, []bool{false, false})
	if none.Total != 0 {
		t.Errorf("nothing usable: %+v", none)
	}
}
