package routing

import (
	"strconv"
	"strings"
)

// ParseStickyCookie reads a sticky cookie's "BUCKET.BACKEND".
func ParseStickyCookie(v string) (bucket int, backend string, ok bool) {
	num, name, _ := strings.Cut(v, ".")
	b, err := strconv.Atoi(num)
	if err != nil || b < 0 || b >= Buckets {
		return 0, "", false
	}
	return b, name, true
}

// BucketOf is the sticky bucket of a header value or client address.
func BucketOf(key string) int { return int(fnv32a(key) % Buckets) }

func fnv32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
