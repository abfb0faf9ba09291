package oktaemu_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// TestSDKAppAndSecretLifecycle drives the whole app and client-secret
// lifecycle with the real Okta SDK; every response is spec-validated.
func TestSDKAppAndSecretLifecycle(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	ctx, c := h.sdk()
	apps := c.Application

	// Create (activated) with a profile marker.
	profile := map[string]any{"clientcreds.dev/owner": "team-a/billing", "n": 1.5}
	created, _, err := apps.CreateApplication(ctx, sdkServiceApp("Team A Billing", "client_secret_basic", profile), query.NewQueryParams(query.WithActivate(true)))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	app := created.(*okta.OpenIdConnectApplication)
	if app.Id == "" || app.Status != "ACTIVE" || app.Name != "oidc_client" {
		t.Fatalf("created app = id %q status %q name %q", app.Id, app.Status, app.Name)
	}
	oc := app.Credentials.OauthClient
	if oc.ClientId != app.Id {
		t.Errorf("client_id = %q, want the app id %q", oc.ClientId, app.Id)
	}
	firstSecret := oc.ClientSecret
	if len(firstSecret) < 32 {
		t.Fatalf("create must return a generated client_secret, got %d chars", len(firstSecret))
	}
	if tok := h.FetchToken(t, oc.ClientId, firstSecret, "hello:read"); tok == "" {
		t.Fatal("no token")
	}

	// GET: same app, profile round-trips, no client_secret.
	got, _, err := apps.GetApplication(ctx, app.Id, okta.NewOpenIdConnectApplication(), nil)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	g := got.(*okta.OpenIdConnectApplication)
	if g.Label != "Team A Billing" || g.Credentials.OauthClient.ClientSecret != "" {
		t.Errorf("get: label %q, client_secret present=%v", g.Label, g.Credentials.OauthClient.ClientSecret != "")
	}
	if pm, _ := g.Profile.(map[string]any); pm["clientcreds.dev/owner"] != "team-a/billing" || pm["n"] != 1.5 {
		t.Errorf("profile = %#v", g.Profile)
	}
	if g.Settings.OauthClient.ApplicationType != "service" || g.Credentials.OauthClient.TokenEndpointAuthMethod != "client_secret_basic" {
		t.Errorf("settings = %+v", g.Settings.OauthClient)
	}

	// PUT the object read back, with a new label and profile: full replace.
	g.Label = "Team A Billing v2"
	g.Profile = map[string]any{"clientcreds.dev/owner": "team-a/billing", "rev": "2"}
	upd, _, err := apps.UpdateApplication(ctx, app.Id, g)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	u := upd.(*okta.OpenIdConnectApplication)
	if u.Label != "Team A Billing v2" || u.Credentials.OauthClient.ClientSecret != firstSecret {
		t.Errorf("update: label %q, returned secret matches=%v", u.Label, u.Credentials.OauthClient.ClientSecret == firstSecret)
	}
	if pm, _ := u.Profile.(map[string]any); pm["rev"] != "2" || pm["n"] != nil {
		t.Errorf("profile after replace = %#v", u.Profile)
	}

	// Secrets: list has the creation secret with its full value, as real
	// orgs answered (TestAccDataSourceOktaAppOauth_read #13).
	secrets, _, err := apps.ListClientSecretsForApplication(ctx, app.Id)
	if err != nil || len(secrets) != 1 {
		t.Fatalf("list secrets = %d, %v", len(secrets), err)
	}
	old := secrets[0]
	if old.Status != "ACTIVE" || old.ClientSecret != firstSecret || old.SecretHash == "" {
		t.Errorf("listed secret: status %q, full value=%v, hash %q", old.Status, old.ClientSecret == firstSecret, old.SecretHash)
	}
	// Rotation: create a second secret (201, full value), both work.
	second, resp, err := apps.CreateNewClientSecretForApplication(ctx, app.Id, okta.ClientSecretMetadata{})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	if resp.StatusCode != http.StatusCreated || second.Status != "ACTIVE" || len(second.ClientSecret) < 32 {
		t.Fatalf("create secret: status %d, secret status %q", resp.StatusCode, second.Status)
	}
	h.FetchToken(t, oc.ClientId, firstSecret, "hello:read")
	h.FetchToken(t, oc.ClientId, second.ClientSecret, "hello:read")
	// A third secret is refused.
	_, _, err = apps.CreateNewClientSecretForApplication(ctx, app.Id, okta.ClientSecretMetadata{})
	if code := oktaCode(t, err); code != "E0000001" {
		t.Errorf("third secret: code %s, want E0000001", code)
	}
	// An active secret cannot be deleted.
	_, err = apps.DeleteClientSecretForApplication(ctx, app.Id, old.Id)
	if code := oktaCode(t, err); code != "E0000001" {
		t.Errorf("delete active secret: code %s", code)
	}
	// Deactivate the old one: it stops working; the new one still works.
	deact, _, err := apps.DeactivateClientSecretForApplication(ctx, app.Id, old.Id)
	if err != nil || deact.Status != "INACTIVE" {
		t.Fatalf("deactivate secret: %v %+v", err, deact)
	}
	if res, _ := h.RequestToken(tokenForm("hello:read"), oc.ClientId, firstSecret); res.Status != http.StatusUnauthorized || res.Error != "invalid_client" {
		t.Errorf("token with deactivated secret: %d %s", res.Status, res.Error)
	}
	// The only remaining active secret cannot be deactivated.
	_, _, err = apps.DeactivateClientSecretForApplication(ctx, app.Id, second.Id)
	if code := oktaCode(t, err); code != "E0000001" {
		t.Errorf("deactivate only active secret: code %s", code)
	}
	// Reactivate, get, deactivate again and delete.
	if re, _, err := apps.ActivateClientSecretForApplication(ctx, app.Id, old.Id); err != nil || re.Status != "ACTIVE" {
		t.Fatalf("activate secret: %v", err)
	}
	if gs, _, err := apps.GetClientSecretForApplication(ctx, app.Id, old.Id); err != nil || gs.Id != old.Id {
		t.Fatalf("get secret: %v", err)
	}
	if _, _, err := apps.DeactivateClientSecretForApplication(ctx, app.Id, old.Id); err != nil {
		t.Fatal(err)
	}
	if resp, err := apps.DeleteClientSecretForApplication(ctx, app.Id, old.Id); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete secret: %v", err)
	}
	_, _, err = apps.GetClientSecretForApplication(ctx, app.Id, old.Id)
	if code := oktaCode(t, err); code != "E0000007" {
		t.Errorf("get deleted secret: code %s", code)
	}
	if res, _ := h.RequestToken(tokenForm("hello:read"), oc.ClientId, firstSecret); res.Status != http.StatusUnauthorized {
		t.Errorf("token with deleted secret: %d", res.Status)
	}

	// App lifecycle: an ACTIVE app cannot be deleted.
	_, err = apps.DeleteApplication(ctx, app.Id)
	if code := oktaCode(t, err); code != "E0000056" {
		t.Errorf("delete active app: code %s, want E0000056", code)
	}
	if _, err := apps.DeactivateApplication(ctx, app.Id); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	if res, _ := h.RequestToken(tokenForm("hello:read"), oc.ClientId, second.ClientSecret); res.Status != http.StatusUnauthorized {
		t.Errorf("token for deactivated app: %d", res.Status)
	}
	if _, err := apps.ActivateApplication(ctx, app.Id); err != nil {
		t.Fatalf("activate: %v", err)
	}
	h.FetchToken(t, oc.ClientId, second.ClientSecret, "hello:read")
	if _, err := apps.DeactivateApplication(ctx, app.Id); err != nil {
		t.Fatal(err)
	}
	if resp, err := apps.DeleteApplication(ctx, app.Id); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v", err)
	}
	_, err = apps.DeleteApplication(ctx, app.Id)
	if code := oktaCode(t, err); code != "E0000007" {
		t.Errorf("delete again: code %s, want E0000007", code)
	}
	_, _, err = apps.GetApplication(ctx, app.Id, okta.NewOpenIdConnectApplication(), nil)
	if code := oktaCode(t, err); code != "E0000007" {
		t.Errorf("get deleted: code %s", code)
	}
}

