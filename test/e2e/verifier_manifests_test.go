package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/clientcreds/clientcreds/internal/testutil"
	"github.com/clientcreds/clientcreds/internal/verifier"
	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// kustomizeBuild renders dir with the repository's pinned kustomize.
func kustomizeBuild(t *testing.T, dir string) []map[string]any {
	t.Helper()
	cmd := testutil.GoTool("hack/tools/gen/go.mod", "kustomize", "build", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	var objs []map[string]any
	for _, doc := range strings.Split(string(out), "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("kustomize output of %s: %v", dir, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func objectsOfKind(t *testing.T, objs []map[string]any, kind string, into func([]byte) error) int {
	t.Helper()
	n := 0
	for _, o := range objs {
		if o["kind"] != kind {
			continue
		}
		data, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := into(data); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		n++
	}
	return n
}

// TestVerifierManifests builds every verifier and hello kustomization and
// checks what the cluster would run: non-root, read-only root filesystem,
// no privilege escalation, requests and limits, probes on every served
// port, placeholder images that kustomize can override, and a rules file
// the verifier accepts.
func TestVerifierManifests(t *testing.T) {
	cases := []struct {
		dir         string
		deployments int
		wantKinds   []string
	}{
		{dir: "config/verifier", deployments: 1, wantKinds: []string{"Service", "ConfigMap"}},
		{dir: "config/hello", deployments: 1, wantKinds: []string{"Service"}},
		{dir: "config/verifier/examples/sidecar", deployments: 1, wantKinds: []string{"Service", "ConfigMap"}},
		{dir: "config/verifier/examples/ingress-nginx", deployments: 2, wantKinds: []string{"Ingress", "NetworkPolicy"}},
		{dir: "config/verifier/examples/traefik", deployments: 2, wantKinds: []string{"Middleware", "Ingress", "NetworkPolicy"}},
		{dir: "config/verifier/examples/tokenreview", deployments: 1, wantKinds: []string{"Service", "ConfigMap"}},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			objs := kustomizeBuild(t, tc.dir)
			for _, kind := range tc.wantKinds {
				if objectsOfKind(t, objs, kind, func([]byte) error { return nil }) == 0 {
					t.Errorf("no %s", kind)
				}
			}
			n := objectsOfKind(t, objs, "Deployment", func(data []byte) error {
				var d appsv1.Deployment
				if err := yaml.UnmarshalStrict(data, &d); err != nil {
					return err
				}
				checkPodSpec(t, d.Name, &d.Spec.Template.Spec)
				return nil
			})
			if n != tc.deployments {
				t.Fatalf("%d Deployments, want %d", n, tc.deployments)
			}
			objectsOfKind(t, objs, "ConfigMap", func(data []byte) error {
				var cm corev1.ConfigMap
				if err := yaml.UnmarshalStrict(data, &cm); err != nil {
					return err
				}
				checkVerifierSettings(t, cm.Name, cm.Data)
				if rules, ok := cm.Data["rules.yaml"]; ok {
					parsed, err := verifier.ParseRules([]byte(rules))
					if err == nil {
						_, err = verifier.NewPolicy(nil, parsed)
					}
					if err != nil {
						t.Errorf("ConfigMap %s: rules.yaml is refused by the verifier: %v", cm.Name, err)
					}
				}
				return nil
			})
		})
	}
}

// checkVerifierSettings checks VERIFIER_* settings against the rules the
// verifier enforces at start: proxy mode needs an admin listener, and the
// TokenReview audiences never include the protected API's audience.
func checkVerifierSettings(t *testing.T, name string, env map[string]string) {
	t.Helper()
	if env["VERIFIER_UPSTREAM"] != "" && env["VERIFIER_ADMIN_LISTEN"] == "" {
		t.Errorf("ConfigMap %s: VERIFIER_UPSTREAM without VERIFIER_ADMIN_LISTEN (the verifier refuses to start)", name)
	}
	if trs, ok := env["VERIFIER_TOKENREVIEW_AUDIENCES"]; ok {
		for _, a := range strings.FieldsFunc(trs, func(r rune) bool { return r == ',' || r == ' ' }) {
			if a == env["VERIFIER_AUDIENCE"] {
				t.Errorf("ConfigMap %s: the TokenReview audiences include the protected API's audience %q", name, a)
			}
		}
		if env["VERIFIER_TOKENREVIEW_CLIENT_CA"] != "" && env["VERIFIER_TLS_CERT_FILE"] == "" {
			t.Errorf("ConfigMap %s: a TokenReview client CA without TLS", name)
		}
	}
}

