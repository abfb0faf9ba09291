package okta_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// listJSON reads a management collection as an admin would.
func listJSON(t *testing.T, e *env, path string) []map[string]any {
	t.Helper()
	status, data := oktaemutest.Admin(t, e.URL, e.APIToken, http.MethodGet, path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d", path, status)
	}
	var out []map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return out
}

// removeOrgPolicies deletes every access policy of the default authorization server, as an
// org whose policies admit no new client (what the emulator's --access-policy=none starts
// with).
func removeOrgPolicies(t *testing.T, e *env) {
	t.Helper()
	for _, p := range listJSON(t, e, "/api/v1/authorizationServers/default/policies") {
		if st, _ := e.raw(t, http.MethodDelete, "/api/v1/authorizationServers/default/policies/"+p["id"].(string), nil); st != http.StatusNoContent {
			t.Fatalf("delete org policy: %d", st)
		}
	}
}

// TestEmulatorAccessPolicy: the managed policy (Okta operations createAuthorizationServerPolicy,
// createAuthorizationServerPolicyRule, getAuthorizationServerPolicy, listAuthorizationServerPolicyRules,
// replaceAuthorizationServerPolicy(Rule), deleteAuthorizationServerPolicy) — spec-checked —
// admits exactly its client for exactly its scopes, goes last, is repaired after console
// edits and deletion, and is deleted.
func TestEmulatorAccessPolicy(t *testing.T) {
	e := start(t, oktaemu.Config{Scopes: []string{"hello:read", "hello:write"}})
	c := ctx(t)
	eps, err := e.p.CheckHealth(c)
	if err != nil {
		t.Fatal(err)
	}
	// The org has two policies of its own that admit nobody new: a policy for a client
	// that is not ours, at priorities 1 and 2.
	removeOrgPolicies(t, e)
	other, err := e.p.CreateApp(c, e.spec4("other", provider.AuthClientSecretBasic))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"org policy A", "org policy B"} {
		st, _ := e.raw(t, http.MethodPost, "/api/v1/authorizationServers/default/policies", map[string]any{
			"type": "OAUTH_AUTHORIZATION_POLICY", "name": name, "description": name, "priority": i + 1,
			"conditions": map[string]any{"clients": map[string]any{"include": []string{other.ClientID}}},
		})
		if st != http.StatusCreated {
			t.Fatalf("create org policy: %d", st)
		}
	}

	app, err := e.p.CreateApp(c, e.spec4("team-a/billing", provider.AuthClientSecretBasic))
	if err != nil {
		t.Fatal(err)
	}
	creds := provider.Credentials{ClientID: app.ClientID, ClientSecret: app.ClientSecret, AuthMethod: provider.AuthClientSecretBasic,
		TokenURL: eps.TokenURL, Scopes: []string{"hello:read"}}
	if err := e.p.RequestToken(c, creds); provider.Code(err) != provider.OAuthAccessDenied {
		t.Fatalf("token before the policy: %v, want access_denied", err)
	}

	spec := provider.AccessPolicySpec{Name: "clientcreds team-a/billing", Description: "managed", ClientID: app.ClientID,
		Scopes: []string{"hello:read"}, TokenLifetime: 30 * time.Minute}
	res, err := e.p.EnsureAccessPolicy(c, "", spec)
	if err != nil || !res.Created || res.ID == "" {
		t.Fatalf("EnsureAccessPolicy: %+v, %v", res, err)
	}
	if err := e.p.RequestToken(c, creds); err != nil {
		t.Fatalf("token with the policy: %v", err)
	}
	// Exactly spec.scopes: another scope is not granted.
	more := creds
	more.Scopes = []string{"hello:read", "hello:write"}
	if err := e.p.RequestToken(c, more); provider.Code(err) != provider.OAuthAccessDenied {
		t.Fatalf("token for a scope the policy does not grant: %v, want access_denied", err)
	}

	// Last, the org's own policies untouched.
	pols := listJSON(t, e, "/api/v1/authorizationServers/default/policies")
	var order []string
	for _, p := range pols {
		order = append(order, p["name"].(string)+"@"+jsonNumber(p["priority"]))
	}
	if want := []string{"org policy A@1", "org policy B@2", "clientcreds team-a/billing@3"}; !slices.Equal(order, want) {
		t.Fatalf("policies %v, want %v", order, want)
	}
	rules := listJSON(t, e, "/api/v1/authorizationServers/default/policies/"+res.ID+"/rules")
	if len(rules) != 1 || jsonNumber(dig(rules[0], "actions.token.accessTokenLifetimeMinutes")) != "30" {
		t.Fatalf("rules %v, want one with a 30 minute lifetime", rules)
	}

	// A matching policy: no change, two reads.
	before := e.requests()
	again, err := e.p.EnsureAccessPolicy(c, res.ID, spec)
	if err != nil || again.Created || again.Repaired || again.ID != res.ID {
		t.Fatalf("EnsureAccessPolicy of a matching policy: %+v, %v", again, err)
	}
	if n := e.requests() - before; n != 2 {
		t.Errorf("checking a matching policy cost %d calls, want 2", n)
	}

	// Console edits: the rule's scopes widened, the policy deactivated, a rule added.
	ruleID := rules[0]["id"].(string)
	rulePath := "/api/v1/authorizationServers/default/policies/" + res.ID + "/rules/" + ruleID
	edited := rules[0]
	dig(edited, "conditions.scopes").(map[string]any)["include"] = []string{"hello:read", "hello:write"}
	if st, _ := e.raw(t, http.MethodPut, rulePath, edited); st != http.StatusOK {
		t.Fatalf("console rule edit: %d", st)
	}
	polPath := "/api/v1/authorizationServers/default/policies/" + res.ID
	_, pol := e.raw(t, http.MethodGet, polPath, nil)
	pol["name"] = "renamed in the console"
	if st, _ := e.raw(t, http.MethodPut, polPath, pol); st != http.StatusOK {
		t.Fatalf("console rename: %d", st)
	}
	if st, _ := e.raw(t, http.MethodPost, polPath+"/lifecycle/deactivate", nil); st != http.StatusNoContent {
		t.Fatalf("console deactivate: %d", st)
	}
	repaired, err := e.p.EnsureAccessPolicy(c, res.ID, spec)
	if err != nil || !repaired.Repaired || repaired.ID != res.ID {
		t.Fatalf("EnsureAccessPolicy after console edits: %+v, %v", repaired, err)
	}
	if err := e.p.RequestToken(c, more); provider.Code(err) != provider.OAuthAccessDenied {
		t.Fatalf("after the repair a widened scope still works: %v", err)
	}
	if _, pol := e.raw(t, http.MethodGet, polPath, nil); pol["name"] != spec.Name || pol["status"] != "ACTIVE" || jsonNumber(pol["priority"]) != "3" {
		t.Fatalf("repaired policy: name %v status %v priority %v", pol["name"], pol["status"], pol["priority"])
	}
	if err := e.p.RequestToken(c, creds); err != nil {
		t.Fatalf("token after the repair: %v", err)
	}

	// Spec change: scopes and lifetime follow.
	spec.Scopes, spec.TokenLifetime = []string{"hello:read", "hello:write"}, 2*time.Hour
	if r, err := e.p.EnsureAccessPolicy(c, res.ID, spec); err != nil || !r.Repaired {
		t.Fatalf("EnsureAccessPolicy after a spec change: %+v, %v", r, err)
	}
	if err := e.p.RequestToken(c, more); err != nil {
		t.Fatalf("token for the new scopes: %v", err)
	}

	// Deleted in the console: created again, last again.
	if st, _ := e.raw(t, http.MethodDelete, "/api/v1/authorizationServers/default/policies/"+res.ID, nil); st != http.StatusNoContent {
		t.Fatalf("console delete: %d", st)
	}
	recreated, err := e.p.EnsureAccessPolicy(c, res.ID, spec)
	if err != nil || !recreated.Created || recreated.ID == res.ID {
		t.Fatalf("EnsureAccessPolicy after deletion: %+v, %v", recreated, err)
	}
	if err := e.p.RequestToken(c, more); err != nil {
		t.Fatalf("token after the policy was recreated: %v", err)
	}

	// A lost create answer: an Ensure without the id adopts the policy of the same name.
	adopted, err := e.p.EnsureAccessPolicy(c, "", spec)
	if err != nil || adopted.ID != recreated.ID {
		t.Fatalf("EnsureAccessPolicy without the id: %+v, %v; want adoption of %s", adopted, err, recreated.ID)
	}
	if n := len(listJSON(t, e, "/api/v1/authorizationServers/default/policies")); n != 3 {
		t.Fatalf("%d policies after adoption, want 3", n)
	}

	if err := e.p.DeleteAccessPolicy(c, recreated.ID); err != nil {
		t.Fatalf("DeleteAccessPolicy: %v", err)
	}
	if err := e.p.DeleteAccessPolicy(c, recreated.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("second DeleteAccessPolicy: %v, want ErrNotFound", err)
	}
	if err := e.p.RequestToken(c, creds); provider.Code(err) != provider.OAuthAccessDenied {
		t.Fatalf("token after the policy was deleted: %v, want access_denied", err)
	}
	if e.spec.failures > 0 {
		t.Fatalf("%d requests did not conform to the spec", e.spec.failures)
	}
	ops := e.spec.operations()
	for _, op := range []string{"listAuthorizationServerPolicies", "createAuthorizationServerPolicy", "getAuthorizationServerPolicy",
		"replaceAuthorizationServerPolicy", "activateAuthorizationServerPolicy", "deleteAuthorizationServerPolicy",
		"listAuthorizationServerPolicyRules", "createAuthorizationServerPolicyRule", "replaceAuthorizationServerPolicyRule"} {
		if ops[op] == 0 {
			t.Errorf("operation %s was not exercised (seen: %v)", op, sortedKeys(ops))
		}
	}
}

