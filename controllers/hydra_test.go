package controllers_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/hydra"
	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
)

// The same guarantees as with Okta, against a real Ory Hydra: the controllers name no
// backend; only the provider's spec.hydra differs.

type hydraFixture struct {
	*fixture
	hydra *hydratest.Server
	// admin is a backend client of the same Hydra, for looking at and editing clients as
	// an administrator would.
	admin *hydra.Client
}

func newHydraFixture(t *testing.T, resync time.Duration, noManager bool) *hydraFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the control plane (envtest); skipped with -short")
	}
	hs := hydratest.Start(t, hydratest.Options{})
	// The fixture's emulator and Okta provider are unused; the Hydra provider replaces it.
	f := newFixture(t, fixtureOptions{noManager: true, resyncPeriod: resync})
	f.provider = f.ns + "-hydra"
	f.create(&oauthv1.ClusterOAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: f.provider, Labels: f.labels()},
		Spec:       oauthv1.OAuthProviderSpec{Hydra: &oauthv1.HydraProvider{AdminURL: hs.AdminURL, Issuer: hs.Issuer}},
	})
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: f.provider}})
	})
	admin, err := hydra.New(hydra.Config{AdminURL: hs.AdminURL, Issuer: hs.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	if !noManager {
		f.startManager()
	}
	return &hydraFixture{fixture: f, hydra: hs, admin: admin}
}

// rawClient reads a client as Hydra has it (status 404: nil).
func (h *hydraFixture) rawClient(id string) map[string]any {
	h.t.Helper()
	resp, err := http.Get(h.hydra.AdminURL + "/admin/clients/" + url.PathEscape(id))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var c map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *hydraFixture) adminPut(id string, c map[string]any) {
	h.t.Helper()
	b, _ := json.Marshal(c)
	req, _ := http.NewRequest(http.MethodPut, h.hydra.AdminURL+"/admin/clients/"+url.PathEscape(id), strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("edit client %s in hydra: %d", id, resp.StatusCode)
	}
}

func TestHydraClientLifecycle(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 2*time.Second, false)
	h.newClient("billing", func(o *oauthv1.OAuthClient) {
		o.Spec.Scopes = []string{"hello:read", "orders:write"}
		o.Spec.Audiences = []string{"https://orders.example"}
		o.Spec.DisplayName = "Billing Service"
	})
	obj := h.waitReady("billing")
	s := h.secret(obj.Status.SecretName)
	if s == nil || string(s.Data[controllers.KeyClientID]) != obj.Status.ClientID || !strings.HasSuffix(string(s.Data[controllers.KeyTokenURL]), "/oauth2/token") ||
		string(s.Data[controllers.KeyIssuer]) != h.hydra.Issuer {
		t.Fatalf("Secret = %v", s)
	}
	if code, tok := h.tokenWith(s.Data); code != http.StatusOK || strings.Count(tok, ".") != 2 {
		t.Fatalf("token with the Secret: %d (JWT: %v)", code, strings.Count(tok, ".") == 2)
	}
	c := h.rawClient(obj.Status.AppID)
	mk, _ := c["metadata"].(map[string]any)["clientcreds"].(map[string]any)
	if c["client_name"] != "Billing Service" || c["scope"] != "hello:read orders:write" || mk["uid"] != string(obj.UID) ||
		mk["namespace"] != h.ns || mk["name"] != "billing" {
		t.Fatalf("hydra client = %v", c)
	}
	if aud, _ := c["audience"].([]any); len(aud) != 1 || aud[0] != "https://orders.example" {
		t.Fatalf("hydra client audience = %v", c["audience"])
	}

	t.Run("update", func(t *testing.T) {
		h := &hydraFixture{fixture: h.sub(t), hydra: h.hydra, admin: h.admin}
		h.update("billing", func(o *oauthv1.OAuthClient) { o.Spec.Scopes = []string{"hello:read"} })
		h.waitReady("billing")
		h.eventually(waitTimeout, "the scope change in hydra", func() (bool, string) {
			c := h.rawClient(obj.Status.AppID)
			return c["scope"] == "hello:read", c["scope"].(string)
		})
	})

	t.Run("drift is put back", func(t *testing.T) {
		h := &hydraFixture{fixture: h.sub(t), hydra: h.hydra, admin: h.admin}
		c := h.rawClient(obj.Status.AppID)
		c["scope"] = "admin"
		c["grant_types"] = []string{"client_credentials", "authorization_code"}
		h.adminPut(obj.Status.AppID, c)
		h.eventually(waitTimeout, "the edit in hydra to be repaired", func() (bool, string) {
			c := h.rawClient(obj.Status.AppID)
			g, _ := json.Marshal(c["grant_types"])
			return c["scope"] == "hello:read" && string(g) == `["client_credentials"]`, c["scope"].(string) + " " + string(g)
		})
	})

	t.Run("Secret deleted is restored with the same client id", func(t *testing.T) {
		h := &hydraFixture{fixture: h.sub(t), hydra: h.hydra, admin: h.admin}
		old := h.secret(obj.Status.SecretName)
		if err := k8s.Delete(h.ctx, old); err != nil {
			t.Fatal(err)
		}
		var restored *corev1.Secret
		h.eventually(waitTimeout, "the Secret to be restored", func() (bool, string) {
			restored = h.secret(obj.Status.SecretName)
			return restored != nil && restored.UID != old.UID, "absent"
		})
		h.waitReady("billing")
		if string(restored.Data[controllers.KeyClientID]) != obj.Status.ClientID {
			t.Fatalf("restored client id %s, want %s", restored.Data[controllers.KeyClientID], obj.Status.ClientID)
		}
		if code, _ := h.tokenWith(restored.Data); code != http.StatusOK {
			t.Fatalf("token with the restored Secret: %d", code)
		}
		if code, _ := h.tokenWith(old.Data); code == http.StatusOK {
			t.Fatal("the deleted Secret's secret still works")
		}
	})

	t.Run("client deleted in hydra is recreated", func(t *testing.T) {
		h := &hydraFixture{fixture: h.sub(t), hydra: h.hydra, admin: h.admin}
		before := h.get("billing").Status.AppID
		if err := h.admin.DeleteApp(h.ctx, before); err != nil {
			t.Fatal(err)
		}
		var now *oauthv1.OAuthClient
		h.eventually(waitTimeout, "a new client", func() (bool, string) {
			now = h.get("billing")
			return now.Status.AppID != "" && now.Status.AppID != before && h.rawClient(now.Status.AppID) != nil, describe(now)
		})
		now = h.waitReady("billing")
		if code, _ := h.tokenWith(h.secret(now.Status.SecretName).Data); code != http.StatusOK {
			t.Fatalf("token after recreation: %d", code)
		}
	})

	t.Run("deletion removes the client", func(t *testing.T) {
		h := &hydraFixture{fixture: h.sub(t), hydra: h.hydra, admin: h.admin}
		id := h.get("billing").Status.AppID
		if err := k8s.Delete(h.ctx, h.get("billing")); err != nil {
			t.Fatal(err)
		}
		h.eventually(waitTimeout, "the OAuthClient to be gone", func() (bool, string) {
			err := k8s.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "billing"}, &oauthv1.OAuthClient{})
			return client.IgnoreNotFound(err) == nil && err != nil, "present"
		})
		if h.rawClient(id) != nil {
			t.Fatalf("hydra client %s still exists after deletion", id)
		}
	})
}