// adminPort is the port of a VERIFIER_ADMIN_LISTEN address.
func adminPort(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

func checkPodSpec(t *testing.T, name string, spec *corev1.PodSpec) {
	t.Helper()
	podSC := spec.SecurityContext
	if podSC == nil || podSC.RunAsNonRoot == nil || !*podSC.RunAsNonRoot {
		t.Errorf("%s: pod does not set runAsNonRoot", name)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token it does not need", name)
	}
	for _, c := range spec.Containers {
		where := name + "/" + c.Name
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", where)
			continue
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: root filesystem is writable", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allows privilege escalation", where)
		case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL":
			t.Errorf("%s: does not drop all capabilities", where)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				t.Errorf("%s: no %s request", where, res)
			}
			if _, ok := c.Resources.Limits[res]; !ok {
				t.Errorf("%s: no %s limit", where, res)
			}
		}
		if len(c.Ports) > 0 && (c.LivenessProbe == nil || c.ReadinessProbe == nil) {
			t.Errorf("%s: serves a port without liveness and readiness probes", where)
		}
		if !strings.HasPrefix(c.Image, "clientcreds/") {
			t.Errorf("%s: image %q is not a clientcreds/* placeholder", where, c.Image)
		}
	}
}

// TestVerifierImageOverride checks that an overlay's images: entry (what
// `kustomize edit set image` writes) replaces the placeholder image.
func TestVerifierImageOverride(t *testing.T) {
	root := harness.RepoRoot(t)
	for _, tc := range []struct{ base, image string }{
		{"config/verifier", "clientcreds/verifier"},
		{"config/hello", "clientcreds/hello"},
	} {
		t.Run(tc.base, func(t *testing.T) {
			dir := t.TempDir()
			// kustomize takes bases by relative path only.
			rel, err := filepath.Rel(dir, filepath.Join(root, tc.base))
			if err != nil {
				t.Fatal(err)
			}
			k := "resources:\n- " + rel + "\nimages:\n- name: " + tc.image + "\n  newName: registry.example/team/" + filepath.Base(tc.image) + "\n  newTag: v1.2.3\n"
			if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
				t.Fatal(err)
			}
			objs := kustomizeBuild(t, dir)
			want := "registry.example/team/" + filepath.Base(tc.image) + ":v1.2.3"
			objectsOfKind(t, objs, "Deployment", func(data []byte) error {
				var d appsv1.Deployment
				if err := yaml.Unmarshal(data, &d); err != nil {
					return err
				}
				if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
					t.Fatalf("image = %q, want %q", got, want)
				}
				return nil
			})
		})
	}
}

// TestVerifierSidecarProbesOnAdminPort: in proxy mode every path on the
// proxying port belongs to the upstream, so the probes must reach the
// verifier's admin listener.
func TestVerifierSidecarProbesOnAdminPort(t *testing.T) {
	objs := kustomizeBuild(t, "config/verifier/examples/sidecar")
	var settings map[string]string
	objectsOfKind(t, objs, "ConfigMap", func(data []byte) error {
		var cm corev1.ConfigMap
		if err := yaml.UnmarshalStrict(data, &cm); err != nil {
			return err
		}
		if cm.Data["VERIFIER_UPSTREAM"] != "" {
			settings = cm.Data
		}
		return nil
	})
	if settings == nil || settings["VERIFIER_ADMIN_LISTEN"] == "" {
		t.Fatalf("no proxy-mode settings with VERIFIER_ADMIN_LISTEN: %v", settings)
	}
	want := adminPort(settings["VERIFIER_ADMIN_LISTEN"])
	found := false
	objectsOfKind(t, objs, "Deployment", func(data []byte) error {
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(data, &d); err != nil {
			return err
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name != "verifier" {
				continue
			}
			found = true
			ports := map[string]string{}
			for _, p := range c.Ports {
				ports[p.Name] = fmt.Sprint(p.ContainerPort)
			}
			for what, pr := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if pr == nil || pr.HTTPGet == nil {
					t.Fatalf("%s probe is not an HTTP probe", what)
				}
				port := pr.HTTPGet.Port.String()
				if p, ok := ports[port]; ok {
					port = p
				}
				if port != want {
					t.Errorf("%s probe on port %s, want the admin port %s", what, port, want)
				}
			}
		}
		return nil
	})
	if !found {
		t.Fatal("no verifier container")
	}
}
