package config

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/flagenv"
	"github.com/clientcreds/clientcreds/internal/testutil"
)

// TestCredentialsConsumerExamples checks config/token-injector's two examples: each is an
// OAuthClient and a Deployment that mounts that client's Secret as a whole directory
// (subPath mounts never see kubelet's updates) where the program reads it, with the
// project's pod security settings, and passes only flags or variables the program has.
func TestCredentialsConsumerExamples(t *testing.T) {
	tests := map[string]struct {
		dir       string
		program   string // the container that reads the Secret
		flagsFrom string // its main package, for the flag names
		dirOf     func(c corev1.Container) string
	}{
		"token-injector sidecar": {
			dir: "token-injector/sidecar", program: "token-injector", flagsFrom: "cmd/token-injector",
			dirOf: func(c corev1.Container) string { return envValue(c, flagenv.Name("TOKEN_INJECTOR", "credentials-dir")) },
		},
		"Go package": {
			dir: "token-injector/go-package", program: "reports", flagsFrom: "examples/hello-client",
			dirOf: func(c corev1.Container) string { return argValue(c, "credentials-dir") },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs := build(t, tc.dir)
			if got := kinds(objs); !mapsEqual(got, map[string]int{"OAuthClient": 1, "Deployment": 1}) {
				t.Fatalf("kinds %v, want one OAuthClient and one Deployment", got)
			}
			var oc oauthv1.OAuthClient
			into(t, only(t, objs, "OAuthClient"), &oc)
			var d appsv1.Deployment
			into(t, only(t, objs, "Deployment"), &d)
			spec := d.Spec.Template.Spec
			if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				t.Error("pod does not set runAsNonRoot")
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Error("pod mounts a service account token it does not need")
			}
			all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
			var program *corev1.Container
			for i, c := range all {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
					t.Errorf("container %s: want a read-only root, no privilege escalation, all capabilities dropped", c.Name)
				}
				if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
					t.Errorf("container %s: no resource requests and limits", c.Name)
				}
				if c.Name == tc.program {
					program = &all[i]
				}
			}
			if program == nil {
				t.Fatalf("no container %s", tc.program)
			}

			// The Secret the operator writes for this OAuthClient, mounted whole.
			var vol string
			for _, v := range spec.Volumes {
				if v.Secret != nil && v.Secret.SecretName == oc.SecretName() {
					vol = v.Name
				}
			}
			if vol == "" {
				t.Fatalf("no volume of the Secret %s", oc.SecretName())
			}
			var mount *corev1.VolumeMount
			for i, m := range program.VolumeMounts {
				if m.Name == vol {
					mount = &program.VolumeMounts[i]
				}
			}
			if mount == nil || mount.SubPath != "" || !mount.ReadOnly {
				t.Fatalf("%s mounts %s as %+v; want the whole directory, read-only", tc.program, vol, mount)
			}
			if got := tc.dirOf(*program); got != mount.MountPath {
				t.Errorf("%s reads the credentials from %q, the Secret is mounted at %q", tc.program, got, mount.MountPath)
			}

			flags := declaredFlags(t, filepath.Join(testutil.RepoRoot(), tc.flagsFrom, "main.go"))
			for _, a := range program.Args {
				name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
				if strings.HasPrefix(a, "-") && !flags[name] {
					t.Errorf("argument %q: %s has no flag %s", a, tc.flagsFrom, name)
				}
			}
			for _, e := range program.Env {
				found := false
				for f := range flags {
					found = found || flagenv.Name("TOKEN_INJECTOR", f) == e.Name
				}
				if !found {
					t.Errorf("environment variable %s is no flag's twin in %s", e.Name, tc.flagsFrom)
				}
			}
		})
	}

	// The sidecar: native (restartPolicy Always), proxy on loopback, probes on the admin port.
	var d appsv1.Deployment
	into(t, only(t, build(t, "token-injector/sidecar"), "Deployment"), &d)
	for _, c := range d.Spec.Template.Spec.InitContainers {
		if c.Name != "token-injector" {
			continue
		}
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Error("token-injector is not a native sidecar (restartPolicy: Always)")
		}
		host, _, err := net.SplitHostPort(envValue(c, "TOKEN_INJECTOR_LISTEN"))
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			t.Errorf("TOKEN_INJECTOR_LISTEN %q is not a loopback address", envValue(c, "TOKEN_INJECTOR_LISTEN"))
		}
		admin := splitAddr(t, envValue(c, "TOKEN_INJECTOR_ADMIN_LISTEN"))
		for probe, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("no HTTP %s probe", probe)
				continue
			}
			port := p.HTTPGet.Port.String()
			for _, cp := range c.Ports {
				if cp.Name == port {
					port = strconv.Itoa(int(cp.ContainerPort))
				}
			}
			if port != admin {
				t.Errorf("%s probe on port %s, the admin endpoints are on %s", probe, port, admin)
			}
		}
	}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func argValue(c corev1.Container, flag string) string {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			return v
		}
	}
	return ""
}
