package oauthapiwatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/clientcreds/clientcreds/internal/testutil"
)

// rbacFile is the verifier's RBAC for --oauthapi as shipped.
var rbacFile = filepath.Join("config", "verifier", "examples", "oauthapi", "rbac.yaml")

// shippedRBAC reads rbacFile's objects.
func shippedRBAC(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), rbacFile))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", rbacFile, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

// TestShippedRBACIsReadOnly: the Role grants get, list and watch on
// oauthapis and nothing else.
func TestShippedRBACIsReadOnly(t *testing.T) {
	var roles int
	for _, u := range shippedRBAC(t) {
		switch u.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
			t.Errorf("%s: a %s; the verifier's access is namespaced", rbacFile, u.GetKind())
		case "Role":
			roles++
			var r rbacv1.Role
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
				t.Fatal(err)
			}
			want := []rbacv1.PolicyRule{{APIGroups: []string{Group}, Resources: []string{Resource}, Verbs: []string{"get", "list", "watch"}}}
			if fmt.Sprint(r.Rules) != fmt.Sprint(want) {
				t.Errorf("Role %s rules = %+v, want %+v", r.Name, r.Rules, want)
			}
		}
	}
	if roles != 1 {
		t.Errorf("%s holds %d Roles, want 1", rbacFile, roles)
	}
}

// TestShippedRBACSuffices runs the watch as the verifier's ServiceAccount
// (impersonated) with the shipped RBAC, and without its RoleBinding.
func TestShippedRBACSuffices(t *testing.T) {
	a, _ := testKeys(t)
	is := newIssuer(t, a, "key-a")
	read := is.token(t, testAudience, time.Hour, "hello:read")
	ctx := context.Background()

	asVerifier := func(ns string) dynamic.Interface {
		cfg := rest.CopyConfig(restCfg)
		cfg.Impersonate = rest.ImpersonationConfig{
			UserName: "system:serviceaccount:" + ns + ":verifier",
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		}
		c, err := dynamic.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	install := func(ns string, kinds ...string) {
		for _, u := range shippedRBAC(t) {
			if !slices.Contains(kinds, u.GetKind()) {
				continue
			}
			u.SetNamespace(ns)
			if u.GetKind() == "RoleBinding" {
				subs, _, _ := unstructured.NestedSlice(u.Object, "subjects")
				for _, s := range subs {
					s.(map[string]any)["namespace"] = ns
				}
				_ = unstructured.SetNestedSlice(u.Object, subs, "subjects")
			}
			if err := k8s.Create(ctx, u); err != nil {
				t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
	}

	ns := newNamespace(t)
	install(ns, "ServiceAccount", "Role", "RoleBinding")
	newOAuthAPI(t, ns, "hello", nil, is.url, testAudience)
	f := followWith(t, asVerifier(ns), ns, "hello", nil)
	f.waitFor(t, "following as the verifier's ServiceAccount", "GET", "/", read, http.StatusOK)

	// Another namespace's OAuthAPI is out of reach of the Role.
	other := newNamespace(t)
	newOAuthAPI(t, other, "hello", nil, is.url, testAudience)
	g := followWith(t, asVerifier(ns), other, "hello", nil)
	eventually(t, "forbidden in another namespace", func() (bool, string) {
		code, why := g.unconfigured(t)
		return code == http.StatusServiceUnavailable && strings.Contains(why, "cannot be read") && strings.Contains(why, "forbidden"), fmt.Sprint(code, why)
	})
	if got := ask(g.handler, "GET", "/", read); got.status != http.StatusServiceUnavailable {
		t.Errorf("without access: %+v, want 503", got)
	}

	// The same identity without the RoleBinding lists nothing: the access
	// above comes from the shipped RBAC, not from impersonation.
	bare := newNamespace(t)
	if _, err := asVerifier(bare).Resource(gvr).Namespace(bare).List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the verifier's ServiceAccount lists OAuthAPIs in a namespace without the RoleBinding")
	}
}
