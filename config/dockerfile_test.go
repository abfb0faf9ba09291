package config

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/clientcreds/clientcreds/internal/testutil"
)

// stage is one FROM section of a Dockerfile.
type stage struct {
	name, base string
	lines      []string // instructions, continuation lines joined
}

// parseDockerfile splits a Dockerfile into stages. It understands what this
// repository's Dockerfile uses: comments, line continuations and FROM … AS.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []stage
	var cur strings.Builder
	flush := func() {
		line := strings.Join(strings.Fields(cur.String()), " ")
		cur.Reset()
		if line == "" {
			return
		}
		fields := strings.Fields(line)
		if strings.EqualFold(fields[0], "FROM") {
			s := stage{}
			args := slices.DeleteFunc(fields[1:], func(f string) bool { return strings.HasPrefix(f, "--") })
			s.base = args[0]
			if len(args) == 3 && strings.EqualFold(args[1], "AS") {
				s.name = args[2]
			}
			stages = append(stages, s)
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return stages
}

// TestDockerfile checks, without a container engine, that the Dockerfile has
// a target per binary in cmd/ (kubectl plugins aside), built statically and run as non-root from a
// distroless image, and that the build context has every directory the
// binaries import from.
func TestDockerfile(t *testing.T) {
	root := testutil.RepoRoot()
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	byName := map[string]stage{}
	for _, s := range stages {
		byName[s.name] = s
	}
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	var bins []string
	for _, e := range entries {
		// cmd/kubectl-*: kubectl plugins run on the user's machine (kubectl finds them on
		// PATH), not in a container.
		if e.IsDir() && !strings.HasPrefix(e.Name(), "kubectl-") {
			bins = append(bins, e.Name())
		}
	}
	if len(bins) < 4 {
		t.Fatalf("cmd/ has %v, want at least the four binaries", bins)
	}
	// The Deployment runs /manager as this user.
	var d appsv1.Deployment
	into(t, only(t, build(t, "default"), "Deployment"), &d)
	uid := *d.Spec.Template.Spec.SecurityContext.RunAsUser

	for _, bin := range bins {
		t.Run(bin, func(t *testing.T) {
			img, ok := byName[bin]
			if !ok {
				t.Fatalf("no stage named %s (docker build --target %s)", bin, bin)
			}
			if !strings.HasPrefix(img.base, "gcr.io/distroless/static") || !strings.HasSuffix(img.base, ":nonroot") {
				t.Errorf("image based on %s, want gcr.io/distroless/static…:nonroot", img.base)
			}
			want := map[string]bool{
				`ENTRYPOINT ["/` + bin + `"]`: false,
				"USER 65532:65532":            false,
			}
			var from string
			for _, l := range img.lines {
				if _, ok := want[l]; ok {
					want[l] = true
				}
				if rest, ok := strings.CutPrefix(l, "COPY --from="); ok {
					from = strings.Fields(rest)[0]
					if !strings.HasSuffix(l, " /"+bin) {
						t.Errorf("%q does not install /%s", l, bin)
					}
				}
			}
			for l, seen := range want {
				if !seen {
					t.Errorf("stage %s lacks %s", bin, l)
				}
			}
			if uid != 65532 {
				t.Errorf("the Deployment runs as %d, the image as 65532", uid)
			}
			b, ok := byName[from]
			if !ok {
				t.Fatalf("stage %s copies from %q, which is not a stage", bin, from)
			}
			built := false
			for _, l := range b.lines {
				if strings.HasPrefix(l, "RUN ") && strings.Contains(l, "CGO_ENABLED=0") &&
					strings.Contains(l, "go build -trimpath") && strings.HasSuffix(l, " ./cmd/"+bin) {
					built = true
				}
			}
			if !built {
				t.Errorf("stage %s does not run CGO_ENABLED=0 go build -trimpath … ./cmd/%s", from, bin)
			}
		})
	}
	if last := stages[len(stages)-1].name; last != "manager" {
		t.Errorf("last stage is %s; `docker build .` should give the manager", last)
	}

	// Every directory of the module the binaries import from is copied into
	// the build and kept by .dockerignore.
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	need := map[string]bool{}
	for _, dir := range strings.Fields(string(out)) {
		if rel, err := filepath.Rel(root, dir); err == nil && !strings.HasPrefix(rel, "..") {
			need[strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]] = true
		}
	}
	copied := map[string]bool{}
	for _, s := range stages {
		for _, l := range s.lines {
			f := strings.Fields(l)
			if f[0] == "COPY" && !strings.HasPrefix(f[1], "--") {
				for _, src := range f[1 : len(f)-1] {
					copied[strings.TrimSuffix(src, "/")] = true
				}
			}
		}
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, l := range strings.Split(string(ignore), "\n") {
		if dir, ok := strings.CutPrefix(strings.TrimSpace(l), "!"); ok {
			kept[strings.TrimSuffix(dir, "/")] = true
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		need[f] = true
	}
	if len(need) < 4 {
		t.Fatalf("go list found only %v", need)
	}
	for dir := range need {
		if !copied[dir] {
			t.Errorf("the binaries need %s, which the Dockerfile does not COPY", dir)
		}
		if !kept[dir] {
			t.Errorf("the binaries need %s, which .dockerignore does not re-include", dir)
		}
	}
}
