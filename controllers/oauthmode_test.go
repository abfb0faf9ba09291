package controllers_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// These tests run the operator in OAuth mode (spec.okta.oauth): it reaches the emulator's
// management API as an API service app, with tokens from the emulator's org authorization
// server ({orgURL}/oauth2/v1/token, private_key_jwt + DPoP, RFC 9449).

const operatorKeySecret = "okta-operator-key"

// serviceApp registers an API service app for the operator in the emulator, through the
// management API as an admin would in the console (Okta's createApplication,
// and grantConsentToScope operations): a private_key_jwt service app with DPoP-bound tokens
// and the public key of a new key pair, granted scopes. (The emulator decides by scopes
// alone; it has no admin roles for apps.) It returns the client id and the key pair.
func (f *fixture) serviceApp(scopes ...string) (clientID string, key *oauth2client.KeyPair) {
	f.t.Helper()
	key, err := oauth2client.GenerateKey()
	if err != nil {
		f.t.Fatal(err)
	}
	storeKeyValues(key.PrivateKeyPEM)
	var jwk map[string]any
	if err := json.Unmarshal(key.Public.JWK, &jwk); err != nil {
		f.t.Fatal(err)
	}
	code, app := f.mgmt(http.MethodPost, "/api/v1/apps?activate=true", map[string]any{
		"name": "oidc_client", "label": "operator-" + f.ns, "signOnMode": "OPENID_CONNECT",
		"credentials": map[string]any{"oauthClient": map[string]any{"token_endpoint_auth_method": "private_key_jwt"}},
		"settings": map[string]any{"oauthClient": map[string]any{
			"application_type": "service", "grant_types": []string{"client_credentials"}, "response_types": []string{"token"},
			"dpop_bound_access_tokens": true, "jwks": map[string]any{"keys": []any{jwk}},
		}},
	})
	if code != http.StatusOK && code != http.StatusCreated {
		f.t.Fatalf("create the operator's service app: %d %v", code, app)
	}
	appID, _ := app["id"].(string)
	clientID, _ = oauthClientCredentials(app)["client_id"].(string)
	if clientID == "" {
		clientID = appID
	}
	for _, s := range scopes {
		if code, body := f.mgmt(http.MethodPost, "/api/v1/apps/"+appID+"/grants", map[string]any{"issuer": f.orgURL, "scopeId": s}); code/100 != 2 {
			f.t.Fatalf("grant %s: %d %v", s, code, body)
		}
	}
	return clientID, key
}

// putOperatorKey creates or replaces the private-key Secret.
func (f *fixture) putOperatorKey(pemKey []byte) {
	f.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: operatorKeySecret, Namespace: f.ns},
		Data: map[string][]byte{"private.pem": pemKey}}
	err := k8s.Create(f.ctx, s)
	if apierrors.IsAlreadyExists(err) {
		err = k8s.Update(f.ctx, s)
	}
	if err != nil {
		f.t.Fatalf("put the operator's key Secret: %v", err)
	}
}

// useOAuth switches the fixture's provider from the API token to the service app.
func (f *fixture) useOAuth(clientID string, pemKey []byte, keyID string, scopes ...string) {
	f.t.Helper()
	f.putOperatorKey(pemKey)
	f.updateProvider(func(p *oauthv1.ClusterOAuthProvider) {
		p.Spec.Okta.APITokenSecretRef = nil
		p.Spec.Okta.OAuth = &oauthv1.OktaOAuth{
			ClientID:            clientID,
			PrivateKeySecretRef: oauthv1.PrivateKeySecretReference{Name: operatorKeySecret, Namespace: f.ns},
			KeyID:               keyID,
			Scopes:              scopes,
		}
	})
}

func (f *fixture) getProvider() *oauthv1.ClusterOAuthProvider {
	f.t.Helper()
	p := &oauthv1.ClusterOAuthProvider{}
	if err := k8s.Get(f.ctx, client.ObjectKey{Name: f.provider}, p); err != nil {
		f.t.Fatalf("get provider: %v", err)
	}
	return p
}

