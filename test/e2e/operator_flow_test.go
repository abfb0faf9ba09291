package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// TestOperatorEndToEnd is issue 5's flow across real processes: the sample
// OAuthClient applied with kubectl becomes an active app in the emulator and a
// Secret; a token fetched with nothing but that Secret's values passes the
// verifier — behind nginx's auth_request and as a reverse proxy — and reaches
// hello, which names the client; deleting the OAuthClient removes the app.
func TestOperatorEndToEnd(t *testing.T) {
	c := sharedCluster(t)
	org := startOrg(t, "--scopes", helloScope)
	_, metricsURL := startManager(t, c, "manager")
	// The sample references the ClusterOAuthProvider "okta".
	c.addProvider(t, "okta", org)

	// The sample OAuthClient asks for hello:read of the OAuthAPI default/hello,
	// which config/hello declares.
	samples := filepath.Join(harness.RepoRoot(t), "config", "samples")
	api := filepath.Join(harness.RepoRoot(t), "config", "hello", "api", "oauthapi.yaml")
	c.kubectl(t, "", "apply", "-f", api, "-f", samples+"/")
	// Registered after the manager started, so it runs while the manager still
	// does: the finalizer is honoured and nothing is left for later tests.
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "--ignore-not-found", "--timeout=60s", "-f", samples+"/", "-f", api); err != nil {
			t.Log(err)
		}
	})
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=90s", "oauthclient/hello", "-n", "default")

	oc := c.oauthClient(t, "default", "hello")
	st := oc.Status
	t.Run("status", func(t *testing.T) {
		ready := readyCondition(oc)
		if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != oc.Generation {
			t.Fatalf("Ready condition %+v for generation %d", ready, oc.Generation)
		}
		for _, cond := range []string{oauthv1.ConditionReconciling, oauthv1.ConditionStalled} {
			if slices.ContainsFunc(st.Conditions, func(x metav1.Condition) bool { return x.Type == cond }) {
				t.Errorf("condition %s present on a Ready client", cond)
			}
		}
		if st.ObservedGeneration != oc.Generation {
			t.Errorf("observedGeneration %d, generation %d", st.ObservedGeneration, oc.Generation)
		}
		if st.AppID == "" || st.ClientID == "" {
			t.Errorf("status lacks the app id (%q) or client id (%q)", st.AppID, st.ClientID)
		}
		if st.Issuer != org.issuer() || st.TokenURL != org.issuer()+"/v1/token" {
			t.Errorf("status issuer %q, token URL %q; want %s and its /v1/token", st.Issuer, st.TokenURL, org.issuer())
		}
		if st.SecretName != "hello-oauth-client" {
			t.Errorf("status.secretName %q, want the default hello-oauth-client", st.SecretName)
		}
	})

	sec := c.secret(t, "default", st.SecretName)
	val := func(k string) string { return string(sec.Data[k]) }
	t.Run("secret", func(t *testing.T) {
		var keys []string
		for k := range sec.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"AUDIENCE", "AUTH_METHOD", "CLIENT_ID", "CLIENT_SECRET", "ISSUER", "SCOPE", "TOKEN_URL"}
		if !slices.Equal(keys, want) {
			t.Fatalf("Secret keys %v, want %v", keys, want)
		}
		for k, want := range map[string]string{
			"CLIENT_ID":   st.ClientID,
			"TOKEN_URL":   org.issuer() + "/v1/token",
			"ISSUER":      org.issuer(),
			"SCOPE":       helloScope,
			"AUDIENCE":    "api://default",
			"AUTH_METHOD": "client_secret_basic",
		} {
			if got := val(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if val("CLIENT_SECRET") == "" {
			t.Error("CLIENT_SECRET is empty")
		}
		if _, ok := sec.Labels["oauth.clientcreds.dev/oauthclient"]; !ok {
			t.Errorf("Secret lacks the oauth.clientcreds.dev/oauthclient label: %v", sec.Labels)
		}
		owner := metav1.GetControllerOf(&sec)
		if owner == nil || owner.Kind != "OAuthClient" || owner.UID != oc.UID {
			t.Errorf("Secret's controller is %+v, want the OAuthClient %s", owner, oc.UID)
		}
	})

	t.Run("app in the emulator", func(t *testing.T) {
		app, found := org.app(t, st.AppID)
		if !found {
			t.Fatalf("app %s not found", st.AppID)
		}
		if app.Status != "ACTIVE" || app.Label != "default/hello" || app.Credentials.OAuthClient.ClientID != st.ClientID {
			t.Fatalf("app %+v, want ACTIVE, label default/hello, client id %s", app, st.ClientID)
		}
		if n := len(org.apps(t, 200)); n != 1 {
			t.Fatalf("%d apps in the org, want 1", n)
		}
	})

	tok := clientCredentialsToken(t, val("TOKEN_URL"), val("CLIENT_ID"), val("CLIENT_SECRET"), val("SCOPE"))
	if tok.status != http.StatusOK || tok.accessToken == "" || !strings.EqualFold(tok.tokenType, "Bearer") {
		t.Fatalf("token request with the Secret's values: status %d, error %q, type %q", tok.status, tok.errorCode, tok.tokenType)
	}

	hello := startHello(t)
	// The verifier learns the issuer from the Secret, as a deployment would;
	// startVerifier takes it as <org>/oauth2/default.
	issuerOrg := oktaClient{org: strings.TrimSuffix(val("ISSUER"), "/oauth2/default")}
	if issuerOrg.issuer() != val("ISSUER") {
		t.Fatalf("ISSUER %q is not the default authorization server of an org", val("ISSUER"))
	}
	fronts := []struct{ name, url string }{
		{"verifier as reverse proxy", startVerifier(t, "verifier-proxy", issuerOrg, "--upstream", hello)},
		{"nginx auth_request to the verifier", startNginx(t, startVerifier(t, "verifier-forward-auth", issuerOrg), hello)},
	}
	for _, f := range fronts {
		t.Run(f.name, func(t *testing.T) {
			t.Run("no token", func(t *testing.T) {
				a := call(t, http.MethodGet, f.url+"/", "", nil)
				if a.status != http.StatusUnauthorized || !strings.HasPrefix(a.wwwAuthenticate, "Bearer ") {
					t.Fatalf("status %d, WWW-Authenticate %q; want 401 with a Bearer challenge", a.status, a.wwwAuthenticate)
				}
				if strings.Contains(a.body, "Hello World!") {
					t.Fatal("hello answered a request without a token")
				}
			})
			t.Run("token from the Secret", func(t *testing.T) {
				a := call(t, http.MethodGet, f.url+"/", tok.accessToken, nil)
				if a.status != http.StatusOK {
					t.Fatalf("status %d (WWW-Authenticate %q)", a.status, a.wwwAuthenticate)
				}
				var g struct {
					Message  string `json:"message"`
					ClientID string `json:"clientId"`
				}
				if err := json.Unmarshal([]byte(a.body), &g); err != nil {
					t.Fatalf("hello body %q: %v", a.body, err)
				}
				if g.Message != "Hello World!" || g.ClientID != st.ClientID {
					t.Fatalf("hello answered %+v, want Hello World! for %s", g, st.ClientID)
				}
			})
		})
	}

	// Adoption and revocation are for a create whose answer was lost. On a
	// clean create they would mean the Secret a consumer read at Ready=True was
	// replaced and its secret revoked moments later.
	t.Run("a clean create issues credentials once", func(t *testing.T) {
		var events eventsv1.EventList
		c.getJSON(t, &events, "events.v1.events.k8s.io", "-n", "default",
			"--field-selector", "regarding.name=hello,regarding.kind=OAuthClient")
		reasons := map[string]int{}
		for _, e := range events.Items {
			reasons[e.Reason]++
		}
		if reasons["AppCreated"] != 1 || reasons["AppAdopted"] != 0 || reasons["SecretsRevoked"] != 0 {
			t.Fatalf("events by reason %v; want one AppCreated and no AppAdopted or SecretsRevoked", reasons)
		}
		again := clientCredentialsToken(t, val("TOKEN_URL"), val("CLIENT_ID"), val("CLIENT_SECRET"), val("SCOPE"))
		if again.status != http.StatusOK {
			t.Fatalf("the credentials read at Ready stopped working: status %d %q", again.status, again.errorCode)
		}
	})

	t.Run("manager metrics", func(t *testing.T) {
		a := call(t, http.MethodGet, metricsURL, "", nil)
		if a.status != http.StatusOK || !strings.Contains(a.body, `clientcreds_credentials_issued_total{`) {
			t.Fatalf("metrics status %d; clientcreds_credentials_issued_total missing", a.status)
		}
	})

	t.Run("deleting the OAuthClient deletes the app", func(t *testing.T) {
		c.kubectl(t, "", "delete", "--timeout=60s", "oauthclient/hello", "-n", "default")
		if _, err := c.run("", "get", "oauthclient/hello", "-n", "default"); err == nil {
			t.Fatal("the OAuthClient still exists after kubectl delete --wait")
		}
		if _, found := org.app(t, st.AppID); found {
			t.Fatalf("app %s still exists in the emulator", st.AppID)
		}
		if apps := org.apps(t, 200); len(apps) != 0 {
			t.Fatalf("%d apps left in the emulator: %+v", len(apps), apps)
		}
		gone := clientCredentialsToken(t, val("TOKEN_URL"), val("CLIENT_ID"), val("CLIENT_SECRET"), val("SCOPE"))
		if gone.status != http.StatusUnauthorized || gone.errorCode != "invalid_client" {
			t.Fatalf("token request for the deleted app: status %d, error %q; want 401 invalid_client", gone.status, gone.errorCode)
		}
	})
}
