// Package config holds the kustomize manifests of clientcreds. Its tests build
// every kustomization with the repository's pinned kustomize and check what a
// cluster would be given: the manager's Deployment and its security settings,
// that the RBAC bound to the manager covers exactly what the controllers'
// markers ask for, and that the samples fit the CRDs' OpenAPI schemas. No
// cluster is needed.
package config

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"

	"github.com/clientcreds/clientcreds/internal/testutil"
)

const (
	group            = "oauth.clientcreds.dev"
	managerNamespace = "clientcreds-system"
	managerName      = "clientcreds-manager"
)

var (
	buildMu    sync.Mutex
	buildCache = map[string][]*unstructured.Unstructured{}
)

// build renders the kustomization in config/<dir> with the pinned kustomize
// (hack/tools/gen) and decodes the result. Results are shared between tests.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	buildMu.Lock()
	objs, ok := buildCache[dir]
	buildMu.Unlock()
	if ok {
		return objs
	}
	trackInputs(t, dir)
	cmd := testutil.GoTool("hack/tools/gen/go.mod", "kustomize", "build", filepath.Join("config", dir))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v\n%s", dir, err, stderr.String())
	}
	objs, err = decodeAll(out)
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v", dir, err)
	}
	buildMu.Lock()
	buildCache[dir] = objs
	buildMu.Unlock()
	return objs
}

