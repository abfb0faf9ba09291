package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// TestOAuthAPIAcrossTeams is issue 26 across real processes: an API team declares its API
// (an OAuthAPI in its namespace), a client team in another namespace asks for one of its
// scopes by reference (spec.apis). The operator creates the API's scopes on the
// authorization server, grants the client exactly that scope through its Managed access
// policy, and the token works. When the API team removes the client from allowedClients,
// the grant is taken back at the authorization server: a new token request for the scope
// is refused there, and the client shows APINotAllowed — its app and Secret stay. The API
// team's verifier (--oauthapi) lets the token through on / and refuses it on /admin, whose
// rule needs a scope the token lacks (403).
//
// The org has no policy of its own (--access-policy=none, as a locked-down real org): only
// the operator's Managed policies grant anything.
func TestOAuthAPIAcrossTeams(t *testing.T) {
	const (
		apiNS, clientNS = "e2e-api-team", "e2e-client-team"
		prov            = "e2e-oauthapi"
	)
	c := sharedCluster(t)
	org := startOrg(t, "--access-policy=none")
	startManager(t, c, "manager-oauthapi")
	c.applyProvider(t, prov, org, "Managed")
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=60s", "clusteroauthprovider/"+prov)
	c.kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %s}
---
apiVersion: v1
kind: Namespace
metadata: {name: %s}
`, apiNS, clientNS), "apply", "-f", "-")
	t.Cleanup(func() {
		for _, args := range [][]string{
			{"delete", "oauthclients", "--all", "-n", clientNS, "--timeout=60s"},
			{"delete", "oauthapis", "--all", "-n", apiNS, "--timeout=60s"},
			{"delete", "namespace", apiNS, clientNS, "--wait=false"},
		} {
			if _, err := c.run("", args...); err != nil {
				t.Log(err)
			}
		}
	})

	c.kubectl(t, fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthAPI
metadata: {name: orders, namespace: %[1]s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %[3]s}
  scopes:
  - {name: "orders:read", displayName: Read orders}
  - {name: "orders:admin", displayName: Administer orders}
  allowedClients:
    clients: [{namespace: %[2]s, name: shop}]
  rules:
  - {pathPrefix: /healthz, public: true}
  - {pathPrefix: /admin, scopes: ["orders:admin"]}
  - {pathPrefix: /, scopes: ["orders:read"]}
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: shop, namespace: %[2]s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %[3]s}
  apis: [{namespace: %[1]s, name: orders, scopes: ["orders:read"]}]
`, apiNS, clientNS, prov), "apply", "-f", "-")
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=60s", "oauthapi/orders", "-n", apiNS)
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=90s", "oauthclient/shop", "-n", clientNS)

	sec := c.secret(t, clientNS, "shop-oauth-client")
	val := func(k string) string { return string(sec.Data[k]) }
	if val("SCOPE") != "orders:read" || val("AUDIENCE") != "api://default" {
		t.Fatalf("Secret SCOPE %q AUDIENCE %q; want orders:read and the authorization server's audience", val("SCOPE"), val("AUDIENCE"))
	}
	tok := clientCredentialsToken(t, val("TOKEN_URL"), val("CLIENT_ID"), val("CLIENT_SECRET"), "orders:read")
	if tok.status != http.StatusOK || tok.accessToken == "" {
		t.Fatalf("token for orders:read: status %d, error %q", tok.status, tok.errorCode)
	}
	if admin := clientCredentialsToken(t, val("TOKEN_URL"), val("CLIENT_ID"), val("CLIENT_SECRET"), "orders:admin"); admin.status == http.StatusOK {
		t.Fatal("the authorization server issued orders:admin, which the client was never granted")
	}
	oc := c.oauthClient(t, clientNS, "shop")

	// The API team's verifier follows the OAuthAPI: issuer, audience and rules. The client's
	// token passes on / and is refused on /admin, which needs orders:admin.
	hello := startHello(t)
	front, adminAddr := harness.FreeAddr(t), harness.FreeAddr(t)
	vp := harness.Start(t, "verifier-oauthapi", harness.Binary(t, "verifier"), []string{
		"--oauthapi", apiNS + "/orders", "--kubeconfig", c.kubeconfig,
		"--listen", front, "--admin-listen", adminAddr, "--upstream", hello,
	}, harness.Options{})
	harness.WaitHTTP(t, "http://"+adminAddr+"/readyz", startWait, vp)
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/", "", http.StatusUnauthorized},
		{"/", tok.accessToken, http.StatusOK},
		{"/admin", tok.accessToken, http.StatusForbidden},
		{"/healthz", "", http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodGet, "http://"+front+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s (token %v) through the verifier: %d, want %d", tc.path, tc.token != "", resp.StatusCode, tc.want)
		}
	}

	// The API team takes the grant back.
	c.kubectl(t, "", "patch", "oauthapi/orders", "-n", apiNS, "--type=merge", "-p", `{"spec":{"allowedClients":{"clients":[]}}}`)
	waitReason(t, c, clientNS, "oauthclient", "shop", "APINotAllowed")
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := clientCredentialsToken(t, val("TOKEN_URL"), val("CLIENT_ID"), val("CLIENT_SECRET"), "orders:read")
		if r.status != http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the authorization server still issues orders:read 30s after the grant was withdrawn")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after := c.oauthClient(t, clientNS, "shop"); after.Status.AppID != oc.Status.AppID {
		t.Fatalf("app changed from %s to %s", oc.Status.AppID, after.Status.AppID)
	}
	if _, found := org.app(t, oc.Status.AppID); !found {
		t.Fatalf("app %s was deleted", oc.Status.AppID)
	}
	if again := c.secret(t, clientNS, "shop-oauth-client"); string(again.Data["CLIENT_ID"]) != val("CLIENT_ID") {
		t.Fatal("the Secret changed after the grant was withdrawn")
	}
}
