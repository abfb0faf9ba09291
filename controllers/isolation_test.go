package controllers_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// appCalls counts the requests that touch apps or ask for tokens: what an OAuthClient's
// reconcile costs the backend (health checks of the providers are not counted).
func (f *fixture) appCalls() int64 {
	var n int64
	for route, c := range f.emu.Stats().ByRoute {
		if strings.Contains(route, "/api/v1/apps") || strings.HasSuffix(route, "/v1/token") {
			n += c
		}
	}
	return n
}

func (f *fixture) updateClusterProvider(mutate func(*oauthv1.ClusterOAuthProvider)) {
	f.t.Helper()
	f.eventually(waitTimeout, "update the ClusterOAuthProvider", func() (bool, string) {
		p := &oauthv1.ClusterOAuthProvider{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Name: f.provider}, p); err != nil {
			return false, err.Error()
		}
		mutate(p)
		if err := k8s.Update(f.ctx, p); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func (f *fixture) setNamespaceLabels(l map[string]string) {
	f.t.Helper()
	f.eventually(waitTimeout, "label the namespace", func() (bool, string) {
		ns := &corev1.Namespace{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Name: f.ns}, ns); err != nil {
			return false, err.Error()
		}
		ns.Labels = l
		if err := k8s.Update(f.ctx, ns); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func stalled(obj *oauthv1.OAuthClient) bool {
	c := meta.FindStatusCondition(obj.Status.Conditions, oauthv1.ConditionStalled)
	return c != nil && c.Status == metav1.ConditionTrue
}

// Issue 13.1: a ClusterOAuthProvider's namespaceSelector admits namespaces by label; a
// change of the labels takes effect without a restart, and a client that falls out keeps
// its app and Secret.
func TestNamespaceSelector(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.updateClusterProvider(func(p *oauthv1.ClusterOAuthProvider) {
		p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"okta-team": f.ns}}
	})
	// The spec change makes the provider check its health (one app-list call); count from
	// after it.
	f.waitProvider(metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	before := f.appCalls()
	f.newClient("outside")
	obj := f.waitReason("outside", metav1.ConditionFalse, oauthv1.ReasonNamespaceNotAllowed)
	if !stalled(obj) {
		t.Errorf("not Stalled: %s", describe(obj))
	}
	if obj.Status.AppID != "" {
		t.Errorf("an app was recorded: %s", obj.Status.AppID)
	}
	if n := f.appCalls() - before; n != 0 {
		t.Errorf("%d backend calls for a client of a namespace the provider does not admit, want 0", n)
	}
	f.eventually(waitTimeout, "a warning event NamespaceNotAllowed", func() (bool, string) {
		ev := f.eventReasons("outside")
		return strings.Contains(strings.Join(ev, ","), corev1.EventTypeWarning+"/"+oauthv1.ReasonNamespaceNotAllowed), strings.Join(ev, ",")
	})
	if s := f.secret(obj.SecretName()); s != nil {
		t.Errorf("Secret %s written for a refused client", s.Name)
	}

	// Labelling the namespace admits it: no restart, no edit of the client.
	f.setNamespaceLabels(map[string]string{"okta-team": f.ns})
	obj = f.waitReady("outside")
	appID := obj.Status.AppID

	// Taking the label away stops reconciling; the app and the Secret stay.
	f.setNamespaceLabels(nil)
	obj = f.waitReason("outside", metav1.ConditionFalse, oauthv1.ReasonNamespaceNotAllowed)
	if code, _ := f.app(appID); code != 200 {
		t.Errorf("app %s: GET answered %d after the namespace fell out of the selector, want 200", appID, code)
	}
	if s := f.secret(obj.SecretName()); s == nil || len(s.Data[controllers.KeyClientSecret]) == 0 {
		t.Error("the Secret was removed or emptied when the namespace fell out of the selector")
	}
	calls := f.appCalls()
	f.update("outside", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "renamed" })
	f.eventually(waitTimeout, "the spec change to be judged", func() (bool, string) {
		o := f.get("outside")
		return o.Status.ObservedGeneration == o.Generation, describe(o)
	})
	if n := f.appCalls() - calls; n != 0 {
		t.Errorf("%d backend calls for an edit of a client outside the selector, want 0", n)
	}

	// A change of the selector (not of the namespace) admits it again.
	f.updateClusterProvider(func(p *oauthv1.ClusterOAuthProvider) { p.Spec.NamespaceSelector = nil })
	f.waitReady("outside")
}

// Issue 13.1: allowedScopes, exact and prefix wildcard.
func TestAllowedScopes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{emu: oktaemu.Config{Scopes: []string{"hello:read", "orders:write", "admin", "ordersx"}}})
	f.updateClusterProvider(func(p *oauthv1.ClusterOAuthProvider) {
		p.Spec.AllowedScopes = []string{"hello:read", "orders:*"}
	})
	f.newClient("fine", func(o *oauthv1.OAuthClient) { o.Spec.Scopes = []string{"hello:read", "orders:write"} })
	f.waitReady("fine")
	creates := f.emu.Stats().Route("POST /api/v1/apps")
	calls := f.appCalls()
	f.newClient("greedy", func(o *oauthv1.OAuthClient) { o.Spec.Scopes = []string{"hello:read", "admin", "ordersx"} })
	obj := f.waitReason("greedy", metav1.ConditionFalse, oauthv1.ReasonScopeNotAllowed)
	if !stalled(obj) {
		t.Errorf("not Stalled: %s", describe(obj))
	}
	msg := readyCondition(obj).Message
	if refused, _, _ := strings.Cut(msg, ";"); !strings.HasSuffix(refused, "scope(s) admin, ordersx") {
		t.Errorf("message does not name exactly the refused scopes: %q", msg)
	}
	if n := f.appCalls() - calls; n != 0 {
		t.Errorf("%d backend calls for a client asking for a scope not allowed, want 0", n)
	}
	if len(f.appsOwnedBy(string(obj.UID))) != 0 {
		t.Error("an app exists for the refused client")
	}
	// Allowing the scopes on the provider admits the client without touching it.
	f.updateClusterProvider(func(p *oauthv1.ClusterOAuthProvider) {
		p.Spec.AllowedScopes = append(p.Spec.AllowedScopes, "admin", "orders*")
	})
	f.waitReady("greedy")
	if n := f.emu.Stats().Route("POST /api/v1/apps") - creates; n != 1 {
		t.Errorf("%d apps created after the scopes were allowed, want 1", n)
	}
	// An empty list allows no scope at all (written as kubectl would: a Go client drops
	// the empty list).
	empty := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"allowedScopes":[]}}`))
	if err := k8s.Patch(f.ctx, &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: f.provider}}, empty); err != nil {
		t.Fatal(err)
	}
	f.waitReason("fine", metav1.ConditionFalse, oauthv1.ReasonScopeNotAllowed)
}

// Issue 13.2: an OAuthProvider reads only a Secret labelled as provider credentials, and
// never a ServiceAccount token.
func TestProviderCredentialsLabel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	// The cluster provider's first health check (it lists one app) comes before the count.
	f.waitProvider(metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	calls := f.appCalls()
	total := f.emu.Stats().Total
	routesBefore := f.emu.Stats().ByRoute
	f.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: f.ns},
		StringData: map[string]string{"token": f.apiToken},
	})
	f.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot", Namespace: f.ns}})
	f.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "robot-token", Namespace: f.ns,
			Annotations: map[string]string{corev1.ServiceAccountNameKey: "robot"},
			Labels:      map[string]string{controllers.LabelProviderCredentials: "true"}},
		Type:       corev1.SecretTypeServiceAccountToken,
		StringData: map[string]string{"token": "not-an-okta-token"},
	})
	for name, secret := range map[string]string{"unlabelled": "plain", "sa-token": "robot-token"} {
		f.create(&oauthv1.OAuthProvider{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
			Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
				OrgURL: f.orgURL, APITokenSecretRef: &oauthv1.SecretKeyReference{Name: secret},
			}},
		})
		f.newClient("via-"+name, func(o *oauthv1.OAuthClient) {
			o.Spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindOAuthProvider, Name: name}
		})
	}
	providerReason := func(name string) (string, string) {
		p := &oauthv1.OAuthProvider{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, p); err != nil {
			return "", err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, oauthv1.ConditionReady)
		if c == nil {
			return "", "no Ready condition"
		}
		return c.Reason, c.Message
	}
	f.eventually(waitTimeout, "OAuthProvider unlabelled: CredentialsSecretNotLabelled", func() (bool, string) {
		r, m := providerReason("unlabelled")
		return r == oauthv1.ReasonCredentialsSecretNotLabelled, r + ": " + m
	})
	f.eventually(waitTimeout, "OAuthProvider sa-token: InvalidSpec", func() (bool, string) {
		r, m := providerReason("sa-token")
		return r == oauthv1.ReasonInvalidSpec && strings.Contains(m, "ServiceAccount token"), r + ": " + m
	})
	f.waitReason("via-unlabelled", metav1.ConditionFalse, oauthv1.ReasonCredentialsSecretNotLabelled)
	f.waitReason("via-sa-token", metav1.ConditionFalse, oauthv1.ReasonProviderNotReady)
	if n := f.appCalls() - calls; n != 0 {
		t.Errorf("%d app/token calls through refused providers, want 0", n)
	}
	// Neither OAuthProvider reached the backend at all: no app route was called since.
	for route, n := range f.emu.Stats().ByRoute {
		if strings.Contains(route, "/api/v1/apps") && n != routesBefore[route] {
			t.Errorf("%s called %d times", route, n-routesBefore[route])
		}
	}
	_ = total
	for _, name := range []string{"robot-token"} {
		s := &corev1.Secret{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, s); err != nil {
			t.Fatal(err)
		}
		for _, fin := range s.Finalizers {
			t.Errorf("Secret %s got finalizer %s although it was refused", name, fin)
		}
	}

	// Labelling the Secret is the owner's decision to use it: the provider becomes Ready.
	f.eventually(waitTimeout, "label Secret plain", func() (bool, string) {
		s := &corev1.Secret{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "plain"}, s); err != nil {
			return false, err.Error()
		}
		s.Labels = map[string]string{controllers.LabelProviderCredentials: "true"}
		if err := k8s.Update(f.ctx, s); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	f.waitReady("via-unlabelled")
}

// Issue 13.4: a provider is not removed while OAuthClients use it (InUse, with the
// count); its credentials Secret is held by a finalizer until then.
func TestProviderInUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "team-token", Namespace: f.ns,
			Labels: map[string]string{controllers.LabelProviderCredentials: "true"}},
		StringData: map[string]string{"token": f.apiToken},
	})
	f.create(&oauthv1.OAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "team-okta", Namespace: f.ns},
		Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
			OrgURL: f.orgURL, APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "team-token"},
		}},
	})
	for _, n := range []string{"one", "two"} {
		f.newClient(n, func(o *oauthv1.OAuthClient) {
			o.Spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindOAuthProvider, Name: "team-okta"}
		})
	}
	one, two := f.waitReady("one"), f.waitReady("two")
	getProvider := func() (*oauthv1.OAuthProvider, error) {
		p := &oauthv1.OAuthProvider{}
		return p, k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "team-okta"}, p)
	}
	tokenFinalizers := func() []string {
		s := &corev1.Secret{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "team-token"}, s); err != nil {
			t.Fatal(err)
		}
		return s.Finalizers
	}
	p, err := getProvider()
	if err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "finalizers on the provider and its Secret", func() (bool, string) {
		p, _ = getProvider()
		fins := tokenFinalizers()
		return len(p.Finalizers) == 1 && p.Finalizers[0] == controllers.ProviderFinalizer &&
			len(fins) == 1 && strings.HasSuffix(fins[0], string(p.UID)), strings.Join(append(p.Finalizers, fins...), ",")
	})

	if err := k8s.Delete(f.ctx, p); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "the provider to say InUse with the count", func() (bool, string) {
		p, err := getProvider()
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, oauthv1.ConditionReady)
		return c != nil && c.Reason == oauthv1.ReasonInUse && strings.HasPrefix(c.Message, "2 OAuthClient"), describeConds(p.Status.Conditions)
	})
	if err := k8s.Delete(f.ctx, one); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "the count to drop to 1", func() (bool, string) {
		p, err := getProvider()
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, oauthv1.ConditionReady)
		return c != nil && c.Reason == oauthv1.ReasonInUse && strings.HasPrefix(c.Message, "1 OAuthClient"), describeConds(p.Status.Conditions)
	})
	if len(f.appsOwnedBy(string(one.UID))) != 0 {
		t.Error("the app of the deleted client still exists")
	}
	if err := k8s.Delete(f.ctx, two); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "the provider to go", func() (bool, string) {
		_, err := getProvider()
		return apierrors.IsNotFound(err), "provider still there"
	})
	if len(f.appsOwnedBy(string(two.UID))) != 0 {
		t.Error("the app of the last client still exists")
	}
	if fins := tokenFinalizers(); len(fins) != 0 {
		t.Errorf("the credentials Secret keeps finalizers %v after its provider is gone", fins)
	}
}

func describeConds(cs []metav1.Condition) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Type+"="+string(c.Status)+"/"+c.Reason+" ("+c.Message+")")
	}
	return strings.Join(parts, "; ")
}

// Issue 13.4: deleting a namespace deletes every app of its OAuthClients before their
// OAuthProvider and its credentials Secret go. envtest runs no namespace controller, so the
// test does what it does: the Namespace turns Terminating and every object in it gets a
// delete at once — here in the worst order, credentials Secret first, clients last.
func TestNamespaceDeletion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "team-token", Namespace: f.ns,
			Labels: map[string]string{controllers.LabelProviderCredentials: "true"}},
		StringData: map[string]string{"token": f.apiToken},
	})
	f.create(&oauthv1.OAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "team-okta", Namespace: f.ns},
		Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
			OrgURL: f.orgURL, APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "team-token"},
		}},
	})
	names := []string{"a", "b", "c"}
	for _, n := range names {
		f.newClient(n, func(o *oauthv1.OAuthClient) {
			o.Spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindOAuthProvider, Name: "team-okta"}
		})
	}
	var uids []string
	for _, n := range names {
		uids = append(uids, string(f.waitReady(n).UID))
	}
	f.eventually(waitTimeout, "the credentials finalizer", func() (bool, string) {
		s := &corev1.Secret{}
		_ = k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "team-token"}, s)
		return len(s.Finalizers) == 1, strings.Join(s.Finalizers, ",")
	})

	if err := k8s.Delete(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := k8s.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	if err := k8s.DeleteAllOf(ctx, &oauthv1.OAuthProvider{}, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	if err := k8s.DeleteAllOf(ctx, &oauthv1.OAuthClient{}, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	f.eventually(2*waitTimeout, "every OAuthClient, the OAuthProvider and its Secret to go", func() (bool, string) {
		var cl oauthv1.OAuthClientList
		var pl oauthv1.OAuthProviderList
		_ = k8s.List(ctx, &cl, client.InNamespace(f.ns))
		_ = k8s.List(ctx, &pl, client.InNamespace(f.ns))
		s := &corev1.Secret{}
		err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "team-token"}, s)
		return len(cl.Items) == 0 && len(pl.Items) == 0 && apierrors.IsNotFound(err),
			"clients, providers, token Secret: " + itoa(len(cl.Items)) + ", " + itoa(len(pl.Items)) + ", " + errString(err)
	})
	for i, uid := range uids {
		if apps := f.appsOwnedBy(uid); len(apps) != 0 {
			t.Errorf("OAuthClient %s: %d app(s) left in the backend", names[i], len(apps))
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func errString(err error) string {
	if err == nil {
		return "exists"
	}
	return err.Error()
}

// Issue 13.5: two OAuthClients naming one Secret, created at the same moment, end with
// one app and one owner.
func TestConflictingClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{maxConcurrent: 8})
	const rounds = 4
	for i := range rounds {
		secret := "shared-" + string(rune('a'+i))
		var wg sync.WaitGroup
		for _, n := range []string{secret + "-x", secret + "-y"} {
			wg.Go(func() {
				f.newClient(n, func(o *oauthv1.OAuthClient) {
					o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Name: secret}
				})
			})
		}
		wg.Wait()
	}
	for i := range rounds {
		secret := "shared-" + string(rune('a'+i))
		var winner, loser *oauthv1.OAuthClient
		f.eventually(waitTimeout, "one Ready and one SecretConflict for "+secret, func() (bool, string) {
			x, y := f.get(secret+"-x"), f.get(secret+"-y")
			for _, pair := range [][2]*oauthv1.OAuthClient{{x, y}, {y, x}} {
				w, l := readyCondition(pair[0]), readyCondition(pair[1])
				if w != nil && l != nil && w.Status == metav1.ConditionTrue && l.Reason == oauthv1.ReasonSecretConflict {
					winner, loser = pair[0], pair[1]
					return true, ""
				}
			}
			return false, describe(x) + " | " + describe(y)
		})
		s := f.secret(secret)
		if s == nil || !metav1.IsControlledBy(s, winner) || len(s.OwnerReferences) != 1 {
			t.Errorf("Secret %s: owners %v, want only %s", secret, s.OwnerReferences, winner.Name)
		}
		if loser.Status.AppID != "" || len(f.appsOwnedBy(string(loser.UID))) != 0 {
			t.Errorf("%s lost the Secret but has an app (%q)", loser.Name, loser.Status.AppID)
		}
		if n := len(f.appsOwnedBy(string(winner.UID))); n != 1 {
			t.Errorf("%s: %d apps, want 1", winner.Name, n)
		}
	}
	if n := f.emu.Stats().Route("POST /api/v1/apps"); n != rounds {
		t.Errorf("%d apps created for %d contested Secrets, want %d", n, rounds, rounds)
	}
}

// Issue 13.3: a manager limited with --watch-namespaces serves its namespaces — cluster and
// namespaced providers alike — through the guarded reader. (Refusals outside them:
// TestGuardedReader, TestSecretReaderRefusals; with real RBAC: test/e2e TestTenantIsolation.)
func TestWatchNamespaces(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{noManager: true})
	f.mgrOpts.WatchNamespaces = []string{f.ns}
	f.startManager()
	f.create(&oauthv1.OAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "team-okta", Namespace: f.ns},
		Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
			OrgURL: f.orgURL, APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "okta-api-token"},
		}},
	})
	f.newClient("via-cluster")
	f.newClient("via-namespaced", func(o *oauthv1.OAuthClient) {
		o.Spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindOAuthProvider, Name: "team-okta"}
	})
	for _, n := range []string{"via-cluster", "via-namespaced"} {
		obj := f.waitReady(n)
		if code, _ := f.tokenWith(f.secret(obj.SecretName()).Data); code != 200 {
			t.Errorf("%s: token request answered %d", n, code)
		}
	}
}
