package controllers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
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

// hostileOrg is a tenant's "Okta org": an emulator, so the provider's health check passes,
// behind a front that answers an app create by the label's word — a 64 MiB answer
// ("huge"), a redirect to another loopback host ("redirect"), no answer ("slow"), a Link
// header that does not parse ("badlink"), or a 503 after which the operator's adoption
// search gets a next link smuggling another host into the org URL ("smuggle").
type hostileOrg struct {
	emu      http.Handler
	attacker string
	release  chan struct{}
}

func (h *hostileOrg) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/v1/apps" && r.Method == http.MethodGet && strings.Contains(r.URL.Query().Get("q"), "smuggle") {
		w.Header().Set("Link", `<@`+h.attacker+`/api/v1/apps?after=x>; rel="next"`)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
		return
	}
	if r.URL.Path != "/api/v1/apps" || r.Method != http.MethodPost {
		h.emu.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var app struct {
		Label string `json:"label"`
	}
	_ = json.Unmarshal(body, &app)
	switch {
	case strings.Contains(app.Label, "huge"):
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat(`"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",`, 2048))
		_, _ = w.Write([]byte("["))
		for written := 0; written < 64<<20; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = w.Write([]byte(`"a"]`))
	case strings.Contains(app.Label, "redirect"):
		http.Redirect(w, r, "http://"+h.attacker+"/api/v1/apps", http.StatusTemporaryRedirect)
	case strings.Contains(app.Label, "slow"):
		select {
		case <-r.Context().Done():
		case <-h.release:
		}
	case strings.Contains(app.Label, "badlink"):
		w.Header().Set("Link", `<%zz>; rel="next"`)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	case strings.Contains(app.Label, "smuggle"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"errorCode":"E0000009","errorSummary":"Internal Server Error"}`))
	default:
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.emu.ServeHTTP(w, r)
	}
}

// reconcilePanics sums controller-runtime's reconcile panic counter over every controller
// of the test binary.
func reconcilePanics(t *testing.T) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range families {
		if mf.GetName() == "controller_runtime_reconcile_panics_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// Issue 27, done-when: the manager survives a hostile org serving huge, slow, redirecting
// and link-smuggling answers, with two tenants: the hostile tenant's OAuthProvider and
// clients, and the other tenant's clients of the ClusterOAuthProvider, which keep
// reconciling (new ones become Ready, a spec change is applied). No request reaches the
// attacker's host and no reconcile panics.
func TestManagerSurvivesHostileOrg(t *testing.T) {
	t.Parallel()
	panicsBefore := reconcilePanics(t)
	var err error
	// The attacker's host is a loopback address of its own on port 80, so that a smuggled
	// link can name it without a port, as "@attacker.example/..." would: with a port, the
	// link does not parse as a URL.
	var attackerLn net.Listener
	for range 10 {
		ip := fmt.Sprintf("127.%d.%d.%d", 30+rand.IntN(200), rand.IntN(250), 1+rand.IntN(250))
		if attackerLn, err = net.Listen("tcp", ip+":80"); err == nil {
			break
		}
	}
	if err != nil {
		t.Skipf("cannot listen on a loopback address on port 80: %v", err)
	}
	var attackerHits atomic.Int64
	attacker := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attackerHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = attacker.Serve(attackerLn) }()
	t.Cleanup(func() { _ = attacker.Close() })

	const evilToken = "00evil-tenant-token"
	emu, err := oktaemu.New(oktaemu.Config{APIToken: evilToken})
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileOrg{emu: emu, attacker: strings.TrimSuffix(attackerLn.Addr().String(), ":80"), release: make(chan struct{})}
	evil := httptest.NewServer(h)
	t.Cleanup(func() { _ = emu.Close() })
	t.Cleanup(evil.Close)
	t.Cleanup(func() { close(h.release) })
	emu.SetOrgURL(evil.URL)

	f := newFixture(t, fixtureOptions{})
	f.newClient("good-1")
	f.waitReady("good-1")

	f.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "evil-token", Namespace: f.ns,
			Labels: map[string]string{controllers.LabelProviderCredentials: "true"}},
		StringData: map[string]string{"token": evilToken},
	})
	f.create(&oauthv1.OAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "evil", Namespace: f.ns},
		Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
			OrgURL: evil.URL, APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "evil-token"},
		}},
	})
	want := map[string]string{
		"evil-huge":     oauthv1.ReasonResponseTooLarge,
		"evil-redirect": oauthv1.ReasonRedirectRefused,
		"evil-badlink":  oauthv1.ReasonBackendRejected,
		"evil-smuggle":  oauthv1.ReasonBackendRejected,
	}
	for _, name := range []string{"evil-huge", "evil-redirect", "evil-slow", "evil-badlink", "evil-smuggle"} {
		f.newClient(name, func(o *oauthv1.OAuthClient) {
			o.Spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindOAuthProvider, Name: "evil"}
		})
	}
	for name, reason := range want {
		obj := f.waitReason(name, metav1.ConditionFalse, reason)
		t.Logf("%s: %s", name, readyCondition(obj).Message)
	}
	if msg := readyCondition(f.get("evil-huge")).Message; !strings.Contains(msg, "POST /api/v1/apps") || !strings.Contains(msg, "4194304") {
		t.Errorf("evil-huge's message %q does not name the endpoint and the limit", msg)
	}
	if msg := readyCondition(f.get("evil-smuggle")).Message; !strings.Contains(msg, "outside the listing") {
		t.Errorf("evil-smuggle's message %q does not say the link left the listing", msg)
	}

	// The other tenant keeps reconciling while the hostile org is at it.
	f.newClient("good-2")
	f.update("good-1", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "good one, renamed" })
	f.waitReady("good-2")
	f.waitReady("good-1")
	if s := f.secret("good-2-oauth-client"); s == nil || len(s.Data[controllers.KeyClientSecret]) == 0 {
		t.Error("good-2 has no Secret with a client secret")
	}
	if c := readyCondition(f.get("evil-slow")); c != nil && c.Status == metav1.ConditionTrue {
		t.Error("evil-slow is Ready against an org that never answered")
	}

	if n := attackerHits.Load(); n != 0 {
		t.Errorf("the attacker's host got %d requests, want 0", n)
	}
	if n := reconcilePanics(t) - panicsBefore; n != 0 {
		t.Errorf("%v reconciles panicked", n)
	}
}
