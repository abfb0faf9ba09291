package controllers_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

func oauthClientSettings(app map[string]any) map[string]any {
	s, _ := app["settings"].(map[string]any)
	oc, _ := s["oauthClient"].(map[string]any)
	return oc
}

func oauthClientCredentials(app map[string]any) map[string]any {
	c, _ := app["credentials"].(map[string]any)
	oc, _ := c["oauthClient"].(map[string]any)
	return oc
}

// 1. Create: the app exists and is active, the Secret holds exactly the contract's keys,
// a token request with exactly those values succeeds, and the status says where it all is.
func TestCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("billing", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Billing Service" })
	obj := f.waitReady("billing")

	// What one create costs: the provider's health check aside (it proves the API token
	// with GET /api/v1/apps?limit=1), one management call and one token request.
	stats := f.emu.Stats() // before the test itself calls the emulator
	mgmt := int64(0)
	for route, n := range stats.ByRoute {
		if strings.Contains(route, "/api/v1/apps") && route != "GET /api/v1/apps" {
			mgmt += n
		}
	}
	if n := stats.Route("GET /api/v1/apps"); n != 1 {
		t.Errorf("GET /api/v1/apps was called %d times, want once (the provider's health check)", n)
	}
	t.Logf("one create: %d app-API call(s), %d token request(s); all requests: %v", mgmt, stats.Route("POST /oauth2/{as}/v1/token"), stats.ByRoute)
	if mgmt != 1 || stats.Route("POST /api/v1/apps") != 1 {
		t.Errorf("one create cost %d app-API calls, want 1 (POST /api/v1/apps)", mgmt)
	}
	if n := stats.Route("POST /oauth2/{as}/v1/token"); n != 1 {
		t.Errorf("one create made %d token requests, want 1", n)
	}

	st := obj.Status
	if st.AppID == "" || st.ClientID == "" {
		t.Fatalf("status lacks app or client id: %+v", st)
	}
	if want := f.orgURL + "/oauth2/default"; st.Issuer != want {
		t.Errorf("status.issuer = %q, want %q", st.Issuer, want)
	}
	if st.TokenURL != f.tokenURL || st.SecretName != "billing-oauth-client" || st.ObservedGeneration != obj.Generation {
		t.Errorf("status = %+v", st)
	}

	s := f.secret("billing-oauth-client")
	if s == nil {
		t.Fatal("Secret billing-oauth-client missing")
	}
	var keys []string
	for k := range s.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"AUTH_METHOD", "CLIENT_ID", "CLIENT_SECRET", "ISSUER", "SCOPE", "TOKEN_URL"}; !slices.Equal(keys, want) {
		t.Errorf("Secret keys = %v, want %v", keys, want)
	}
	for k, want := range map[string]string{
		"CLIENT_ID": st.ClientID, "TOKEN_URL": f.tokenURL, "ISSUER": st.Issuer, "SCOPE": "hello:read", "AUTH_METHOD": "client_secret_basic",
	} {
		if got := string(s.Data[k]); got != want {
			t.Errorf("Secret %s = %q, want %q", k, got, want)
		}
	}
	if !metav1.IsControlledBy(s, obj) {
		t.Errorf("Secret is not controlled by the OAuthClient: %v", s.OwnerReferences)
	}
	if code, tok := f.tokenWith(s.Data); code != http.StatusOK || tok == "" {
		t.Fatalf("token request with the Secret's values: status %d", code)
	}

	code, app := f.app(st.AppID)
	if code != http.StatusOK {
		t.Fatalf("GET app: %d", code)
	}
	if app["status"] != "ACTIVE" || app["label"] != "Billing Service" {
		t.Errorf("app status %v label %v, want ACTIVE, Billing Service", app["status"], app["label"])
	}
	if cred := oauthClientCredentials(app); cred["client_id"] != st.ClientID || cred["client_secret"] != nil {
		t.Errorf("app credentials = %v", cred)
	}
	if got := oauthClientSettings(app)["grant_types"]; !slices.Equal(toStrings(got), []string{"client_credentials"}) {
		t.Errorf("app grant_types = %v", got)
	}
	f.eventually(10*time.Second, "event AppCreated", func() (bool, string) {
		reasons := f.eventReasons("billing")
		return slices.Contains(reasons, "Normal/AppCreated"), fmt.Sprint(reasons)
	})
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// Ready is only True once a token request with the stored credentials succeeds.
func TestNotReadyUntilTokenWorks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("unknown-scope", func(o *oauthv1.OAuthClient) { o.Spec.Scopes = []string{"no:such-scope"} })
	obj := f.waitReason("unknown-scope", metav1.ConditionFalse, oauthv1.ReasonInvalidScope)
	if !strings.Contains(readyCondition(obj).Message, "no:such-scope") {
		t.Errorf("message %q does not name the scope", readyCondition(obj).Message)
	}
	if obj.Status.ClientID == "" || f.secret(obj.SecretName()) == nil {
		t.Error("app and Secret should exist even though the token request fails")
	}
}

