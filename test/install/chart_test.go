package install

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/clientcreds/clientcreds/internal/testutil"
)

// rbacKinds are the kinds whose content must be the same in the chart and config/.
var rbacKinds = []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "CustomResourceDefinition"}

// sameContent compares what an object grants or defines (everything but metadata).
func sameContent(t *testing.T, what string, chart, kust *unstructured.Unstructured) {
	t.Helper()
	for _, f := range []string{"rules", "roleRef", "subjects", "spec", "aggregationRule"} {
		c, k := chart.Object[f], kust.Object[f]
		if !equality.Semantic.DeepEqual(c, k) {
			cy, _ := yaml.Marshal(c)
			ky, _ := yaml.Marshal(k)
			t.Errorf("%s: %s differs:\nchart:\n%s\nconfig/:\n%s", what, f, cy, ky)
		}
	}
	// Labels that change behaviour (aggregation into the built-in roles) must be kept.
	for l, v := range kust.GetLabels() {
		if strings.HasPrefix(l, "rbac.authorization.k8s.io/") && chart.GetLabels()[l] != v {
			t.Errorf("%s: label %s=%q missing in the chart", what, l, v)
		}
	}
}

// TestChartMatchesKustomize: installed as release clientcreds in clientcreds-system, the
// chart creates the RBAC, ServiceAccount and CRDs of make deploy under the same names,
// and runs the manager the same way (image, command, flags, security, probes).
func TestChartMatchesKustomize(t *testing.T) {
	chartObjs := index(mustHelm(t))
	kustObjs := kustomize(t, "default")
	n := 0
	for _, k := range kustObjs {
		if !slices.Contains(rbacKinds, k.GetKind()) {
			continue
		}
		n++
		c, ok := chartObjs[key(k)]
		if !ok {
			t.Errorf("%s: in config/default, not in the chart", key(k))
			continue
		}
		sameContent(t, key(k), c, k)
	}
	if n < 10 {
		t.Fatalf("config/default has %d RBAC objects and CRDs; the comparison found too few to mean anything", n)
	}
	for _, c := range chartObjs {
		if slices.Contains(rbacKinds, c.GetKind()) {
			if _, ok := index(kustObjs)[key(c)]; !ok {
				t.Errorf("%s: in the chart, not in config/default", key(c))
			}
		}
	}

	dk := kustObjs[slices.IndexFunc(kustObjs, func(u *unstructured.Unstructured) bool { return u.GetKind() == "Deployment" })]
	dc, ok := chartObjs[key(dk)]
	if !ok {
		t.Fatalf("the chart has no %s", key(dk))
	}
	kc := container(t, dk)
	cc := container(t, dc)
	for _, f := range []string{"image", "command", "securityContext", "livenessProbe", "readinessProbe", "ports", "resources", "env"} {
		if !equality.Semantic.DeepEqual(cc[f], kc[f]) {
			t.Errorf("manager container %s: chart %v, config/default %v", f, cc[f], kc[f])
		}
	}
	for _, a := range kc["args"].([]any) {
		if !slices.Contains(cc["args"].([]any), a) {
			t.Errorf("manager arg %v of config/default is missing in the chart (%v)", a, cc["args"])
		}
	}
	for _, f := range []string{"securityContext", "serviceAccountName", "automountServiceAccountToken"} {
		k, _, _ := unstructured.NestedFieldNoCopy(dk.Object, "spec", "template", "spec", f)
		c, _, _ := unstructured.NestedFieldNoCopy(dc.Object, "spec", "template", "spec", f)
		if !equality.Semantic.DeepEqual(c, k) {
			t.Errorf("pod %s: chart %v, config/default %v", f, c, k)
		}
	}
	if r, _, _ := unstructured.NestedInt64(dc.Object, "spec", "replicas"); r != 2 {
		t.Errorf("the chart runs %d replicas by default, want 2", r)
	}
	if p, _, _ := unstructured.NestedString(cc, "imagePullPolicy"); p != "IfNotPresent" {
		t.Errorf("imagePullPolicy %q, want IfNotPresent", p)
	}
}

func container(t *testing.T, d *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%s has %d containers, want 1", key(d), len(cs))
	}
	return cs[0].(map[string]any)
}

