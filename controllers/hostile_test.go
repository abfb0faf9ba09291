package controllers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
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

// Issue 27.4: an http:// org URL is refused unless the manager runs with
// --allow-insecure-loopback-http (Options.AllowInsecureLoopbackHTTP), with the reason
// InsecureURL and a message naming the flag — even on loopback.
func TestInsecureLoopbackHTTPNeedsTheFlag(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{noManager: true})
	f.mgrOpts.AllowInsecureLoopbackHTTP = false
	f.startManager()
	c := f.waitProvider(metav1.ConditionFalse, oauthv1.ReasonInsecureURL)
	if !strings.Contains(c.Message, "--allow-insecure-loopback-http") {
		t.Errorf("message %q does not name the flag", c.Message)
	}
	if n := f.emu.Stats().Total; n != 0 {
		t.Errorf("the http org got %d requests, want 0", n)
	}
}

// hangingOrgs are orgs that accept requests and never answer them until the test ends;
// they count the requests waiting.
type hangingOrgs struct {
	URLs    []string
	waiting atomic.Int64
}

// newHangingOrgs starts n of them: each tenant runs its own, so the rate budget (one
// probe at a time while an org's limits are unknown) does not serialize them.
func newHangingOrgs(t *testing.T, n int) *hangingOrgs {
	h := &hangingOrgs{}
	release := make(chan struct{})
	for range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.waiting.Add(1)
			defer h.waiting.Add(-1)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		h.URLs = append(h.URLs, srv.URL)
	}
	t.Cleanup(func() { close(release) })
	return h
}

func providerReady(p oauthv1.ProviderObject) *metav1.Condition {
	return meta.FindStatusCondition(p.ProviderStatus().Conditions, oauthv1.ConditionReady)
}

// Issue 27.6: N slow namespaced providers (orgs that never answer) keep every OAuthProvider
// health-check worker busy, yet the ClusterOAuthProvider's health check runs at once (its
// kind has its own queue and workers), and each slow check ends after the health-check
// timeout with Unreachable. Before the fix a hung check lasted the 30 s request timeout, so
// the 8 slow providers (4 workers) took about 60 s, longer than the 25 s wait below.
func TestSlowNamespacedProvidersLeaveClusterProvidersOnTime(t *testing.T) {
	t.Parallel()
	const slow = 8
	hang := newHangingOrgs(t, slow)
	f := newFixture(t, fixtureOptions{noManager: true})
	f.mgrOpts.HealthTimeout = 2 * time.Second
	f.startManager()
	f.waitProvider(metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	for i := range slow {
		f.create(&oauthv1.OAuthProvider{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("slow-%d", i), Namespace: f.ns},
			Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
				OrgURL: hang.URLs[i], APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "okta-api-token"},
			}},
		})
	}
	f.eventually(waitTimeout, "every namespaced health-check worker to hang", func() (bool, string) {
		n := hang.waiting.Load()
		return n >= controllers.NamespacedProviderWorkers, fmt.Sprintf("%d requests hanging", n)
	})

	before := f.getProvider().Status.LastCheckTime
	time.Sleep(1100 * time.Millisecond) // LastCheckTime has a resolution of one second
	f.recheckProvider()
	f.eventually(waitTimeout, "the cluster provider's health check", func() (bool, string) {
		p := f.getProvider()
		c := providerReady(p)
		return c != nil && c.Status == metav1.ConditionTrue && p.Status.LastCheckTime != nil && p.Status.LastCheckTime.After(before.Time),
			fmt.Sprintf("last check %v, was %v", p.Status.LastCheckTime, before)
	})
	// Ordering, not timing: when the cluster provider's check was done, the slow orgs were
	// still holding requests, and not every slow provider had been judged.
	if n := hang.waiting.Load(); n == 0 {
		t.Errorf("no request to the slow orgs was hanging when the cluster provider's check finished")
	}
	judged := func() int {
		var list oauthv1.OAuthProviderList
		if err := k8s.List(f.ctx, &list, client.InNamespace(f.ns)); err != nil {
			t.Fatal(err)
		}
		n := 0
		for i := range list.Items {
			if c := providerReady(&list.Items[i]); c != nil && c.Reason == oauthv1.ReasonUnreachable {
				n++
			}
		}
		return n
	}
	if n := judged(); n == slow {
		t.Errorf("all %d slow providers were judged before the cluster provider's check; the test shows nothing", slow)
	}
	// Each slow check ends after the health-check timeout.
	f.eventually(25*time.Second, "every slow provider to be Unreachable", func() (bool, string) {
		n := judged()
		return n == slow, fmt.Sprintf("%d of %d Unreachable", n, slow)
	})
}