// 2. Spec changes update the app in place only when it differs; the client id never changes.
func TestSpecChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{emu: oktaemu.Config{Scopes: []string{"hello:read", "hello:write"}}})
	f.newClient("svc")
	first := f.waitReady("svc")
	puts := func() int64 { return f.emu.Stats().Route("PUT /api/v1/apps/{id}") }
	if puts() != 0 {
		t.Fatalf("%d PUTs before any change", puts())
	}

	f.update("svc", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Renamed Service" })
	obj := f.waitReady("svc")
	if _, app := f.app(obj.Status.AppID); app["label"] != "Renamed Service" {
		t.Errorf("label = %v after the display name changed", app["label"])
	}
	if puts() != 1 {
		t.Errorf("%d PUTs after a display-name change, want 1", puts())
	}

	f.update("svc", func(o *oauthv1.OAuthClient) { o.Spec.Scopes = []string{"hello:read", "hello:write"} })
	f.waitReady("svc")
	s := f.secret("svc-oauth-client")
	if got := string(s.Data["SCOPE"]); got != "hello:read hello:write" {
		t.Errorf("SCOPE = %q", got)
	}
	if puts() != 1 {
		t.Errorf("a scope change (nothing to change on the app) caused a PUT: %d PUTs", puts())
	}

	f.update("svc", func(o *oauthv1.OAuthClient) { o.Spec.TokenEndpointAuthMethod = oauthv1.AuthClientSecretPost })
	obj = f.waitReady("svc")
	_, app := f.app(obj.Status.AppID)
	if m := oauthClientCredentials(app)["token_endpoint_auth_method"]; m != "client_secret_post" {
		t.Errorf("app auth method = %v", m)
	}
	f.eventually(waitTimeout, "Secret AUTH_METHOD=client_secret_post", func() (bool, string) {
		s = f.secret("svc-oauth-client")
		return string(s.Data["AUTH_METHOD"]) == "client_secret_post", string(s.Data["AUTH_METHOD"])
	})
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Errorf("token request with client_secret_post: %d", code)
	}

	// To private_key_jwt and back: a key pair replaces the secret, then a secret the key.
	postData := s.Data
	f.update("svc", func(o *oauthv1.OAuthClient) { o.Spec.TokenEndpointAuthMethod = oauthv1.AuthPrivateKeyJWT })
	f.waitReady("svc")
	s = f.secret("svc-oauth-client")
	if string(s.Data["AUTH_METHOD"]) != "private_key_jwt" || len(s.Data["PRIVATE_KEY"]) == 0 || s.Data["CLIENT_SECRET"] != nil {
		t.Fatalf("Secret after the switch to private_key_jwt has keys %v", keysOf(s.Data))
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Errorf("token with private_key_jwt after the switch: %d", code)
	}
	if code, _ := f.tokenWith(postData); code != http.StatusUnauthorized {
		t.Errorf("the client secret still works after the switch to private_key_jwt: %d", code)
	}
	f.update("svc", func(o *oauthv1.OAuthClient) { o.Spec.TokenEndpointAuthMethod = oauthv1.AuthClientSecretBasic })
	obj = f.waitReady("svc")
	s = f.secret("svc-oauth-client")
	if string(s.Data["AUTH_METHOD"]) != "client_secret_basic" || len(s.Data["CLIENT_SECRET"]) == 0 || s.Data["PRIVATE_KEY"] != nil {
		t.Fatalf("Secret after the switch back has keys %v", keysOf(s.Data))
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Errorf("token with client_secret_basic after the switch back: %d", code)
	}
	_, app = f.app(obj.Status.AppID)
	if jwks, _ := oauthClientSettings(app)["jwks"].(map[string]any); jwks != nil && len(jwks["keys"].([]any)) > 0 {
		t.Errorf("the app still has the public key after the switch back: %v", jwks)
	}

	if obj.Status.ClientID != first.Status.ClientID || obj.Status.AppID != first.Status.AppID {
		t.Errorf("client id changed from %s to %s", first.Status.ClientID, obj.Status.ClientID)
	}
	if n := f.emu.Stats().Route("POST /api/v1/apps"); n != 1 {
		t.Errorf("%d apps created, want 1", n)
	}
}

