// Package testenv finds and starts the real servers that tests talk to:
// Prometheus from Debian's package, for one. .ci/run installs them and sets
// CUTOVER_CI=1, under which a missing server fails the test instead of
// skipping it.
package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Binary returns the path of a server binary, or skips the test (fails it
// under CI) when it is not installed.
func Binary(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not installed (Debian package %s; .ci/run installs it)", name, debianPackage)
	if os.Getenv("CUTOVER_CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreeAddr returns a loopback address with a free port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Prometheus is a real Prometheus server scraping targets every 500 ms.
type Prometheus struct {
	URL string
}

// StartPrometheus runs Prometheus with one scrape job for target (host:port,
// path /metrics) authenticated by the bearer token in tokenFile. It is
// stopped when the test ends.
func StartPrometheus(t testing.TB, target, tokenFile string) *Prometheus {
	t.Helper()
	bin := Binary(t, "prometheus", "prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 500ms
  evaluation_interval: 500ms
scrape_configs:
- job_name: cutover
  scrape_interval: 500ms
  scrape_timeout: 400ms
  authorization:
    credentials_file: %s
  static_configs:
  - targets: ["%s"]
`, tokenFile, target)
	file := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	cmd := exec.Command(bin, "--config.file="+file, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logFile, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", data)
		}
	})
	p := &Prometheus{URL: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("prometheus did not become ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
