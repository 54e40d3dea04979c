package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/internal/testenv"
)

var binary string

// TestMain builds the real binary once; the tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cutover-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "cutover")
	for pkg, out := range map[string]string{".": binary, "../cutover-kube": filepath.Join(dir, "cutover-kube")} {
		msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, msg)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a `cutover serve` process.
type server struct {
	cmd      *exec.Cmd
	addr     string
	admin    string
	stateDir string
	file     string
	stderr   *lockedBuffer
	exited   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startServe(t *testing.T, backends map[string]string, drain string, docs ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{addr: testenv.FreeAddr(t), admin: testenv.FreeAddr(t), stateDir: filepath.Join(dir, "state"), file: filepath.Join(dir, "cutover.yaml"), stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	cfg := fmt.Sprintf(`apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata:
  name: e2e
spec:
  listeners: [{name: http, address: "%s"}]
  admin: {address: "%s"}
  drainDelay: %s
  shutdownTimeout: 10s
  backends:
  - {name: legacy, version: v1, endpoints: [%s]}
  - {name: new, version: v2, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: legacy, weight: 90}, {name: new, weight: 10}]
`, s.addr, s.admin, drain, backends["legacy"], backends["new"]) + strings.Join(docs, "")
	if err := os.WriteFile(s.file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.launch(t)
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("serve stderr:\n%s", s.stderr)
		}
	})
	s.waitReady(t)
	return s
}

func (s *server) launch(t *testing.T, flags ...string) {
	s.cmd = exec.Command(binary, append([]string{"serve", "-f", s.file, "--state", s.stateDir, "--watch-interval", "0"}, flags...)...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
}

func (s *server) waitReady(t *testing.T) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + s.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not become ready:\n%s", s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cli runs the binary against the server's admin API.
func (s *server) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"--admin", s.admin, "--state", s.stateDir}, args...)
	out, err := exec.Command(binary, full...).CombinedOutput()
	return string(out), err
}