// A namespaced OAuthProvider serves the clients of its namespace; its status reports what
// the health check discovered.
func TestNamespacedProvider(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.create(&oauthv1.OAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "team-okta", Namespace: f.ns},
		Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
			OrgURL: f.orgURL, APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "okta-api-token"},
		}},
	})
	f.newClient("team", func(o *oauthv1.OAuthClient) {
		o.Spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindOAuthProvider, Name: "team-okta"}
	})
	obj := f.waitReady("team")
	if code, _ := f.tokenWith(f.secret(obj.SecretName()).Data); code != http.StatusOK {
		t.Errorf("token: %d", code)
	}
	p := &oauthv1.OAuthProvider{}
	if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "team-okta"}, p); err != nil {
		t.Fatal(err)
	}
	issuer := f.orgURL + "/oauth2/default"
	if p.Status.Issuer != issuer || p.Status.TokenURL != issuer+"/v1/token" || p.Status.JWKSURL != issuer+"/v1/keys" {
		t.Errorf("provider status: issuer %q token %q jwks %q", p.Status.Issuer, p.Status.TokenURL, p.Status.JWKSURL)
	}
	if p.Status.LastCheckTime == nil || p.Status.ObservedGeneration != p.Generation {
		t.Errorf("provider status: lastCheckTime %v observedGeneration %d", p.Status.LastCheckTime, p.Status.ObservedGeneration)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == oauthv1.ConditionReady && c.Status != metav1.ConditionTrue {
			t.Errorf("provider Ready = %s: %s", c.Status, c.Message)
		}
	}
}

