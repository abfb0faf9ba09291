package controllers_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
)

// OAuthAPIs against a real API server and the Okta emulator: scopes on the default custom
// authorization server (Okta's scope fields: name, description, displayName), grants
// through OAuthClient spec.apis and their withdrawal, ScopeConflict, and the refusals made
// before any backend call.

func (f *fixture) newAPI(name string, mutate ...func(*oauthv1.OAuthAPI)) *oauthv1.OAuthAPI {
	f.t.Helper()
	api := &oauthv1.OAuthAPI{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: oauthv1.OAuthAPISpec{
			ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: f.provider},
		},
	}
	for _, m := range mutate {
		m(api)
	}
	f.create(api)
	return api
}

func (f *fixture) getAPI(name string) *oauthv1.OAuthAPI {
	f.t.Helper()
	api := &oauthv1.OAuthAPI{}
	if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, api); err != nil {
		f.t.Fatalf("get OAuthAPI %s: %v", name, err)
	}
	return api
}

func (f *fixture) updateAPI(name string, mutate func(*oauthv1.OAuthAPI)) {
	f.t.Helper()
	f.eventually(waitTimeout, "update OAuthAPI "+name, func() (bool, string) {
		api := f.getAPI(name)
		mutate(api)
		if err := k8s.Update(f.ctx, api); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func describeAPI(api *oauthv1.OAuthAPI) string {
	var parts []string
	for _, c := range api.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s (%s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return fmt.Sprintf("gen %d observed %d; %s", api.Generation, api.Status.ObservedGeneration, strings.Join(parts, "; "))
}

// waitAPI waits until the OAuthAPI's Ready condition for its generation has status and reason.
func (f *fixture) waitAPI(name string, status metav1.ConditionStatus, reason string) *oauthv1.OAuthAPI {
	f.t.Helper()
	var api *oauthv1.OAuthAPI
	f.eventually(waitTimeout, fmt.Sprintf("OAuthAPI %s Ready=%s/%s", name, status, reason), func() (bool, string) {
		api = f.getAPI(name)
		c := meta.FindStatusCondition(api.Status.Conditions, oauthv1.ConditionReady)
		return c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == api.Generation, describeAPI(api)
	})
	return api
}

// serverScopes reads the default authorization server's scopes from the emulator's
// management API, by name.
func (f *fixture) serverScopes() map[string]map[string]any {
	f.t.Helper()
	code, list := f.mgmtList("/api/v1/authorizationServers/default/scopes")
	if code != http.StatusOK {
		f.t.Fatalf("list scopes: %d", code)
	}
	out := map[string]map[string]any{}
	for _, v := range list {
		s := v.(map[string]any)
		out[s["name"].(string)] = s
	}
	return out
}

func helloScopes(prefix string) []oauthv1.APIScope {
	return []oauthv1.APIScope{
		{Name: prefix + ":read", Description: "Read " + prefix, DisplayName: "Read"},
		{Name: prefix + ":admin", Description: "Administer " + prefix, DisplayName: "Admin"},
	}
}

func TestOAuthAPIScopeLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	// A scope made by hand before the API declares it: used, never deleted.
	if code, _ := f.mgmt(http.MethodPost, "/api/v1/authorizationServers/default/scopes",
		map[string]any{"name": "orders:legacy", "description": "made by hand"}); code != http.StatusCreated {
		t.Fatalf("create orders:legacy: %d", code)
	}
	f.newAPI("orders", func(a *oauthv1.OAuthAPI) {
		a.Spec.Scopes = append(helloScopes("orders"), oauthv1.APIScope{Name: "orders:legacy", Description: "Legacy orders"})
	})
	api := f.waitAPI("orders", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	if api.Status.Issuer != f.emu.Issuer() || api.Status.Audience == "" {
		t.Fatalf("status issuer %q audience %q; want the emulator's issuer %q and the server's audience", api.Status.Issuer, api.Status.Audience, f.emu.Issuer())
	}
	if !slices.Equal(api.Status.ManagedScopes, []string{"orders:read", "orders:admin"}) {
		t.Fatalf("managedScopes = %v", api.Status.ManagedScopes)
	}
	got := f.serverScopes()
	if s := got["orders:legacy"]; s == nil || s["description"] != "Legacy orders" {
		t.Fatalf("the existing scope was not set to the spec: %v", s)
	}
	for _, want := range helloScopes("orders") {
		s := got[want.Name]
		if s == nil || s["description"] != want.Description || s["displayName"] != want.DisplayName || s["system"] != false {
			t.Fatalf("scope %s on the server = %v; want description %q displayName %q", want.Name, s, want.Description, want.DisplayName)
		}
	}

	// Update one scope's fields, drop one, add one.
	f.updateAPI("orders", func(a *oauthv1.OAuthAPI) {
		a.Spec.Scopes = []oauthv1.APIScope{
			{Name: "orders:read", Description: "Read orders, v2", DisplayName: "Read orders"},
			{Name: "orders:write", Description: "Write orders"},
		}
	})
	f.waitAPI("orders", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	got = f.serverScopes()
	if s := got["orders:read"]; s == nil || s["description"] != "Read orders, v2" || s["displayName"] != "Read orders" {
		t.Fatalf("updated scope = %v", s)
	}
	if s := got["orders:write"]; s == nil || s["displayName"] != "" {
		// Okta answers displayName on every scope (recordings); empty when none was given.
		t.Fatalf("new scope = %v; want it with an empty displayName", s)
	}
	if _, ok := got["orders:admin"]; ok {
		t.Fatal("orders:admin is still on the server after it left spec.scopes")
	}

	// A spec.audience the server does not have is refused.
	f.updateAPI("orders", func(a *oauthv1.OAuthAPI) { a.Spec.Audience = "https://not-the-servers.example" })
	api = f.waitAPI("orders", metav1.ConditionFalse, oauthv1.ReasonInvalidSpec)
	if c := meta.FindStatusCondition(api.Status.Conditions, oauthv1.ConditionStalled); c == nil || !strings.Contains(c.Message, "not-the-servers") {
		t.Fatalf("conditions: %s", describeAPI(api))
	}
	f.updateAPI("orders", func(a *oauthv1.OAuthAPI) { a.Spec.Audience = "" })
	f.waitAPI("orders", metav1.ConditionTrue, oauthv1.ReasonSucceeded)

	// Delete (the default policy) removes the API's scopes; Orphan leaves them.
	f.newAPI("kept", func(a *oauthv1.OAuthAPI) {
		a.Spec.Scopes = []oauthv1.APIScope{{Name: "kept:read"}}
		a.Spec.DeletionPolicy = oauthv1.DeletionPolicyOrphan
	})
	f.waitAPI("kept", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	for _, name := range []string{"orders", "kept"} {
		if err := k8s.Delete(f.ctx, &oauthv1.OAuthAPI{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}}); err != nil {
			t.Fatal(err)
		}
	}
	f.eventually(waitTimeout, "both OAuthAPIs gone", func() (bool, string) {
		var list oauthv1.OAuthAPIList
		if err := k8s.List(f.ctx, &list, client.InNamespace(f.ns)); err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d left", len(list.Items))
	})
	got = f.serverScopes()
	if _, ok := got["orders:read"]; ok {
		t.Error("orders:read is still on the server after its OAuthAPI was deleted")
	}
	if _, ok := got["orders:write"]; ok {
		t.Error("orders:write is still on the server after its OAuthAPI was deleted")
	}
	if _, ok := got["orders:legacy"]; !ok {
		t.Error("orders:legacy, made before the OAuthAPI, was deleted with it")
	}
	if _, ok := got["kept:read"]; !ok {
		t.Error("kept:read was deleted although its OAuthAPI's deletionPolicy is Orphan")
	}
}

func TestOAuthAPIScopeConflict(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	// Admission: a rule may only name the API's own scopes.
	bad := &oauthv1.OAuthAPI{
		ObjectMeta: metav1.ObjectMeta{Name: "bad-rules", Namespace: f.ns},
		Spec: oauthv1.OAuthAPISpec{
			ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: f.provider},
			Scopes:      []oauthv1.APIScope{{Name: "bad:read"}},
			Rules:       []oauthv1.APIRule{{PathPrefix: "/", Scopes: []string{"other:read"}}},
		},
	}
	if err := k8s.Create(f.ctx, bad); err == nil || !strings.Contains(err.Error(), "every scope in rules must be one of the API's spec.scopes") {
		t.Fatalf("creating an OAuthAPI whose rule names a foreign scope: %v", err)
	}
	f.newAPI("first", func(a *oauthv1.OAuthAPI) { a.Spec.Scopes = []oauthv1.APIScope{{Name: "shared:read"}} })
	f.waitAPI("first", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	f.newAPI("second", func(a *oauthv1.OAuthAPI) {
		a.Spec.Scopes = []oauthv1.APIScope{{Name: "shared:read"}, {Name: "second:only"}}
	})
	api := f.waitAPI("second", metav1.ConditionFalse, oauthv1.ReasonScopeConflict)
	c := meta.FindStatusCondition(api.Status.Conditions, oauthv1.ConditionReady)
	if !strings.Contains(c.Message, f.ns+"/first") || !strings.Contains(c.Message, "shared:read") {
		t.Fatalf("ScopeConflict message %q does not name the other API and the scope", c.Message)
	}
	if meta.FindStatusCondition(api.Status.Conditions, oauthv1.ConditionStalled) == nil {
		t.Fatalf("conditions: %s", describeAPI(api))
	}
	if _, ok := f.serverScopes()["second:only"]; ok {
		t.Fatal("the refused API's own scope was created anyway")
	}
	// The first API leaves: the second gets the scope.
	if err := k8s.Delete(f.ctx, &oauthv1.OAuthAPI{ObjectMeta: metav1.ObjectMeta{Name: "first", Namespace: f.ns}}); err != nil {
		t.Fatal(err)
	}
	f.waitAPI("second", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	got := f.serverScopes()
	if got["shared:read"] == nil || got["second:only"] == nil {
		t.Fatalf("server scopes after the conflict ended: %v", got)
	}

	// The provider waits for the OAuthAPIs on it (InUse): their scopes are deleted through it.
	if err := k8s.Delete(f.ctx, &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: f.provider}}); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "the provider InUse by the OAuthAPI", func() (bool, string) {
		p := &oauthv1.ClusterOAuthProvider{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Name: f.provider}, p); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, oauthv1.ConditionReady)
		return c != nil && c.Reason == oauthv1.ReasonInUse && strings.Contains(c.Message, "OAuthAPI"), fmt.Sprint(c)
	})
	if err := k8s.Delete(f.ctx, &oauthv1.OAuthAPI{ObjectMeta: metav1.ObjectMeta{Name: "second", Namespace: f.ns}}); err != nil {
		t.Fatal(err)
	}
	f.eventually(waitTimeout, "the provider gone after its last OAuthAPI", func() (bool, string) {
		err := k8s.Get(f.ctx, client.ObjectKey{Name: f.provider}, &oauthv1.ClusterOAuthProvider{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	got = f.serverScopes()
	if got["shared:read"] != nil || got["second:only"] != nil {
		t.Fatalf("scopes left on the server after the OAuthAPI and its provider went: %v", got)
	}
}

func TestOAuthClientAPIRefusalsBeforeBackend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{accessPolicy: oauthv1.AccessPolicyManaged})
	f.newAPI("billing", func(a *oauthv1.OAuthAPI) {
		a.Spec.Scopes = []oauthv1.APIScope{{Name: "billing:read"}}
		a.Spec.AllowedClients = &oauthv1.AllowedClients{Clients: []oauthv1.ClientReference{{Namespace: f.ns, Name: "undeclared"}}}
	})
	f.waitAPI("billing", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	before := f.clientCalls()
	for _, tc := range []struct {
		client, api string
		scopes      []string
		reason      string
		mentions    []string
	}{
		{"missing", "nope", []string{"billing:read"}, oauthv1.ReasonAPINotFound, []string{f.ns + "/nope"}},
		{"stranger", "billing", []string{"billing:read"}, oauthv1.ReasonAPINotAllowed, []string{f.ns + "/billing", f.ns + "/stranger"}},
		{"undeclared", "billing", []string{"billing:write"}, oauthv1.ReasonScopeNotInAPI, []string{f.ns + "/billing", "billing:write"}},
	} {
		f.newClient(tc.client, func(c *oauthv1.OAuthClient) {
			c.Spec.Scopes = nil
			c.Spec.APIs = []oauthv1.APIGrant{{Namespace: f.ns, Name: tc.api, Scopes: tc.scopes}}
		})
		obj := f.waitReason(tc.client, metav1.ConditionFalse, tc.reason)
		c := readyCondition(obj)
		for _, m := range tc.mentions {
			if !strings.Contains(c.Message, m) {
				t.Errorf("%s: message %q does not name %s", tc.client, c.Message, m)
			}
		}
		if obj.Status.AppID != "" {
			t.Errorf("%s: app %s created", tc.client, obj.Status.AppID)
		}
	}
	// Naming the API's scope directly in spec.scopes does not get around allowedClients.
	f.newClient("direct", func(c *oauthv1.OAuthClient) {
		c.Spec.Scopes = []string{"billing:read"}
		c.Spec.APIs = nil
	})
	obj := f.waitReason("direct", metav1.ConditionFalse, oauthv1.ReasonAPINotAllowed)
	if c := readyCondition(obj); !strings.Contains(c.Message, "spec.scopes") || !strings.Contains(c.Message, f.ns+"/billing") {
		t.Errorf("direct: message %q does not name spec.scopes and the API", c.Message)
	}
	if obj.Status.AppID != "" {
		t.Errorf("direct: app %s created", obj.Status.AppID)
	}
	if after := f.clientCalls(); after != before {
		t.Fatalf("the refused clients cost %d backend calls; want 0", after-before)
	}
}

// clientCalls counts the emulator requests an OAuthClient can cause: apps, access
// policies and tokens (not the providers' health checks or the OAuthAPIs' scopes).
func (f *fixture) clientCalls() int64 {
	var n int64
	for route, c := range f.emu.Stats().ByRoute {
		if strings.Contains(route, "/api/v1/apps") || strings.HasSuffix(route, "/v1/token") ||
			(strings.Contains(route, "/policies") && !strings.HasPrefix(route, "GET ")) {
			n += c
		}
	}
	return n
}

func TestOAuthClientAPIGrantAndWithdrawal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{accessPolicy: oauthv1.AccessPolicyManaged})
	// Only the managed policies grant: an org whose Default Policy grants every scope to
	// every client (as Okta's default authorization server comes) cannot withdraw anything.
	f.deactivateDefaultPolicy()
	// Clients are allowed by their namespace's labels.
	f.labelNamespace(map[string]string{"orders-clients": "yes"})
	f.newAPI("orders", func(a *oauthv1.OAuthAPI) {
		a.Spec.Scopes = helloScopes("orders")
		a.Spec.AllowedClients = &oauthv1.AllowedClients{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"orders-clients": "yes"}}}
	})
	api := f.waitAPI("orders", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	f.newClient("shop", func(c *oauthv1.OAuthClient) {
		c.Spec.Scopes = []string{"hello:read"}
		c.Spec.APIs = []oauthv1.APIGrant{{Namespace: f.ns, Name: "orders", Scopes: []string{"orders:read"}}}
	})
	obj := f.waitReady("shop")
	data := f.secret("shop-oauth-client").Data
	if s := string(data[controllers.KeyScope]); s != "hello:read orders:read" {
		t.Fatalf("SCOPE = %q; want spec.scopes then the API's grant", s)
	}
	if a := string(data[controllers.KeyAudience]); a != api.Status.Audience {
		t.Fatalf("AUDIENCE = %q; want the API's audience %q", a, api.Status.Audience)
	}
	if code, _ := f.tokenWith(data); code != http.StatusOK {
		t.Fatalf("token request for %q: %d", data[controllers.KeyScope], code)
	}
	f.eventually(waitTimeout, "grantedClients lists shop", func() (bool, string) {
		a := f.getAPI("orders")
		return len(a.Status.GrantedClients) == 1 && a.Status.GrantedClients[0].Name == "shop" &&
			slices.Equal(a.Status.GrantedClients[0].Scopes, []string{"orders:read"}), fmt.Sprint(a.Status.GrantedClients)
	})
	appID := obj.Status.AppID

	// The namespace loses the label: the grant is withdrawn at the authorization server.
	f.labelNamespace(map[string]string{"orders-clients": "no"})
	obj = f.waitReason("shop", metav1.ConditionFalse, oauthv1.ReasonAPINotAllowed)
	if c := readyCondition(obj); !strings.Contains(c.Message, f.ns+"/orders") {
		t.Fatalf("APINotAllowed message %q does not name the API", c.Message)
	}
	f.eventually(waitTimeout, "the token endpoint to refuse orders:read", func() (bool, string) {
		code, _ := f.tokenWith(data)
		return code != http.StatusOK, fmt.Sprint(code)
	})
	// The rest of the client is as it was: the same app, the Secret, and its own scope.
	if obj.Status.AppID != appID {
		t.Fatalf("app changed from %s to %s", appID, obj.Status.AppID)
	}
	if code, _ := f.app(appID); code != http.StatusOK {
		t.Fatalf("app %s: %d", appID, code)
	}
	own := map[string][]byte{}
	for k, v := range f.secret("shop-oauth-client").Data {
		own[k] = v
	}
	own[controllers.KeyScope] = []byte("hello:read")
	if code, _ := f.tokenWith(own); code != http.StatusOK {
		t.Fatalf("token request for the client's own scope after the withdrawal: %d", code)
	}
	f.eventually(waitTimeout, "grantedClients empty", func() (bool, string) {
		a := f.getAPI("orders")
		return len(a.Status.GrantedClients) == 0, fmt.Sprint(a.Status.GrantedClients)
	})

	// Allowed again by name: granted again.
	f.updateAPI("orders", func(a *oauthv1.OAuthAPI) {
		a.Spec.AllowedClients.Clients = []oauthv1.ClientReference{{Namespace: f.ns, Name: "shop"}}
	})
	f.waitReady("shop")
	if code, _ := f.tokenWith(data); code != http.StatusOK {
		t.Fatalf("token request after the grant came back: %d", code)
	}
}

// deactivateDefaultPolicy deactivates the default authorization server's "Default Policy"
// (all clients, every scope).
func (f *fixture) deactivateDefaultPolicy() {
	f.t.Helper()
	code, list := f.mgmtList("/api/v1/authorizationServers/default/policies")
	if code != http.StatusOK {
		f.t.Fatalf("list policies: %d", code)
	}
	for _, v := range list {
		p := v.(map[string]any)
		if p["name"] == "Default Policy" {
			if code, _ := f.mgmt(http.MethodPost, "/api/v1/authorizationServers/default/policies/"+p["id"].(string)+"/lifecycle/deactivate", nil); code != http.StatusNoContent && code != http.StatusOK {
				f.t.Fatalf("deactivate the Default Policy: %d", code)
			}
			return
		}
	}
	f.t.Fatal("no Default Policy on the default authorization server")
}

// labelNamespace sets labels on the fixture's namespace.
func (f *fixture) labelNamespace(set map[string]string) {
	f.t.Helper()
	f.eventually(waitTimeout, "label the namespace", func() (bool, string) {
		ns := &corev1.Namespace{}
		if err := k8s.Get(f.ctx, client.ObjectKey{Name: f.ns}, ns); err != nil {
			return false, err.Error()
		}
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		for k, v := range set {
			ns.Labels[k] = v
		}
		if err := k8s.Update(f.ctx, ns); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func TestOAuthClientAPIGrantOnHydra(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, false)
	h.newAPI("orders", func(a *oauthv1.OAuthAPI) {
		a.Spec.Scopes = helloScopes("orders")
		a.Spec.AllowedClients = &oauthv1.AllowedClients{Clients: []oauthv1.ClientReference{{Namespace: h.ns, Name: "shop"}}}
	})
	api := h.waitAPI("orders", metav1.ConditionTrue, oauthv1.ReasonSucceeded)
	if api.Status.Audience != h.ns+"/orders" || len(api.Status.ManagedScopes) != 0 {
		t.Fatalf("Hydra API status: audience %q managedScopes %v; want %q and none", api.Status.Audience, api.Status.ManagedScopes, h.ns+"/orders")
	}
	obj := h.newClient("shop", func(c *oauthv1.OAuthClient) {
		c.Spec.APIs = []oauthv1.APIGrant{{Namespace: h.ns, Name: "orders", Scopes: []string{"orders:admin"}}}
	})
	obj = h.waitReady(obj.Name)
	c := h.rawClient(obj.Status.ClientID)
	if c["scope"] != "hello:read orders:admin" {
		t.Fatalf("hydra client scope = %v", c["scope"])
	}
	if aud, _ := c["audience"].([]any); len(aud) != 1 || aud[0] != h.ns+"/orders" {
		t.Fatalf("hydra client audience = %v", c["audience"])
	}
	data := h.secret("shop-oauth-client").Data
	if string(data[controllers.KeyAudience]) != h.ns+"/orders" {
		t.Fatalf("AUDIENCE = %q", data[controllers.KeyAudience])
	}
	// Withdrawn: the Hydra client loses the scope and the audience.
	h.updateAPI("orders", func(a *oauthv1.OAuthAPI) { a.Spec.AllowedClients.Clients = nil })
	h.waitReason("shop", metav1.ConditionFalse, oauthv1.ReasonAPINotAllowed)
	h.eventually(waitTimeout, "the Hydra client to lose the grant", func() (bool, string) {
		c := h.rawClient(obj.Status.ClientID)
		aud, _ := c["audience"].([]any)
		return c["scope"] == "hello:read" && len(aud) == 0, fmt.Sprint(c["scope"], c["audience"])
	})
}
