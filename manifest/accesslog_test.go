package manifest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/manifest/templates"
)

const gatewayService = `template: ingress-gateway
image: docker.io/istio/proxyv2
defaults:
  version: 1.27.3
  resources:
    requests: {cpu: "1", memory: 1Gi}
    limits: {cpu: "2", memory: 1Gi}
  accessLog: {cookies: [session_id, ab_bucket]}
environments:
  production: {}
`

// gatewayConfigMaps generates the gateway and returns its nginx and
// fluent-bit ConfigMaps.
func gatewayConfigMaps(t *testing.T) (nginx, fluentBit *corev1.ConfigMap) {
	t.Helper()
	tree, err := Generate(writeConfig(t, map[string]string{"ingressgateway.yaml": gatewayService}))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tree.Resources {
		if cm, ok := r.Object.(*corev1.ConfigMap); ok {
			switch cm.Name {
			case "ingressgateway-nginx":
				nginx = cm
			case "ingressgateway-fluent-bit":
				fluentBit = cm
			}
		}
	}
	if nginx == nil || fluentBit == nil {
		t.Fatal("no nginx or fluent-bit ConfigMap")
	}
	return nginx, fluentBit
}

// The generated nginx, run for real in front of a backend, logs each
// request as JSON over syslog to the unix socket fluent-bit reads, with
// the cookies the config names; the generated parser reads the line.
func TestGatewayNginxLogsJSONWithCookiesToTheSyslogSocket(t *testing.T) {
	nginxBin := testenv.Binary(t, "nginx", "nginx-light")
	nginxCM, fluentCM := gatewayConfigMaps(t)
	// nginx's workers run as nobody: the socket's directory, and the one
	// above it, must let them in, which t.TempDir's does not.
	dir, err := os.MkdirTemp("", "gateway-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "sys-log.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	os.Chmod(sock, 0o666)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }))
	defer backend.Close()
	_, backendPort, _ := net.SplitHostPort(backend.Listener.Addr().String())
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	conf := nginxCM.Data["nginx.conf"]
	conf = strings.Replace(conf, templates.LogSocket, sock, 1)
	conf = strings.Replace(conf, fmt.Sprintf("listen %d;", templates.GatewayNginxPort), "listen 127.0.0.1:"+port+";", 1)
	conf = strings.Replace(conf, "proxy_pass http://127.0.0.1:8080;", "proxy_pass http://127.0.0.1:"+backendPort+";", 1)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
	cmd := exec.Command(nginxBin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off; pid "+dir+"/nginx.pid; error_log "+dir+"/error.log;")
	if out, err := exec.Command(nginxBin, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "pid "+dir+"/nginx.pid; error_log "+dir+"/error.log;").CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the generated config: %v\n%s", err, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		req, _ := http.NewRequest("GET", "http://"+addr+"/search?q=1", nil)
		req.Host = "www.example.com"
		req.AddCookie(&http.Cookie{Name: "session_id", Value: "s-42"})
		req.AddCookie(&http.Cookie{Name: "ab_bucket", Value: "B"})
		if resp, err = http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("through nginx: %d", resp.StatusCode)
	}
	ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 8192)
	n, err := ln.Read(buf)
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("no syslog line on the socket: %v\n%s", err, logs)
	}
	parsers := fluentCM.Data["parsers.conf"]
	if !strings.Contains(parsers, templates.SyslogRegex) {
		t.Fatal("parsers.conf does not carry the syslog regex")
	}
	m := regexp.MustCompile(templates.SyslogRegex).FindStringSubmatch(string(buf[:n]))
	if m == nil {
		t.Fatalf("the syslog parser does not read nginx's line %q", buf[:n])
	}
	var record map[string]any
	if err := json.Unmarshal([]byte(m[len(m)-1]), &record); err != nil {
		t.Fatalf("the message is not JSON: %v\n%s", err, m[len(m)-1])
	}
	for k, want := range map[string]any{"vhost": "www.example.com", "uri": "/search?q=1", "status": float64(200), "cookie_session_id": "s-42", "cookie_ab_bucket": "B"} {
		if record[k] != want {
			t.Errorf("%s = %v, want %v (record %v)", k, record[k], want, record)
		}
	}
}

// The Lua filter names one file per host and day and keeps a hostile Host
// header inside the log directory.
func TestLogFilePathLua(t *testing.T) {
	lua := testenv.Binary(t, "lua5.4", "lua5.4")
	_, fluentCM := gatewayConfigMaps(t)
	script := filepath.Join(t.TempDir(), "create-log-file-path.lua")
	os.WriteFile(script, []byte(fluentCM.Data["create-log-file-path.lua"]), 0o644)
	for _, tc := range []struct{ host, want string }{
		{"www.example.com", "2026-12-01/www.example.com.log"},
		{"../../etc/passwd", "2026-12-01/.._.._etc_passwd.log"},
		{"", "2026-12-01/unknown.log"},
	} {
		prog := fmt.Sprintf(`dofile(%q); local c, ts, r = create_log_file_path("kube.x", 1796126400.25, {vhost = %q}); io.write(c, " ", r.log_file_path)`, script, tc.host)
		out, err := exec.Command(lua, "-e", prog).CombinedOutput()
		if err != nil || string(out) != "1 "+tc.want {
			t.Errorf("host %q: %s %v, want 1 %s", tc.host, out, err, tc.want)
		}
	}
	conf := fluentCM.Data["fluent-bit.conf"]
	for _, want := range []string{"Name         syslog", "Path         " + templates.LogSocket, "Name         rewrite_tag", "Rule         $log_file_path ^(.*)$ /var/log/ingress-access/$log_file_path false", "Name         file", "Mkdir        true"} {
		if !strings.Contains(conf, want) {
			t.Errorf("fluent-bit.conf lacks %q", want)
		}
	}
	if strings.Contains(conf, "Name         stdout") {
		t.Error("fluent-bit still writes to stdout, which brings back tail-based collection")
	}
}

// Cookie names nginx cannot log, a relative directory, and an access log on
// a service that does not log are refused with their place.
func TestAccessLogValidation(t *testing.T) {
	for _, tc := range []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"ingressgateway.yaml": strings.Replace(gatewayService, "[session_id, ab_bucket]", "[session-id]", 1)},
			`production.accessLog.cookies[0]: "session-id": nginx logs a cookie as $cookie_<name>`},
		{map[string]string{"ingressgateway.yaml": strings.Replace(gatewayService, "{cookies: [session_id, ab_bucket]}", "{directory: logs}", 1)},
			`production.accessLog.directory: "logs" must be an absolute path`},
		{map[string]string{"web.yaml": strings.Replace(goodService, "    version: 1.2.0\n", "    version: 1.2.0\n    accessLog: {cookies: [a]}\n", 1)},
			"production.accessLog: only the ingress-gateway template logs access"},
	} {
		_, err := Generate(writeConfig(t, tc.files))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v\nwant %s", err, tc.want)
		}
	}
}
