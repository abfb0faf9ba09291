package okta_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// TestEmulatorScopes: the ScopeManager calls against the emulator, spec-checked: the
// server's audiences, create (a second of the same name is ErrConflict), update keeping
// consent, list, delete (then ErrNotFound).
func TestEmulatorScopes(t *testing.T) {
	e := start(t, oktaemu.Config{})
	c := ctx(t)
	sm := provider.ScopesOf(e.p)
	if sm == nil {
		t.Fatal("the Okta backend does not declare ServerScopes")
	}
	info, err := sm.AuthorizationServer(c)
	if err != nil || !slices.Equal(info.Audiences, []string{"api://default"}) {
		t.Fatalf("AuthorizationServer = %+v, %v", info, err)
	}
	created, err := sm.CreateScope(c, provider.Scope{Name: "orders:read", Description: "Read orders", DisplayName: "Read"})
	if err != nil || created.ID == "" || created.DisplayName != "Read" || created.System {
		t.Fatalf("CreateScope = %+v, %v", created, err)
	}
	if _, err := sm.CreateScope(c, provider.Scope{Name: "orders:read"}); !errors.Is(err, provider.ErrConflict) {
		t.Fatalf("second CreateScope of the same name: %v, want ErrConflict", err)
	}
	// An admin sets consent in the console; an update of the description keeps it.
	if status, _ := e.raw(t, "PUT", "/api/v1/authorizationServers/default/scopes/"+created.ID,
		map[string]any{"name": "orders:read", "description": "Read orders", "displayName": "Read", "consent": "REQUIRED"}); status != 200 {
		t.Fatalf("console edit: %d", status)
	}
	list, err := sm.ListScopes(c)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(s provider.Scope) bool { return s.Name == "orders:read" })
	if i < 0 || !slices.ContainsFunc(list, func(s provider.Scope) bool { return s.Name == "openid" && s.System }) {
		t.Fatalf("ListScopes = %+v", list)
	}
	s := list[i]
	s.Description = "Read orders, v2"
	if _, err := sm.UpdateScope(c, s); err != nil {
		t.Fatal(err)
	}
	if status, got := e.raw(t, "GET", "/api/v1/authorizationServers/default/scopes/"+created.ID, nil); status != 200 ||
		got["description"] != "Read orders, v2" || got["consent"] != "REQUIRED" || got["displayName"] != "Read" {
		t.Fatalf("after UpdateScope: %d %v", status, got)
	}
	if err := sm.DeleteScope(c, created.ID); err != nil {
		t.Fatal(err)
	}
	if err := sm.DeleteScope(c, created.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("second DeleteScope: %v, want ErrNotFound", err)
	}
}