func TestHydraPrivateKeyJWTAndOrphan(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, false)
	h.newClient("signer", func(o *oauthv1.OAuthClient) {
		o.Spec.TokenEndpointAuthMethod = oauthv1.AuthPrivateKeyJWT
		o.Spec.DeletionPolicy = oauthv1.DeletionPolicyOrphan
	})
	obj := h.waitReady("signer")
	s := h.secret(obj.Status.SecretName)
	if _, has := s.Data[controllers.KeyClientSecret]; has || len(s.Data[controllers.KeyPrivateKey]) == 0 {
		t.Fatal("a private_key_jwt Secret must hold a private key and no client secret")
	}
	if code, _ := h.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with a client assertion: %d", code)
	}
	if err := k8s.Delete(h.ctx, obj); err != nil {
		t.Fatal(err)
	}
	h.eventually(waitTimeout, "the OAuthClient to be gone", func() (bool, string) {
		err := k8s.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "signer"}, &oauthv1.OAuthClient{})
		return client.IgnoreNotFound(err) == nil && err != nil, "present"
	})
	if h.rawClient(obj.Status.AppID) == nil {
		t.Fatal("deletionPolicy Orphan: the hydra client must stay")
	}
}

// A crash between the create call and the status write: the next manager finds the client
// by its marker and adopts it — one client, not two.
func TestHydraCrashSafeCreate(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, true)
	obj := h.newClient("crashy")
	// What the crashed attempt left: the intent in status, the client in Hydra.
	obj.Status.PendingCreate = &oauthv1.PendingCreate{Label: obj.Label(), Since: metav1.Now()}
	if err := k8s.Status().Update(h.ctx, obj); err != nil {
		t.Fatal(err)
	}
	left, err := h.admin.CreateApp(h.ctx, provider.AppSpec{Label: obj.Label(), AuthMethod: provider.AuthClientSecretBasic,
		Owner: provider.Owner{UID: string(obj.UID), Namespace: h.ns, Name: "crashy"}, Scopes: obj.Spec.Scopes})
	if err != nil {
		t.Fatal(err)
	}
	h.startManager()
	got := h.waitReady("crashy")
	if got.Status.AppID != left.ID {
		t.Fatalf("status names client %s, want the adopted %s", got.Status.AppID, left.ID)
	}
	apps, err := h.admin.FindApps(h.ctx, obj.Label())
	if err != nil || len(apps) != 1 {
		t.Fatalf("clients named %q: %d (%v); want exactly 1", obj.Label(), len(apps), err)
	}
	if code, _ := h.tokenWith(h.secret(got.Status.SecretName).Data); code != http.StatusOK {
		t.Fatalf("token after adoption: %d", code)
	}
}