func (f *fixture) updateProvider(mutate func(*oauthv1.ClusterOAuthProvider)) {
	f.t.Helper()
	for i := 0; ; i++ {
		p := f.getProvider()
		mutate(p)
		err := k8s.Update(f.ctx, p)
		if err == nil {
			return
		}
		if i > 20 {
			f.t.Fatalf("update provider: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recheckProvider asks for a health check now (the reconciler watches annotations).
func (f *fixture) recheckProvider() {
	f.t.Helper()
	f.updateProvider(func(p *oauthv1.ClusterOAuthProvider) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations["test.clientcreds.dev/recheck"] = fmt.Sprint(time.Now().UnixNano())
	})
}

// waitProvider waits until the provider's Ready condition has status and reason for its
// current generation, and returns the condition.
func (f *fixture) waitProvider(status metav1.ConditionStatus, reason string) metav1.Condition {
	f.t.Helper()
	var c *metav1.Condition
	f.eventually(waitTimeout, fmt.Sprintf("provider Ready=%s %s", status, reason), func() (bool, string) {
		p := f.getProvider()
		c = meta.FindStatusCondition(p.Status.Conditions, oauthv1.ConditionReady)
		if c == nil {
			return false, "no Ready condition"
		}
		return c.Status == status && c.Reason == reason && c.ObservedGeneration == p.Generation,
			fmt.Sprintf("%s/%s gen %d/%d: %s", c.Status, c.Reason, c.ObservedGeneration, p.Generation, c.Message)
	})
	return *c
}

// oauthTraffic sits in front of the emulator and records what the operator sent and got:
// the Authorization scheme of its management calls (the SDK's User-Agent names clientcreds;
// the tests' own admin calls do not), the org token endpoint's answers, and the DPoP
// challenges of the management API. With shortLifetime set it tells the operator that org
// tokens live that many seconds (the emulator issues them for an hour, Okta's fixed
// lifetime, and keeps checking each one), so the operator renews them mid-run.
type oauthTraffic struct {
	shortLifetime int

	mu             sync.Mutex
	schemes        map[string]int // Authorization scheme of the operator's management calls
	tokenAnswers   map[string]int // "200", "400 use_dpop_nonce", ...
	nonceChallenge int            // management answers 401 use_dpop_nonce
	refused        int            // other 401/403 management answers
}

func (o *oauthTraffic) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isToken := r.Method == http.MethodPost && r.URL.Path == "/oauth2/v1/token"
		isMgmt := strings.HasPrefix(r.URL.Path, "/api/") && strings.Contains(r.UserAgent(), "clientcreds")
		if !isToken && !isMgmt {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		o.mu.Lock()
		if isMgmt {
			scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			o.schemes[scheme]++
			if rec.Code == http.StatusUnauthorized && strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
				o.nonceChallenge++
			} else if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
				o.refused++
			}
		}
		if isToken {
			var answer map[string]any
			_ = json.Unmarshal(body, &answer)
			key := fmt.Sprint(rec.Code)
			if e, ok := answer["error"].(string); ok {
				key += " " + e
			}
			o.tokenAnswers[key]++
			if rec.Code == http.StatusOK && o.shortLifetime > 0 {
				answer["expires_in"] = o.shortLifetime
				body, _ = json.Marshal(answer)
			}
		}
		o.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

func (o *oauthTraffic) snapshot() (schemes, tokenAnswers map[string]int, nonceChallenges, refused int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.schemes), maps.Clone(o.tokenAnswers), o.nonceChallenge, o.refused
}

// The whole OAuthClient lifecycle with the provider in OAuth mode: create, update, restore,
// rotation, delete — every management call with a DPoP-bound token, none with the API
// token, nonce challenges of the org authorization server and of the management API
// answered, and tokens renewed mid-run.
func TestOAuthModeLifecycle(t *testing.T) {
	t.Parallel()
	traffic := &oauthTraffic{shortLifetime: 4, schemes: map[string]int{}, tokenAnswers: map[string]int{}}
	f := newFixture(t, fixtureOptions{wrap: traffic.wrap, emu: oktaemu.Config{DPoPResourceNonce: true}})
	clientID, key := f.serviceApp("okta.apps.manage")
	f.useOAuth(clientID, key.PrivateKeyPEM, key.Public.KeyID)
	ready := f.waitProvider(metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	// Nonces the management API handed out before are void from now on.
	f.emu.RotateDPoPNonces()
	// Calls made before the switch used the API token; count from here.
	sswsBefore := func() int { s, _, _, _ := traffic.snapshot(); return s["SSWS"] }()
	if strings.Contains(ready.Message, "API token") {
		t.Errorf("provider message %q speaks of an API token in OAuth mode", ready.Message)
	}
	// From here on the API token must not be needed: take it away.
	if err := k8s.Delete(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "okta-api-token", Namespace: f.ns}}); err != nil {
		t.Fatal(err)
	}

	// Create.
	f.newClient("svc", func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: 15 * time.Second}, GracePeriod: &metav1.Duration{Duration: 4 * time.Second}}
	})
	obj := f.waitReady("svc")
	first := f.secret(obj.SecretName()).Data
	if code, _ := f.tokenWith(first); code != http.StatusOK {
		t.Fatalf("token with the published credentials: %d", code)
	}

	// Update.
	f.update("svc", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Renamed in OAuth mode" })
	obj = f.waitReady("svc")
	if _, app := f.app(obj.Status.AppID); app["label"] != "Renamed in OAuth mode" {
		t.Errorf("label = %v after the display name changed", app["label"])
	}

	// Restore: a deleted Secret comes back with a new client secret.
	if err := k8s.Delete(f.ctx, f.secret(obj.SecretName())); err != nil {
		t.Fatal(err)
	}
	var restored map[string][]byte
	f.eventually(waitTimeout, "the Secret restored", func() (bool, string) {
		s := f.secret(obj.SecretName())
		if s == nil {
			return false, "no Secret"
		}
		restored = s.Data
		return len(s.Data["CLIENT_SECRET"]) > 0 && string(s.Data["CLIENT_SECRET"]) != string(first["CLIENT_SECRET"]), "same secret"
	})
	if code, _ := f.tokenWith(restored); code != http.StatusOK {
		t.Errorf("token with the restored credentials: %d", code)
	}

	// Rotation.
	f.eventually(45*time.Second, "a rotation", func() (bool, string) {
		s := f.secret(obj.SecretName())
		if s == nil {
			return false, "no Secret"
		}
		return string(s.Data["CLIENT_SECRET"]) != string(restored["CLIENT_SECRET"]), "not rotated yet"
	})
	obj = f.waitReady("svc")
	if code, _ := f.tokenWith(f.secret(obj.SecretName()).Data); code != http.StatusOK {
		t.Errorf("token with the rotated credentials: %d", code)
	}

	// Delete.
	if err := k8s.Delete(f.ctx, obj); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "the OAuthClient to be deleted", func() (bool, string) {
		err := k8s.Get(f.ctx, client.ObjectKeyFromObject(obj), &oauthv1.OAuthClient{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if code, _ := f.app(obj.Status.AppID); code != http.StatusNotFound {
		t.Errorf("app of the deleted client: GET %d, want 404", code)
	}

	schemes, tokenAnswers, challenges, refused := traffic.snapshot()
	t.Logf("operator's management calls by scheme %v; org token endpoint answers %v; management nonce challenges %d; other refusals %d",
		schemes, tokenAnswers, challenges, refused)
	if schemes["SSWS"] != sswsBefore {
		t.Errorf("%d management calls with the API token after the switch to OAuth", schemes["SSWS"]-sswsBefore)
	}
	if schemes["DPoP"] < 5 {
		t.Errorf("%d management calls with a DPoP token, want the whole lifecycle's", schemes["DPoP"])
	}
	if tokenAnswers["400 use_dpop_nonce"] < 1 {
		t.Errorf("the org authorization server's nonce challenge was never met: %v", tokenAnswers)
	}
	// A token said to live 4s, and a lifecycle of well over 10s (the rotation alone waits
	// 15s): the operator renewed it mid-run, before using it past its time — no management
	// call was refused.
	if tokenAnswers["200"] < 2 {
		t.Errorf("%d tokens issued, want a renewal during the run", tokenAnswers["200"])
	}
	if refused != 0 {
		t.Errorf("%d management calls refused (401/403 other than a nonce challenge)", refused)
	}
	for k, n := range tokenAnswers {
		if k != "200" && k != "400 use_dpop_nonce" {
			t.Errorf("org token endpoint answered %s %d times", k, n)
		}
	}
	if challenges < 1 {
		t.Error("the management API's nonce challenge was never met")
	}
}

// Refusals of the operator's own OAuth credentials each have their own reason, on the
// provider and on the OAuthClients that use it, with a message that says what to fix.
func TestOAuthModeRefusals(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		grant      []string // scopes granted to the service app
		wrongKey   bool     // the Secret holds a key that is not registered on the app
		wrongKeyID bool
		wantReason string
		wantInMsg  string
	}{
		"scope not granted": {grant: []string{"okta.apps.read"}, wantReason: oauthv1.ReasonOAuthScopeNotGranted, wantInMsg: "Okta API Scopes"},
		"no scope granted":  {wantReason: oauthv1.ReasonOAuthScopeNotGranted, wantInMsg: "okta.apps.manage"},
		"wrong key":         {grant: []string{"okta.apps.manage"}, wrongKey: true, wantReason: oauthv1.ReasonOAuthClientRejected, wantInMsg: "public key"},
		"wrong key id":      {grant: []string{"okta.apps.manage"}, wrongKeyID: true, wantReason: oauthv1.ReasonOAuthClientRejected, wantInMsg: "key id"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			clientID, key := f.serviceApp(tc.grant...)
			pemKey, kid := key.PrivateKeyPEM, key.Public.KeyID
			if tc.wrongKey {
				other, err := oauth2client.GenerateKey()
				if err != nil {
					t.Fatal(err)
				}
				storeKeyValues(other.PrivateKeyPEM)
				pemKey = other.PrivateKeyPEM
			}
			if tc.wrongKeyID {
				kid = "not-the-kid"
			}
			f.useOAuth(clientID, pemKey, kid)
			c := f.waitProvider(metav1.ConditionFalse, tc.wantReason)
			t.Logf("provider Ready=False %s: %s", c.Reason, c.Message)
			if !strings.Contains(c.Message, tc.wantInMsg) {
				t.Errorf("message %q does not say %q", c.Message, tc.wantInMsg)
			}
			f.newClient("waits")
			f.waitReason("waits", metav1.ConditionFalse, tc.wantReason)
		})
	}
}

// Replacing the private key in its Secret is picked up without a restart: a key the app does
// not know is refused, a registered one is accepted again.
func TestOAuthModeKeyReplaced(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	clientID, key := f.serviceApp("okta.apps.manage")
	f.useOAuth(clientID, key.PrivateKeyPEM, "")
	f.waitProvider(metav1.ConditionTrue, oauthv1.ReasonSucceeded)

	other, err := oauth2client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	storeKeyValues(other.PrivateKeyPEM)
	f.putOperatorKey(other.PrivateKeyPEM)
	// The registry reads the Secret again after SecretTTL (1s here); a health check follows
	// the annotation.
	time.Sleep(1100 * time.Millisecond)
	f.recheckProvider()
	f.waitProvider(metav1.ConditionFalse, oauthv1.ReasonOAuthClientRejected)

	f.putOperatorKey([]byte("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"))
	time.Sleep(1100 * time.Millisecond)
	f.recheckProvider()
	f.waitProvider(metav1.ConditionFalse, oauthv1.ReasonPrivateKeyInvalid)

	f.putOperatorKey(key.PrivateKeyPEM)
	time.Sleep(1100 * time.Millisecond)
	f.recheckProvider()
	f.waitProvider(metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	f.newClient("after")
	f.waitReady("after")
}

// storeKeyValues adds a PEM key to the leak check: the whole PEM and each of its base64
// lines, so the key is found even where a log escapes its line breaks.
func storeKeyValues(pemKey []byte) {
	secretValues.Store(string(pemKey), true)
	for _, line := range strings.Split(string(pemKey), "\n") {
		if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
			secretValues.Store(line, true)
		}
	}
}

// A provider whose scopes let it read apps but not manage them is healthy (the health check
// only lists apps), and its OAuthClients say which scope is missing when the management API
// refuses to create their app (403 insufficient_scope).
func TestOAuthModeReadOnlyScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	clientID, key := f.serviceApp("okta.apps.read")
	f.useOAuth(clientID, key.PrivateKeyPEM, "", "okta.apps.read")
	f.waitProvider(metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	created := func() int64 {
		st := f.emu.Stats()
		return st.RouteStatus("POST /api/v1/apps", http.StatusCreated) + st.RouteStatus("POST /api/v1/apps", http.StatusOK)
	}
	before := created() // the service app itself
	f.newClient("cannot-create")
	obj := f.waitReason("cannot-create", metav1.ConditionFalse, oauthv1.ReasonOAuthScopeNotGranted)
	if msg := readyCondition(obj).Message; !strings.Contains(msg, "okta.apps.manage") {
		t.Errorf("message %q does not name the missing scope", msg)
	}
	if n := created() - before; n != 0 {
		t.Errorf("%d apps created with a read-only token", n)
	}
	if n := f.emu.Stats().RouteStatus("POST /api/v1/apps", http.StatusForbidden); n == 0 {
		t.Error("the create was never refused: the test did not exercise the missing scope")
	}
}

// swappable serves whichever emulator instance is current, so a test can restart the
// emulator at the same URL.
type swappable struct{ h atomic.Pointer[http.Handler] }

func (s *swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }

// The org authorization server stops accepting the operator's access token before its
// expiry (the emulator restarts with its state but a new signing key, as Okta may revoke
// a token early): the operator gets a new token and the call goes through, without a
// condition turning False.
func TestOAuthModeTokenRefusedMidRun(t *testing.T) {
	t.Parallel()
	sw := &swappable{}
	stateFile := t.TempDir() + "/emulator-state.json"
	apiToken := "00test" + randHex(16)
	cfg := oktaemu.Config{APIToken: apiToken, StateFile: stateFile}
	f := newFixture(t, fixtureOptions{emu: cfg, wrap: func(h http.Handler) http.Handler {
		sw.h.Store(&h)
		return sw
	}})
	clientID, key := f.serviceApp("okta.apps.manage")
	f.useOAuth(clientID, key.PrivateKeyPEM, "")
	f.waitProvider(metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	f.newClient("before")
	f.waitReady("before")

	// Restart: same state file (apps, secrets, grants), new org signing key.
	if err := f.emu.Close(); err != nil {
		t.Fatal(err)
	}
	next, err := oktaemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = next.Close() })
	next.SetOrgURL(f.orgURL)
	var h http.Handler = next
	sw.h.Store(&h)

	f.newClient("after")
	f.waitReady("after")
	st := next.Stats()
	if n := st.Status(http.StatusUnauthorized); n == 0 {
		t.Error("the restarted emulator never refused the old token: the test did not exercise a refused token")
	}
	if n := st.RouteStatus("POST /oauth2/v1/token", http.StatusOK); n == 0 {
		t.Error("no new token was issued after the restart")
	}
	if c := readyCondition(f.get("before")); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("the first client lost Ready: %s", describe(f.get("before")))
	}
}
