package controllers_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
)

// requestLog records every request the backend (the emulator, a proxy in front of Hydra)
// received: method and path, in order.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// mark is the position to count from.
func (l *requestLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// since returns the requests after mark whose path starts with prefix, split into writes
// (anything but GET and HEAD) and the number of reads.
func (l *requestLog) since(mark int, prefix string) (writes []string, reads int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.reqs[mark:] {
		method, path, _ := strings.Cut(r, " ")
		if !strings.HasPrefix(path, prefix) {
			continue
		}
		if method == http.MethodGet || method == http.MethodHead {
			reads++
		} else {
			writes = append(writes, r)
		}
	}
	return writes, reads
}

func drifted(obj *oauthv1.OAuthClient) *metav1.Condition {
	return meta.FindStatusCondition(obj.Status.Conditions, oauthv1.ConditionDrifted)
}

// Observe against the emulator: the hand-made app's current secret is published (Okta's
// list of client secrets returns values, as the recorded TestAccDataSourceOktaAppOauth_read
// shows), the difference between spec and app is reported in Drifted, Ready is proved with
// a token — and the org's management API receives no write at all: no app update, no owner
// mark, no client secret, no revocation, no delete. Observe → Manage repairs the drift and
// marks the app; Manage → Observe stops writing; deleting an observed client leaves the app.
func TestObserveWritesNothing(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	f := newFixture(t, fixtureOptions{wrap: log.wrap})
	old := f.makeApp("Made By Hand", "client_secret_basic")
	start := log.mark()

	f.newClient("observed", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{ClientID: old.clientID}
		o.Spec.DisplayName = "Billing"
		o.Spec.ManagementPolicy = oauthv1.ManagementPolicyObserve
		// Explicit Delete: Observe must still never delete the app (see the end).
		o.Spec.DeletionPolicy = oauthv1.DeletionPolicyDelete
	})
	obj := f.waitReady("observed")
	if obj.Status.AppID != old.id || obj.Status.ClientID != old.clientID {
		t.Fatalf("status app %s client %s, want %s / %s", obj.Status.AppID, obj.Status.ClientID, old.id, old.clientID)
	}
	s := f.secret(obj.Status.SecretName)
	if s == nil || string(s.Data[controllers.KeyClientID]) != old.clientID || string(s.Data[controllers.KeyClientSecret]) != old.secret {
		t.Fatalf("the Secret does not publish the observed app's client id and current secret")
	}
	if len(s.Data[controllers.KeyTokenURL]) == 0 || len(s.Data[controllers.KeyIssuer]) == 0 {
		t.Fatalf("the Secret lacks TOKEN_URL or ISSUER: keys %v", keysOf(s.Data))
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the published Secret: %d", code)
	}
	d := drifted(obj)
	if d == nil || d.Status != metav1.ConditionTrue || !strings.Contains(d.Message, `displayName (app "Made By Hand", spec "Billing")`) {
		t.Fatalf("Drifted = %+v, want True naming displayName", d)
	}
	t.Logf("Drifted: %s", d.Message)
	// The spec changes; the app does not follow, the report does.
	f.update("observed", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Made By Hand" })
	f.eventually(waitTimeout, "Drifted False once the spec matches the app", func() (bool, string) {
		o := f.get("observed")
		d := drifted(o)
		return d != nil && d.Status == metav1.ConditionFalse && d.ObservedGeneration == o.Generation && readyForGeneration(o), describe(o)
	})
	writes, reads := log.since(start, "/api/v1/")
	if len(writes) != 0 {
		t.Fatalf("Observe wrote to the org's management API: %q", writes)
	}
	tokens, _ := log.since(start, "/oauth2/")
	t.Logf("Observe: %d management reads, 0 writes, %d token requests", reads, len(tokens))
	if reads == 0 || len(tokens) == 0 {
		t.Fatalf("reads %d, token requests %d: the observer must have read the app and proved the secret", reads, len(tokens))
	}
	if uid := f.appOwnerUID(old.id); uid != "" {
		t.Fatalf("observed app marked with owner %q; Observe must not claim it", uid)
	}

	// Observe → Manage: the drift is repaired and the app is marked as this object's.
	f.update("observed", func(o *oauthv1.OAuthClient) {
		o.Spec.ManagementPolicy = oauthv1.ManagementPolicyManage
		o.Spec.DisplayName = "Billing Managed"
	})
	f.eventually(waitTimeout, "the app repaired and owned under Manage", func() (bool, string) {
		_, app := f.app(old.id)
		o := f.get("observed")
		return app["label"] == "Billing Managed" && f.appOwnerUID(old.id) == string(o.UID) && drifted(o) == nil && readyForGeneration(o),
			fmt.Sprintf("label %v; %s", app["label"], describe(o))
	})

	// Manage → Observe: no write from here on, whatever the spec says.
	f.update("observed", func(o *oauthv1.OAuthClient) { o.Spec.ManagementPolicy = oauthv1.ManagementPolicyObserve })
	f.waitReady("observed")
	back := log.mark()
	f.update("observed", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Billing Observed Again" })
	f.eventually(waitTimeout, "Drifted True for the new displayName", func() (bool, string) {
		o := f.get("observed")
		d := drifted(o)
		return d != nil && d.Status == metav1.ConditionTrue && d.ObservedGeneration == o.Generation &&
			strings.Contains(d.Message, "Billing Observed Again") && readyForGeneration(o), describe(o)
	})
	if _, app := f.app(old.id); app["label"] != "Billing Managed" {
		t.Fatalf("label %v after Manage → Observe, want it left as Manage set it", app["label"])
	}

	// Deleting an observed client leaves the app although deletionPolicy says Delete:
	// Observe never deletes.
	f.waitDeleted(obj)
	if code, app := f.app(old.id); code != http.StatusOK || app["status"] != "ACTIVE" {
		t.Fatalf("observed app after deleting its OAuthClient: GET %d status %v, want it kept", code, app["status"])
	}
	if writes, _ := log.since(back, "/api/v1/"); len(writes) != 0 {
		t.Fatalf("after Manage → Observe the operator wrote to the org: %q", writes)
	}
}

// Two observers of one app are fine: Observe claims nothing, so neither is AlreadyOwned;
// an app with no client_credentials grant cannot be observed (NotAdoptable).
func TestObserveSharedAndNotAdoptable(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	f := newFixture(t, fixtureOptions{wrap: log.wrap})
	a := f.makeApp("Shared", "client_secret_basic")
	web := f.makeApp("Not Service", "client_secret_basic", "implicit")
	start := log.mark()
	for _, name := range []string{"first", "second"} {
		f.newClient(name, func(o *oauthv1.OAuthClient) {
			o.Spec.Adopt = &oauthv1.Adopt{AppID: a.id}
			o.Spec.DisplayName = "Shared"
			o.Spec.ManagementPolicy = oauthv1.ManagementPolicyObserve
		})
	}
	f.newClient("web", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{AppID: web.id}
		o.Spec.ManagementPolicy = oauthv1.ManagementPolicyObserve
	})
	for _, name := range []string{"first", "second"} {
		o := f.waitReady(name)
		if d := drifted(o); d == nil || d.Status != metav1.ConditionFalse {
			t.Fatalf("%s: Drifted = %+v, want False", name, d)
		}
	}
	o := f.waitReason("web", metav1.ConditionFalse, oauthv1.ReasonNotAdoptable)
	if c := readyCondition(o); !strings.Contains(c.Message, "not only client_credentials") {
		t.Fatalf("NotAdoptable message %q does not say what differs", c.Message)
	}
	if writes, _ := log.since(start, "/api/v1/"); len(writes) != 0 {
		t.Fatalf("observers wrote to the org: %q", writes)
	}
}

// readyForGeneration: Ready=True for the object's current generation.
func readyForGeneration(o *oauthv1.OAuthClient) bool {
	c := readyCondition(o)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == o.Generation && o.Status.ObservedGeneration == o.Generation
}