// TestSDKPaging creates 450 apps and pages through them with limit=200:
// every app is returned exactly once, in three pages.
func TestSDKPaging(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	ctx, c := h.sdk()
	const n = 450
	want := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, _, err := c.Application.CreateApplication(ctx, sdkServiceApp(fmt.Sprintf("page-%03d", i), "client_secret_basic", nil), nil)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			want[a.(*okta.OpenIdConnectApplication).Id] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}

	seen := map[string]int{}
	pages := 0
	apps, resp, err := c.Application.ListApplications(ctx, query.NewQueryParams(query.WithLimit(200)))
	for {
		if err != nil {
			t.Fatalf("list page %d: %v", pages+1, err)
		}
		pages++
		if len(apps) > 200 {
			t.Fatalf("page %d has %d apps", pages, len(apps))
		}
		for _, a := range apps {
			seen[a.(*okta.Application).Id]++
		}
		if !resp.HasNextPage() {
			break
		}
		var next []okta.Application
		resp, err = resp.Next(ctx, &next)
		apps = apps[:0]
		for i := range next {
			apps = append(apps, &next[i])
		}
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}
	if len(seen) != n {
		t.Errorf("saw %d distinct apps, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 || !want[id] {
			t.Errorf("app %s seen %d times (created: %v)", id, k, want[id])
		}
	}
}

