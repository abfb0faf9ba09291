package controllers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// 8. Crash safety: the manager dies after Okta created the app but before the status
// recorded it. The next manager adopts that app — no duplicate, working credentials.
func TestCrashBetweenCreateAndStatusWrite(t *testing.T) {
	t.Parallel()
	created := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	f := newFixture(t, fixtureOptions{noManager: true, wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/api/v1/apps" {
				next.ServeHTTP(w, r)
				return
			}
			first := false
			once.Do(func() { first = true })
			if !first {
				next.ServeHTTP(w, r)
				return
			}
			// Okta creates the app; its answer never reaches the manager, which dies.
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			close(created)
			<-release
			http.Error(w, "connection lost", http.StatusBadGateway)
		})
	}})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	stop := f.startManager()
	f.newClient("crashy")
	select {
	case <-created:
	case <-time.After(waitTimeout):
		t.Fatal("the app was never created")
	}
	stop() // the manager dies mid-reconcile, between Okta's create and the status write
	close(release)

	obj := f.get("crashy")
	if obj.Status.AppID != "" {
		t.Fatalf("status recorded app %s; the crash came too late to test anything", obj.Status.AppID)
	}
	if obj.Status.PendingCreate == nil {
		t.Fatal("no create intent was recorded before the call")
	}
	if n := len(f.appsOwnedBy(string(obj.UID))); n != 1 {
		t.Fatalf("%d apps exist for the client after the crash, want 1", n)
	}

	f.startManager()
	obj = f.waitReady("crashy")
	owned := f.appsOwnedBy(string(obj.UID))
	if len(owned) != 1 {
		t.Fatalf("%d apps for the client after recovery, want exactly 1", len(owned))
	}
	if owned[0]["id"] != obj.Status.AppID {
		t.Errorf("status app %s is not the app created before the crash (%v)", obj.Status.AppID, owned[0]["id"])
	}
	if n := f.emu.Stats().Route("POST /api/v1/apps"); n != 1 {
		t.Errorf("POST /api/v1/apps called %d times, want 1", n)
	}
	if obj.Status.PendingCreate != nil {
		t.Error("pendingCreate still set after adoption")
	}
	s := f.secret(obj.SecretName())
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Errorf("credentials after adoption: token status %d", code)
	}
}

// 9. Rate limits and faults: with tight limits and injected 5xx, every client converges,
// the budget keeps 429s to the first burst, and the wait shows as a reason and a metric.
func TestRateLimitsAndFaults(t *testing.T) {
	t.Parallel()
	const clients = 14
	f := newFixture(t, fixtureOptions{
		maxConcurrent: 4,
		emu: oktaemu.Config{
			// Okta's windows are a minute; 10 s windows show several resets quickly.
			// Org buckets are twice what the operator's API token sees (apps 5, app 20):
			// one token may use half of each, Okta's default share.
			RateLimits: oktaemu.RateLimits{Apps: 10, App: 40, Token: 100, Window: 10 * time.Second},
			Faults:     []oktaemu.Fault{{PathPrefix: "/api/v1/apps", Prob503: 0.3}, {PathPrefix: "/oauth2/default/v1/token", Prob500: 0.2}},
		},
	})
	waitsBefore := counterValue(t, "clientcreds_reconcile_rate_limit_waits_total")
	for i := range clients {
		f.newClient(fmt.Sprintf("burst-%02d", i))
	}
	var sawRateLimited atomic.Bool
	deadline := time.Now().Add(2 * time.Minute)
	for i := range clients {
		name := fmt.Sprintf("burst-%02d", i)
		f.eventually(time.Until(deadline), name+" Ready", func() (bool, string) {
			var list oauthv1.OAuthClientList
			if err := k8s.List(f.ctx, &list); err == nil {
				for _, o := range list.Items {
					for _, c := range o.Status.Conditions {
						if c.Reason == oauthv1.ReasonRateLimited {
							sawRateLimited.Store(true)
						}
					}
				}
			}
			obj := f.get(name)
			c := readyCondition(obj)
			return c != nil && c.Status == metav1.ConditionTrue, describe(obj)
		})
	}
	stats := f.emu.Stats()
	t.Logf("emulator: %d requests, %d answered 429, %d faults injected, %d creates",
		stats.Total, stats.RateLimited, stats.FaultsInjected, stats.Route("POST /api/v1/apps"))
	if stats.FaultsInjected == 0 {
		t.Error("no fault was injected; the test proved nothing about faults")
	}
	// Before the first answer tells the budget the limit, at most the concurrent
	// reconciles can overshoot; after that the budget holds requests back.
	if stats.RateLimited > 4 {
		t.Errorf("the emulator answered %d requests with 429; the budget should keep that to the first burst (≤ 4)", stats.RateLimited)
	}
	if !sawRateLimited.Load() {
		t.Error("no client ever showed reason RateLimited while waiting")
	}
	if waits := counterValue(t, "clientcreds_reconcile_rate_limit_waits_total") - waitsBefore; waits == 0 {
		t.Error("clientcreds_reconcile_rate_limit_waits_total did not move")
	}
	// The checks below list apps themselves; they must not eat the budget.
	f.emu.SetRateLimits(oktaemu.RateLimits{Apps: -1, App: -1, Token: -1, Other: -1})
	if err := f.emu.SetFaults(nil); err != nil {
		t.Fatal(err)
	}
	var list oauthv1.OAuthClientList
	if err := k8s.List(f.ctx, &list); err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Items {
		if o.Namespace != f.ns {
			continue
		}
		if n := len(f.appsOwnedBy(string(o.UID))); n != 1 {
			t.Errorf("%s has %d apps, want 1", o.Name, n)
		}
		if code, _ := f.tokenWith(f.secret(o.SecretName()).Data); code != http.StatusOK {
			t.Errorf("%s: token with its Secret: %d", o.Name, code)
		}
	}
}