// TestChartWatchNamespacesMatchesOverlay: with watchNamespaces the chart grants what
// config/overlays/namespaced grants — no cluster-wide Secret rule, a Secret Role per
// namespace, and read access to the providers' credentials in the release namespace.
func TestChartWatchNamespacesMatchesOverlay(t *testing.T) {
	chartObjs := index(mustHelm(t, "--set", "watchNamespaces={team-a,team-b}"))
	overlay := kustomize(t, "overlays/namespaced")
	n := 0
	for _, k := range overlay {
		if k.GetKind() != "ClusterRole" && k.GetKind() != "Role" {
			continue
		}
		n++
		c, ok := chartObjs[key(k)]
		if !ok {
			t.Errorf("%s: in config/overlays/namespaced, not in the chart", key(k))
			continue
		}
		sameContent(t, key(k), c, k)
	}
	if n < 8 {
		t.Fatalf("the overlay has %d roles; too few to compare", n)
	}
	d := chartObjs["Deployment "+namespace+"/clientcreds-manager"]
	if d == nil {
		t.Fatal("no manager Deployment")
	}
	if !slices.Contains(container(t, d)["args"].([]any), any("--watch-namespaces=team-a,team-b")) {
		t.Errorf("manager args %v lack --watch-namespaces=team-a,team-b", container(t, d)["args"])
	}
}

// TestChartValues: values that configure the Deployment land in it.
func TestChartValues(t *testing.T) {
	objs := index(mustHelm(t,
		"--set", "replicas=3", "--set", "image.repository=example/manager", "--set", "image.tag=v1.2.3",
		"--set", "image.pullPolicy=Never", "--set", "oktaRateLimitShare=0.25",
		"--set", "extraArgs={--resync-period=30m}", "--set", "resources.limits.memory=512Mi",
		"--set", "metrics.serviceMonitor.enabled=true"))
	d := objs["Deployment "+namespace+"/clientcreds-manager"]
	if d == nil {
		t.Fatal("no manager Deployment")
	}
	c := container(t, d)
	if r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); r != 3 {
		t.Errorf("replicas %d, want 3", r)
	}
	if c["image"] != "example/manager:v1.2.3" || c["imagePullPolicy"] != "Never" {
		t.Errorf("image %v %v, want example/manager:v1.2.3 Never", c["image"], c["imagePullPolicy"])
	}
	args := c["args"].([]any)
	for _, want := range []string{"--leader-elect", "--okta-rate-limit-share=0.25", "--resync-period=30m"} {
		if !slices.Contains(args, any(want)) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	if m, _, _ := unstructured.NestedString(c, "resources", "limits", "memory"); m != "512Mi" {
		t.Errorf("memory limit %q, want 512Mi", m)
	}
	sm := objs["ServiceMonitor "+namespace+"/clientcreds-manager"]
	if sm == nil {
		t.Fatal("metrics.serviceMonitor.enabled=true rendered no ServiceMonitor")
	}
	svc := objs["Service "+namespace+"/clientcreds-manager-metrics"]
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range sel {
		if svc.GetLabels()[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s; the metrics Service has %q", k, v, svc.GetLabels()[k])
		}
	}
	if _, ok := objs["PrometheusRule "+namespace+"/clientcreds"]; ok {
		t.Error("a PrometheusRule without prometheusRule.enabled")
	}
}