// trackInputs reads the files of a kustomization directory so that go test's
// result cache notices when they change (kustomize reads them in another
// process, which the cache does not see).
func trackInputs(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// decodeAll splits a YAML stream into objects, skipping empty documents.
func decodeAll(data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
}

// kinds counts objects by kind.
func kinds(objs []*unstructured.Unstructured) map[string]int {
	n := map[string]int{}
	for _, o := range objs {
		n[o.GetKind()]++
	}
	return n
}

// only returns the one object of kind, failing when there is not exactly one.
func only(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

// into converts an object to a typed one, refusing fields the type does not
// have (a typo in a manifest would otherwise be dropped silently).
func into(t *testing.T, u *unstructured.Unstructured, obj any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, obj, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// TestKustomizationsBuild builds every kustomization under config/ and, for
// the operator's own, checks what each one contains.
func TestKustomizationsBuild(t *testing.T) {
	managerKinds := map[string]int{
		"Namespace": 1, "CustomResourceDefinition": 4, "ServiceAccount": 1,
		"ClusterRole": 6, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1,
		"Deployment": 1, "Service": 1,
	}
	want := map[string]map[string]int{
		"crd":     {"CustomResourceDefinition": 4},
		"rbac":    {"ServiceAccount": 1, "ClusterRole": 6, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1},
		"manager": {"Namespace": 1, "Deployment": 1, "Service": 1},
		"default": managerKinds,
		"samples": {"OAuthClient": 1},
		"demo":    {"Namespace": 1, "ClusterOAuthProvider": 1, "OAuthAPI": 1, "OAuthClient": 1},
		"argocd":  {"ConfigMap": 1},
		"overlays/namespaced": {"Namespace": 1, "CustomResourceDefinition": 4, "ServiceAccount": 1,
			"ClusterRole": 6, "ClusterRoleBinding": 1, "Role": 4, "RoleBinding": 4,
			"Deployment": 1, "Service": 1},
	}
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (d.Name() != "kustomization.yaml" && d.Name() != "Kustomization") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var k struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(data, &k); err != nil {
			return err
		}
		if k.Kind != "Component" { // components only build inside a kustomization
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range want {
		if !slices.Contains(dirs, dir) {
			t.Errorf("config/%s/kustomization.yaml is missing", dir)
		}
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			objs := build(t, dir)
			if len(objs) == 0 {
				t.Fatal("renders nothing")
			}
			if w, ok := want[dir]; ok {
				if got := kinds(objs); !mapsEqual(got, w) {
					t.Errorf("kinds = %v, want %v", got, w)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCRDKustomizationListsEveryBase guards against a new CRD that
// `make manifests` generates but config/crd does not install.
func TestCRDKustomizationListsEveryBase(t *testing.T) {
	files, err := filepath.Glob("crd/bases/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		want = append(want, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), group+"_"), ".yaml")+"."+group)
	}
	var got []string
	for _, o := range build(t, "crd") {
		got = append(got, o.GetName())
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("config/crd installs %v, crd/bases has %v", got, want)
	}
}

// TestDefaultNamesAndNamespaces checks the consistent naming of config/default:
// every namespaced object in clientcreds-system, every name prefixed.
func TestDefaultNamesAndNamespaces(t *testing.T) {
	clusterScoped := map[string]bool{"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true}
	for _, o := range build(t, "default") {
		id := o.GetKind() + " " + o.GetName()
		switch {
		case o.GetKind() == "CustomResourceDefinition":
			if !strings.HasSuffix(o.GetName(), "."+group) {
				t.Errorf("%s: not in group %s", id, group)
			}
		case !strings.HasPrefix(o.GetName(), "clientcreds-"):
			t.Errorf("%s: name lacks the clientcreds- prefix", id)
		}
		if clusterScoped[o.GetKind()] {
			if o.GetNamespace() != "" {
				t.Errorf("%s: cluster-scoped object with namespace %q", id, o.GetNamespace())
			}
		} else if o.GetNamespace() != managerNamespace {
			t.Errorf("%s: namespace %q, want %s", id, o.GetNamespace(), managerNamespace)
		}
		if o.GetLabels()["app.kubernetes.io/part-of"] != "clientcreds" {
			t.Errorf("%s: lacks the label app.kubernetes.io/part-of=clientcreds", id)
		}
	}
	ns := only(t, build(t, "default"), "Namespace")
	if ns.GetName() != managerNamespace {
		t.Errorf("Namespace %q, want %s", ns.GetName(), managerNamespace)
	}
}

// managerFlags lists the flags cmd/manager declares, read from its source
// (flag-set calls with a literal name), so that the Deployment cannot pass a
// flag the binary does not have without building the binary here.
func managerFlags(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(), "cmd", "manager", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for name := range declaredFlags(t, f) {
			flags[name] = true
		}
	}
	if len(flags) == 0 {
		t.Fatal("found no flags in cmd/manager")
	}
	return flags
}

// splitAddr returns the port of a bind address such as ":8081".
func splitAddr(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("bind address %q: %v", addr, err)
	}
	return port
}

// TestManagerDeployment checks the manager's Deployment and metrics Service
// as config/default renders them.
func TestManagerDeployment(t *testing.T) {
	objs := build(t, "default")
	var d appsv1.Deployment
	into(t, only(t, objs, "Deployment"), &d)
	if d.Name != managerName || d.Namespace != managerNamespace {
		t.Fatalf("Deployment %s/%s, want %s/%s", d.Namespace, d.Name, managerNamespace, managerName)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	t.Run("command and flags", func(t *testing.T) {
		if !slices.Equal(c.Command, []string{"/manager"}) {
			t.Errorf("command = %q, want [/manager]", c.Command)
		}
		if !slices.Contains(c.Args, "--leader-elect") {
			t.Errorf("args %q lack --leader-elect", c.Args)
		}
		known := managerFlags(t)
		for _, a := range c.Args {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !strings.HasPrefix(a, "--") || !known[name] {
				t.Errorf("arg %q is not a flag of cmd/manager", a)
			}
		}
		// config/manager's images: entry (clientcreds/manager:dev, the image
		// make images builds) must have replaced the bare name.
		if name, tag, ok := strings.Cut(c.Image, ":"); !ok || name == "manager" || tag == "" {
			t.Errorf("image = %q, want config/manager's images: entry (name and tag) applied", c.Image)
		}
	})

	t.Run("security context", func(t *testing.T) {
		psc := pod.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Error("pod does not set runAsNonRoot")
		}
		if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Error("pod does not set a non-zero runAsUser")
		}
		if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Error("pod does not use the RuntimeDefault seccomp profile")
		}
		sc := c.SecurityContext
		if sc == nil {
			t.Fatal("container has no securityContext")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("root filesystem is writable")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("privilege escalation is allowed")
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("container is privileged")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
			t.Errorf("capabilities = %+v, want drop [ALL] and nothing added", sc.Capabilities)
		}
		if pod.HostNetwork || pod.HostPID || pod.HostIPC {
			t.Error("pod shares a host namespace")
		}
	})

	t.Run("resources", func(t *testing.T) {
		limit, hasLimit := c.Resources.Limits[corev1.ResourceMemory]
		for _, e := range c.Env {
			if e.Name != "GOMEMLIMIT" {
				continue
			}
			soft, err := resource.ParseQuantity(strings.TrimSuffix(strings.TrimSuffix(e.Value, "B"), "i") + "i")
			if err != nil || !hasLimit || soft.Cmp(limit) >= 0 {
				t.Errorf("GOMEMLIMIT %q must be a size below the memory limit %s", e.Value, limit.String())
			}
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okReq := c.Resources.Requests[res]
			lim, okLim := c.Resources.Limits[res]
			if !okReq || !okLim {
				t.Errorf("%s: request set %v, limit set %v; want both", res, okReq, okLim)
				continue
			}
			if req.Cmp(lim) > 0 {
				t.Errorf("%s: request %s above limit %s", res, req.String(), lim.String())
			}
		}
	})

	t.Run("probes and ports", func(t *testing.T) {
		args := map[string]string{}
		for _, a := range c.Args {
			name, value, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			args[name] = value
		}
		port := func(p intstr.IntOrString) string {
			if p.Type == intstr.Int {
				return strconv.Itoa(p.IntValue())
			}
			for _, cp := range c.Ports {
				if cp.Name == p.StrVal {
					return strconv.Itoa(int(cp.ContainerPort))
				}
			}
			t.Errorf("no container port named %q", p.StrVal)
			return ""
		}
		healthPort := splitAddr(t, args["health-probe-bind-address"])
		metricsPort := splitAddr(t, args["metrics-bind-address"])
		if healthPort != "8081" || metricsPort != "8443" {
			t.Errorf("health port %s, metrics port %s; want 8081 and 8443", healthPort, metricsPort)
		}
		if _, ok := args["metrics-secure"]; !ok {
			t.Error("the manager serves /metrics without --metrics-secure: anyone on the Pod network can read it")
		}
		for name, tc := range map[string]struct {
			probe *corev1.Probe
			path  string
		}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
			if tc.probe == nil || tc.probe.HTTPGet == nil {
				t.Errorf("no HTTP %s probe", name)
				continue
			}
			if tc.probe.HTTPGet.Path != tc.path || port(tc.probe.HTTPGet.Port) != healthPort {
				t.Errorf("%s probe = %s on port %s, want %s on %s", name, tc.probe.HTTPGet.Path,
					port(tc.probe.HTTPGet.Port), tc.path, healthPort)
			}
		}

		var svc corev1.Service
		into(t, only(t, objs, "Service"), &svc)
		if svc.Namespace != d.Namespace {
			t.Errorf("metrics Service in %q, Deployment in %q", svc.Namespace, d.Namespace)
		}
		for k, v := range svc.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("metrics Service selects %s=%s, which the manager pods lack", k, v)
			}
		}
		if len(svc.Spec.Selector) == 0 {
			t.Error("metrics Service selects nothing")
		}
		if len(svc.Spec.Ports) != 1 || port(svc.Spec.Ports[0].TargetPort) != metricsPort {
			t.Errorf("metrics Service ports = %+v, want one targeting %s", svc.Spec.Ports, metricsPort)
		}
	})

	t.Run("service account", func(t *testing.T) {
		sa := only(t, objs, "ServiceAccount")
		if pod.ServiceAccountName != sa.GetName() || sa.GetNamespace() != d.Namespace {
			t.Errorf("pod runs as %q; the ServiceAccount is %s/%s", pod.ServiceAccountName, sa.GetNamespace(), sa.GetName())
		}
		if pod.ServiceAccountName != managerName {
			t.Errorf("ServiceAccount %q, want %s", pod.ServiceAccountName, managerName)
		}
		if pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken {
			t.Error("the manager needs its ServiceAccount token to reach the API server")
		}
	})
}

// permission is one (API group, resource, verb) triple, or a non-resource URL
// and verb.
type permission struct{ group, resource, verb string }

// expand lists the permissions of RBAC rules. Wildcards are kept as "*".
func expand(rules []rbacv1.PolicyRule) []permission {
	var out []permission
	for _, r := range rules {
		for _, v := range r.Verbs {
			for _, u := range r.NonResourceURLs {
				out = append(out, permission{"nonResourceURL", u, v})
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					out = append(out, permission{g, res, v})
				}
			}
		}
	}
	return out
}

// allows reports whether rules grant p (honouring "*" wildcards).
func allows(rules []rbacv1.PolicyRule, p permission) bool {
	for _, have := range expand(rules) {
		if (have.group == p.group || have.group == "*") &&
			(have.resource == p.resource || have.resource == "*") &&
			(have.verb == p.verb || have.verb == "*") {
			return true
		}
	}
	return false
}

// grants collects what config/default gives a ServiceAccount: the rules of
// the ClusterRoles bound to it cluster-wide, and per namespace the rules of
// the Roles and ClusterRoles bound to it by RoleBindings.
func grants(t *testing.T, objs []*unstructured.Unstructured, ns, name string) (cluster []rbacv1.PolicyRule, namespaced map[string][]rbacv1.PolicyRule) {
	t.Helper()
	clusterRoles := map[string][]rbacv1.PolicyRule{}
	roles := map[string][]rbacv1.PolicyRule{}
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			into(t, o, &r)
			clusterRoles[r.Name] = r.Rules
		case "Role":
			var r rbacv1.Role
			into(t, o, &r)
			roles[r.Namespace+"/"+r.Name] = r.Rules
		}
	}
	isSubject := func(subjects []rbacv1.Subject) bool {
		for _, s := range subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == name && s.Namespace == ns {
				return true
			}
		}
		return false
	}
	namespaced = map[string][]rbacv1.PolicyRule{}
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			into(t, o, &b)
			if !isSubject(b.Subjects) {
				continue
			}
			rules, ok := clusterRoles[b.RoleRef.Name]
			if b.RoleRef.Kind != "ClusterRole" || !ok {
				t.Errorf("ClusterRoleBinding %s refers to %s %s, which config/default does not define", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			cluster = append(cluster, rules...)
		case "RoleBinding":
			var b rbacv1.RoleBinding
			into(t, o, &b)
			if !isSubject(b.Subjects) {
				continue
			}
			var rules []rbacv1.PolicyRule
			var ok bool
			if b.RoleRef.Kind == "Role" {
				rules, ok = roles[b.Namespace+"/"+b.RoleRef.Name]
			} else {
				rules, ok = clusterRoles[b.RoleRef.Name]
			}
			if !ok {
				t.Errorf("RoleBinding %s/%s refers to %s %s, which config/default does not define", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			namespaced[b.Namespace] = append(namespaced[b.Namespace], rules...)
		}
	}
	return cluster, namespaced
}

// generatedRules reads config/rbac/role.yaml, what `make manifests` derives
// from the controllers' +kubebuilder:rbac markers.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(data)
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, o := range objs {
		var r rbacv1.ClusterRole
		into(t, o, &r)
		rules = append(rules, r.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("role.yaml has no rules")
	}
	return rules
}

// TestManagerRBAC checks that the manager's ServiceAccount is granted every
// rule of role.yaml cluster-wide and nothing more, plus leader election in
// its own namespace.
func TestManagerRBAC(t *testing.T) {
	objs := build(t, "default")
	cluster, namespaced := grants(t, objs, managerNamespace, managerName)
	generated := generatedRules(t)

	for _, p := range expand(generated) {
		if !allows(cluster, p) {
			t.Errorf("role.yaml asks for %s %s/%s, but it is not bound cluster-wide to %s", p.verb, p.group, p.resource, managerName)
		}
	}
	for _, p := range expand(cluster) {
		if !allows(generated, p) {
			t.Errorf("the manager is granted %s %s/%s cluster-wide, which role.yaml does not ask for", p.verb, p.group, p.resource)
		}
	}
	for ns := range namespaced {
		if ns != managerNamespace {
			t.Errorf("the manager has a RoleBinding in namespace %q", ns)
		}
	}
	local := namespaced[managerNamespace]
	for _, p := range []permission{
		{"coordination.k8s.io", "leases", "get"},
		{"coordination.k8s.io", "leases", "create"},
		{"coordination.k8s.io", "leases", "update"},
		{"", "events", "create"},
		{"", "events", "patch"},
		{"events.k8s.io", "events", "create"},
	} {
		if !allows(local, p) && !allows(cluster, p) {
			t.Errorf("leader election needs %s %s/%s in %s", p.verb, p.group, p.resource, managerNamespace)
		}
	}
	for _, p := range expand(append(slices.Clone(cluster), local...)) {
		if p.group == "*" || p.resource == "*" || p.verb == "*" {
			t.Errorf("wildcard permission %+v", p)
		}
	}
}

// crds returns the CRDs config/crd installs, by kind.
func crds(t *testing.T) map[string]*apiextv1.CustomResourceDefinition {
	t.Helper()
	out := map[string]*apiextv1.CustomResourceDefinition{}
	for _, o := range build(t, "crd") {
		crd := &apiextv1.CustomResourceDefinition{}
		into(t, o, crd)
		out[crd.Spec.Names.Kind] = crd
	}
	return out
}

// TestUserRoles checks the ClusterRoles for people: the viewer role reads every
// clientcreds kind and aggregates into view; the editor role manages
// OAuthClients only and aggregates into edit and admin, but never writes
// status; the provider-admin role covers both provider kinds and aggregates
// nowhere.
func TestUserRoles(t *testing.T) {
	objs := build(t, "default")
	roles := map[string]rbacv1.ClusterRole{}
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" {
			var r rbacv1.ClusterRole
			into(t, o, &r)
			roles[r.Name] = r
		}
	}
	get := func(name string) rbacv1.ClusterRole {
		r, ok := roles[name]
		if !ok {
			t.Fatalf("no ClusterRole %s", name)
		}
		return r
	}
	viewer := get("clientcreds-oauthclient-viewer-role")
	editor := get("clientcreds-oauthclient-editor-role")
	apiEditor := get("clientcreds-oauthapi-editor-role")
	admin := get("clientcreds-provider-admin")
	reader := get("clientcreds-metrics-reader")

	if viewer.Labels["rbac.authorization.k8s.io/aggregate-to-view"] != "true" {
		t.Error("viewer role does not aggregate to view")
	}
	for _, l := range []string{"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"} {
		if editor.Labels[l] != "true" || apiEditor.Labels[l] != "true" {
			t.Errorf("editor role lacks %s", l)
		}
	}
	for l := range admin.Labels {
		if strings.HasPrefix(l, "rbac.authorization.k8s.io/aggregate-to-") {
			t.Errorf("provider-admin role aggregates (%s): ClusterOAuthProviders are for platform admins only", l)
		}
	}
	if !allows(reader.Rules, permission{"nonResourceURL", "/metrics", "get"}) {
		t.Error("metrics-reader cannot get /metrics")
	}

	for kind, crd := range crds(t) {
		plural := crd.Spec.Names.Plural
		for _, v := range []string{"get", "list", "watch"} {
			if !allows(viewer.Rules, permission{group, plural, v}) {
				t.Errorf("viewer cannot %s %s", v, plural)
			}
		}
		if !allows(viewer.Rules, permission{group, plural + "/status", "get"}) {
			t.Errorf("viewer cannot read %s/status", plural)
		}
		for _, v := range []string{"create", "update", "patch", "delete"} {
			if allows(viewer.Rules, permission{group, plural, v}) {
				t.Errorf("viewer can %s %s", v, plural)
			}
			if allows(editor.Rules, permission{group, plural + "/status", v}) {
				t.Errorf("editor can %s %s/status, which belongs to the controller", v, plural)
			}
			// The built-in edit role gets OAuthClients and (through the OAuthAPI editor
			// role) OAuthAPIs only: an OAuthProvider holds org credentials (issue 13).
			if got, want := allows(editor.Rules, permission{group, plural, v}), kind == "OAuthClient"; got != want {
				t.Errorf("editor %s %s (%s): allowed %v, want %v", v, plural, kind, got, want)
			}
			if got, want := allows(apiEditor.Rules, permission{group, plural, v}), kind == "OAuthAPI"; got != want {
				t.Errorf("OAuthAPI editor %s %s (%s): allowed %v, want %v", v, plural, kind, got, want)
			}
			if allows(apiEditor.Rules, permission{group, plural + "/status", v}) {
				t.Errorf("OAuthAPI editor can %s %s/status, which belongs to the controller", v, plural)
			}
			if kind != "OAuthClient" && kind != "OAuthAPI" && !allows(admin.Rules, permission{group, plural, v}) {
				t.Errorf("provider-admin cannot %s %s", v, plural)
			}
		}
	}
	for _, r := range []rbacv1.ClusterRole{viewer, editor, apiEditor} {
		if allows(r.Rules, permission{"", "secrets", "get"}) {
			t.Errorf("%s grants Secrets", r.Name)
		}
	}
}

