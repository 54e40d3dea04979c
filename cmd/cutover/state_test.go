package main_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveOnce runs `cutover serve` on the server's files with extra flags and
// returns its output, for a start that is expected to fail at once.
func (s *server) serveOnce(t *testing.T, flags ...string) (string, error) {
	t.Helper()
	args := append([]string{"serve", "-f", s.file, "--state", s.stateDir, "--watch-interval", "0"}, flags...)
	cmd := exec.Command(binary, args...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("serve %v kept running:\n%s", flags, out)
	}
	return string(out), err
}

// stopServe sends SIGTERM and waits for the exit.
func (s *server) stopServe(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-s.exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, s.stderr)
	}
}

// A damaged state file is never read as empty state and never panics: the
// gateway refuses it with the file, what is wrong and what to do, and
// --state-recover brings back the backup with the weights set through the
// API, --state-reset starts empty. Both move the damaged file aside.
func TestDamagedStateFile(t *testing.T) {
	legacy, next := namedBackend(t, "legacy", 0), namedBackend(t, "new", 0)
	backends := map[string]string{"legacy": legacy.URL, "new": next.URL}
	db := func(s *server) string { return filepath.Join(s.stateDir, "state.db") }
	damages := map[string]func(t *testing.T, path string){
		"empty": func(t *testing.T, path string) { os.Truncate(path, 0) },
		"truncated": func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2+123)
		},
		"scrambled": func(t *testing.T, path string) {
			data, _ := os.ReadFile(path)
			rng := rand.New(rand.NewPCG(7, 7))
			for i := range data {
				data[i] = byte(rng.IntN(256))
			}
			os.WriteFile(path, data, 0o600)
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			s := startServe(t, backends, "0s")
			if out, err := s.cli(t, "weight", "web", "new=67", "legacy=33"); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			s.stopServe(t)
			damage(t, db(s))

			out, err := s.serveOnce(t)
			if err == nil {
				t.Fatalf("serve started on a %s state file:\n%s", name, out)
			}
			for _, want := range []string{db(s), "--state-recover", "--state-reset", "state.db.bak"} {
				if !strings.Contains(out, want) {
					t.Errorf("the refusal does not mention %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") || strings.Contains(out, "SIGBUS") {
				t.Fatalf("serve crashed on a %s state file:\n%s", name, out)
			}

			s.launch(t, "--state-recover")
			s.waitReady(t)
			st, err := s.cli(t, "status")
			if err != nil || !regexpMatch(`web\s+new\s+v2\s+67%\s+67.0%\s+true\s+runtime`, st) {
				t.Fatalf("after --state-recover the weights set through the API are gone: %v\n%s", err, st)
			}
			aside, _ := filepath.Glob(db(s) + ".damaged-*")
			if len(aside) != 1 {
				t.Errorf("damaged files moved aside: %v, want one", aside)
			}
			s.stopServe(t)

			damage(t, db(s))
			s.launch(t, "--state-reset")
			s.waitReady(t)
			if st, _ := s.cli(t, "status"); !regexpMatch(`web\s+new\s+v2\s+10%\s+10.0%\s+true\s+config`, st) {
				t.Fatalf("after --state-reset the config's weights should apply:\n%s", st)
			}
			s.stopServe(t)
		})
	}
}

// A second gateway on the same --state says that another one holds it.
func TestSecondGatewayOnTheSameState(t *testing.T) {
	legacy, next := namedBackend(t, "legacy", 0), namedBackend(t, "new", 0)
	s := startServe(t, map[string]string{"legacy": legacy.URL, "new": next.URL}, "0s")
	other := *s
	out, err := other.serveOnce(t)
	if err == nil || !strings.Contains(out, "another cutover serve is running with this --state directory") {
		t.Fatalf("second gateway: %v\n%s", err, out)
	}
}

// Without -f and without ./cutover.yaml, serve says what is missing and how
// to pass a file, and creates nothing.
func TestServeWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "serve", "--state", filepath.Join(dir, "state"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no cutover.yaml here and no -f was given") || !strings.Contains(string(out), "-f FILE") {
		t.Fatalf("serve without a config: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("serve without a config created %v", entries)
	}
}

// cutover events prints managed routes as a user writes them, not as raw
// structs, and pages back through a long log.
func TestEventsReadable(t *testing.T) {
	legacy, next := namedBackend(t, "legacy", 0), namedBackend(t, "new", 0)
	s := startServe(t, map[string]string{"legacy": legacy.URL, "new": next.URL}, "0s")
	token, _ := os.ReadFile(filepath.Join(s.stateDir, "admin.token"))
	req, _ := http.NewRequest(http.MethodPut, "http://"+s.admin+"/api/v1/routes/web/managed/preview",
		strings.NewReader(`{"backend":"new","match":[{"headers":[{"name":"x-preview","exact":"new"}]}]}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT managed route: %v %v", resp, err)
	}
	resp.Body.Close()
	out, err := s.cli(t, "events")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "none → preview: x-preview=new to new") || strings.Contains(out, `"Path"`) {
		t.Errorf("managed-route event not readable:\n%s", out)
	}
	for i := range 30 {
		if out, err := s.cli(t, "weight", "web", fmt.Sprintf("new=%d", i+1), fmt.Sprintf("legacy=%d", 99-i)); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	seen := map[string]bool{}
	before := ""
	for page := 0; ; page++ {
		args := []string{"events", "--limit", "10"}
		if before != "" {
			args = append(args, "--before", before)
		}
		out, err := s.cli(t, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 2 && strings.HasPrefix(f[2], "#") {
				seen[f[2]] = true
			}
		}
		_, hint, ok := strings.Cut(out, "--before ")
		if !ok {
			break
		}
		before = strings.TrimSpace(hint)
		if page > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 32 || !seen["#1"] || !seen["#32"] {
		t.Errorf("paging showed %d events, want all 32 (%v)", len(seen), seen)
	}
}