func counterValue(t *testing.T, name string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += counterOf(m)
		}
	}
	return sum
}

func counterOf(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}

// 10. Bad input: a missing provider, a missing API-token Secret, a refused token → Ready=False
// with a reason naming what is missing and no app created; a Secret name taken by someone
// else → Stalled, the foreign Secret untouched.
func TestBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})

	noTokenProvider := f.ns + "-notoken"
	badTokenProvider := f.ns + "-badtoken"
	for name, secret := range map[string]string{noTokenProvider: "missing-token", badTokenProvider: "bad-token"} {
		f.create(&oauthv1.ClusterOAuthProvider{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: f.labels()},
			Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
				OrgURL: f.orgURL, APITokenSecretRef: oauthv1.SecretKeyReference{Name: secret, Namespace: f.ns},
			}},
		})
		t.Cleanup(func() {
			_ = k8s.Delete(f.ctx, &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: name}})
		})
	}
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bad-token", Namespace: f.ns},
		StringData: map[string]string{"token": "00not-the-right-token"}})
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "taken-oauth-client", Namespace: f.ns},
		StringData: map[string]string{"mine": "do not touch"}})

	ref := func(kind, name string) func(*oauthv1.OAuthClient) {
		return func(o *oauthv1.OAuthClient) { o.Spec.ProviderRef = oauthv1.ProviderReference{Kind: kind, Name: name} }
	}
	f.newClient("no-provider", ref(oauthv1.KindClusterOAuthProvider, "does-not-exist"))
	f.newClient("no-ns-provider", ref(oauthv1.KindOAuthProvider, "does-not-exist"))
	f.newClient("no-token", ref(oauthv1.KindClusterOAuthProvider, noTokenProvider))
	f.newClient("bad-token", ref(oauthv1.KindClusterOAuthProvider, badTokenProvider))
	f.newClient("taken")

	tests := map[string]struct {
		client, reason, mention string
		stalled                 bool
	}{
		"missing provider":       {"no-provider", oauthv1.ReasonProviderNotFound, `ClusterOAuthProvider "does-not-exist" not found`, false},
		"missing namespaced one": {"no-ns-provider", oauthv1.ReasonProviderNotFound, `OAuthProvider "does-not-exist" not found`, false},
		"missing API-token":      {"no-token", oauthv1.ReasonAPITokenSecretNotFound, "missing-token not found", false},
		"refused API token":      {"bad-token", oauthv1.ReasonInvalidAPIToken, "refused the API token", false},
		"Secret name taken":      {"taken", oauthv1.ReasonSecretConflict, "taken-oauth-client already exists", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := f.sub(t)
			obj := f.waitReason(tc.client, metav1.ConditionFalse, tc.reason)
			msg := readyCondition(obj).Message
			if !strings.Contains(msg, tc.mention) {
				t.Errorf("message %q does not mention %q", msg, tc.mention)
			}
			stalled := false
			for _, c := range obj.Status.Conditions {
				if c.Type == oauthv1.ConditionStalled && c.Status == metav1.ConditionTrue {
					stalled = true
				}
			}
			if stalled != tc.stalled {
				t.Errorf("Stalled = %v, want %v (%s)", stalled, tc.stalled, describe(obj))
			}
			if obj.Status.AppID != "" || len(f.appsOwnedBy(string(obj.UID))) != 0 {
				t.Error("an app was created for a client with bad input")
			}
		})
	}
	if n := f.emu.Stats().Route("POST /api/v1/apps"); n != 0 {
		t.Errorf("%d app creations for clients with bad input, want 0", n)
	}
	f.eventually(10*time.Second, "a SecretConflict warning event", func() (bool, string) {
		reasons := f.eventReasons("taken")
		return slices.Contains(reasons, "Warning/SecretConflict"), fmt.Sprint(reasons)
	})
	foreign := f.secret("taken-oauth-client")
	if string(foreign.Data["mine"]) != "do not touch" || len(foreign.Data) != 1 || len(foreign.OwnerReferences) != 0 || len(foreign.Labels) != 0 {
		t.Errorf("the foreign Secret was modified: %v %v %v", keysOf(foreign.Data), foreign.OwnerReferences, foreign.Labels)
	}

	// Fixing the input heals the client without touching it.
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "missing-token", Namespace: f.ns},
		StringData: map[string]string{"token": f.apiToken}})
	f.waitReady("no-token")
}