// schemaFor returns the OpenAPI schema of one served version of a CRD.
func schemaFor(t *testing.T, crd *apiextv1.CustomResourceDefinition, version string) *spec.Schema {
	t.Helper()
	for _, v := range crd.Spec.Versions {
		if v.Name != version {
			continue
		}
		if !v.Served {
			t.Fatalf("%s %s is not served", crd.Name, version)
		}
		js, err := json.Marshal(v.Schema.OpenAPIV3Schema)
		if err != nil {
			t.Fatal(err)
		}
		s := &spec.Schema{}
		if err := json.Unmarshal(js, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Fatalf("%s has no version %s", crd.Name, version)
	return nil
}

// unknownFields lists the fields of obj that schema does not declare: the API
// server prunes them without a word, so a typo in a sample would go unnoticed.
func unknownFields(s *spec.Schema, obj any, path string) []string {
	var out []string
	switch v := obj.(type) {
	case map[string]any:
		if path == ".metadata" {
			return nil // ObjectMeta is validated by the API server itself
		}
		if len(s.Properties) == 0 {
			return nil // a map (additionalProperties) or free-form object
		}
		for k, item := range v {
			prop, ok := s.Properties[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, unknownFields(&prop, item, path+"."+k)...)
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for _, item := range v {
				out = append(out, unknownFields(s.Items.Schema, item, path+"[]")...)
			}
		}
	}
	return out
}

// validateObject checks an object against its CRD: known kind and version,
// scope, the OpenAPI schema (types, enums, patterns, lengths, required
// fields) and unknown fields. CEL rules (x-kubernetes-validations) need an API
// server; the api/v1alpha1 admission tests cover them.
func validateObject(t *testing.T, defs map[string]*apiextv1.CustomResourceDefinition, u *unstructured.Unstructured) error {
	t.Helper()
	gvk := u.GroupVersionKind()
	crd, ok := defs[gvk.Kind]
	if !ok || gvk.Group != group {
		return errors.New("no CRD for " + gvk.String())
	}
	namespaced := crd.Spec.Scope == apiextv1.NamespaceScoped
	if namespaced != (u.GetNamespace() != "") {
		return errors.New(gvk.Kind + " has scope " + string(crd.Spec.Scope) + " but namespace is " + u.GetNamespace())
	}
	s := schemaFor(t, crd, gvk.Version)
	// Validate a JSON round trip: the validator expects JSON's number types.
	js, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	var data any
	if err := json.Unmarshal(js, &data); err != nil {
		return err
	}
	var msgs []string
	res := validate.NewSchemaValidator(s, nil, "", strfmt.Default).Validate(data)
	for _, e := range res.Errors {
		msgs = append(msgs, e.Error())
	}
	for _, f := range unknownFields(s, data, "") {
		msgs = append(msgs, "unknown field "+f)
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// sampleObjects returns every clientcreds object in config/samples (listed in
// its kustomization or not) and in config/demo.
func sampleObjects(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	out := map[string]*unstructured.Unstructured{}
	files, err := filepath.Glob("samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range []string{"samples/provider/*.yaml", "samples/oauthapi/*.yaml", "hello/api/oauthapi.yaml"} {
		more, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, more...)
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeAll(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, o := range objs {
			out[f+": "+o.GetKind()+" "+o.GetName()] = o
		}
	}
	for _, o := range build(t, "demo") {
		out["config/demo: "+o.GetKind()+" "+o.GetName()] = o
	}
	return out
}

// TestSamplesMatchCRDs validates every sample against the CRDs' schemas and
// checks the samples the demo relies on.
func TestSamplesMatchCRDs(t *testing.T) {
	defs := crds(t)
	n := 0
	for name, o := range sampleObjects(t) {
		if o.GroupVersionKind().Group != group {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			if err := validateObject(t, defs, o); err != nil {
				t.Error(err)
			}
		})
	}
	if n < 3 {
		t.Fatalf("validated %d clientcreds samples, want at least 3 (OAuthClient, two ClusterOAuthProviders)", n)
	}

	// The OAuthClient that `kubectl apply -k config/samples` creates.
	client := only(t, build(t, "samples"), "OAuthClient")
	for _, tc := range []struct {
		path []string
		want any
	}{
		{[]string{"metadata", "name"}, "hello"},
		{[]string{"metadata", "namespace"}, "default"},
		{[]string{"spec", "providerRef", "kind"}, "ClusterOAuthProvider"},
		{[]string{"spec", "providerRef", "name"}, "okta"},
		{[]string{"spec", "apis"}, []any{map[string]any{"namespace": "default", "name": "hello", "scopes": []any{"hello:read"}}}},
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(client.Object, tc.path...)
		if !equalJSON(got, tc.want) {
			t.Errorf("sample OAuthClient %s = %v, want %v", strings.Join(tc.path, "."), got, tc.want)
		}
	}
	// The OAuthAPI the sample asks for, as config/hello declares it: hello:read and
	// hello:admin, /admin needs hello:admin, on the same provider.
	api := only(t, build(t, "hello"), "OAuthAPI")
	for _, tc := range []struct {
		path []string
		want any
	}{
		{[]string{"metadata", "name"}, "hello"},
		{[]string{"metadata", "namespace"}, "default"},
		{[]string{"spec", "providerRef", "name"}, "okta"},
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(api.Object, tc.path...)
		if !equalJSON(got, tc.want) {
			t.Errorf("config/hello OAuthAPI %s = %v, want %v", strings.Join(tc.path, "."), got, tc.want)
		}
	}
	rules, _, _ := unstructured.NestedSlice(api.Object, "spec", "rules")
	if !slices.ContainsFunc(rules, func(r any) bool {
		m, _ := r.(map[string]any)
		return m["pathPrefix"] == "/admin" && equalJSON(m["scopes"], []any{"hello:admin"})
	}) {
		t.Errorf("config/hello OAuthAPI rules %v: /admin does not need hello:admin", rules)
	}
	// The provider config/demo creates is the one the sample references, and
	// its API-token Secret lives where the operator is installed.
	provider := only(t, build(t, "demo"), "ClusterOAuthProvider")
	if provider.GetName() != "okta" {
		t.Errorf("config/demo provider %q, the sample references okta", provider.GetName())
	}
	if ns, _, _ := unstructured.NestedString(provider.Object, "spec", "okta", "apiTokenSecretRef", "namespace"); ns != managerNamespace {
		t.Errorf("config/demo API-token Secret namespace %q, want %s", ns, managerNamespace)
	}
}

func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// TestSchemaValidationRefuses shows that validateObject catches what the API
// server would refuse or silently drop, so that a passing sample means
// something.
func TestSchemaValidationRefuses(t *testing.T) {
	defs := crds(t)
	base := only(t, build(t, "samples"), "OAuthClient")
	cases := map[string]struct {
		mutate func(obj map[string]any)
		want   string
	}{
		"unknown provider kind": {
			func(o map[string]any) { _ = unstructured.SetNestedField(o, "Okta", "spec", "providerRef", "kind") },
			"spec.providerRef.kind",
		},
		"provider name with capitals": {
			func(o map[string]any) { _ = unstructured.SetNestedField(o, "Okta", "spec", "providerRef", "name") },
			"spec.providerRef.name",
		},
		"no providerRef": {
			func(o map[string]any) { unstructured.RemoveNestedField(o, "spec", "providerRef") },
			"spec.providerRef",
		},
		"empty scope": {
			func(o map[string]any) { _ = unstructured.SetNestedStringSlice(o, []string{""}, "spec", "scopes") },
			"spec.scopes",
		},
		"scope with a space": {
			func(o map[string]any) {
				_ = unstructured.SetNestedStringSlice(o, []string{"hello read"}, "spec", "scopes")
			},
			"spec.scopes",
		},
		"unknown auth method": {
			func(o map[string]any) { _ = unstructured.SetNestedField(o, "none", "spec", "tokenEndpointAuthMethod") },
			"spec.tokenEndpointAuthMethod",
		},
		"misspelled field": {
			func(o map[string]any) {
				_ = unstructured.SetNestedStringSlice(o, []string{"hello:read"}, "spec", "scope")
			},
			"unknown field .spec.scope",
		},
		"rotation interval not a duration": {
			func(o map[string]any) { _ = unstructured.SetNestedField(o, "monthly", "spec", "rotation", "interval") },
			"spec.rotation.interval",
		},
		"cluster-scoped namespace": {
			func(o map[string]any) { o["kind"] = "ClusterOAuthProvider" },
			"scope Cluster",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := base.DeepCopy()
			tc.mutate(o.Object)
			err := validateObject(t, defs, o)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// declaredFlags returns the names of the flags a Go file declares with the
// flag package's FlagSet methods and a literal name.
func declaredFlags(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	nameArg := map[string]int{
		"String": 0, "Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Float64": 0, "Duration": 0,
		"Func": 0, "BoolFunc": 0,
		"StringVar": 1, "BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1,
		"Float64Var": 1, "DurationVar": 1, "Var": 1, "TextVar": 1,
	}
	flags := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		i, ok := nameArg[sel.Sel.Name]
		if !ok || len(call.Args) <= i {
			return true
		}
		lit, ok := call.Args[i].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		if name, err := strconv.Unquote(lit.Value); err == nil {
			flags[name] = true
		}
		return true
	})
	return flags
}

// TestNamespacedOverlay checks config/overlays/namespaced: the manager is
// limited by --watch-namespaces; it may touch Secrets only through Roles, in
// exactly those namespaces (all the verbs role.yaml asks for) and in the
// namespace of the ClusterOAuthProviders' credentials (read and hold only);
// every other rule of role.yaml stays cluster-wide.
func TestNamespacedOverlay(t *testing.T) {
	objs := build(t, "overlays/namespaced")
	cluster, namespaced := grants(t, objs, managerNamespace, managerName)

	dep := only(t, objs, "Deployment")
	var d appsv1.Deployment
	into(t, dep, &d)
	var watched []string
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--watch-namespaces="); ok {
			watched = strings.Split(v, ",")
		}
	}
	if len(watched) == 0 {
		t.Fatal("the manager has no --watch-namespaces")
	}

	secretVerbs := []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	for _, v := range secretVerbs {
		if allows(cluster, permission{"", "secrets", v}) {
			t.Errorf("the manager may %s Secrets cluster-wide", v)
		}
	}
	for _, ns := range watched {
		for _, v := range secretVerbs {
			if !allows(namespaced[ns], permission{"", "secrets", v}) {
				t.Errorf("the manager may not %s Secrets in watched namespace %s", v, ns)
			}
		}
	}
	creds := namespaced[managerNamespace]
	for _, v := range []string{"get", "list", "patch"} {
		if !allows(creds, permission{"", "secrets", v}) {
			t.Errorf("the manager may not %s the providers' credentials Secrets in %s", v, managerNamespace)
		}
	}
	for _, v := range []string{"create", "delete", "update"} {
		if allows(creds, permission{"", "secrets", v}) {
			t.Errorf("the manager may %s Secrets in %s, where it only reads credentials", v, managerNamespace)
		}
	}
	for ns := range namespaced {
		if ns != managerNamespace && !slices.Contains(watched, ns) {
			t.Errorf("the manager has a RoleBinding in %s, which --watch-namespaces does not list", ns)
		}
	}
	for _, p := range expand(generatedRules(t)) {
		if p.group == "" && p.resource == "secrets" {
			continue
		}
		if !allows(cluster, p) {
			t.Errorf("role.yaml asks for %s %s/%s, but the overlay does not grant it cluster-wide", p.verb, p.group, p.resource)
		}
	}
}
