package kubectlplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/hydra"
	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
)

// TestImportFromRealHydra: clients made by hand through a real Ory Hydra's admin API are
// listed by the Hydra backend's Inventory and planned as Hydra has them: the
// client-credentials client with its own scopes and audiences, the authorization-code
// client skipped with a comment.
func TestImportFromRealHydra(t *testing.T) {
	s := hydratest.Start(t, hydratest.Options{})
	p, err := hydra.New(hydra.Config{AdminURL: s.AdminURL, Issuer: s.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	create := func(body map[string]any) string {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := http.Post(s.AdminURL+"/admin/clients", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var out struct {
			ClientID string `json:"client_id"`
		}
		if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&out) != nil {
			t.Fatalf("create client: %d", resp.StatusCode)
		}
		return out.ClientID
	}
	machine := create(map[string]any{"client_name": "Orders Worker", "grant_types": []string{"client_credentials"},
		"response_types": []string{"token"}, "scope": "orders:read orders:write", "audience": []string{"api://orders"},
		"token_endpoint_auth_method": "client_secret_post"})
	web := create(map[string]any{"client_name": "Portal", "grant_types": []string{"authorization_code", "refresh_token"},
		"response_types": []string{"code"}, "scope": "openid offline_access", "redirect_uris": []string{"https://portal.example.test/cb"}})

	inv, ok := provider.InventoryOf(provider.Instrument("hydra", p))
	if !ok {
		t.Fatal("the Hydra backend has no Inventory")
	}
	apps, err := inv.ListApps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	plan := PlanImport(ImportInput{Namespace: "team-a", Backend: "hydra", Capabilities: p.Capabilities(), Apps: apps,
		ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: "hydra"}})
	if len(plan.Clients) != 1 || len(plan.Skipped) != 1 {
		t.Fatalf("%d clients and %d skipped, want 1 and 1: %+v", len(plan.Clients), len(plan.Skipped), plan)
	}
	oc := plan.Clients[0].Object
	if oc.Name != "orders-worker" || oc.Spec.Adopt.ClientID != machine || oc.Spec.DisplayName != "Orders Worker" ||
		oc.Spec.TokenEndpointAuthMethod != oauthv1.AuthClientSecretPost ||
		!slices.Equal(oc.Spec.Scopes, []string{"orders:read", "orders:write"}) || !slices.Equal(oc.Spec.Audiences, []string{"api://orders"}) {
		t.Errorf("imported %+v", oc.Spec)
	}
	if sk := plan.Skipped[0]; sk.ClientID != web || !strings.Contains(sk.Why, "authorization_code") {
		t.Errorf("skipped %+v", sk)
	}
}
