package routing

import "slices"

// Buckets is the number of sticky buckets a route's clients are spread over.
const Buckets = 10000

// Split is a route's traffic over its backends after health: the effective
// weights, which backend each position of the smooth round robin takes,
// and each backend's range of sticky buckets.
type Split struct {
	Effective []int
	Usable    []bool
	Total     int
	Schedule  []uint16
	Bounds    []int // Bounds[i] is the first bucket after backend i's range
}

// NewSplit applies health (usable, per backend) to the set weights. A
// backend that cannot take requests gives its share to the others in
// proportion. When only backends set to 0 are usable, they share equally,
// so that a client is still served.
func NewSplit(weights []int, usable []bool) *Split {
	n := len(weights)
	s := &Split{Effective: make([]int, n), Bounds: make([]int, n), Usable: usable}
	anyUsable := false
	for i := range weights {
		if usable[i] {
			anyUsable = true
			s.Effective[i] = weights[i]
			s.Total += weights[i]
		}
	}
	if s.Total == 0 && anyUsable {
		for i := range n {
			if usable[i] {
				s.Effective[i] = 1
				s.Total++
			}
		}
	}
	if s.Total == 0 {
		return s
	}
	cum := 0
	for i, w := range s.Effective {
		cum += w
		s.Bounds[i] = cum * Buckets / s.Total
	}
	s.Schedule = SmoothSchedule(s.Effective)
	return s
}

// Equal reports whether two splits send the same shares.
func (s *Split) Equal(o *Split) bool { return slices.Equal(s.Effective, o.Effective) }

// Share is backend i's part of the traffic in percent.
func (s *Split) Share(i int) float64 {
	if s.Total == 0 {
		return 0
	}
	return float64(s.Effective[i]) * 100 / float64(s.Total)
}

// Next is the backend of the n-th request without stickiness.
func (s *Split) Next(n uint64) int { return int(s.Schedule[n%uint64(len(s.Schedule))]) }

// ForBucket is the backend whose range holds a sticky bucket, or -1.
func (s *Split) ForBucket(bucket int) int {
	for i, bound := range s.Bounds {
		if bucket < bound {
			return i
		}
	}
	return -1
}

// SmoothSchedule is nginx's smooth weighted round robin, computed once over
// the weights divided by their greatest common divisor: over any cycle the
// split is exact, and picks of a backend are spread evenly within it.
func SmoothSchedule(weights []int) []uint16 {
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	total := 0
	w := make([]int, len(weights))
	for i, x := range weights {
		w[i] = x / g
		total += w[i]
	}
	current := make([]int, len(w))
	out := make([]uint16, 0, total)
	for range total {
		best := -1
		for i := range w {
			current[i] += w[i]
			if w[i] > 0 && (best < 0 || current[i] > current[best]) {
				best = i
			}
		}
		current[best] -= total
		out = append(out, uint16(best))
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
