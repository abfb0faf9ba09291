package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// TestOperatorRealOrg runs bin/manager (with --okta-rate-limit-share) against
// bin/okta-emulator in its strict real-org modes, as separate processes:
//   - --access-policy=none --rate-limit-preset=okta-paid (50% token share):
//     with accessPolicy: Managed every client gets its own policy, Ready, a
//     token from its Secret, and no 429 is ever answered;
//   - --api-token-role=app-admin: a Managed provider is Forbidden (naming the
//     role), an External one is Ready and so are its clients.
func TestOperatorRealOrg(t *testing.T) {
	const ns = "e2e-realorg"
	c := sharedCluster(t)
	strict := startOrg(t, "--scopes", helloScope, "--access-policy=none", "--rate-limit-preset=okta-paid")
	appAdmin := startOrg(t, "--scopes", helloScope, "--api-token-role=app-admin")
	startManager(t, c, "manager-realorg", "--okta-rate-limit-share=0.5")
	c.kubectl(t, "", "create", "namespace", ns)
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "oauthclients", "--all", "-n", ns, "--timeout=60s"); err != nil {
			t.Log(err)
		}
		if _, err := c.run("", "delete", "namespace", ns, "--wait=false"); err != nil {
			t.Log(err)
		}
	})

	t.Run("Managed access policies in an org that admits no client", func(t *testing.T) {
		c.applyProvider(t, "okta-realorg-managed", strict, "Managed")
		c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=60s", "clusteroauthprovider/okta-realorg-managed")
		var manifest strings.Builder
		for i := range 5 {
			fmt.Fprintf(&manifest, `---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: managed-%d, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta-realorg-managed}
  scopes: [%q]
  accessTokenLifetime: 15m
`, i, ns, helloScope)
		}
		c.kubectl(t, manifest.String(), "apply", "-f", "-")
		c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=120s", "-n", ns,
			"oauthclient/managed-0", "oauthclient/managed-1", "oauthclient/managed-2", "oauthclient/managed-3", "oauthclient/managed-4")
		for i := range 5 {
			oc := c.oauthClient(t, ns, fmt.Sprintf("managed-%d", i))
			if oc.Status.AccessPolicyID == "" {
				t.Errorf("%s has no status.accessPolicyID", oc.Name)
			}
			s := c.secret(t, ns, oc.Status.SecretName)
			tok := clientCredentialsToken(t, string(s.Data["TOKEN_URL"]), string(s.Data["CLIENT_ID"]), string(s.Data["CLIENT_SECRET"]), helloScope)
			if tok.status != http.StatusOK || tok.accessToken == "" {
				t.Errorf("%s: token request answered %d %s", oc.Name, tok.status, tok.errorCode)
			}
		}
		// One policy per client besides the org's default one.
		resp := strict.management(t, strict.url+"/api/v1/authorizationServers/default/policies")
		defer func() { _ = resp.Body.Close() }()
		var pols []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&pols); err != nil {
			t.Fatal(err)
		}
		if len(pols) != 6 {
			t.Errorf("%d policies, want the org's default one and 5 managed ones", len(pols))
		}
		for route, codes := range strict.stats(t).ByRouteStatus {
			if n := codes["429"]; n > 0 {
				t.Errorf("%s answered 429 %d times", route, n)
			}
		}
	})

	t.Run("app-admin token", func(t *testing.T) {
		c.applyProvider(t, "okta-realorg-appadmin-managed", appAdmin, "Managed")
		c.applyProvider(t, "okta-realorg-appadmin-external", appAdmin, "External")
		c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=60s", "clusteroauthprovider/okta-realorg-appadmin-external")
		c.kubectl(t, "", "wait", "--for=jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=Forbidden", "--timeout=60s",
			"clusteroauthprovider/okta-realorg-appadmin-managed")
		var p oauthv1.ClusterOAuthProvider
		c.getJSON(t, &p, "clusteroauthprovider/okta-realorg-appadmin-managed")
		for _, cond := range p.Status.Conditions {
			if cond.Type == oauthv1.ConditionReady && !strings.Contains(cond.Message, "Super Administrator") {
				t.Errorf("Forbidden message %q does not name the role", cond.Message)
			}
		}
		c.kubectl(t, fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: app-admin, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta-realorg-appadmin-external}
  scopes: [%q]
`, ns, helloScope), "apply", "-f", "-")
		c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=60s", "oauthclient/app-admin", "-n", ns)
	})
}
