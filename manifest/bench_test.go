package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkGenerate500Services4Environments generates and writes a tree of
// 500 services (node-bff with Rollouts and rate limits, rails, upload jobs)
// in 4 environments, as `cutover generate` does:
//
//	go test ./manifest -run XXX -bench Generate500 -benchtime 3x
func BenchmarkGenerate500Services4Environments(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	defs := `environments:
  dev: {domain: dev.example.com, branch: main}
  qa: {domain: qa.example.com, branch: main}
  staging: {domain: staging.example.com, branch: main}
  production: {domain: example.com, colour: green, branch: release/production}
`
	if err := os.WriteFile(filepath.Join(dir, "definitions.yaml"), []byte(defs), 0o644); err != nil {
		b.Fatal(err)
	}
	templates := []string{"node-bff", "rails", "static-upload-job"}
	for i := range 500 {
		cfg := fmt.Sprintf(`template: %s
image: registry.example.com/svc%d
hosts: [svc%d]
paths: [/svc%d]
defaults:
  replicas: 2
  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {cpu: 500m, memory: 256Mi}
  env: {NODE_ENV: production}
  config: {app.json: '{"id": %d}'}
  upload: {bucket: b, region: r, package: p, packageDistDir: dist, destination: d}
environments:
  dev: {version: 1.0.%d}
  qa: {version: 1.0.%d}
  staging: {version: 1.0.%d}
  production:
    version: 1.0.%d
    autoscaling: {minReplicas: 3, maxReplicas: 9, targetCPUUtilization: 80}
    rollout:
      steps: [{setWeight: 20}, {pause: {duration: 1m}}, {setWeight: 60}, {pause: {}}]
    rateLimits:
      local: {maxTokens: 50, tokensPerFill: 10, fillInterval: 1s}
`, templates[i%len(templates)], i, i, i, i, i, i, i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("svc%03d.yaml", i)), []byte(cfg), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var objects, files int
	var generate, write time.Duration
	for b.Loop() {
		out := filepath.Join(b.TempDir(), "out")
		start := time.Now()
		tree, err := Generate(dir)
		if err != nil {
			b.Fatal(err)
		}
		generated := time.Now()
		if _, err := tree.Write(out, Scope{}); err != nil {
			b.Fatal(err)
		}
		generate += generated.Sub(start)
		write += time.Since(generated)
		objects, files = len(tree.Resources), len(tree.Files)
	}
	b.ReportMetric(float64(objects), "objects")
	b.ReportMetric(float64(files), "files")
	b.ReportMetric(generate.Seconds()/float64(b.N), "s-generate/op")
	b.ReportMetric(write.Seconds()/float64(b.N), "s-write/op")
}
