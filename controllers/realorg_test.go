package controllers_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// The operator in a real Okta org (issue 11), against the emulator in the matching strict
// mode.

const policiesPath = "/api/v1/authorizationServers/default/policies"

// policyOrder lists policies as "name@priority", in the order the server lists them.
func policyOrder(pols []map[string]any) []string {
	var out []string
	for _, p := range pols {
		out = append(out, fmt.Sprintf("%v@%v", p["name"], p["priority"]))
	}
	return out
}

// policies lists the default authorization server's access policies.
func (f *fixture) policies() []map[string]any {
	f.t.Helper()
	_, pols := f.mgmtList(policiesPath)
	out := make([]map[string]any, 0, len(pols))
	for _, p := range pols {
		out = append(out, p.(map[string]any))
	}
	return out
}

func (f *fixture) policyRules(id string) []map[string]any {
	f.t.Helper()
	_, rules := f.mgmtList(policiesPath + "/" + id + "/rules")
	out := make([]map[string]any, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.(map[string]any))
	}
	return out
}

// tokenLifetime is exp - iat of an access token.
func tokenLifetime(t *testing.T, tok string) time.Duration {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Exp, Iat int64 }
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return time.Duration(c.Exp-c.Iat) * time.Second
}

func ruleScopes(rule map[string]any) []string {
	var out []string
	for _, s := range rule["conditions"].(map[string]any)["scopes"].(map[string]any)["include"].([]any) {
		out = append(out, s.(string))
	}
	slices.Sort(out)
	return out
}

func policyClients(p map[string]any) []any {
	return p["conditions"].(map[string]any)["clients"].(map[string]any)["include"].([]any)
}

