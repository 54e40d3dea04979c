package main_test

import (
	"strings"
	"testing"
)

// Bad tuning flags of the rate-limit service are refused by name before
// anything starts.
func TestRateLimitServeRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct{ flag, want string }{
		{"--grpc-stream-workers=-1", "--grpc-stream-workers: -1 is below 0"},
		{"--redis-pipeline-limit=0", "--redis-pipeline-limit: 0 is below 1"},
		{"--redis-pipeline-window=-1ms", "--redis-pipeline-window: -1ms is below 0"},
		{"--failure-mode=maybe", `--failure-mode: "maybe" is not allow or deny`},
	} {
		out, code := run(t, t.TempDir(), "ratelimit", "serve", "--config-dir", t.TempDir(), tc.flag)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d\n%s", tc.flag, code, out)
		}
	}
}