// TestListQueryAndFilter covers q (label startsWith, case-insensitive),
// filter and the separate Link headers.
func TestListQueryAndFilter(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	ids := map[string]string{}
	for _, l := range []string{"Billing API", "billing worker", "Shipping"} {
		ids[l] = h.CreateServiceApp(t, l, "").ID
	}
	inactive := h.call(http.MethodPost, "/api/v1/apps?activate=false", serviceApp("Billing old", "client_secret_basic"), "")
	if inactive.status != http.StatusOK || inactive.json(t)["status"] != "INACTIVE" {
		t.Fatalf("create inactive: %d %s", inactive.status, inactive.body)
	}
	ids["Billing old"] = inactive.json(t)["id"].(string)

	labels := func(r response) []string {
		var out []string
		for _, a := range r.list(t) {
			out = append(out, a["label"].(string))
		}
		slices.Sort(out)
		return out
	}
	tests := map[string]struct {
		query string
		want  []string
	}{
		"q is startsWith, case-insensitive": {"?q=BILLING", []string{"Billing API", "Billing old", "billing worker"}},
		"q matches nothing":                 {"?q=zzz", nil},
		"q matches the app name":            {"?q=oidc", []string{"Billing API", "Billing old", "Shipping", "billing worker"}},
		"filter status":                     {"?filter=" + urlq(`status eq "INACTIVE"`), []string{"Billing old"}},
		"filter id":                         {"?filter=" + urlq(`id eq "`+ids["Shipping"]+`"`), []string{"Shipping"}},
		"filter or":                         {"?filter=" + urlq(`id eq "`+ids["Shipping"]+`" or status eq "INACTIVE"`), []string{"Billing old", "Shipping"}},
		"q and filter":                      {"?q=bill&filter=" + urlq(`status eq "ACTIVE"`), []string{"Billing API", "billing worker"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := h.call(http.MethodGet, "/api/v1/apps"+tc.query, nil, "")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := labels(r); !slices.Equal(got, tc.want) {
				t.Errorf("labels = %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("links are separate headers", func(t *testing.T) {
		r := h.call(http.MethodGet, "/api/v1/apps?limit=2&q=b", nil, "")
		links := r.header.Values("Link")
		if len(links) != 2 {
			t.Fatalf("Link headers = %q, want self and next", links)
		}
		if links[0] != "<"+h.URL+`/api/v1/apps?limit=2&q=b>; rel="self"` {
			t.Errorf("self link = %q", links[0])
		}
		next := r.nextLink(t)
		r2 := h.call(http.MethodGet, next, nil, "")
		if got := len(r2.list(t)); got != 1 || len(r2.header.Values("Link")) != 1 {
			t.Errorf("second page: %d apps, links %q", got, r2.header.Values("Link"))
		}
	})

	t.Run("bad filter", func(t *testing.T) {
		for _, f := range []string{`label eq "x"`, `status gt "A"`, `status eq`, `status eq "A" and`, `"x"`} {
			r := h.call(http.MethodGet, "/api/v1/apps?filter="+urlq(f), nil, "")
			if r.status != http.StatusBadRequest || r.errorCode(t) != "E0000031" {
				t.Errorf("filter %q: %d %s", f, r.status, r.body)
			}
		}
	})
}

// TestReplaceSemantics: PUT replaces the mutable properties, keeps what it
// may not change, and switching to a client-secret method mints a secret.
func TestReplaceSemantics(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	keyApp := h.CreateServiceApp(t, "keys", "private_key_jwt")
	path := "/api/v1/apps/" + keyApp.ID
	got := h.call(http.MethodGet, path, nil, "").json(t)

	t.Run("omitted auth method is kept", func(t *testing.T) {
		body := withPath(got, "credentials", nil)
		body = withPath(body, "label", "keys renamed")
		r := h.call(http.MethodPut, path, body, "")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		oc := r.json(t)["credentials"].(map[string]any)["oauthClient"].(map[string]any)
		if oc["token_endpoint_auth_method"] != "private_key_jwt" || oc["client_secret"] != nil {
			t.Errorf("oauthClient after replace = %v", oc)
		}
		h.FetchTokenWithKey(t, keyApp, "hello:read")
	})
	t.Run("read-only properties are ignored", func(t *testing.T) {
		body := withPath(got, "id", "0oaother")
		body = withPath(body, "status", "INACTIVE")
		body = withPath(body, "created", "2001-01-01T00:00:00.000Z")
		r := h.call(http.MethodPut, path, body, "")
		m := r.json(t)
		if r.status != 200 || m["id"] != keyApp.ID || m["status"] != "ACTIVE" || m["created"] == "2001-01-01T00:00:00.000Z" {
			t.Errorf("%d id %v status %v created %v", r.status, m["id"], m["status"], m["created"])
		}
	})
	t.Run("switch to client_secret_post mints a secret", func(t *testing.T) {
		body := withPath(got, "credentials.oauthClient.token_endpoint_auth_method", "client_secret_post")
		r := h.call(http.MethodPut, path, body, "")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		secret, _ := r.json(t)["credentials"].(map[string]any)["oauthClient"].(map[string]any)["client_secret"].(string)
		if len(secret) < 32 {
			t.Fatal("no client secret returned after switching to a secret method")
		}
		h.FetchToken(t, keyApp.ClientID, secret, "hello:read")
		if r := h.form("/oauth2/default/v1/token", "grant_type=client_credentials&scope=hello:read&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="+h.ClientAssertion(t, keyApp), nil); r.status != 401 {
			t.Errorf("assertion still accepted after the switch: %d", r.status)
		}
	})
	t.Run("switch back without keys is refused", func(t *testing.T) {
		body := withPath(got, "settings.oauthClient.jwks", nil)
		r := h.call(http.MethodPut, path, body, "")
		if r.status != 400 || r.errorCode(t) != "E0000001" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}