// 3. Delete: finalizer → deactivate → delete; Orphan leaves the app; a missing app is fine.
func TestDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("gone")
	f.newClient("kept", func(o *oauthv1.OAuthClient) { o.Spec.DeletionPolicy = oauthv1.DeletionPolicyOrphan })
	f.newClient("already-gone")
	gone, kept, already := f.waitReady("gone"), f.waitReady("kept"), f.waitReady("already-gone")
	if !slices.Contains(gone.Finalizers, controllers.Finalizer) {
		t.Fatalf("finalizers = %v", gone.Finalizers)
	}

	// Someone removes an app in the console before its OAuthClient is deleted.
	if code, _ := f.mgmt(http.MethodPost, "/api/v1/apps/"+already.Status.AppID+"/lifecycle/deactivate", nil); code != http.StatusOK {
		t.Fatalf("deactivate: %d", code)
	}
	if code, _ := f.mgmt(http.MethodDelete, "/api/v1/apps/"+already.Status.AppID, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}

	for _, o := range []*oauthv1.OAuthClient{gone, kept, already} {
		if err := k8s.Delete(f.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []*oauthv1.OAuthClient{gone, kept, already} {
		f.eventually(waitTimeout, o.Name+" to be deleted", func() (bool, string) {
			cur := &oauthv1.OAuthClient{}
			err := k8s.Get(f.ctx, client.ObjectKeyFromObject(o), cur)
			return apierrors.IsNotFound(err), describe(cur)
		})
	}
	if code, _ := f.app(gone.Status.AppID); code != http.StatusNotFound {
		t.Errorf("app of the deleted client: GET %d, want 404", code)
	}
	if s := f.secret("gone-oauth-client"); s != nil {
		t.Error("Secret of the deleted client still exists")
	}
	code, app := f.app(kept.Status.AppID)
	if code != http.StatusOK || app["status"] != "ACTIVE" {
		t.Errorf("orphaned app: GET %d status %v, want 200 ACTIVE", code, app["status"])
	}
	s := f.secret("kept-oauth-client")
	if s == nil {
		t.Fatal("Secret of the orphaned app was deleted")
	}
	if len(s.OwnerReferences) != 0 {
		t.Errorf("orphaned Secret still has owners %v (the garbage collector would delete it)", s.OwnerReferences)
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Errorf("orphaned credentials stopped working: %d", code)
	}
}

// 4. A deleted or edited Secret is restored with a freshly minted secret and the same
// client id. An edited Secret's old value stops working at once. A deleted Secret's keeps
// working for RestoreGracePeriod, or the rotation's grace period when shorter: pods that
// mount the Secret hold it until kubelet syncs the restored one.
func TestSecretRestored(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	deleteSecret := func(s *corev1.Secret) {
		if err := k8s.Delete(f.ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	shortGrace := func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: 24 * time.Hour},
			GracePeriod: &metav1.Duration{Duration: 3 * time.Second}}
	}
	tests := map[string]struct {
		damage func(s *corev1.Secret)
		spec   func(o *oauthv1.OAuthClient)
		// oldKept is how long the old value keeps working after the restore; 0: at once.
		oldKept time.Duration
	}{
		"deleted":                     {damage: deleteSecret, oldKept: controllers.RestoreGracePeriod},
		"deleted, short grace period": {damage: deleteSecret, spec: shortGrace, oldKept: 3 * time.Second},
		"edited": {damage: func(s *corev1.Secret) {
			s.Data["CLIENT_SECRET"] = []byte("tampered-value-0123456789")
			if err := k8s.Update(f.ctx, s); err != nil {
				t.Fatal(err)
			}
		}},
		"key removed": {damage: func(s *corev1.Secret) {
			delete(s.Data, "CLIENT_SECRET")
			if err := k8s.Update(f.ctx, s); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := f.sub(t)
			cname := strings.NewReplacer(" ", "-", ",", "").Replace(name)
			if tc.spec != nil {
				f.newClient(cname, tc.spec)
			} else {
				f.newClient(cname)
			}
			obj := f.waitReady(cname)
			before := f.secret(obj.SecretName())
			oldData := before.Data
			tc.damage(before.DeepCopy())
			var after *corev1.Secret
			f.eventually(waitTimeout, "Secret restored with a new client secret", func() (bool, string) {
				after = f.secret(obj.SecretName())
				if after == nil {
					return false, "no Secret"
				}
				v := string(after.Data["CLIENT_SECRET"])
				return v != "" && v != string(oldData["CLIENT_SECRET"]) && v != "tampered-value-0123456789", "CLIENT_SECRET unchanged"
			})
			if string(after.Data["CLIENT_ID"]) != obj.Status.ClientID {
				t.Errorf("client id changed: %s → %s", obj.Status.ClientID, after.Data["CLIENT_ID"])
			}
			if code, _ := f.tokenWith(after.Data); code != http.StatusOK {
				t.Errorf("restored credentials: token status %d", code)
			}
			if tc.oldKept >= time.Minute {
				// Status names the retirement; until then both values work.
				var restored *oauthv1.OAuthClient
				f.eventually(waitTimeout, "status to record the restore", func() (bool, string) {
					restored = f.get(cname)
					return restored.Status.SecretID != obj.Status.SecretID && restored.Status.LastRotationTime != nil, describe(restored)
				})
				if ra := restored.Status.RetireAfter; ra == nil || ra.Sub(restored.Status.LastRotationTime.Time) != tc.oldKept {
					t.Fatalf("retireAfter %v, want lastRotationTime %v + %v", ra, restored.Status.LastRotationTime, tc.oldKept)
				}
				if code, _ := f.tokenWith(oldData); code != http.StatusOK {
					t.Errorf("the deleted Secret's value stopped working within its grace period: %d", code)
				}
				if n := f.activeSecrets(obj.Status.AppID); n != 2 {
					t.Errorf("%d active client secrets in the grace period, want 2", n)
				}
			} else {
				f.eventually(waitTimeout, "the old secret to stop working", func() (bool, string) {
					code, _ := f.tokenWith(oldData)
					return code == http.StatusUnauthorized, http.StatusText(code)
				})
				f.eventually(waitTimeout, "status to record the retirement", func() (bool, string) {
					o := f.get(cname)
					return o.Status.RetireAfter == nil, describe(o)
				})
			}
			f.waitReady(cname)
		})
	}
}

