package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
)

// newLoggedHydraFixture is a Hydra fixture whose provider reaches Hydra's admin API
// through a recording proxy, so a test can count the operator's admin writes.
func newLoggedHydraFixture(t *testing.T) (*fixture, *hydratest.Server, *requestLog) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the control plane (envtest); skipped with -short")
	}
	hs := hydratest.Start(t, hydratest.Options{})
	target, err := url.Parse(hs.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	log := &requestLog{}
	proxy := httptest.NewServer(log.wrap(httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(proxy.Close)
	f := newFixture(t, fixtureOptions{noManager: true})
	f.provider = f.ns + "-hydra"
	f.create(&oauthv1.ClusterOAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: f.provider, Labels: f.labels()},
		Spec:       oauthv1.OAuthProviderSpec{Hydra: &oauthv1.HydraProvider{AdminURL: proxy.URL, Issuer: hs.Issuer}},
	})
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: f.provider}})
	})
	f.startManager()
	return f, hs, log
}

// handMadeHydraClient registers a client straight through Hydra's admin API, as an admin
// (or another tool) would, and returns its id.
func handMadeHydraClient(t *testing.T, hs *hydratest.Server, name, secret string) string {
	t.Helper()
	secretValues.Store(secret, true)
	body, _ := json.Marshal(map[string]any{
		"client_name": name, "client_secret": secret, "grant_types": []string{"client_credentials"},
		"response_types": []string{"token"}, "token_endpoint_auth_method": "client_secret_basic", "scope": "hello:read",
	})
	resp, err := http.Post(hs.AdminURL+"/admin/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&c)
	id, _ := c["client_id"].(string)
	if resp.StatusCode != http.StatusCreated || id == "" {
		t.Fatalf("create hydra client: %d %v", resp.StatusCode, c["error_description"])
	}
	return id
}

// Observe against a real Hydra: Hydra keeps only a hash of a client secret, so an observed
// client cannot publish one (SecretNotReadable, pointing at credentialsFrom); with
// credentialsFrom it publishes the user's value and proves it with a token. Hydra's admin
// API receives no write throughout. Then credentialsFrom under Manage on Hydra: the user's
// value is set on a created client (client_secret on the admin API's PUT) and a changed value
// replaces it (Hydra keeps one secret per client, so there is no overlap).
func TestHydraObserveAndCredentialsFrom(t *testing.T) {
	t.Parallel()
	f, hs, log := newLoggedHydraFixture(t)
	secret := "hand-made-" + randHex(10)
	id := handMadeHydraClient(t, hs, "Made By Hand", secret)
	start := log.mark()

	f.newClient("observed", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{AppID: id}
		o.Spec.DisplayName = "Made By Hand"
		o.Spec.ManagementPolicy = oauthv1.ManagementPolicyObserve
	})
	o := f.waitReason("observed", metav1.ConditionFalse, oauthv1.ReasonSecretNotReadable)
	if msg := readyCondition(o).Message; !strings.Contains(msg, "spec.credentialsFrom") {
		t.Fatalf("SecretNotReadable message %q does not point at spec.credentialsFrom", msg)
	}
	if d := drifted(o); d == nil || d.Status != metav1.ConditionFalse {
		t.Fatalf("Drifted = %+v, want False: the hand-made client matches the spec", d)
	}

	f.userSecret("hydra-held", "CLIENT_SECRET", secret)
	f.update("observed", func(o *oauthv1.OAuthClient) {
		o.Spec.CredentialsFrom = &oauthv1.CredentialsFrom{SecretRef: oauthv1.CredentialsSecretRef{Name: "hydra-held"}}
	})
	s := f.waitPublished("observed", secret)
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the published Secret: %d", code)
	}
	writes, reads := log.since(start, "/admin/")
	if len(writes) != 0 || reads == 0 {
		t.Fatalf("Observe on hydra: %d admin reads, writes %q; want reads and no write", reads, writes)
	}
	t.Logf("Observe on hydra: %d admin reads, 0 writes", reads)

	// credentialsFrom under Manage.
	v1 := "managed-v1-" + randHex(8)
	f.userSecret("hydra-managed", "CLIENT_SECRET", v1)
	f.newClient("managed", func(o *oauthv1.OAuthClient) {
		o.Spec.CredentialsFrom = &oauthv1.CredentialsFrom{SecretRef: oauthv1.CredentialsSecretRef{Name: "hydra-managed"}}
	})
	s = f.waitPublished("managed", v1)
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the user's value on hydra: %d", code)
	}
	v2 := "managed-v2-" + randHex(8)
	f.userSecret("hydra-managed", "CLIENT_SECRET", v2)
	s = f.waitPublished("managed", v2)
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the changed value on hydra: %d", code)
	}
	if string(s.Data[controllers.KeyClientID]) == "" {
		t.Fatal("no client id published")
	}
}
