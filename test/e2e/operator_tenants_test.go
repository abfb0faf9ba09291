package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// TestTenantIsolation is issue 13 across real processes. Two teams share one
// Okta org. The manager runs as its own API user with the least privilege of
// config/overlays/namespaced — role.yaml without the cluster-wide Secret rule,
// Secret Roles in the two team namespaces and a read-and-hold Role where the
// ClusterOAuthProviders' credentials are — and with --watch-namespaces.
// Team A gets its client. Each of team B's attempts to get more than it is
// allowed ends in its reason without a single request to the org, and the
// manager never asks the API server for anything outside what it may touch (no
// 403 in its client metrics). Then team A's namespace is deleted with its
// OAuthProvider and that provider's token Secret: every app of its clients is
// deleted from the org before the provider and the Secret go.
//
// The control plane (envtest: etcd and kube-apiserver) runs no
// kube-controller-manager, so no namespace controller: the test does its part
// — the Namespace turns Terminating, then every object in it gets its delete
// at once (Secrets first, the worst order for the operator).
func TestTenantIsolation(t *testing.T) {
	const (
		nsA, nsB   = "e2e-team-a", "e2e-team-b"
		user       = "e2e-tenant-manager"
		teamScope  = "teama:read"
		sharedProv = "e2e-shared"
		teamAProv  = "e2e-team-a-only"
	)
	c := sharedCluster(t)
	org := startOrg(t, "--scopes", helloScope+","+teamScope)

	c.kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %s, labels: {tenant: team-a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: %s, labels: {tenant: team-b}}
`, nsA, nsB), "apply", "-f", "-")
	kubeconfig := managerUser(t, c, user, []string{nsA, nsB})

	// The platform's providers: one for everyone (hello:read only), one for team A.
	c.kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: e2e-tenants-token, namespace: %[1]s}
stringData: {token: %[2]q}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: %[4]s}
spec:
  okta: {orgURL: %[3]s, apiTokenSecretRef: {name: e2e-tenants-token, namespace: %[1]s}}
  allowedScopes: [%[6]q]
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: %[5]s}
spec:
  okta: {orgURL: %[3]s, apiTokenSecretRef: {name: e2e-tenants-token, namespace: %[1]s}}
  namespaceSelector: {matchLabels: {tenant: team-a}}
  allowedScopes: ["teama:*"]
`, systemNamespace, org.apiToken, org.url, sharedProv, teamAProv, helloScope), "apply", "-f", "-")

	manager, metricsURL := startTenantManager(t, c, kubeconfig, "--watch-namespaces="+nsA+","+nsB, "--provider-health-interval=1h")
	// Registered after the manager started, so they run while it still does.
	t.Cleanup(func() {
		for _, args := range [][]string{
			{"delete", "oauthclients,oauthproviders", "--all", "-n", nsB, "--timeout=60s"},
			{"delete", "clusteroauthprovider", sharedProv, teamAProv, "--ignore-not-found", "--timeout=60s"},
			{"delete", "secret", "e2e-tenants-token", "-n", systemNamespace, "--ignore-not-found", "--timeout=60s"},
		} {
			if _, err := c.run("", args...); err != nil {
				t.Log(err)
			}
		}
	})
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=60s", "clusteroauthprovider/"+sharedProv, "clusteroauthprovider/"+teamAProv)

	// Team A: a client of its own provider and of each cluster provider.
	c.kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: team-a-okta
  namespace: %[1]s
  labels: {oauth.clientcreds.dev/provider-credentials: "true"}
stringData: {token: %[2]q}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthProvider
metadata: {name: team-a-okta, namespace: %[1]s}
spec:
  okta: {orgURL: %[3]s, apiTokenSecretRef: {name: team-a-okta}}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: orders, namespace: %[1]s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %[4]s}
  scopes: [%[5]q]
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: hello, namespace: %[1]s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %[6]s}
  scopes: [%[7]q]
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: own-1, namespace: %[1]s}
spec:
  providerRef: {kind: OAuthProvider, name: team-a-okta}
  scopes: [%[7]q]
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: own-2, namespace: %[1]s}
spec:
  providerRef: {kind: OAuthProvider, name: team-a-okta}
  scopes: [%[5]q]