// TestManagedAccessPolicy: with accessPolicy: Managed in an org whose policies admit no
// client, each OAuthClient gets one policy naming exactly its client, placed after the
// org's policies, granting exactly spec.scopes with spec.accessTokenLifetime; it follows
// spec changes, is repaired after console edits and deletion (resync), and is deleted with
// the app (Delete) or left (Orphan).
func TestManagedAccessPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{
		// Strict mode: the org's default policy admits no client.
		emu:          oktaemu.Config{Scopes: []string{"hello:read", "hello:write"}, AccessPolicy: oktaemu.AccessPolicyNone},
		accessPolicy: oauthv1.AccessPolicyManaged,
		resyncPeriod: 2 * time.Second,
		noManager:    true,
	})
	// One more org policy of its own (for a client that is not ours); the org's policies
	// keep their places.
	st, other := f.mgmt(http.MethodPost, "/api/v1/apps", map[string]any{
		"name": "oidc_client", "label": "other", "signOnMode": "OPENID_CONNECT",
		"credentials": map[string]any{"oauthClient": map[string]any{"token_endpoint_auth_method": "client_secret_basic"}},
		"settings": map[string]any{"oauthClient": map[string]any{"application_type": "service", "grant_types": []string{"client_credentials"},
			"response_types": []string{"token"}}},
	})
	if st != http.StatusOK {
		t.Fatalf("create other app: %d", st)
	}
	otherClient := other["credentials"].(map[string]any)["oauthClient"].(map[string]any)["client_id"].(string)
	if st, _ := f.mgmt(http.MethodPost, policiesPath, map[string]any{
		"type": "OAUTH_AUTHORIZATION_POLICY", "name": "org policy", "description": "the org's own",
		"conditions": map[string]any{"clients": map[string]any{"include": []string{otherClient}}},
	}); st != http.StatusCreated {
		t.Fatalf("create org policy: %d", st)
	}
	f.startManager()

	orgPolicies := policyOrder(f.policies())
	if len(orgPolicies) != 2 {
		t.Fatalf("the org has policies %v, want its default policy and one more", orgPolicies)
	}
	f.newClient("billing", func(o *oauthv1.OAuthClient) {
		o.Spec.AccessTokenLifetime = &metav1.Duration{Duration: 30 * time.Minute}
	})
	obj := f.waitReady("billing")
	if obj.Status.AccessPolicyID == "" {
		t.Fatalf("status.accessPolicyID is empty")
	}
	pols := f.policies()
	if got := policyOrder(pols); len(pols) != 3 || !slices.Equal(got[:2], orgPolicies) || pols[2]["id"] != obj.Status.AccessPolicyID {
		t.Fatalf("policies %v: want the org's %v unchanged and the client's last", got, orgPolicies)
	}
	mine := pols[2]
	if mine["name"] != "clientcreds "+f.ns+"/billing" || fmt.Sprint(mine["priority"]) != "3" {
		t.Fatalf("managed policy %v", mine)
	}
	if c := policyClients(mine); len(c) != 1 || c[0] != obj.Status.ClientID {
		t.Fatalf("policy clients %v, want exactly %s", c, obj.Status.ClientID)
	}
	rules := f.policyRules(obj.Status.AccessPolicyID)
	if len(rules) != 1 || !slices.Equal(ruleScopes(rules[0]), []string{"hello:read"}) {
		t.Fatalf("rules %v, want one granting hello:read", rules)
	}
	code, tok := f.tokenWith(f.secret("billing-oauth-client").Data)
	if code != http.StatusOK {
		t.Fatalf("token with the Secret: %d", code)
	}
	if d := tokenLifetime(t, tok); d != 30*time.Minute {
		t.Fatalf("token lifetime %s, want 30m (spec.accessTokenLifetime)", d)
	}

	// Scopes and lifetime follow the spec.
	f.update("billing", func(o *oauthv1.OAuthClient) {
		o.Spec.Scopes = []string{"hello:read", "hello:write"}
		o.Spec.AccessTokenLifetime = &metav1.Duration{Duration: 2 * time.Hour}
	})
	f.waitReady("billing")
	f.eventually(waitTimeout, "the rule to grant both scopes", func() (bool, string) {
		r := f.policyRules(obj.Status.AccessPolicyID)
		return len(r) == 1 && slices.Equal(ruleScopes(r[0]), []string{"hello:read", "hello:write"}) &&
			fmt.Sprint(r[0]["actions"].(map[string]any)["token"].(map[string]any)["accessTokenLifetimeMinutes"]) == "120", fmt.Sprint(r)
	})
	code, tok = f.tokenWith(f.secret("billing-oauth-client").Data)
	if code != http.StatusOK || tokenLifetime(t, tok) != 2*time.Hour {
		t.Fatalf("token after the spec change: %d", code)
	}

	// Edited in the console: the rule narrowed to nothing useful and the policy deactivated.
	rules = f.policyRules(obj.Status.AccessPolicyID)
	edited := rules[0]
	edited["conditions"].(map[string]any)["scopes"].(map[string]any)["include"] = []string{"hello:write"}
	if st, _ := f.mgmt(http.MethodPut, policiesPath+"/"+obj.Status.AccessPolicyID+"/rules/"+edited["id"].(string), edited); st != http.StatusOK {
		t.Fatalf("console rule edit: %d", st)
	}
	if st, _ := f.mgmt(http.MethodPost, policiesPath+"/"+obj.Status.AccessPolicyID+"/lifecycle/deactivate", nil); st != http.StatusNoContent {
		t.Fatalf("console deactivate: %d", st)
	}
	f.eventually(waitTimeout, "the resync to repair the policy", func() (bool, string) {
		code, _ := f.tokenWith(f.secret("billing-oauth-client").Data)
		return code == http.StatusOK, fmt.Sprint(code)
	})

	// Deleted in the console: created again (last), status follows.
	if st, _ := f.mgmt(http.MethodDelete, policiesPath+"/"+obj.Status.AccessPolicyID, nil); st != http.StatusNoContent {
		t.Fatalf("console delete: %d", st)
	}
	var recreated string
	f.eventually(waitTimeout, "the resync to recreate the policy", func() (bool, string) {
		o := f.get("billing")
		recreated = o.Status.AccessPolicyID
		code, _ := f.tokenWith(f.secret("billing-oauth-client").Data)
		return recreated != obj.Status.AccessPolicyID && recreated != "" && code == http.StatusOK, describe(o)
	})
	if pols := f.policies(); len(pols) != 3 || !slices.Equal(policyOrder(pols)[:2], orgPolicies) || pols[2]["id"] != recreated {
		t.Fatalf("after the recreate: policies %v", policyOrder(pols))
	}

	// Orphan leaves the policy; Delete deletes it with the app.
	f.newClient("kept", func(o *oauthv1.OAuthClient) { o.Spec.DeletionPolicy = oauthv1.DeletionPolicyOrphan })
	kept := f.waitReady("kept")
	for _, name := range []string{"billing", "kept"} {
		if err := k8s.Delete(f.ctx, f.get(name)); err != nil {
			t.Fatal(err)
		}
	}
	f.eventually(waitTimeout, "the deletions", func() (bool, string) {
		var ids []string
		for _, p := range f.policies() {
			ids = append(ids, p["id"].(string))
		}
		want := len(ids) == 3 && slices.Contains(ids, kept.Status.AccessPolicyID) && !slices.Contains(ids, recreated)
		return want, fmt.Sprint(ids)
	})
}

