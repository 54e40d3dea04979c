package gateway

import (
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/gateway/mirror"
)

// The fast server decides from one pass over the raw head which headers it
// must rewrite; a name it misses there reaches the upstream unchanged.
func TestScanRequestHeaders(t *testing.T) {
	cases := []struct {
		head string
		want requestHeaders
	}{
		{"Host: a\r\nUser-Agent: wrk\r\nAccept: */*\r\n", requestHeaders{}},
		{"X-Forwarded-For: 1.2.3.4\r\n", requestHeaders{forwarded: true}},
		{"x-forwarded-proto: https\r\n", requestHeaders{forwarded: true}},
		{"X-Forwarded-: x\r\n", requestHeaders{}},
		{"FORWARDED: for=1.2.3.4\r\n", requestHeaders{forwarded: true}},
		{"Forwarded-Ish: x\r\n", requestHeaders{}},
		{"x-real-ip: 1.2.3.4\r\n", requestHeaders{forwarded: true}},
		{"X-Request-ID: abc\r\n", requestHeaders{requestID: true}},
		{"X-Request-Ids: abc\r\n", requestHeaders{}},
		{"expect: 100-continue\r\n", requestHeaders{hopByHop: true}},
		{"Expected: x\r\n", requestHeaders{}},
		{"Host: a\r\nte: trailers\r\nX-Request-Id: 1\r\n", requestHeaders{hopByHop: true, requestID: true}},
		{"Content-Length: 0\r\nnot a header\r\n: empty name\r\n", requestHeaders{}},
	}
	for _, name := range mirror.HopByHop {
		cases = append(cases,
			struct {
				head string
				want requestHeaders
			}{name + ": x\r\n", requestHeaders{hopByHop: true}},
			struct {
				head string
				want requestHeaders
			}{strings.ToUpper(name) + ": x\r\n", requestHeaders{hopByHop: true}})
	}
	for _, c := range cases {
		if got := scanRequestHeaders([]byte(c.head)); got != c.want {
			t.Errorf("scanRequestHeaders(%q) = %+v, want %+v", c.head, got, c.want)
		}
	}
}

func TestIsHopByHop(t *testing.T) {
	for _, name := range mirror.HopByHop {
		for _, k := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			if !isHopByHop(k) {
				t.Errorf("isHopByHop(%q) = false", k)
			}
		}
		// The same length, another name.
		if other := strings.Repeat("x", len(name)); isHopByHop(other) {
			t.Errorf("isHopByHop(%q) = true", other)
		}
	}
	for _, k := range []string{"", "Host", "Content-Type", strings.Repeat("Connection", 10)} {
		if isHopByHop(k) {
			t.Errorf("isHopByHop(%q) = true", k)
		}
	}
}