func namedBackend(t *testing.T, name string, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Header().Set("X-Backend", name)
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCLIAgainstARunningGateway(t *testing.T) {
	legacy, next := namedBackend(t, "legacy", 0), namedBackend(t, "new", 0)
	s := startServe(t, map[string]string{"legacy": legacy.URL, "new": next.URL}, "0s")

	out, err := s.cli(t, "status")
	if err != nil || !strings.Contains(out, "gateway e2e") || !regexpMatch(`web\s+legacy\s+v1\s+90%\s+90.0%\s+true\s+config`, out) {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, err = s.cli(t, "weight", "web", "new=34", "legacy=66", "--reason", "step 2")
	if err != nil || !strings.Contains(out, "route web: legacy=66% new=34% (runtime)") {
		t.Fatalf("weight: %v\n%s", err, out)
	}
	counts := s.split(t)
	if counts["new"] != 34 {
		t.Fatalf("after `cutover weight` 100 requests split %v", counts)
	}
	out, err = s.cli(t, "weight", "web", "neww=100")
	if err == nil || !strings.Contains(out, `weights.neww: route "web" has no backend "neww"`) {
		t.Fatalf("weight with an unknown backend: %v\n%s", err, out)
	}
	out, err = s.cli(t, "reload")
	if err != nil || !strings.Contains(out, "reloaded") {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	os.WriteFile(s.file, []byte("kind: Gateway\nspec: [\n"), 0o600)
	out, err = s.cli(t, "reload")
	if err == nil || !strings.Contains(out, s.file+":3:1:") {
		t.Fatalf("reload of a broken file: %v\n%s", err, out)
	}
	// SIGHUP reloads too; the file is still broken, so it is refused again.
	s.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out, "by sighup") && time.Now().Before(deadline) {
		out, _ = s.cli(t, "events")
		time.Sleep(20 * time.Millisecond)
	}
	out, err = s.cli(t, "events")
	if err != nil || !strings.Contains(out, `weights.set      web`) || !strings.Contains(out, `{"legacy":90,"new":10} → {"legacy":66,"new":34}  (step 2)`) || !strings.Contains(out, "config.refused") || !regexpMatch(`config.refused\s+by sighup`, out) {
		t.Fatalf("events: %v\n%s", err, out)
	}
	out, err = s.cli(t, "--token", "wrong", "status")
	if err == nil || !strings.Contains(out, "401") {
		t.Fatalf("status with a wrong token: %v\n%s", err, out)
	}

	// events --follow prints a change as it happens.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	follow := exec.CommandContext(ctx, binary, "--admin", s.admin, "--state", s.stateDir, "events", "--follow", "--limit", "1")
	stdout, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer follow.Process.Kill()
	sc := bufio.NewScanner(stdout)
	sc.Scan() // the newest event so far
	if _, err := s.cli(t, "weight", "web", "new=100", "--reason", "all in"); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		if strings.Contains(sc.Text(), "(all in)") {
			return
		}
	}
	t.Fatal("events --follow did not print the change")
}

func TestRestartKeepsWeights(t *testing.T) {
	legacy, next := namedBackend(t, "legacy", 0), namedBackend(t, "new", 0)
	backends := map[string]string{"legacy": legacy.URL, "new": next.URL}
	s := startServe(t, backends, "0s")
	if out, err := s.cli(t, "weight", "web", "new=67", "legacy=33"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-s.exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	restarted := exec.Command(binary, "serve", "-f", s.file, "--state", s.stateDir)
	restarted.Stderr = s.stderr
	if err := restarted.Start(); err != nil {
		t.Fatal(err)
	}
	defer restarted.Process.Kill()
	var out string
	var err error
	for range 200 {
		if out, err = s.cli(t, "status"); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !regexpMatch(`web\s+new\s+v2\s+67%\s+67.0%\s+true\s+runtime`, out) {
		t.Fatalf("after restart: %v\n%s", err, out)
	}
}

// SIGTERM: /readyz turns 503 at once, requests in flight finish, nobody sees
// a reset, and the process exits 0.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	legacy, next := namedBackend(t, "legacy", 700*time.Millisecond), namedBackend(t, "new", 700*time.Millisecond)
	s := startServe(t, map[string]string{"legacy": legacy.URL, "new": next.URL}, "300ms")

	const n = 40
	type result struct {
		code int
		body string
		err  error
	}
	results := make(chan result, n)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for range n {
		go func() {
			resp, err := client.Get("http://" + s.addr + "/")
			if err != nil {
				results <- result{err: err}
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{code: resp.StatusCode, body: string(body), err: err}
		}()
	}
	time.Sleep(200 * time.Millisecond) // all n are in flight at the backends
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	resp, err := http.Get("http://" + s.admin + "/readyz")
	if err != nil {
		t.Fatalf("readyz during drain: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz during drain: %d, want 503", resp.StatusCode)
	}
	for range n {
		r := <-results
		if r.err != nil || r.code != 200 || (r.body != "legacy" && r.body != "new") {
			t.Fatalf("an in-flight request saw %d %q %v", r.code, r.body, r.err)
		}
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, s.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not exit after SIGTERM")
	}
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	os.WriteFile(file, []byte(`apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: x}
spec:
  backends:
  - name: a
    endpoints: [localhost:80]
  routes:
  - name: r
    backends: [{name: b, weight: 50}]
`), 0o600)
	out, err := exec.Command(binary, "validate", "-f", file).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("validate of a bad file: %v", err)
	}
	for _, want := range []string{
		file + `:7:17: spec.backends[0].endpoints[0]: "localhost:80" must start with http:// or https://`,
		file + `:10:17: spec.routes[0].backends[0].name: unknown backend "b"`,
		file + `:10:5: spec.routes[0].backends: weights add up to 50, not 100`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks\n%s\n---\n%s", want, out)
		}
	}
	// One pass: unknown fields and wrong types do not hide the semantic
	// checks of the rest, and an unknown name lists the valid ones.
	both := filepath.Join(dir, "both.yaml")
	os.WriteFile(both, []byte(`apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: x}
spec:
  backends:
  - name: a
    weigth: 3
    endpoints: [http://127.0.0.1:80]
  - {name: c, endpoints: [http://127.0.0.1:81], dialTimeout: [1]}
  routes:
  - name: r
    backends: [{name: b, weight: 50}]
`), 0o600)
	out, _ = exec.Command(binary, "validate", "-f", both).CombinedOutput()
	for _, want := range []string{
		both + `:7:5: spec.backends[0].weigth: unknown field "weigth"`,
		both + `:9:62: spec.backends[1].dialTimeout: cannot unmarshal`,
		both + `:12:17: spec.routes[0].backends[0].name: unknown backend "b" (the backends are a, c)`,
		both + `:12:5: spec.routes[0].backends: weights add up to 50, not 100`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks\n%s\n---\n%s", want, out)
		}
	}
	for _, files := range [][]string{
		{"../../examples/two-backend-migration.yaml"},
		{"../../examples/two-backend-migration.yaml", "../../examples/two-backend-migration.plan.yaml"},
	} {
		args := []string{"validate"}
		for _, f := range files {
			args = append(args, "-f", f)
		}
		if out, err := exec.Command(binary, args...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", files, err, out)
		}
	}
}