// TestExternalAccessDenied: with External policies that admit no client, the client is
// Ready=False AccessPolicyDenied with a message naming the authorization server, the client
// and the scopes and saying what to do; no secret is replaced, and the token check is
// retried on a slow backoff (≥ 1 min), not in a loop. Once an admin adds the client to a
// policy, it becomes Ready.
func TestExternalAccessDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{emu: oktaemu.Config{AccessPolicy: oktaemu.AccessPolicyNone}})
	f.newClient("denied")
	obj := f.waitReason("denied", metav1.ConditionFalse, oauthv1.ReasonAccessPolicyDenied)
	msg := readyCondition(obj).Message
	for _, want := range []string{`"default"`, obj.Status.ClientID, "hello:read", "accessPolicy: Managed", "access policy"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not mention %q", msg, want)
		}
	}
	// The Secret is written and its credentials are good: only the policy is missing.
	s := f.secret("denied-oauth-client")
	if s == nil {
		t.Fatal("no Secret")
	}
	before := f.emu.Stats()
	time.Sleep(3 * time.Second)
	after := f.emu.Stats()
	tokens := after.Route("POST /oauth2/{as}/v1/token") - before.Route("POST /oauth2/{as}/v1/token")
	secretCalls := after.Route("POST /api/v1/apps/{id}/credentials/secrets") - before.Route("POST /api/v1/apps/{id}/credentials/secrets")
	if tokens != 0 || secretCalls != 0 {
		t.Fatalf("in 3 s after AccessPolicyDenied: %d token requests, %d new secrets; want none (slow backoff, nothing replaced)", tokens, secretCalls)
	}
	if _, list := f.mgmtList("/api/v1/apps/" + obj.Status.AppID + "/credentials/secrets"); len(list) != 1 {
		t.Fatalf("%d client secrets, want the one created with the app", len(list))
	}

	// The admin adds the client to a policy; a change to the object (here an annotation)
	// makes the controller look again at once.
	if st, _ := f.mgmt(http.MethodPost, policiesPath, map[string]any{
		"type": "OAUTH_AUTHORIZATION_POLICY", "name": "billing", "description": "added by an admin",
		"conditions": map[string]any{"clients": map[string]any{"include": []string{obj.Status.ClientID}}},
	}); st != http.StatusCreated {
		t.Fatalf("create policy: %d", st)
	}
	pols := f.policies()
	pol := pols[len(pols)-1]
	if st, _ := f.mgmt(http.MethodPost, policiesPath+"/"+pol["id"].(string)+"/rules", map[string]any{
		"type": "RESOURCE_ACCESS", "name": "cc",
		"conditions": map[string]any{"grantTypes": map[string]any{"include": []string{"client_credentials"}},
			"scopes": map[string]any{"include": []string{"hello:read"}}},
	}); st != http.StatusCreated {
		t.Fatalf("create rule: %d", st)
	}
	f.update("denied", func(o *oauthv1.OAuthClient) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations["example.com/poke"] = "1"
	})
	after2 := f.waitReady("denied")
	if code, _ := f.tokenWith(f.secret("denied-oauth-client").Data); code != http.StatusOK || after2.Status.AppID != obj.Status.AppID {
		t.Fatalf("token %d after the policy was added", code)
	}
	if string(f.secret("denied-oauth-client").Data[controllers.KeyClientSecret]) != string(s.Data[controllers.KeyClientSecret]) {
		t.Fatalf("the published secret was replaced because of access_denied")
	}
}

// TestLongNames: an OAuthClient named with 253 characters gets Ready: the default app label
// is cut to 255 characters with a short hash, the Secret's name and label fit.
func TestLongNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	name := strings.Repeat("a", 120) + "." + strings.Repeat("b", 132)
	f.newClient(name)
	obj := f.waitReady(name)
	_, app := f.app(obj.Status.AppID)
	label := app["label"].(string)
	if len(label) > 255 || !strings.HasPrefix(label, f.ns+"/aaaa") {
		t.Fatalf("app label %q (%d characters)", label, len(label))
	}
	if obj.Status.SecretName == "" || len(obj.Status.SecretName) > 253 {
		t.Fatalf("Secret name %q", obj.Status.SecretName)
	}
	s := f.secret(obj.Status.SecretName)
	if s == nil {
		t.Fatalf("no Secret %s", obj.Status.SecretName)
	}
	if l := s.Labels[controllers.LabelClient]; l == "" || len(l) > 63 {
		t.Fatalf("Secret label %q", l)
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the Secret: %d", code)
	}
}

