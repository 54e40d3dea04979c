package manifest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// ServiceRelease is what one service runs in one environment at one ref of
// the manifest repository: its images and its pods' requests times their
// replicas (istio-proxy excluded: the same on both sides).
type ServiceRelease struct {
	Images      []string
	CPUMilli    Range
	MemoryBytes Range
	Replicas    Range
}

// Releases are, per environment and service, what the generated overlays
// at a git ref run.
type Releases map[string]map[string]ServiceRelease

// ReadReleases reads overlays/<env>/<service>/ of the tree at root in the
// git repository repo, at ref, with git itself.
func ReadReleases(repo, root, ref string) (Releases, error) {
	dir := path.Join(root, "overlays")
	out, err := git(repo, "ls-tree", "-r", "--name-only", ref, "--", dir+"/")
	if err != nil {
		return nil, err
	}
	rels := Releases{}
	hpa := map[string]Range{} // env/service/kind/name
	type workload struct {
		env, svc, key string
		doc           map[string]any
	}
	var workloads []workload
	for _, file := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(file, dir+"/")
		parts := strings.Split(rel, "/")
		if len(parts) != 3 || path.Base(file) == "kustomization.yaml" {
			continue
		}
		env, svc := parts[0], parts[1]
		data, err := git(repo, "show", ref+":"+file)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s at %s: %w", file, ref, err)
		}
		if rels[env] == nil {
			rels[env] = map[string]ServiceRelease{}
		}
		if _, ok := rels[env][svc]; !ok {
			rels[env][svc] = ServiceRelease{}
		}
		kind, _ := doc["kind"].(string)
		switch kind {
		case "HorizontalPodAutoscaler":
			k, _ := dig(doc, "spec", "scaleTargetRef", "kind").(string)
			n, _ := dig(doc, "spec", "scaleTargetRef", "name").(string)
			lo, _ := dig(doc, "spec", "minReplicas").(float64)
			hi, _ := dig(doc, "spec", "maxReplicas").(float64)
			hpa[env+"/"+svc+"/"+k+"/"+n] = Range{int64(lo), int64(hi)}
		case "Deployment", "Rollout", "StatefulSet", "DaemonSet", "Job":
			name, _ := dig(doc, "metadata", "name").(string)
			workloads = append(workloads, workload{env, svc, env + "/" + svc + "/" + kind + "/" + name, doc})
		}
	}
	for _, w := range workloads {
		r := rels[w.env][w.svc]
		kind, _ := w.doc["kind"].(string)
		replicas := Range{1, 1}
		if n, ok := dig(w.doc, "spec", "replicas").(float64); ok {
			replicas = Range{int64(n), int64(n)}
		}
		if rg, ok := hpa[w.key]; ok {
			replicas = rg
		}
		var cpu, mem int64
		for _, field := range []string{"initContainers", "containers"} {
			cs, _ := dig(w.doc, "spec", "template", "spec", field).([]any)
			for _, c := range cs {
				if img, _ := dig(c, "image").(string); img != "" && img != "auto" && !slices.Contains(r.Images, img) {
					r.Images = append(r.Images, img)
				}
				if field == "containers" {
					c1, _ := dig(c, "resources", "requests", "cpu").(string)
					m1, _ := dig(c, "resources", "requests", "memory").(string)
					cpu += milli(c1)
					mem += bytesOf(m1)
				}
			}
		}
		if kind != "Job" { // runs to completion, not part of the steady state
			r.CPUMilli = r.CPUMilli.add(replicas.scale(cpu))
			r.MemoryBytes = r.MemoryBytes.add(replicas.scale(mem))
			r.Replicas = r.Replicas.add(replicas)
		}
		slices.Sort(r.Images)
		rels[w.env][w.svc] = r
	}
	return rels, nil
}

func git(repo string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// ReleaseNotes lists, per environment and service, the images and
// resource totals that change from one ref to the other, in Markdown for
// a pull request or a tag (handbook §6.4).
func ReleaseNotes(from, to Releases, fromRef, toRef string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Release notes: %s → %s\n\n", fromRef, toRef)
	b.WriteString("Per environment, the services whose images or requests change. CPU and memory are requests times replicas, without the istio-proxy sidecar; autoscaled services count from their minimum to their maximum replicas.\n")
	envs := map[string]bool{}
	for e := range from {
		envs[e] = true
	}
	for e := range to {
		envs[e] = true
	}
	changed := false
	for _, env := range sortedKeys(envs) {
		var rows []string
		svcs := map[string]bool{}
		for s := range from[env] {
			svcs[s] = true
		}
		for s := range to[env] {
			svcs[s] = true
		}
		for _, svc := range sortedKeys(svcs) {
			a, hadA := from[env][svc]
			z, hasZ := to[env][svc]
			name := svc
			switch {
			case !hadA:
				name += " (new)"
			case !hasZ:
				name += " (removed)"
			case slices.Equal(a.Images, z.Images) && a.CPUMilli == z.CPUMilli && a.MemoryBytes == z.MemoryBytes && a.Replicas == z.Replicas:
				continue
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s |", name, imageChange(a.Images, z.Images, hadA, hasZ),
				change(a.CPUMilli.String("%.2f", 1000), z.CPUMilli.String("%.2f", 1000), hadA, hasZ),
				change(a.MemoryBytes.String("%.2f", 1<<30), z.MemoryBytes.String("%.2f", 1<<30), hadA, hasZ),
				change(a.Replicas.String("%d", 1), z.Replicas.String("%d", 1), hadA, hasZ)))
		}
		if len(rows) == 0 {
			continue
		}
		changed = true
		fmt.Fprintf(&b, "\n## %s\n\n| service | images | CPU (cores) | memory (GiB) | replicas |\n| --- | --- | ---: | ---: | ---: |\n", env)
		for _, r := range rows {
			b.WriteString(r + "\n")
		}
	}
	if !changed {
		b.WriteString("\nNo image or resource changes.\n")
	}
	return b.Bytes()
}

func change(a, z string, hadA, hasZ bool) string {
	switch {
	case !hadA:
		return z
	case !hasZ:
		return "~~" + a + "~~"
	case a == z:
		return a
	}
	return a + " → " + z
}

// imageChange writes each image that changed as name:old → new, the
// repository once when only the tag moved.
func imageChange(a, z []string, hadA, hasZ bool) string {
	if !hadA || !hasZ {
		return change(strings.Join(a, ", "), strings.Join(z, ", "), hadA, hasZ)
	}
	repo := func(img string) string {
		if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
			return img[:i]
		}
		return img
	}
	var parts []string
	for _, old := range a {
		if slices.Contains(z, old) {
			continue
		}
		moved := ""
		for _, nw := range z {
			if repo(nw) == repo(old) && !slices.Contains(a, nw) {
				moved = nw
			}
		}
		if moved != "" {
			parts = append(parts, fmt.Sprintf("%s → %s", old, strings.TrimPrefix(moved, repo(old)+":")))
		} else {
			parts = append(parts, "~~"+old+"~~")
		}
	}
	for _, nw := range z {
		if slices.Contains(a, nw) {
			continue
		}
		found := false
		for _, old := range a {
			if repo(old) == repo(nw) && !slices.Contains(z, old) {
				found = true
			}
		}
		if !found {
			parts = append(parts, nw+" (new)")
		}
	}
	if len(parts) == 0 {
		return "unchanged"
	}
	return strings.Join(parts, ", ")
}