`, nsA, org.apiToken, org.url, teamAProv, teamScope, sharedProv, helloScope), "apply", "-f", "-")
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=90s", "-n", nsA,
		"oauthclient/orders", "oauthclient/hello", "oauthclient/own-1", "oauthclient/own-2")
	if n := len(appsOf(t, org, nsA)); n != 4 {
		t.Fatalf("%d apps for team A, want 4", n)
	}

	// Team B tries to get more than it is allowed. Nothing it does may reach the org.
	before := org.fullStats(t)
	c.kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: borrowed, namespace: %[1]s}
stringData: {token: %[2]q}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: %[1]s}
---
apiVersion: v1
kind: Secret
metadata:
  name: robot-token
  namespace: %[1]s
  labels: {oauth.clientcreds.dev/provider-credentials: "true"}
  annotations: {kubernetes.io/service-account.name: robot}
type: kubernetes.io/service-account-token
stringData: {token: "a-service-account-token"}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: greedy, namespace: %[1]s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %[4]s}
  scopes: [%[5]q]
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: gatecrasher, namespace: %[1]s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %[6]s}
  scopes: [%[5]q]
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthProvider
metadata: {name: unlabelled, namespace: %[1]s}
spec:
  okta: {orgURL: %[3]s, apiTokenSecretRef: {name: borrowed}}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: via-unlabelled, namespace: %[1]s}
spec:
  providerRef: {kind: OAuthProvider, name: unlabelled}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthProvider
metadata: {name: sa-token, namespace: %[1]s}
spec:
  okta: {orgURL: %[3]s, apiTokenSecretRef: {name: robot-token}}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: via-sa-token, namespace: %[1]s}
spec:
  providerRef: {kind: OAuthProvider, name: sa-token}
`, nsB, org.apiToken, org.url, sharedProv, teamScope, teamAProv), "apply", "-f", "-")

	for _, w := range []struct{ kind, name, reason string }{
		{"oauthclient", "greedy", oauthv1.ReasonScopeNotAllowed},
		{"oauthclient", "gatecrasher", oauthv1.ReasonNamespaceNotAllowed},
		{"oauthprovider", "unlabelled", oauthv1.ReasonCredentialsSecretNotLabelled},
		{"oauthclient", "via-unlabelled", oauthv1.ReasonCredentialsSecretNotLabelled},
		{"oauthprovider", "sa-token", oauthv1.ReasonInvalidSpec},
		{"oauthclient", "via-sa-token", oauthv1.ReasonProviderNotReady},
	} {
		conds := waitReason(t, c, nsB, w.kind, w.name, w.reason)
		t.Logf("team B %s/%s: %s", w.kind, w.name, conds)
	}
	for _, name := range []string{"greedy", "gatecrasher"} {
		oc := c.oauthClient(t, nsB, name)
		if s := meta.FindStatusCondition(oc.Status.Conditions, oauthv1.ConditionStalled); s == nil || s.Status != metav1.ConditionTrue {
			t.Errorf("oauthclient/%s is not Stalled: %+v", name, oc.Status.Conditions)
		}
		if !hasWarning(t, c, nsB, name, readyCondition(oc).Reason) {
			t.Errorf("no warning event %s for oauthclient/%s", readyCondition(oc).Reason, name)
		}
	}
	after := org.fullStats(t)
	if after.Total != before.Total {
		t.Errorf("team B's attempts cost %d requests to the org, want 0 (by route before %v, after %v)",
			after.Total-before.Total, before.ByRoute, after.ByRoute)
	}
	if n := len(appsOf(t, org, nsB)); n != 0 {
		t.Errorf("%d apps for team B, want 0", n)
	}
	// Nothing written in team B's namespace but what team B created itself.
	var secrets struct {
		Items []struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		} `json:"items"`
	}
	c.getJSON(t, &secrets, "secrets", "-n", nsB)
	for _, s := range secrets.Items {
		if s.Metadata.Name != "borrowed" && s.Metadata.Name != "robot-token" {
			t.Errorf("Secret %s/%s appeared in team B's namespace", nsB, s.Metadata.Name)
		}
		if len(s.Metadata.Finalizers) > 0 || len(s.Metadata.OwnerReferences) > 0 {
			t.Errorf("Secret %s/%s was changed by the operator: finalizers %v, owners %v", nsB, s.Metadata.Name,
				s.Metadata.Finalizers, s.Metadata.OwnerReferences)
		}
	}

	// Team A's namespace goes, with its OAuthProvider and that provider's Secret.
	c.kubectl(t, "", "delete", "namespace", nsA, "--wait=false")
	c.kubectl(t, "", "delete", "secrets", "--all", "-n", nsA, "--wait=false")
	c.kubectl(t, "", "delete", "oauthproviders", "--all", "-n", nsA, "--wait=false")
	c.kubectl(t, "", "delete", "oauthclients", "--all", "-n", nsA, "--wait=false")
	deadline := time.Now().Add(90 * time.Second)
	for {
		out := c.kubectl(t, "", "get", "oauthclients,oauthproviders,secrets", "-n", nsA, "-o", "name")
		if strings.TrimSpace(out) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("objects left in the deleted namespace after 90s: %s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if apps := appsOf(t, org, nsA); len(apps) != 0 {
		t.Errorf("%d apps of namespace %s left in the org after it was deleted: %+v", len(apps), nsA, apps)
	}

	// The manager never asked for anything its RBAC does not allow: the API server would
	// have answered 403 "User ... cannot ...", and the manager would have logged it. Other
	// 403s are the terminating namespace refusing new objects (a client racing its
	// namespace's deletion).
	if n := forbiddenRequests(t, metricsURL); n != 0 {
		t.Logf("the manager got %d answers 403 (RBAC or a terminating namespace)", n)
	}
	log, err := os.ReadFile(manager.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	terminating, kinds := 0, map[string]int{}
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "is forbidden: User") {
			t.Errorf("the manager was refused by RBAC: %.400s", line)
		}
		if strings.Contains(line, "because it is being terminated") {
			terminating++
			var entry struct{ Msg, Error string }
			_ = json.Unmarshal([]byte(line), &entry)
			kinds[entry.Msg+": "+strings.SplitN(entry.Error, " ", 2)[0]]++
		}
	}
	t.Logf("the manager logged %d refusals by the terminating namespace: %v", terminating, kinds)
}