// TestAuthMethodChangePublishesAnsweredSecret: turning a private_key_jwt client into a
// client_secret_basic one publishes the secret Okta answers the PUT with (the operator
// issues none of its own).
func TestAuthMethodChangePublishesAnsweredSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("switch", func(o *oauthv1.OAuthClient) { o.Spec.TokenEndpointAuthMethod = oauthv1.AuthPrivateKeyJWT })
	obj := f.waitReady("switch")
	f.update("switch", func(o *oauthv1.OAuthClient) { o.Spec.TokenEndpointAuthMethod = oauthv1.AuthClientSecretBasic })
	f.waitReady("switch")
	s := f.secret("switch-oauth-client")
	if string(s.Data[controllers.KeyAuthMethod]) != "client_secret_basic" || len(s.Data[controllers.KeyClientSecret]) == 0 {
		t.Fatalf("Secret keys after the change: %v", keysOf(s.Data))
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the published secret: %d", code)
	}
	if n := f.emu.Stats().Route("POST /api/v1/apps/{id}/credentials/secrets"); n != 0 {
		t.Fatalf("the operator created %d client secrets; want none: the PUT's answer carries one", n)
	}
	if _, list := f.mgmtList("/api/v1/apps/" + obj.Status.AppID + "/credentials/secrets"); len(list) != 1 {
		t.Fatalf("%d client secrets, want 1", len(list))
	}
}

// providerReason waits until the fixture's provider has Ready=status with reason.
func (f *fixture) providerReason(status metav1.ConditionStatus, reason string) *oauthv1.ClusterOAuthProvider {
	f.t.Helper()
	p := &oauthv1.ClusterOAuthProvider{}
	f.eventually(waitTimeout, "provider Ready="+string(status)+" "+reason, func() (bool, string) {
		if err := k8s.Get(f.ctx, client.ObjectKey{Name: f.provider}, p); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, oauthv1.ConditionReady)
		if c == nil {
			return false, "no Ready condition"
		}
		return c.Status == status && c.Reason == reason && c.ObservedGeneration == p.Generation, c.Reason + ": " + c.Message
	})
	return p
}

// TestAppAdminToken (emulator --api-token-role=app-admin): an app-admin token may not touch
// authorization servers. With External the provider and its clients are Ready (the health
// check proves the token with an apps call and reads only public metadata); with Managed the
// provider is Ready=False Forbidden, naming the call and the admin role it needs — never
// InvalidAPIToken — and its clients say the same.
func TestAppAdminToken(t *testing.T) {
	t.Parallel()
	t.Run("External", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOptions{emu: oktaemu.Config{APITokenRole: oktaemu.RoleAppAdmin}})
		f.providerReason(metav1.ConditionTrue, oauthv1.ReasonSucceeded)
		f.newClient("app")
		obj := f.waitReady("app")
		if code, _ := f.tokenWith(f.secret("app-oauth-client").Data); code != http.StatusOK || obj.Status.AccessPolicyID != "" {
			t.Fatalf("token %d; accessPolicyID %q", code, obj.Status.AccessPolicyID)
		}
	})
	t.Run("Managed", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOptions{emu: oktaemu.Config{APITokenRole: oktaemu.RoleAppAdmin}, accessPolicy: oauthv1.AccessPolicyManaged})
		p := f.providerReason(metav1.ConditionFalse, oauthv1.ReasonForbidden)
		msg := meta.FindStatusCondition(p.Status.Conditions, oauthv1.ConditionReady).Message
		for _, want := range []string{"GET /api/v1/authorizationServers/{authServerId}/policies", "Super Administrator", "okta.authzServers.manage"} {
			if !strings.Contains(msg, want) {
				t.Errorf("provider message %q does not say %q", msg, want)
			}
		}
		f.newClient("app")
		f.waitReason("app", metav1.ConditionFalse, oauthv1.ReasonForbidden)
	})
}

