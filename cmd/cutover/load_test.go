package main_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// cutover load at 100/s for 2 s: the report, and results that vegeta's
// decoder reads back, one per request.
func TestLoadCommandReportsAndWritesVegetaResults(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	dir := t.TempDir()
	results, plotFile := filepath.Join(dir, "results.json"), filepath.Join(dir, "load.html")
	out, code := run(t, dir, "load", "--target", srv.URL, "--rate", "100/s", "--duration", "2s", "--output", results, "--plot", plotFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{`Requests\s+\[total, rate, throughput\]\s+200,`, `Status Codes\s+\[code:count\]\s+200:200\s`, `\[0s,\s+5ms\]\s+\d+`} {
		if !regexpMatch(want, out) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	f, err := os.Open(results)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.DecoderFor(f)
	n := 0
	for {
		var r vegeta.Result
		if dec.Decode(&r) != nil {
			break
		}
		n++
	}
	if n != 200 {
		t.Errorf("%d results in %s, want 200", n, results)
	}
	if html, _ := os.ReadFile(plotFile); !strings.Contains(string(html), "<html") {
		t.Errorf("the plot is not HTML (%d bytes)", len(html))
	}
	for _, tc := range []struct{ args, want string }{
		{"load --target ftp://x --duration 1s", `--target "ftp://x": want an http:// or https:// URL`},
		{"load --target " + srv.URL + " --rate fast", `--rate: "fast" is not a rate`},
		{"load --target " + srv.URL + " --ramp 1:2", `--ramp: "1:2" is not a ramp`},
		{"load --target " + srv.URL + " --find-limit --slo p99=1s", "--slo:"},
	} {
		if out, code := run(t, dir, strings.Fields(tc.args)...); code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d\n%s", tc.args, code, out)
		}
	}
}

// cutover load replay --compare: the bad line is named, the paths that
// answer differently are listed.
func TestLoadReplayCommand(t *testing.T) {
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "a") }))
	defer a.Close()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/new" {
			fmt.Fprint(w, "b")
			return
		}
		fmt.Fprint(w, "a")
	}))
	defer b.Close()
	dir := t.TempDir()
	now := time.Now().UTC()
	log := fmt.Sprintf(`{"time":%q,"method":"GET","path":"/","status":200}
garbage
10.0.0.1 - - [%s] "GET /new HTTP/1.1" 200 1 "-" "ua"
{"time":%q,"method":"POST","path":"/cart","status":200}
`, now.Format(time.RFC3339Nano), now.Format("02/Jan/2006:15:04:05 -0700"), now.Format(time.RFC3339Nano))
	os.WriteFile(filepath.Join(dir, "access.log"), []byte(log), 0o644)
	out, code := run(t, dir, "load", "replay", "--log", "access.log", "--target", a.URL, "--compare", b.URL)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"access.log: 1 line(s) skipped: 2 (neither a JSON line nor the combined format)", "replayed 2 request(s), skipped 1 by method", "| /new | 1 | 0 | 1 | GET /new:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
