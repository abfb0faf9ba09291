package controllers_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// Issue 27.3: allowedScopes: [] written through a Go client (controller-runtime's, with a
// read-modify-write Update) reaches the API server, persists, and refuses every scope; a
// later read-modify-write of another field keeps it; nil stays "absent" (any scope).
func TestAllowedScopesEmptyFromGoClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("asks", func(o *oauthv1.OAuthClient) { o.Spec.Scopes = []string{"hello:read"} })
	f.waitReady("asks")

	stored := func() []string {
		t.Helper()
		p := &oauthv1.ClusterOAuthProvider{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Name: f.provider}, p); err != nil {
			t.Fatal(err)
		}
		return p.Spec.AllowedScopes
	}

	f.updateClusterProvider(func(p *oauthv1.ClusterOAuthProvider) { p.Spec.AllowedScopes = []string{} })
	if got := stored(); got == nil || len(got) != 0 {
		t.Fatalf("allowedScopes after writing [] = %#v, want an empty, non-nil list", got)
	}
	obj := f.waitReason("asks", metav1.ConditionFalse, oauthv1.ReasonScopeNotAllowed)
	if !stalled(obj) {
		t.Errorf("not Stalled: %s", describe(obj))
	}

	// A Go tool's read-modify-write of something else keeps the empty list.
	f.updateClusterProvider(func(p *oauthv1.ClusterOAuthProvider) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations["example.com/touched"] = "yes"
	})
	if got := stored(); got == nil || len(got) != 0 {
		t.Fatalf("allowedScopes after an unrelated update = %#v, want an empty, non-nil list", got)
	}

	// nil is absent: any scope again.
	f.updateClusterProvider(func(p *oauthv1.ClusterOAuthProvider) { p.Spec.AllowedScopes = nil })
	if got := stored(); got != nil {
		t.Fatalf("allowedScopes after writing nil = %#v, want absent", got)
	}
	f.waitReady("asks")
}