// What a backend cannot do is refused before any call, with a reason (Okta: audiences per
// client); what it can do another way is accepted (Hydra: rotation by a new client, see
// TestHydraRotationByNewClient; a backend that can do neither is refused, see
// TestCapabilitiesDecide).
func TestBackendCapabilitiesRefuse(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, false)
	h.newClient("rotating", func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: 24 * time.Hour}}
	})
	got := h.waitReady("rotating")
	if apps, _ := h.admin.FindApps(h.ctx, got.Label()); len(apps) != 1 || got.Status.ClientGeneration != 0 {
		t.Fatalf("a rotating client on hydra: %d hydra client(s), generation %d; want 1 client of generation 0", len(apps), got.Status.ClientGeneration)
	}

	o := newFixture(t, fixtureOptions{})
	o.newClient("aud", func(c *oauthv1.OAuthClient) { c.Spec.Audiences = []string{"api://x"} })
	got = o.waitReason("aud", metav1.ConditionFalse, oauthv1.ReasonUnsupportedByBackend)
	if c := readyCondition(got); !strings.Contains(c.Message, "spec.audiences") || got.Status.AppID != "" {
		t.Fatalf("Okta with audiences: %s, app %q", c.Message, got.Status.AppID)
	}
}

// The admin API's credentials come from Secrets under the same rules as Okta's: a bearer
// token or a client certificate (mutual TLS), in the provider's namespace and labelled for
// an OAuthProvider. A refused token and an unreachable admin API get named reasons.
func TestHydraAdminAuth(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, false)
	admin, _ := url.Parse(h.hydra.AdminURL)
	const token = "hydra-admin-token-0123456789"
	bearer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"error":"unauthorized","error_description":"bearer token required"}`, http.StatusUnauthorized)
			return
		}
		httputil.NewSingleHostReverseProxy(admin).ServeHTTP(w, r)
	}))
	t.Cleanup(bearer.Close)

	clientCertPEM, clientKeyPEM, clientCert := selfSignedClientCert(t)
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	mtls := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(admin))
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	mtls.StartTLS()
	t.Cleanup(mtls.Close)
	serverCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mtls.Certificate().Raw})

	credLabels := map[string]string{controllers.LabelProviderCredentials: "true"}
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hydra-token", Namespace: h.ns, Labels: credLabels},
		StringData: map[string]string{"token": token}})
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hydra-wrong-token", Namespace: h.ns, Labels: credLabels},
		StringData: map[string]string{"token": "not-the-token"}})
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hydra-client-tls", Namespace: h.ns, Labels: credLabels},
		Data: map[string][]byte{"tls.crt": clientCertPEM, "tls.key": clientKeyPEM, "ca.crt": serverCA}})

	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	providers := map[string]struct {
		hydra      oauthv1.HydraProvider
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		"bearer": {hydra: oauthv1.HydraProvider{AdminURL: bearer.URL, Issuer: h.hydra.Issuer,
			Auth: &oauthv1.HydraAuth{BearerTokenSecretRef: &oauthv1.SecretKeyReference{Name: "hydra-token"}}},
			wantStatus: metav1.ConditionTrue, wantReason: oauthv1.ReasonSucceeded},
		"mtls": {hydra: oauthv1.HydraProvider{AdminURL: mtls.URL, Issuer: h.hydra.Issuer,
			Auth: &oauthv1.HydraAuth{ClientCertificateSecretRef: &oauthv1.SecretReference{Name: "hydra-client-tls"}}},
			wantStatus: metav1.ConditionTrue, wantReason: oauthv1.ReasonSucceeded},
		"wrong-token": {hydra: oauthv1.HydraProvider{AdminURL: bearer.URL, Issuer: h.hydra.Issuer,
			Auth: &oauthv1.HydraAuth{BearerTokenSecretRef: &oauthv1.SecretKeyReference{Name: "hydra-wrong-token"}}},
			wantStatus: metav1.ConditionFalse, wantReason: oauthv1.ReasonInvalidAPIToken},
		"no-token": {hydra: oauthv1.HydraProvider{AdminURL: bearer.URL, Issuer: h.hydra.Issuer},
			wantStatus: metav1.ConditionFalse, wantReason: oauthv1.ReasonInvalidAPIToken},
		"unreachable": {hydra: oauthv1.HydraProvider{AdminURL: deadURL, Issuer: h.hydra.Issuer},
			wantStatus: metav1.ConditionFalse, wantReason: oauthv1.ReasonUnreachable},
	}
	for name, tc := range providers {
		hp := tc.hydra
		h.create(&oauthv1.OAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
			Spec: oauthv1.OAuthProviderSpec{Hydra: &hp}})
	}
	for name, tc := range providers {
		t.Run(name, func(t *testing.T) {
			h := &hydraFixture{fixture: h.sub(t), hydra: h.hydra, admin: h.admin}
			h.eventually(waitTimeout, fmt.Sprintf("OAuthProvider %s Ready=%s %s", name, tc.wantStatus, tc.wantReason), func() (bool, string) {
				p := &oauthv1.OAuthProvider{}
				if err := k8s.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, p); err != nil {
					return false, err.Error()
				}
				c := meta.FindStatusCondition(p.Status.Conditions, oauthv1.ConditionReady)
				if c == nil {
					return false, "no Ready condition"
				}
				if strings.Contains(c.Message, token) {
					t.Fatalf("the provider's condition carries the admin token")
				}
				return c.Status == tc.wantStatus && c.Reason == tc.wantReason, c.Reason + ": " + c.Message
			})
			if tc.wantStatus != metav1.ConditionTrue {
				return
			}
			h.newClient("via-"+name, func(o *oauthv1.OAuthClient) {
				o.Spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindOAuthProvider, Name: name}
			})
			obj := h.waitReady("via-" + name)
			if code, _ := h.tokenWith(h.secret(obj.Status.SecretName).Data); code != http.StatusOK {
				t.Fatalf("token through the %s provider's client: %d", name, code)
			}
		})
	}
}

// selfSignedClientCert makes a TLS client certificate (ECDSA P-256) valid for an hour.
func selfSignedClientCert(t *testing.T) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "clientcreds-operator"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), cert
}

// hydraMadeClient creates a client in Hydra as an administrator would, outside the operator;
// Hydra answers with its secret.
func (h *hydraFixture) hydraMadeClient(c map[string]any) (id, secret string) {
	h.t.Helper()
	b, _ := json.Marshal(c)
	resp, err := http.Post(h.hydra.AdminURL+"/admin/clients", "application/json", strings.NewReader(string(b)))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("create client in hydra: %d %v", resp.StatusCode, out["error_description"])
	}
	id, _ = out["client_id"].(string)
	secret, _ = out["client_secret"].(string)
	secretValues.Store(secret, true)
	return id, secret
}

// Adopt by client id against a real Hydra: the client is marked as the OAuthClient's and
// made to match the spec, and the Secret gets a token. Hydra keeps one secret per client,
// so the client's previous secret stops working at once (no grace period on Hydra).
func TestHydraAdopt(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, false)
	id, oldSecret := h.hydraMadeClient(map[string]any{
		"client_name": "made by hand", "grant_types": []string{"client_credentials"}, "response_types": []string{"token"},
		"scope": "admin", "token_endpoint_auth_method": "client_secret_basic",
	})
	webID, _ := h.hydraMadeClient(map[string]any{
		"client_name": "web app", "grant_types": []string{"authorization_code", "client_credentials"},
		"response_types": []string{"code"}, "redirect_uris": []string{"https://app.example/callback"},
	})
	h.newClient("adopted", func(o *oauthv1.OAuthClient) { o.Spec.Adopt = &oauthv1.Adopt{ClientID: id} })
	h.newClient("web", func(o *oauthv1.OAuthClient) { o.Spec.Adopt = &oauthv1.Adopt{ClientID: webID} })

	obj := h.waitReady("adopted")
	s := h.secret(obj.Status.SecretName)
	if obj.Status.AppID != id || string(s.Data[controllers.KeyClientID]) != id {
		t.Fatalf("status app %s, Secret client id %s; want %s", obj.Status.AppID, s.Data[controllers.KeyClientID], id)
	}
	if code, _ := h.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the Secret: %d", code)
	}
	c := h.rawClient(id)
	mk, _ := c["metadata"].(map[string]any)["clientcreds"].(map[string]any)
	if mk["uid"] != string(obj.UID) || c["client_name"] != h.ns+"/adopted" || c["scope"] != "hello:read" {
		t.Fatalf("adopted hydra client: marker %v, name %v, scope %v", mk, c["client_name"], c["scope"])
	}
	old := map[string][]byte{}
	for k, v := range s.Data {
		old[k] = v
	}
	old[controllers.KeyClientSecret] = []byte(oldSecret)
	if code, _ := h.tokenWith(old); code == http.StatusOK {
		t.Fatal("the client's previous secret still works; hydra keeps one secret per client")
	}

	web := h.waitReason("web", metav1.ConditionFalse, oauthv1.ReasonNotAdoptable)
	if m := readyCondition(web).Message; !strings.Contains(m, "authorization_code") {
		t.Fatalf("message %q does not say what differs", m)
	}
	wc := h.rawClient(webID)
	wmd, _ := wc["metadata"].(map[string]any)
	if _, marked := wmd["clientcreds"]; marked || wc["client_name"] != "web app" {
		t.Fatalf("the refused hydra client changed: %v", wc)
	}

	// No deletionPolicy on an adopted client: Orphan. Deleting the OAuthClient leaves the
	// hydra client, still usable with the Secret, which is kept.
	h.waitDeleted(obj)
	if h.rawClient(id) == nil {
		t.Fatal("the adopted hydra client was deleted with its OAuthClient; no deletionPolicy on an adopted client means Orphan")
	}
	kept := h.secret(obj.Status.SecretName)
	if kept == nil || len(kept.OwnerReferences) != 0 {
		t.Fatalf("Secret of the orphaned hydra client: %v, want it kept without owner references", kept)
	}
	if code, _ := h.tokenWith(kept.Data); code != http.StatusOK {
		t.Fatalf("token with the orphaned hydra client's Secret: %d", code)
	}
}