// appsOf lists the org's apps whose label says they belong to namespace ns
// (the default display name is "<namespace>/<name>").
func appsOf(t *testing.T, org emulatedOrg, ns string) []emulatedApp {
	t.Helper()
	var out []emulatedApp
	for _, a := range org.apps(t, 200) {
		if strings.HasPrefix(a.Label, ns+"/") {
			out = append(out, a)
		}
	}
	return out
}

// fullStats is /_emulator/stats with the total.
type fullStats struct {
	Total   int64            `json:"total"`
	ByRoute map[string]int64 `json:"byRoute"`
}

func (o emulatedOrg) fullStats(t *testing.T) fullStats {
	t.Helper()
	resp := o.management(t, o.url+"/_emulator/stats")
	defer func() { _ = resp.Body.Close() }()
	var s fullStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("emulator stats: status %d, decode error %v", resp.StatusCode, err)
	}
	return s
}

// waitReason waits until the object's Ready condition is False with reason, and
// returns its conditions.
func waitReason(t *testing.T, c *cluster, ns, kind, name, reason string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var obj struct {
			Status struct {
				Conditions []metav1.Condition `json:"conditions"`
			} `json:"status"`
		}
		c.getJSON(t, &obj, kind, name, "-n", ns)
		r := meta.FindStatusCondition(obj.Status.Conditions, oauthv1.ConditionReady)
		var parts []string
		for _, cd := range obj.Status.Conditions {
			parts = append(parts, fmt.Sprintf("%s=%s/%s (%s)", cd.Type, cd.Status, cd.Reason, cd.Message))
		}
		if r != nil && r.Status == metav1.ConditionFalse && r.Reason == reason {
			return strings.Join(parts, "; ")
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s/%s: no Ready=False/%s within 60s; conditions: %s", kind, ns, name, reason, strings.Join(parts, "; "))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func hasWarning(t *testing.T, c *cluster, ns, name, reason string) bool {
	t.Helper()
	var evs struct {
		Items []struct {
			Type      string `json:"type"`
			Reason    string `json:"reason"`
			Regarding struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"regarding"`
		} `json:"items"`
	}
	c.getJSON(t, &evs, "events.v1.events.k8s.io", "-n", ns)
	for _, e := range evs.Items {
		if e.Type == "Warning" && e.Reason == reason && e.Regarding.Kind == "OAuthClient" && e.Regarding.Name == name {
			return true
		}
	}
	return false
}

// managerUser creates an API user for the manager with the RBAC of
// config/overlays/namespaced for the given namespaces, and returns its
// kubeconfig.
func managerUser(t *testing.T, c *cluster, name string, namespaces []string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(data, &role); err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, r := range role.Rules {
		if len(r.APIGroups) == 1 && r.APIGroups[0] == "" && len(r.Resources) == 1 && r.Resources[0] == "secrets" {
			continue // only through the Roles below
		}
		rules = append(rules, r)
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}}
	objs := []any{
		&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules},
		&rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}},
	}
	secretRole := func(ns string, verbs ...string) {
		objs = append(objs,
			&rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: verbs}}},
			&rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}})
	}
	for _, ns := range namespaces {
		secretRole(ns, "create", "delete", "get", "list", "patch", "update", "watch")
	}
	secretRole(systemNamespace, "get", "list", "patch")
	var manifest strings.Builder
	for _, o := range objs {
		js, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		manifest.WriteString("---\n")
		manifest.Write(js)
		manifest.WriteString("\n")
	}
	c.kubectl(t, manifest.String(), "apply", "-f", "-")
	t.Cleanup(func() {
		if _, err := c.run(manifest.String(), "delete", "--ignore-not-found", "-f", "-"); err != nil {
			t.Log(err)
		}
	})

	u, err := c.env.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	// RBAC is on: the user may not read Secrets elsewhere.
	if _, err := c.run("", "--kubeconfig", path, "get", "secrets", "-n", "default"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("the manager's user may list Secrets in default (err %v): RBAC is not enforced", err)
	}
	return path
}

// startTenantManager runs bin/manager with the given kubeconfig and returns the
// process and its metrics URL.
func startTenantManager(t *testing.T, c *cluster, kubeconfig string, extraArgs ...string) (*harness.Process, string) {
	t.Helper()
	metrics, probe := harness.FreeAddr(t), harness.FreeAddr(t)
	args := append([]string{
		"--kubeconfig", kubeconfig,
		"--metrics-bind-address", metrics,
		"--health-probe-bind-address", probe,
		// The emulator serves http on loopback.
		"--allow-insecure-loopback-http",
	}, extraArgs...)
	p := harness.Start(t, "manager-tenants", harness.Binary(t, "manager"), args, harness.Options{})
	harness.WaitHTTP(t, "http://"+probe+"/readyz", startWait, p)
	_ = c
	return p, "http://" + metrics + "/metrics"
}

// forbiddenRequests sums rest_client_requests_total{code="403"} of the manager.
func forbiddenRequests(t *testing.T, metricsURL string) int {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	n, seen := 0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		seen = true
		if strings.Contains(line, `code="403"`) {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v); err == nil {
				n += int(v)
			}
		}
	}
	if !seen {
		t.Fatal("the manager's metrics have no rest_client_requests_total")
	}
	return n
}