func TestEmulatorAccessPolicyLongName(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	app, err := e.p.CreateApp(c, e.spec4("long", provider.AuthClientSecretBasic))
	if err != nil {
		t.Fatal(err)
	}
	long := "clientcreds " + strings.Repeat("n", 63) + "/" + strings.Repeat("x", 253)
	res, err := e.p.EnsureAccessPolicy(c, "", provider.AccessPolicySpec{Name: long, Description: long + long,
		ClientID: app.ClientID, Scopes: []string{"hello:read"}, TokenLifetime: time.Hour})
	if err != nil {
		t.Fatalf("EnsureAccessPolicy with a long name: %v", err)
	}
	st, pol := e.raw(t, http.MethodGet, "/api/v1/authorizationServers/default/policies/"+res.ID, nil)
	if st != 200 || len(pol["name"].(string)) != 100 || pol["name"].(string)[:20] != long[:20] {
		t.Fatalf("policy name %q (status %d), want the first 91 characters and a hash", pol["name"], st)
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A scope the authorization server lacks is the client's scopes' fault: ErrInvalidScope,
// as at the token endpoint (the emulator answers createAuthorizationServerPolicyRule with
// 400 E0000001 about conditions.scopes.include).
func TestEmulatorAccessPolicyUnknownScope(t *testing.T) {
	e := start(t, oktaemu.Config{AccessPolicy: oktaemu.AccessPolicyNone})
	c := ctx(t)
	app, err := e.p.CreateApp(c, e.spec4("scope", provider.AuthClientSecretBasic))
	if err != nil {
		t.Fatal(err)
	}
	spec := provider.AccessPolicySpec{Name: "clientcreds x/scope", Description: "d", ClientID: app.ClientID,
		Scopes: []string{"no:such-scope"}, TokenLifetime: time.Hour}
	if _, err := e.p.EnsureAccessPolicy(c, "", spec); !errors.Is(err, provider.ErrInvalidScope) {
		t.Fatalf("EnsureAccessPolicy with an unknown scope: %v, want ErrInvalidScope", err)
	}
	// Once the scope is fixed, the policy left without a rule is adopted, not duplicated.
	spec.Scopes = []string{"hello:read"}
	res, err := e.p.EnsureAccessPolicy(c, "", spec)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range listJSON(t, e, "/api/v1/authorizationServers/default/policies") {
		if p["name"] == spec.Name {
			n++
			if p["id"] != res.ID {
				t.Fatalf("policy %v is not the one adopted (%s)", p["id"], res.ID)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d policies named %q, want 1", n, spec.Name)
	}
}
