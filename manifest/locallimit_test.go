package manifest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/manifest/templates"
)

// withNginxLimit is goodService with the handbook's nginx local limit.
var withNginxLimit = strings.Replace(goodService, "    version: 1.2.0\n", `    version: 1.2.0
    rateLimits:
      local:
        nginx: {rate: 10r/s, burst: 50, delay: 10}
`, 1)

// The handbook's example run for real (§13.3): 70 requests at once to a
// pod limited by nginx to 10r/s with burst=50 delay=10. nginx takes 51 (the
// one within the rate and the burst), refuses the rest with 429, passes 11
// on at once and queues the other 40, which reach the app at the rate;
// Envoy's token bucket would have passed all 50 at once.
func TestNginxLocalLimitQueuesTheBurst(t *testing.T) {
	nginxBin := testenv.Binary(t, "nginx", "nginx-light")
	tree, err := Generate(writeConfig(t, map[string]string{"web.yaml": withNginxLimit}))
	if err != nil {
		t.Fatal(err)
	}
	var conf string
	var deploy *appsv1.Deployment
	for _, r := range tree.Resources {
		switch o := r.Object.(type) {
		case *corev1.ConfigMap:
			if o.Name == "web-nginx" {
				conf = o.Data["nginx.conf"]
			}
		case *appsv1.Deployment:
			deploy = o
		}
	}
	if conf == "" || deploy == nil {
		t.Fatal("no nginx ConfigMap or Deployment")
	}
	// The Service's target, port http, is nginx's; the app keeps its own.
	ports := map[string]string{}
	for _, c := range deploy.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = c.Name
		}
	}
	if ports["http"] != "sidecar-nginx" || ports["app"] != "web" {
		t.Fatalf("ports %v: the Service's http port must be nginx's", ports)
	}

	var arrivals []time.Duration
	var mu sync.Mutex
	start := time.Now()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Since(start))
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	defer backend.Close()
	_, backendPort, _ := net.SplitHostPort(backend.Listener.Addr().String())
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf = strings.Replace(conf, "server 127.0.0.1:3000;", "server 127.0.0.1:"+backendPort+";", 1)
	conf = strings.Replace(conf, fmt.Sprintf("listen %d;", templates.NginxLimitPort), "listen 127.0.0.1:"+port+";", 1)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
	cmd := exec.Command(nginxBin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off; pid "+dir+"/nginx.pid; error_log "+dir+"/error.log;")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let the zone forget the readiness dial's neighbours: a fresh second.
	time.Sleep(time.Second)
	mu.Lock()
	arrivals, start = nil, time.Now()
	mu.Unlock()
	var ok, limited, other atomic.Int32
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 100}}
	for range 70 {
		wg.Go(func() {
			resp, err := client.Get("http://" + addr + "/")
			switch {
			case err != nil:
				other.Add(1)
			case resp.StatusCode == 200:
				ok.Add(1)
			case resp.StatusCode == 429:
				limited.Add(1)
			default:
				other.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if ok.Load() != 51 || limited.Load() != 19 || other.Load() != 0 {
		t.Fatalf("70 at once: %d passed, %d refused with 429, %d otherwise; want 51, 19, 0", ok.Load(), limited.Load(), other.Load())
	}
	sort.Slice(arrivals, func(i, j int) bool { return arrivals[i] < arrivals[j] })
	// The first 11 at once, the last of the queue about 40 / 10r/s later:
	// compared as a ratio, so that a slow machine does not fail it.
	first, last := arrivals[10], arrivals[len(arrivals)-1]
	if last < 3*time.Second || first*10 > last {
		t.Fatalf("the 11th request reached the app after %v, the 51st after %v: the burst was not queued at the rate", first, last)
	}
}

// A local limit takes one of the two buckets, with values nginx reads.
func TestLocalLimitValidation(t *testing.T) {
	local := func(body string) map[string]string {
		return map[string]string{"web.yaml": strings.Replace(goodService, "    version: 1.2.0\n", "    version: 1.2.0\n    rateLimits:\n      local: "+body+"\n", 1)}
	}
	for _, tc := range []struct {
		files map[string]string
		want  string
	}{
		{local("{maxTokens: 5, tokensPerFill: 1, fillInterval: 1s, nginx: {rate: 1r/s}}"), "production.rateLimits.local: limits with Envoy's token bucket and nginx's leaky bucket at once"},
		{local("{nginx: {rate: 10/s, burst: 5}}"), `production.rateLimits.local.nginx.rate: "10/s" is not a rate nginx reads`},
		{local("{nginx: {rate: 10r/s, burst: 5, delay: 9}}"), "production.rateLimits.local.nginx.delay: must be between 0 and burst (5)"},
		{local("{envoy: {maxTokens: 0, tokensPerFill: 1, fillInterval: 1s}}"), "production.rateLimits.local.envoy.maxTokens: must be at least 1"},
		{local("{}"), "production.rateLimits.local: needs envoy (a token bucket) or nginx (a leaky bucket)"},
	} {
		_, err := Generate(writeConfig(t, tc.files))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v\nwant %s", err, tc.want)
		}
	}
}
