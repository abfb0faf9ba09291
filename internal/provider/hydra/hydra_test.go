package hydra_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/hydra"
	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
)

var owner = provider.Owner{UID: "8d2f-uid-1", Namespace: "team-a", Name: "billing"}

func newProvider(t *testing.T, s *hydratest.Server) (*hydra.Client, provider.Endpoints) {
	t.Helper()
	p, err := hydra.New(hydra.Config{AdminURL: s.AdminURL, Issuer: s.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := p.CheckHealth(context.Background())
	if err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	return p, ep
}

// rawClient reads a client from the admin API as Hydra has it.
func rawClient(t *testing.T, s *hydratest.Server, id string) map[string]any {
	t.Helper()
	resp, err := http.Get(s.AdminURL + "/admin/clients/" + url.PathEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get client %s: %d", id, resp.StatusCode)
	}
	var c map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// adminDo sends a raw admin API request, as an administrator editing Hydra would.
func adminDo(t *testing.T, s *hydratest.Server, method, path string, body any) int {
	t.Helper()
	var r *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	} else {
		r = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, s.AdminURL+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestRealHydraClientLifecycle(t *testing.T) {
	s := hydratest.Start(t, hydratest.Options{})
	p, ep := newProvider(t, s)
	ctx := context.Background()
	if ep.Issuer != s.Issuer || !strings.HasSuffix(ep.TokenURL, "/oauth2/token") || !strings.HasSuffix(ep.JWKSURL, "/.well-known/jwks.json") {
		t.Fatalf("endpoints = %+v", ep)
	}

	spec := provider.AppSpec{Label: "team-a/billing", AuthMethod: provider.AuthClientSecretBasic, Owner: owner,
		Scopes: []string{"hello:read", "orders:write"}, Audiences: []string{"https://api.example"}}
	app, err := p.CreateApp(ctx, spec)
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if app.ClientSecret == "" || app.ClientID == "" || !app.Matches(spec) {
		t.Fatalf("created app does not match the spec or lacks a secret: %+v", app)
	}
	raw := rawClient(t, s, app.ID)
	if raw["scope"] != "hello:read orders:write" || raw["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Fatalf("hydra client = %v", raw)
	}
	mk := raw["metadata"].(map[string]any)["clientcreds"].(map[string]any)
	if mk["uid"] != owner.UID || mk["namespace"] != owner.Namespace || mk["name"] != owner.Name {
		t.Fatalf("marker = %v", mk)
	}
	creds := provider.Credentials{ClientID: app.ClientID, AuthMethod: provider.AuthClientSecretBasic, ClientSecret: app.ClientSecret,
		TokenURL: ep.TokenURL, Scopes: spec.Scopes}
	if err := p.RequestToken(ctx, creds); err != nil {
		t.Fatalf("token with the created secret: %v", err)
	}
	tok, err := oauth2client.RequestToken(ctx, http.DefaultClient, creds)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.AccessToken, ".") != 2 {
		t.Fatalf("hydra issued a non-JWT access token")
	}

	// Crash-safe create: the client is found by its exact name and its marker.
	found, err := p.FindApps(ctx, spec.Label)
	if err != nil || len(found) != 1 || found[0].ID != app.ID || found[0].Owner != owner {
		t.Fatalf("FindApps = %+v, %v", found, err)
	}
	if other, err := p.FindApps(ctx, "team-a/billin"); err != nil || len(other) != 0 {
		t.Fatalf("FindApps of a prefix = %+v, %v; want none (exact match)", other, err)
	}

	// Drift: an administrator edits the client; GetApp sees it, UpdateApp puts it back and
	// keeps what the operator does not manage.
	edited := rawClient(t, s, app.ID)
	edited["scope"] = "admin"
	edited["grant_types"] = []string{"client_credentials", "authorization_code"}
	edited["redirect_uris"] = []string{"https://kept.example/cb"}
	delete(edited, "client_secret")
	if code := adminDo(t, s, http.MethodPut, "/admin/clients/"+app.ID, edited); code != http.StatusOK {
		t.Fatalf("edit: %d", code)
	}
	got, err := p.GetApp(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Matches(spec) {
		t.Fatal("an edited client still matches the spec")
	}
	if _, err := p.UpdateApp(ctx, got, spec); err != nil {
		t.Fatalf("UpdateApp: %v", err)
	}
	raw = rawClient(t, s, app.ID)
	if raw["scope"] != "hello:read orders:write" || fmt.Sprint(raw["grant_types"]) != "[client_credentials]" ||
		fmt.Sprint(raw["redirect_uris"]) != "[https://kept.example/cb]" {
		t.Fatalf("after repair: %v", raw)
	}
	if err := p.RequestToken(ctx, creds); err != nil {
		t.Fatalf("the secret must survive an update: %v", err)
	}

	// A new secret replaces the old one at once (Hydra keeps one) and gets the next id.
	before, err := p.ListSecrets(ctx, app.ID)
	if err != nil || len(before) != 1 || before[0].ID != "g1" {
		t.Fatalf("ListSecrets = %+v, %v", before, err)
	}
	ns, err := p.CreateSecret(ctx, app.ID)
	if err != nil || ns.ID != "g2" || ns.Value == "" || ns.Value == app.ClientSecret {
		t.Fatalf("CreateSecret = %+v, %v", ns, err)
	}
	if err := p.RequestToken(ctx, creds); !errors.Is(err, provider.ErrInvalidClient) {
		t.Fatalf("old secret after a new one: %v, want ErrInvalidClient", err)
	}
	creds.ClientSecret = ns.Value
	if err := p.RequestToken(ctx, creds); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	if err := p.RevokeSecret(ctx, app.ID, "g1"); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("revoke a replaced secret: %v, want ErrNotFound", err)
	}
	if err := p.RevokeSecret(ctx, app.ID, "g2"); !errors.Is(err, provider.ErrConflict) {
		t.Fatalf("revoke the current secret: %v, want ErrConflict", err)
	}

	// Another OAuthClient's client is left alone.
	stranger := spec
	stranger.Owner = provider.Owner{UID: "other-uid", Namespace: "team-b", Name: "x"}
	got, _ = p.GetApp(ctx, app.ID)
	if _, err := p.UpdateApp(ctx, got, stranger); !errors.Is(err, provider.ErrConflict) || !strings.Contains(err.Error(), "team-a/billing") {
		t.Fatalf("update of a client owned by another OAuthClient: %v, want ErrConflict naming the owner", err)
	}

	// A scope not on the client is refused by Hydra's token endpoint.
	creds.Scopes = []string{"admin"}
	if err := p.RequestToken(ctx, creds); !errors.Is(err, provider.ErrInvalidScope) {
		t.Fatalf("token for a scope the client lacks: %v, want ErrInvalidScope", err)
	}

	if err := p.DeleteApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetApp(ctx, app.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("GetApp after delete: %v, want ErrNotFound", err)
	}
	if err := p.DeleteApp(ctx, app.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}

func TestRealHydraPrivateKeyJWT(t *testing.T) {
	s := hydratest.Start(t, hydratest.Options{})
	p, ep := newProvider(t, s)
	ctx := context.Background()
	key, err := oauth2client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	spec := provider.AppSpec{Label: "team-a/jwt", AuthMethod: provider.AuthPrivateKeyJWT, Owner: owner,
		Scopes: []string{"hello:read"}, PublicKeys: []provider.PublicKey{key.Public}}
	app, err := p.CreateApp(ctx, spec)
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if app.ClientSecret != "" || !slices.Equal(app.PublicKeyIDs, []string{key.Public.KeyID}) || !app.Matches(spec) {
		t.Fatalf("app = %+v", app)
	}
	creds := provider.Credentials{ClientID: app.ClientID, AuthMethod: provider.AuthPrivateKeyJWT, PrivateKeyPEM: key.PrivateKeyPEM,
		KeyID: key.Public.KeyID, TokenURL: ep.TokenURL, Scopes: spec.Scopes}
	if err := p.RequestToken(ctx, creds); err != nil {
		t.Fatalf("private_key_jwt token: %v", err)
	}
	if secrets, err := p.ListSecrets(ctx, app.ID); err != nil || len(secrets) != 0 {
		t.Fatalf("ListSecrets of a private_key_jwt client = %+v, %v; want none", secrets, err)
	}
	other, _ := oauth2client.GenerateKey()
	creds.PrivateKeyPEM, creds.KeyID = other.PrivateKeyPEM, other.Public.KeyID
	if err := p.RequestToken(ctx, creds); !errors.Is(err, provider.ErrInvalidClient) {
		t.Fatalf("token signed by an unregistered key: %v, want ErrInvalidClient", err)
	}

	// Turning to client_secret_post answers with a secret that works.
	spec2 := spec
	spec2.AuthMethod, spec2.PublicKeys = provider.AuthClientSecretPost, nil
	got, _ := p.GetApp(ctx, app.ID)
	up, err := p.UpdateApp(ctx, got, spec2)
	if err != nil || up.ClientSecret == "" || !up.Matches(spec2) {
		t.Fatalf("UpdateApp to client_secret_post = %+v, %v", up, err)
	}
	if err := p.RequestToken(ctx, provider.Credentials{ClientID: app.ClientID, AuthMethod: provider.AuthClientSecretPost,
		ClientSecret: up.ClientSecret, TokenURL: ep.TokenURL, Scopes: spec.Scopes}); err != nil {
		t.Fatalf("token with the answered secret: %v", err)
	}
}

func TestRealHydraBadInputs(t *testing.T) {
	s := hydratest.Start(t, hydratest.Options{})
	ctx := context.Background()
	adminURL, _ := url.Parse(s.AdminURL)

	// The admin API behind a proxy that wants a bearer token.
	const want = "admin-token-0123"
	guard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+want {
			http.Error(w, `{"error":"unauthorized","error_description":"bearer token required"}`, http.StatusUnauthorized)
			return
		}
		httputil.NewSingleHostReverseProxy(adminURL).ServeHTTP(w, r)
	}))
	defer guard.Close()

	// A server that redirects, and one that answers without end.
	redirect := httptest.NewServer(http.RedirectHandler("http://127.0.0.2:1/elsewhere", http.StatusFound))
	defer redirect.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("["))
		chunk := []byte(strings.Repeat(`{"client_id":"x"},`, 1000))
		for range 200 { // ~3.6 MB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	spec := provider.AppSpec{Label: "team-a/bad", AuthMethod: provider.AuthClientSecretBasic, Owner: owner, Scopes: []string{"a"}}
	tests := map[string]struct {
		cfg       hydra.Config
		wantClass error
		wantText  string
		// adminWorks: only the public side is wrong; the admin API itself answers.
		adminWorks bool
	}{
		"unreachable":           {cfg: hydra.Config{AdminURL: deadURL, Issuer: s.Issuer}, wantClass: provider.ErrTransient, wantText: "unreachable"},
		"credentials refused":   {cfg: hydra.Config{AdminURL: guard.URL, Issuer: s.Issuer, BearerToken: "wrong"}, wantClass: provider.ErrUnauthorized, wantText: "refused the operator's credentials"},
		"no credentials":        {cfg: hydra.Config{AdminURL: guard.URL, Issuer: s.Issuer}, wantClass: provider.ErrUnauthorized, wantText: "bearer token required"},
		"redirect not followed": {cfg: hydra.Config{AdminURL: redirect.URL, Issuer: s.Issuer}, wantClass: provider.ErrRedirectRefused, wantText: "redirect"},
		"oversized answer":      {cfg: hydra.Config{AdminURL: huge.URL, Issuer: s.Issuer}, wantClass: provider.ErrResponseTooLarge, wantText: "exceeds the limit"},
		"issuer mismatch":       {cfg: hydra.Config{AdminURL: s.AdminURL, Issuer: strings.Replace(s.Issuer, "127.0.0.1", "localhost", 1)}, wantClass: provider.ErrPermanent, wantText: "discovery document names issuer", adminWorks: true},
		"right bearer token":    {cfg: hydra.Config{AdminURL: guard.URL, Issuer: s.Issuer, BearerToken: want}},
		"hydra without a proxy": {cfg: hydra.Config{AdminURL: s.AdminURL, Issuer: s.Issuer}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := hydra.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.CheckHealth(ctx)
			if tc.wantClass == nil {
				if err != nil {
					t.Fatalf("CheckHealth: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantClass) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("CheckHealth = %v; want class %v and %q", err, tc.wantClass, tc.wantText)
			}
			if strings.Contains(err.Error(), want) {
				t.Fatal("the error carries the bearer token")
			}
			// A refused create creates nothing.
			if tc.adminWorks {
				return
			}
			if _, err := p.CreateApp(ctx, spec); err == nil {
				t.Fatal("CreateApp succeeded through a refusing admin API")
			}
		})
	}
	direct, _ := hydra.New(hydra.Config{AdminURL: s.AdminURL, Issuer: s.Issuer})
	if apps, err := direct.FindApps(ctx, spec.Label); err != nil || len(apps) != 0 {
		t.Fatalf("clients after refused creates = %+v, %v; want none", apps, err)
	}

	// Configurations refused before any call.
	for name, cfg := range map[string]hydra.Config{
		"bearer over plain http to a remote host": {AdminURL: "http://hydra-admin.hydra.svc:4445", Issuer: s.Issuer, BearerToken: "t"},
		"client certificate over http":            {AdminURL: "http://127.0.0.1:4445", Issuer: s.Issuer, ClientCertPEM: []byte("x"), ClientKeyPEM: []byte("y")},
		"admin url with a query":                  {AdminURL: "http://127.0.0.1:4445/?a=b", Issuer: s.Issuer},
		"not a url":                               {AdminURL: "hydra-admin", Issuer: s.Issuer},
		"plain http issuer on a remote host":      {AdminURL: s.AdminURL, Issuer: "http://hydra-public.hydra.svc:4444/"},
	} {
		if _, err := hydra.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// A rotation's client carries its generation in the marker; FindApps reports it, and an
// update keeps it as the spec says.
func TestRealHydraGenerationMarker(t *testing.T) {
	s := hydratest.Start(t, hydratest.Options{})
	p, _ := newProvider(t, s)
	ctx := context.Background()
	if !p.Capabilities().RotationByNewClient || p.Capabilities().OverlappingSecrets {
		t.Fatalf("capabilities %+v: hydra rotates by a new client", p.Capabilities())
	}
	spec := provider.AppSpec{Label: "team-a/gen", AuthMethod: provider.AuthClientSecretBasic, Owner: owner, Scopes: []string{"a"}}
	first, err := p.CreateApp(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.Generation = 2
	second, err := p.CreateApp(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := p.FindApps(ctx, spec.Label)
	if err != nil || len(apps) != 2 {
		t.Fatalf("FindApps = %d apps, %v; want 2", len(apps), err)
	}
	gens := map[string]int64{}
	for _, a := range apps {
		gens[a.ID] = a.Generation
	}
	if gens[first.ID] != 0 || gens[second.ID] != 2 {
		t.Fatalf("generations %v; want %s: 0, %s: 2", gens, first.ID, second.ID)
	}
	got, err := p.GetApp(ctx, second.ID)
	if err != nil || !got.Matches(spec) {
		t.Fatalf("GetApp = %+v, %v; want it to match its spec", got, err)
	}
	spec.Generation = 3
	if got.Matches(spec) {
		t.Fatal("an app of generation 2 matches a spec of generation 3")
	}
	updated, err := p.UpdateApp(ctx, got, spec)
	if err != nil || updated.Generation != 3 {
		t.Fatalf("UpdateApp = %+v, %v; want generation 3", updated, err)
	}
}

// Hydra answers 400 when its database refuses a request for a concurrent update in another
// session: sent again, it succeeds, so it is transient; another 400 is permanent.
func TestHydraConcurrentUpdateIsTransient(t *testing.T) {
	tests := map[string]struct {
		body      string
		wantClass error
	}{
		"serialization failure": {body: `{"error":{"code":400,"status":"Bad Request","message":"Unable to serialize access due to a concurrent update in another session"}}`, wantClass: provider.ErrTransient},
		"bad request":           {body: `{"error":"invalid_request","error_description":"the scope is malformed"}`, wantClass: provider.ErrPermanent},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			p, err := hydra.New(hydra.Config{AdminURL: srv.URL, Issuer: "http://127.0.0.1:1/"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.FindApps(context.Background(), "x")
			if !errors.Is(err, tc.wantClass) {
				t.Fatalf("FindApps = %v; want class %v", err, tc.wantClass)
			}
		})
	}
}