func TestDemoRunsThePlan(t *testing.T) {
	cmd := exec.Command(binary, "demo", "--step-pause", "1s", "--duration", "80s")
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// While it runs, the dashboard it prints answers: the page, and its
	// data with the token from the link's fragment.
	var dashboard []string
	for deadline := time.Now().Add(30 * time.Second); dashboard == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		dashboard = regexp.MustCompile(`http://(\S+)/ui/#token=(\S+)`).FindStringSubmatch(buf.String())
	}
	if dashboard == nil {
		cmd.Process.Kill()
		t.Fatalf("demo printed no dashboard link:\n%s", buf.String())
	}
	checkDashboard(t, dashboard[1], dashboard[2])
	err := cmd.Wait()
	out := []byte(buf.String())
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		`(?m)^\s+1s\s+legacy\s+\d+\s+new\s+\d+\s+errors 0$`,
		`=== summary after \d+s: plan Completed \(all steps done\)`,
		`step 1 \s+setMirrorRoute: shadow \(10% copied to the canary\)`,
		`step 4 \s+setWeight: 10`,
		`step 13\s+setWeight: 100`,
		`mirrored to new and compared: \d+ \(\d+ same\)`,
		`preview requests \(x-preview: new\): \d+, answered by new: \d+`,
		`errors sent by the backends: 0`,
		`errors caused by the switch: 0`,
	} {
		if !regexpMatch(want, string(out)) {
			t.Fatalf("demo output lacks %s:\n%s", want, out)
		}
	}
	// Every preview request went to new: the header route was in place
	// before the first one.
	m := regexp.MustCompile(`preview requests \(x-preview: new\): (\d+), answered by new: (\d+)`).FindStringSubmatch(string(out))
	if m[1] == "0" || m[1] != m[2] {
		t.Errorf("%s of %s preview requests answered by new", m[2], m[1])
	}
}