// TestChartPrometheusRule: the PrometheusRule's groups are config/prometheus/alerts.yaml's;
// without that file the chart refuses prometheusRule.enabled with a message naming it.
func TestChartPrometheusRule(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(), "config", "prometheus", "alerts.yaml")
	b, err := os.ReadFile(src)
	if os.IsNotExist(err) {
		_, err := helmTemplate("--set", "prometheusRule.enabled=true")
		if err == nil || !strings.Contains(err.Error(), "config/prometheus/alerts.yaml") {
			t.Fatalf("prometheusRule.enabled without config/prometheus/alerts.yaml: error %v, want one naming the file", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Groups []any `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	objs := index(mustHelm(t, "--set", "prometheusRule.enabled=true"))
	pr := objs["PrometheusRule "+namespace+"/clientcreds"]
	if pr == nil {
		t.Fatal("prometheusRule.enabled=true rendered no PrometheusRule")
	}
	got, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	if len(want.Groups) == 0 || !equality.Semantic.DeepEqual(got, want.Groups) {
		t.Errorf("PrometheusRule groups differ from config/prometheus/alerts.yaml:\n%v\nwant\n%v", got, want.Groups)
	}
}

// TestChartValuesSchema: values.schema.json refuses bad values, naming the value and what
// it should be.
func TestChartValuesSchema(t *testing.T) {
	for name, tc := range map[string]struct {
		set  []string
		want []string // substrings of the error
	}{
		"replicas not a number": {[]string{"--set-string", "replicas=two"}, []string{"replicas", "integer"}},
		"no replicas":           {[]string{"--set", "replicas=0"}, []string{"replicas", "minimum"}},
		"share above 1":         {[]string{"--set-json", "oktaRateLimitShare=1.5"}, []string{"oktaRateLimitShare", "maximum"}},
		"share above 1, --set":  {[]string{"--set", "oktaRateLimitShare=1.5"}, []string{"oktaRateLimitShare", "'1.5' does not match"}},
		"share not a number":    {[]string{"--set", "oktaRateLimitShare=half"}, []string{"oktaRateLimitShare", "'half' does not match"}},
		"share zero":            {[]string{"--set", "oktaRateLimitShare=0"}, []string{"oktaRateLimitShare", "exclusiveMinimum"}},
		"pull policy":           {[]string{"--set", "image.pullPolicy=Sometimes"}, []string{"pullPolicy", "IfNotPresent"}},
		"empty tag":             {[]string{"--set", "image.tag="}, []string{"tag"}},
		"misspelt key":          {[]string{"--set", "replica=3"}, []string{"replica"}},
		"namespace not a label": {[]string{"--set", "watchNamespaces={Team_A}"}, []string{"watchNamespaces", "Team_A"}},
		"extra arg not a flag":  {[]string{"--set", "extraArgs={verbose}"}, []string{"extraArgs", "verbose"}},
		"memory not a quantity": {[]string{"--set", "resources.limits.memory=lots"}, []string{"memory"}},
		"service monitor flag":  {[]string{"--set-string", "metrics.serviceMonitor.enabled=yes"}, []string{"enabled", "boolean"}},
		"exec probes flag":      {[]string{"--set-string", "probes.exec=yes"}, []string{"exec", "boolean"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := helmTemplate(tc.set...)
			if err == nil {
				t.Fatalf("helm template %v succeeded; want the schema to refuse it", tc.set)
			}
			msg := err.Error()
			if !strings.Contains(msg, "values don't meet the specifications of the schema") {
				t.Errorf("error is not the schema's: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
		})
	}
}

// TestChartConsumersRBAC: the permissions of spec.rotation.restart and nudgePods are in their
// own ClusterRole, rendered only with consumers.rbac (bound cluster-wide, or per watched
// namespace), and never in the manager's role.
func TestChartConsumersRBAC(t *testing.T) {
	const role = "ClusterRole /clientcreds-consumers-role"
	const binding = "ClusterRoleBinding /clientcreds-consumers-rolebinding"
	off := index(mustHelm(t))
	if _, ok := off[role]; ok {
		t.Errorf("%s rendered without consumers.rbac", role)
	}
	mgr := off["ClusterRole /clientcreds-manager-role"]
	if mgr == nil {
		t.Fatal("no manager ClusterRole")
	}
	rules, _, _ := unstructured.NestedSlice(mgr.Object, "rules")
	for _, r := range rules {
		res, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resources")
		for _, x := range res {
			if x == "pods" || x == "deployments" || x == "statefulsets" || x == "daemonsets" {
				t.Errorf("the manager role grants %s; it belongs in the consumers role only", x)
			}
		}
	}

	on := index(mustHelm(t, "--set", "consumers.rbac=true"))
	r := on[role]
	if r == nil {
		t.Fatalf("consumers.rbac=true rendered no %s", role)
	}
	rules, _, _ = unstructured.NestedSlice(r.Object, "rules")
	var got []string
	for _, rule := range rules {
		res, _, _ := unstructured.NestedStringSlice(rule.(map[string]any), "resources")
		verbs, _, _ := unstructured.NestedStringSlice(rule.(map[string]any), "verbs")
		for _, x := range res {
			got = append(got, x+":"+strings.Join(verbs, ","))
		}
	}
	want := []string{"pods:get,list,patch", "daemonsets:get,list,patch", "deployments:get,list,patch", "statefulsets:get,list,patch"}
	if !slices.Equal(got, want) {
		t.Errorf("consumers role rules %v, want %v", got, want)
	}
	b := on[binding]
	if b == nil {
		t.Fatalf("no %s", binding)
	}
	if n, _, _ := unstructured.NestedString(b.Object, "roleRef", "name"); n != "clientcreds-consumers-role" {
		t.Errorf("the binding refers to %q", n)
	}

	ns := index(mustHelm(t, "--set", "consumers.rbac=true", "--set", "watchNamespaces={team-a,team-b}"))
	if _, ok := ns[binding]; ok {
		t.Error("with watchNamespaces the consumers role is bound cluster-wide")
	}
	for _, n := range []string{"team-a", "team-b"} {
		rb := ns["RoleBinding "+n+"/clientcreds-manager-consumers"]
		if rb == nil {
			t.Errorf("no consumers RoleBinding in %s", n)
			continue
		}
		if name, _, _ := unstructured.NestedString(rb.Object, "roleRef", "name"); name != "clientcreds-consumers-role" {
			t.Errorf("RoleBinding in %s refers to %q", n, name)
		}
	}
}

// TestChartExecProbes: probes.exec turns the HTTP probes into exec probes that run the
// manager binary against the address file its probe server (on a free loopback port) writes
// to an emptyDir, serves metrics from the leader only, and keeps the pod's security; with
// hostNetwork no port is declared (it would become a host port) and the metrics Service
// targets the port by number.
func TestChartExecProbes(t *testing.T) {
	const file = "/run/clientcreds/health-probe-address"
	def := container(t, index(mustHelm(t))["Deployment "+namespace+"/clientcreds-manager"])
	for name, tc := range map[string]struct {
		set        []string
		wantPorts  []string
		wantTarget any
	}{
		"pod network": {[]string{"--set", "probes.exec=true"}, []string{"metrics"}, "metrics"},
		"hostNetwork": {[]string{"--set", "probes.exec=true", "--set", "hostNetwork=true", "--set", "metricsPort=31062"}, nil, int64(31062)},
	} {
		t.Run(name, func(t *testing.T) {
			objs := index(mustHelm(t, tc.set...))
			d := objs["Deployment "+namespace+"/clientcreds-manager"]
			if d == nil {
				t.Fatal("no manager Deployment")
			}
			c := container(t, d)
			args := c["args"].([]any)
			for _, want := range []string{"--metrics-leader-only", "--health-probe-bind-address=127.0.0.1:0", "--health-probe-address-file=" + file, "--leader-elect", "--metrics-secure"} {
				if !slices.Contains(args, any(want)) {
					t.Errorf("args %v lack %s", args, want)
				}
			}
			if slices.Contains(args, any("--health-probe-bind-address=:8081")) {
				t.Errorf("args %v still bind the fixed probe port", args)
			}
			for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
				p, _, _ := unstructured.NestedMap(c, probe)
				if _, ok := p["httpGet"]; ok {
					t.Errorf("%s still has httpGet", probe)
				}
				cmd, _, _ := unstructured.NestedStringSlice(p, "exec", "command")
				want := []string{"/manager", "probe", "--address-file=" + file, "--path=" + path, "--timeout=2s"}
				if !slices.Equal(cmd, want) {
					t.Errorf("%s command %v, want %v", probe, cmd, want)
				}
				if cmd0, _, _ := unstructured.NestedStringSlice(c, "command"); len(cmd) == 0 || len(cmd0) == 0 || cmd[0] != cmd0[0] {
					t.Errorf("%s runs %v, the container runs %v: not the manager binary", probe, cmd, cmd0)
				}
				if to, _, _ := unstructured.NestedInt64(p, "timeoutSeconds"); to < 3 {
					t.Errorf("%s timeoutSeconds %d: under the probe's own --timeout=2s", probe, to)
				}
			}
			mounts, _, _ := unstructured.NestedSlice(c, "volumeMounts")
			vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
			if len(mounts) != 1 || len(vols) != 1 {
				t.Fatalf("volumeMounts %v, volumes %v; want the probe emptyDir once", mounts, vols)
			}
			m, v := mounts[0].(map[string]any), vols[0].(map[string]any)
			if m["mountPath"] != "/run/clientcreds" || m["name"] != v["name"] || v["emptyDir"] == nil {
				t.Errorf("mount %v of volume %v: want an emptyDir at /run/clientcreds", m, v)
			}
			if !equality.Semantic.DeepEqual(c["securityContext"], def["securityContext"]) {
				t.Errorf("securityContext %v differs from the default %v", c["securityContext"], def["securityContext"])
			}
			if ro, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem"); !ro {
				t.Error("root filesystem not read-only")
			}
			var ports []string
			ps, _, _ := unstructured.NestedSlice(c, "ports")
			for _, p := range ps {
				ports = append(ports, p.(map[string]any)["name"].(string))
			}
			if !slices.Equal(ports, tc.wantPorts) {
				t.Errorf("container ports %v, want %v", ports, tc.wantPorts)
			}
			svc := objs["Service "+namespace+"/clientcreds-manager-metrics"]
			sp, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
			if len(sp) != 1 || sp[0].(map[string]any)["targetPort"] != tc.wantTarget {
				t.Errorf("metrics Service ports %v, want targetPort %v", sp, tc.wantTarget)
			}
		})
	}
}
