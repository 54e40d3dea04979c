package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// Redis is a real redis-server on a loopback port, without persistence.
type Redis struct {
	Addr string
	cmd  *exec.Cmd
	bin  string
	args []string
	opts RedisOptions
	t    testing.TB
}

// StartRedis runs redis-server for the test; it is stopped when the test
// ends.
func StartRedis(t testing.TB) *Redis { return StartRedisWith(t, RedisOptions{}) }

// RedisOptions secure a test Redis.
type RedisOptions struct {
	// Password is requirepass, for the default user.
	Password string
	// Users are ACL rules, one user each: "alice on >secret ~* &* +@all".
	Users []string
	// TLS serves TLS only, with this certificate and key; clients must
	// present a certificate from ClientCA when it is set.
	TLSCert, TLSKey, ClientCA string
	// CA verifies the server's certificate in the readiness check.
	CA string
}

// StartRedisWith runs redis-server with passwords, ACL users or TLS.
func StartRedisWith(t testing.TB, o RedisOptions) *Redis {
	t.Helper()
	r := &Redis{bin: Binary(t, "redis-server", "redis-server"), Addr: FreeAddr(t), t: t, opts: o}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts (or restarts) the server on the same address.
func (r *Redis) Start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"}
	if o := r.opts; o.Password != "" {
		// masterauth: a cluster's nodes and a sentinel's replicas talk with it too.
		args = append(args, "--requirepass", o.Password, "--masterauth", o.Password)
	}
	for _, u := range r.opts.Users {
		args = append(append(args, "--user"), strings.Fields(u)...)
	}
	if o := r.opts; o.TLSCert != "" {
		args[1] = "0"
		args = append(args, "--tls-port", port, "--tls-cert-file", o.TLSCert, "--tls-key-file", o.TLSKey)
		if o.ClientCA != "" {
			args = append(args, "--tls-ca-cert-file", o.ClientCA, "--tls-auth-clients", "yes")
		} else {
			args = append(args, "--tls-ca-cert-file", o.CA, "--tls-auth-clients", "no")
		}
	}
	r.cmd = exec.Command(r.bin, append(args, r.args...)...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r.answers() {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether the server answers a PING, even if only to say
// that it wants a password.
func (r *Redis) answers() bool {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	if r.opts.TLSCert != "" {
		return true // listening is enough: a handshake needs the test's client files
	}
	c.SetDeadline(time.Now().Add(time.Second))
	return ping(c)
}

func ping(c net.Conn) bool {
	c.Write([]byte("PING\r\n"))
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	return string(buf[:n]) == "+PONG\r\n" || strings.HasPrefix(string(buf[:n]), "-NOAUTH")
}

// Stop kills the server, as a crash would.
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// StartRedisCluster runs a Redis Cluster of three masters, each with a
// third of the slots, and returns their addresses.
func StartRedisCluster(t testing.TB) []string { return StartRedisClusterWith(t, "") }

// StartRedisClusterWith runs the cluster with a password on every node
// when password is not empty.
func StartRedisClusterWith(t testing.TB, password string) []string {
	t.Helper()
	var auth []string
	if password != "" {
		auth = []string{"-a", password, "--no-auth-warning"}
	}
	bin := Binary(t, "redis-server", "redis-server")
	cli := Binary(t, "redis-cli", "redis-tools")
	dir := t.TempDir()
	var addrs []string
	for i := range 3 {
		r := &Redis{bin: bin, Addr: FreeAddr(t), t: t, opts: RedisOptions{Password: password}}
		_, bus, _ := net.SplitHostPort(FreeAddr(t))
		r.args = []string{"--cluster-enabled", "yes", "--cluster-port", bus,
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)), "--dir", dir}
		r.Start()
		t.Cleanup(r.Stop)
		addrs = append(addrs, r.Addr)
	}
	out, err := exec.Command(cli, append(append(append(auth, "--cluster", "create"), addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		for {
			out, _ := exec.Command(cli, append(auth, "-h", host, "-p", port, "cluster", "info")...).Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Redis cluster did not come up: %s", out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs
}

// StartSentinel runs a Redis Sentinel that monitors master under the name
// "mymaster"; it returns the sentinel's address.
func StartSentinel(t testing.TB, master string) string { return StartSentinelWith(t, master, "", "") }

// StartSentinelWith runs the sentinel with the master's password and a
// password of its own, each when not empty.
func StartSentinelWith(t testing.TB, master, masterPassword, password string) string {
	t.Helper()
	bin := Binary(t, "redis-server", "redis-server")
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	mhost, mport, _ := net.SplitHostPort(master)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	text := fmt.Sprintf("port %s\nbind 127.0.0.1\nsentinel monitor mymaster %s %s 1\nsentinel down-after-milliseconds mymaster 1000\n", port, mhost, mport)
	if masterPassword != "" {
		text += "sentinel auth-pass mymaster " + masterPassword + "\n"
	}
	if password != "" {
		text += "requirepass " + password + "\n"
	}
	os.WriteFile(conf, []byte(text), 0o600)
	cmd := exec.Command(bin, conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			if password != "" {
				c.Write([]byte("AUTH " + password + "\r\n"))
				c.SetReadDeadline(time.Now().Add(time.Second))
				c.Read(make([]byte, 16))
			}
			c.Write([]byte("SENTINEL get-master-addr-by-name mymaster\r\n"))
			buf := make([]byte, 128)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if n > 0 && buf[0] == '*' {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("redis sentinel did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TCPServer listens on a loopback port and hands every connection it
// accepts to handle, for peers that misbehave below HTTP: one that resets,
// one that never answers. It returns the address, and stops with the test.
func TCPServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

// ModuleDir is the directory of a module version in the module cache,
// downloaded through the module proxy when it is not there yet.
func ModuleDir(t testing.TB, moduleAtVersion string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", moduleAtVersion)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", moduleAtVersion, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s: %s %v", moduleAtVersion, m.Error, err)
	}
	return m.Dir
}