// checkDashboard asks the dashboard's page and the data it reads.
func checkDashboard(t *testing.T, admin, token string) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<script src="app.js"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("dashboard page: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), page)
	}
	for _, path := range []string{"/api/v1/status", "/api/v1/rollouts/web", "/api/v1/routes/web/series", "/api/v1/events?limit=10"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !json.Valid(body) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

// With a fault from step 4 (10 %), the analysis aborts the plan, all traffic
// returns to legacy, and no request fails because of the switch.
func TestDemoFaultAborts(t *testing.T) {
	out, err := exec.Command(binary, "demo", "--step-pause", "1s", "--duration", "80s", "--fault", "errors=5%").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{
		`plan Aborted \(analysis failed: compare Failed \(errors Fail: canary \d+\.\d+% \(n=\d+\) vs stable 0\.00% \(n=\d+\)`,
		`errors caused by the switch: 0`,
		`(?m)^\s+\d+s\s+legacy\s+\d+\s+new\s+0\s+errors 0$`, // after the abort, all on legacy
	} {
		if !regexpMatch(want, s) {
			t.Fatalf("demo output lacks %s:\n%s", want, s)
		}
	}
	if regexpMatch(`step 7 \s+setWeight: 34`, s) {
		t.Fatalf("the plan went past the failing analysis:\n%s", s)
	}
}

const killPlan = testenv.WebPlan + `      - setHeaderRoute: {name: preview, match: [{headerName: x-preview, headerValue: {exact: new}}]}
      - setWeight: 34
      - pause: {}
      - setWeight: 67
      - pause: {duration: 1h}
      - setWeight: 100
`

// kill -9 mid-plan, then a restart: the plan is where it was, with the same
// weights and header route, and the audit log has no gap.
func TestKill9MidPlanResumes(t *testing.T) {
	legacy, next := namedBackend(t, "legacy", 0), namedBackend(t, "new", 0)
	s := startServe(t, map[string]string{"legacy": legacy.URL, "new": next.URL}, "0s", killPlan)
	waitOutput := func(want string) string {
		t.Helper()
		var out string
		for range 200 {
			out, _ = s.cli(t, "get", "rollout", "web")
			if regexpMatch(want, out) {
				return out
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("get rollout never showed %s:\n%s", want, out)
		return ""
	}
	waitOutput(`=>\s+2  pause: until promoted`)
	if out, _ := s.cli(t, "status"); !regexpMatch(`web\s+web\s+Paused\s+2/6\s+new 34%\s+step 2: waiting for promote`, out) {
		t.Fatalf("status does not show the plan:\n%s", out)
	}
	// get --watch redraws when the plan moves.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	watch := exec.CommandContext(ctx, binary, "--admin", s.admin, "--state", s.stateDir, "get", "rollout", "web", "--watch", "--interval", "50ms")
	watchOut := &lockedBuffer{}
	watch.Stdout = watchOut
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer watch.Process.Kill()
	for !regexpMatch(`=>\s+2  pause: until promoted`, watchOut.String()) {
		if ctx.Err() != nil {
			t.Fatalf("get --watch drew nothing:\n%s", watchOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, err := s.cli(t, "promote", "web"); err != nil {
		t.Fatalf("promote: %v\n%s", err, out)
	}
	before := waitOutput(`=>\s+4  pause: 1h0m0s`)
	for !regexpMatch(`(?s)=>\s+2  pause: until promoted.*-{60}.*=>\s+4  pause: 1h0m0s\s+\((1h0m0s|59m5\ds) left\)`, watchOut.String()) {
		if ctx.Err() != nil {
			t.Fatalf("get --watch did not redraw:\n%s", watchOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	watch.Process.Kill()
	if !strings.Contains(before, "Weights:   canary 67%  stable 33%") || !strings.Contains(before, "Header routes to canary: preview") {
		t.Fatalf("before the kill:\n%s", before)
	}
	lastSeq := s.lastEventSeq(t)
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited

	s.launch(t)
	s.waitReady(t)
	after := waitOutput(`=>\s+4  pause: 1h0m0s`)
	if !strings.Contains(after, "Weights:   canary 67%  stable 33%") || !strings.Contains(after, "Header routes to canary: preview") {
		t.Fatalf("after kill -9 and restart:\n%s", after)
	}
	counts := s.split(t)
	if counts["new"] != 67 {
		t.Fatalf("after restart 100 requests split %v", counts)
	}
	out, err := exec.Command(binary, "--admin", s.admin, "--state", s.stateDir, "events", "--limit", "1000").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	seqs := regexp.MustCompile(`#(\d+) `).FindAllStringSubmatch(string(out), -1)
	for i, m := range seqs {
		if m[1] != strconv.Itoa(i+1) {
			t.Fatalf("the audit log has a gap at #%d:\n%s", i+1, out)
		}
	}
	if len(seqs) <= lastSeq {
		t.Fatalf("events after restart: %d, before the kill %d", len(seqs), lastSeq)
	}
	// Commands the state does not allow are refused with a reason.
	out2, err := s.cli(t, "retry", "web")
	if err == nil || !strings.Contains(out2, "retry refused in phase Paused: only an aborted plan can be retried") {
		t.Fatalf("retry while paused: %v\n%s", err, out2)
	}
	if out, err := s.cli(t, "abort", "web", "--reason", "test"); err != nil || !strings.Contains(out, "Aborted at step 4, canary 0%") {
		t.Fatalf("abort: %v\n%s", err, out)
	}
}

func (s *server) lastEventSeq(t *testing.T) int {
	out, err := exec.Command(binary, "--admin", s.admin, "--state", s.stateDir, "events", "--limit", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := regexp.MustCompile(`#(\d+) `).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no event: %s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// SIGUSR1 reopens the access log after logrotate moved it away.
func TestSIGUSR1ReopensAccessLog(t *testing.T) {
	legacy, next := namedBackend(t, "legacy", 0), namedBackend(t, "new", 0)
	logFile := filepath.Join(t.TempDir(), "access.log")
	s := startServe(t, map[string]string{"legacy": legacy.URL, "new": next.URL}, "0s")
	cfg, _ := os.ReadFile(s.file)
	os.WriteFile(s.file, []byte(strings.Replace(string(cfg), "  backends:", fmt.Sprintf("  accessLog: {sinks: [{file: {path: %q}}]}\n  backends:", logFile), 1)), 0o600)
	s.cmd.Process.Signal(syscall.SIGTERM) // access-log settings need a restart
	<-s.exited
	s.launch(t)
	s.waitReady(t)
	get := func(path string) {
		resp, err := http.Get("http://" + s.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitLines := func(file string, n int) {
		t.Helper()
		for range 200 {
			data, _ := os.ReadFile(file)
			if strings.Count(string(data), "\n") == n {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		data, _ := os.ReadFile(file)
		t.Fatalf("%s has %q, want %d lines", file, data, n)
	}
	get("/before")
	waitLines(logFile, 1)
	os.Rename(logFile, logFile+".1")
	s.cmd.Process.Signal(syscall.SIGUSR1)
	// The signal is handled asynchronously: keep asking until a line lands
	// in the new file.
	deadline := time.Now().Add(5 * time.Second)
	for {
		get("/after")
		time.Sleep(50 * time.Millisecond)
		if data, err := os.ReadFile(logFile); err == nil && strings.Contains(string(data), `"path":"/after"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("after SIGUSR1 no line reached a new access.log")
		}
	}
	old, _ := os.ReadFile(logFile + ".1")
	if !strings.Contains(string(old), `"path":"/before"`) {
		t.Fatalf("the rotated file lost its line: %q", old)
	}
}

// split sends 100 requests through the gateway and counts who answered.
func (s *server) split(t *testing.T) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range 100 {
		resp, err := http.Get("http://" + s.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		counts[resp.Header.Get("X-Backend")]++
	}
	return counts
}
