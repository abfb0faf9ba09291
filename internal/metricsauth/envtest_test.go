package metricsauth

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/clientcreds/clientcreds/internal/testenv"
)

// TestWithAPIServer runs the filter against a real kube-apiserver (envtest, RBAC on): a
// ServiceAccount bound to get /metrics reads it, one without the binding is refused with
// 403, a token the API server did not issue with 401, and a filter whose own credentials
// may not create TokenReviews answers 500.
func TestWithAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	cfg := testenv.StartT(t)
	ctx := context.Background()
	kc := kubernetes.NewForConfigOrDie(cfg)
	ns := "default"
	token := func(sa string) string {
		t.Helper()
		if _, err := kc.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := kc.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authnv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	reader, stranger := token("reader"), token("stranger")
	if _, err := kc.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	filter := func(cfg *rest.Config) http.Handler {
		t.Helper()
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		f, err := FilterProvider(cfg, hc)
		if err != nil {
			t.Fatal(err)
		}
		h, err := f(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := filter(cfg)
	for name, tc := range map[string]struct {
		method, path, auth string
		want               int
	}{
		"reader gets /metrics":      {"GET", "/metrics", "Bearer " + reader, http.StatusOK},
		"reader may not post":       {"POST", "/metrics", "Bearer " + reader, http.StatusForbidden},
		"reader may not get /other": {"GET", "/other", "Bearer " + reader, http.StatusForbidden},
		"stranger":                  {"GET", "/metrics", "Bearer " + stranger, http.StatusForbidden},
		"a token nobody issued":     {"GET", "/metrics", "Bearer eyJhbGciOiJub25lIn0.e30.", http.StatusUnauthorized},
		"no token":                  {"GET", "/metrics", "", http.StatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			if w := do(h, tc.method, tc.path, tc.auth); w.Code != tc.want {
				t.Fatalf("answered %d, want %d", w.Code, tc.want)
			}
		})
	}

	// The filter's own identity lacks create on tokenreviews (the stranger's token): the
	// API server refuses the review, and the caller gets a 500, not the metrics.
	weak := rest.AnonymousClientConfig(cfg)
	weak.BearerToken = stranger
	if w := do(filter(weak), "GET", "/metrics", "Bearer "+reader); w.Code != http.StatusInternalServerError {
		t.Fatalf("with a filter that may not review tokens: answered %d, want 500", w.Code)
	}
}