// 5. Drift in Okta — the app edited or deleted in the console — is found by the periodic
// resync and repaired; the Secret follows.
func TestDriftRepaired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{resyncPeriod: 2 * time.Second})
	f.newClient("edited", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Edited App" })
	f.newClient("deleted")
	f.newClient("revoked")
	edited, deleted, revoked := f.waitReady("edited"), f.waitReady("deleted"), f.waitReady("revoked")
	revokedSecret := f.secret(revoked.SecretName()).Data

	// The console replaces one app's client secret: a new one is added, the published one
	// deactivated and deleted.
	secretsPath := "/api/v1/apps/" + revoked.Status.AppID + "/credentials/secrets"
	code, added := f.mgmt(http.MethodPost, secretsPath, map[string]any{})
	if code != http.StatusCreated {
		t.Fatalf("create secret in the console: %d", code)
	}
	_, list := f.mgmtList(secretsPath)
	for _, s := range list {
		id := s.(map[string]any)["id"].(string)
		if id == added["id"] {
			continue
		}
		f.mgmt(http.MethodPost, secretsPath+"/"+id+"/lifecycle/deactivate", nil)
		if code, _ := f.mgmt(http.MethodDelete, secretsPath+"/"+id, nil); code != http.StatusNoContent {
			t.Fatalf("delete the published secret: %d", code)
		}
	}
	if code, _ := f.tokenWith(revokedSecret); code != http.StatusUnauthorized {
		t.Fatalf("the revoked secret still gets tokens: %d", code)
	}

	// The console renames one app and deactivates it ...
	_, app := f.app(edited.Status.AppID)
	app["label"] = "Renamed In Console"
	if code, body := f.mgmt(http.MethodPut, "/api/v1/apps/"+edited.Status.AppID, app); code != http.StatusOK {
		t.Fatalf("PUT app: %d %v", code, body)
	}
	if code, _ := f.mgmt(http.MethodPost, "/api/v1/apps/"+edited.Status.AppID+"/lifecycle/deactivate", nil); code != http.StatusOK {
		t.Fatal("deactivate failed")
	}
	// ... and deletes the other.
	f.mgmt(http.MethodPost, "/api/v1/apps/"+deleted.Status.AppID+"/lifecycle/deactivate", nil)
	if code, _ := f.mgmt(http.MethodDelete, "/api/v1/apps/"+deleted.Status.AppID, nil); code != http.StatusNoContent {
		t.Fatal("delete failed")
	}

	f.eventually(waitTimeout, "the edited app to be repaired", func() (bool, string) {
		_, app := f.app(edited.Status.AppID)
		return app["label"] == "Edited App" && app["status"] == "ACTIVE", app["label"].(string) + " " + app["status"].(string)
	})
	if s := f.secret(edited.SecretName()); s != nil {
		if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
			t.Errorf("token after repair: %d", code)
		}
	}

	f.eventually(waitTimeout, "new credentials for the client whose secret was revoked", func() (bool, string) {
		s := f.secret(revoked.SecretName())
		if string(s.Data["CLIENT_SECRET"]) == string(revokedSecret["CLIENT_SECRET"]) {
			return false, "CLIENT_SECRET unchanged"
		}
		code, _ := f.tokenWith(s.Data)
		return code == http.StatusOK, http.StatusText(code)
	})
	if got := f.get("revoked").Status.ClientID; got != revoked.Status.ClientID {
		t.Errorf("client id changed from %s to %s", revoked.Status.ClientID, got)
	}

	var now *oauthv1.OAuthClient
	f.eventually(waitTimeout, "the deleted app to be recreated", func() (bool, string) {
		now = f.get("deleted")
		return now.Status.AppID != "" && now.Status.AppID != deleted.Status.AppID && readyCondition(now).Status == metav1.ConditionTrue, describe(now)
	})
	if code, _ := f.app(now.Status.AppID); code != http.StatusOK {
		t.Errorf("new app: GET %d", code)
	}
	f.eventually(waitTimeout, "the Secret to follow the new app", func() (bool, string) {
		s := f.secret(now.SecretName())
		if string(s.Data["CLIENT_ID"]) != now.Status.ClientID {
			return false, "CLIENT_ID " + string(s.Data["CLIENT_ID"])
		}
		code, _ := f.tokenWith(s.Data)
		return code == http.StatusOK, http.StatusText(code)
	})
}