// TestFeatureNotEnabled (emulator --disable-feature=api-access-management): without API
// Access Management a Managed provider is FeatureNotEnabled (401 E0000015 is not an invalid
// token); an External one is Ready, and so are its clients.
func TestFeatureNotEnabled(t *testing.T) {
	t.Parallel()
	disabled := oktaemu.Config{DisabledFeatures: []string{oktaemu.FeatureAPIAccessManagement}}
	t.Run("Managed", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOptions{emu: disabled, accessPolicy: oauthv1.AccessPolicyManaged})
		p := f.providerReason(metav1.ConditionFalse, oauthv1.ReasonFeatureNotEnabled)
		if msg := meta.FindStatusCondition(p.Status.Conditions, oauthv1.ConditionReady).Message; !strings.Contains(msg, "API Access Management") {
			t.Errorf("provider message %q does not name the feature", msg)
		}
	})
	t.Run("External", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOptions{emu: disabled})
		f.providerReason(metav1.ConditionTrue, oauthv1.ReasonSucceeded)
		f.newClient("app")
		f.waitReady("app")
	})
}

// dpopRecorder sits in front of the emulator (which does not model the setting): it records
// the dpop_bound_access_tokens the operator sends in app bodies and, while console is set,
// answers app reads as if an admin had turned the setting on in the console.
type dpopRecorder struct {
	mu      sync.Mutex
	sent    []any // the values of POST/PUT app bodies
	console bool
}

func (d *dpopRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isApp := strings.HasPrefix(r.URL.Path, "/api/v1/apps") && !strings.Contains(r.URL.Path, "/credentials") && !strings.Contains(r.URL.Path, "/lifecycle")
		if isApp && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var app map[string]any
			_ = json.Unmarshal(body, &app)
			settings, _ := app["settings"].(map[string]any)
			oc, _ := settings["oauthClient"].(map[string]any)
			d.mu.Lock()
			d.sent = append(d.sent, oc["dpop_bound_access_tokens"])
			if r.Method == http.MethodPut && oc["dpop_bound_access_tokens"] == false {
				d.console = false // repaired
			}
			d.mu.Unlock()
		}
		d.mu.Lock()
		console := d.console
		d.mu.Unlock()
		if !console || !isApp || r.Method != http.MethodGet || strings.Count(r.URL.Path, "/") != 4 {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var app map[string]any
		if json.Unmarshal(rec.Body.Bytes(), &app) == nil {
			if s, ok := app["settings"].(map[string]any); ok {
				if oc, ok := s["oauthClient"].(map[string]any); ok {
					oc["dpop_bound_access_tokens"] = true
				}
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(app)
	})
}

// TestDPoPBoundAccessTokensOff: apps are created with dpop_bound_access_tokens false (the
// Secret's consumers send no DPoP proofs) and the setting is repaired by the resync when it
// was turned on in the console.
func TestDPoPBoundAccessTokensOff(t *testing.T) {
	t.Parallel()
	d := &dpopRecorder{}
	f := newFixture(t, fixtureOptions{wrap: d.wrap, resyncPeriod: 2 * time.Second})
	f.newClient("dpop")
	f.waitReady("dpop")
	d.mu.Lock()
	if len(d.sent) != 1 || d.sent[0] != false {
		d.mu.Unlock()
		t.Fatalf("create sent dpop_bound_access_tokens %v, want false", d.sent)
	}
	d.console = true
	d.mu.Unlock()
	f.eventually(waitTimeout, "the resync to set dpop_bound_access_tokens back to false", func() (bool, string) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return !d.console && len(d.sent) >= 2 && d.sent[len(d.sent)-1] == false, fmt.Sprint(d.sent)
	})
	f.waitReady("dpop")
}

// TestManagedUnknownScope: with Managed, a scope the authorization server lacks stays
// InvalidScope (not a stalled BackendRejected).
func TestManagedUnknownScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{emu: oktaemu.Config{AccessPolicy: oktaemu.AccessPolicyNone}, accessPolicy: oauthv1.AccessPolicyManaged})
	f.newClient("typo", func(o *oauthv1.OAuthClient) { o.Spec.Scopes = []string{"hello:raed"} })
	f.waitReason("typo", metav1.ConditionFalse, oauthv1.ReasonInvalidScope)
	f.update("typo", func(o *oauthv1.OAuthClient) { o.Spec.Scopes = []string{"hello:read"} })
	f.waitReady("typo")
}