// 6. Rotation: a second secret is published, the old one keeps working through the grace
// period and is then deactivated and deleted.
func TestRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("rotating", func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{
			Interval: metav1.Duration{Duration: 12 * time.Second}, GracePeriod: &metav1.Duration{Duration: 5 * time.Second},
		}
	})
	obj := f.waitReady("rotating")
	first := f.secret(obj.SecretName()).Data
	created := obj.Status.LastRotationTime

	var second map[string][]byte
	f.eventually(30*time.Second, "a rotation", func() (bool, string) {
		s := f.secret(obj.SecretName())
		second = s.Data
		// Throughout, a token can be had with whatever the Secret holds.
		if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
			t.Errorf("token with the published secret failed: %d", code)
		}
		return string(s.Data["CLIENT_SECRET"]) != string(first["CLIENT_SECRET"]), "not rotated yet"
	})
	f.eventually(10*time.Second, "status.lastRotationTime to move", func() (bool, string) {
		rotated := f.get("rotating")
		lr := rotated.Status.LastRotationTime
		return lr != nil && lr.After(created.Time), describe(rotated)
	})
	if string(second["CLIENT_ID"]) != string(first["CLIENT_ID"]) {
		t.Error("rotation changed the client id")
	}
	// Grace period: both work.
	if code, _ := f.tokenWith(first); code != http.StatusOK {
		t.Errorf("old secret refused during the grace period: %d", code)
	}
	if code, _ := f.tokenWith(second); code != http.StatusOK {
		t.Errorf("new secret refused: %d", code)
	}
	f.eventually(20*time.Second, "the old secret to be revoked after the grace period", func() (bool, string) {
		code, _ := f.tokenWith(first)
		return code == http.StatusUnauthorized, http.StatusText(code)
	})
	if code, _ := f.tokenWith(second); code != http.StatusOK {
		t.Errorf("new secret refused after the grace period: %d", code)
	}
	code, body := f.mgmtList("/api/v1/apps/" + obj.Status.AppID + "/credentials/secrets")
	if code != http.StatusOK || len(body) != 1 {
		t.Errorf("secrets after rotation: %d, %d secrets, want 1", code, len(body))
	}
}

// 7. private_key_jwt: the operator makes the key pair, registers the public key and
// publishes the private key; a signed client assertion gets a token.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("signer", func(o *oauthv1.OAuthClient) { o.Spec.TokenEndpointAuthMethod = oauthv1.AuthPrivateKeyJWT })
	obj := f.waitReady("signer")
	s := f.secret(obj.SecretName())
	if _, ok := s.Data["CLIENT_SECRET"]; ok {
		t.Error("a private_key_jwt Secret has CLIENT_SECRET")
	}
	if len(s.Data["PRIVATE_KEY"]) == 0 || len(s.Data["KEY_ID"]) == 0 {
		t.Fatalf("Secret lacks PRIVATE_KEY/KEY_ID: keys %v", keysOf(s.Data))
	}
	if string(s.Data["AUTH_METHOD"]) != "private_key_jwt" || obj.Status.KeyID != string(s.Data["KEY_ID"]) {
		t.Errorf("AUTH_METHOD %s, status.keyID %s, KEY_ID %s", s.Data["AUTH_METHOD"], obj.Status.KeyID, s.Data["KEY_ID"])
	}
	_, app := f.app(obj.Status.AppID)
	jwks, _ := oauthClientSettings(app)["jwks"].(map[string]any)
	keys, _ := jwks["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["kid"] != string(s.Data["KEY_ID"]) {
		t.Errorf("app jwks = %v", jwks)
	}
	if _, hasD := keys[0].(map[string]any)["d"]; hasD {
		t.Error("the app holds the private key")
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with a signed client assertion: %d", code)
	}

	// Deleting the Secret issues a new key and retires the old one.
	old := s.Data
	if err := k8s.Delete(f.ctx, s); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "a new key", func() (bool, string) {
		n := f.secret(obj.SecretName())
		return n != nil && string(n.Data["KEY_ID"]) != string(old["KEY_ID"]), "same key"
	})
	f.waitReady("signer")
	if code, _ := f.tokenWith(f.secret(obj.SecretName()).Data); code != http.StatusOK {
		t.Errorf("token with the new key: %d", code)
	}
	if code, _ := f.tokenWith(old); code != http.StatusUnauthorized {
		t.Errorf("token with the removed key: %d, want 401", code)
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
