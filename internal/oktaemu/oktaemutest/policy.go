package oktaemutest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// Policy is an access policy and its rule created by AllowClient.
type Policy struct {
	ID     string
	RuleID string
}

// AllowClient creates, through the management API with the SSWS token, an
// access policy of the default authorization server that names only
// clientID (at priority 1) and a rule granting it scopes with the
// client_credentials grant, as an admin of an org whose default policy
// names no client (--access-policy=none) must do for each client.
func (e *Env) AllowClient(t testing.TB, clientID string, scopes ...string) Policy {
	t.Helper()
	const base = "/api/v1/authorizationServers/default/policies"
	status, data := Admin(t, e.URL, e.APIToken, http.MethodPost, base, map[string]any{
		"type": "OAUTH_AUTHORIZATION_POLICY", "status": "ACTIVE", "priority": 1,
		"name": "Policy for " + clientID, "description": "Access policy for one client",
		"conditions": map[string]any{"clients": map[string]any{"include": []string{clientID}}},
	})
	if status != http.StatusCreated {
		t.Fatalf("oktaemutest: create policy for %s: status %d: %s", clientID, status, data)
	}
	var pol struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &pol); err != nil {
		t.Fatalf("oktaemutest: create policy: %v", err)
	}
	status, data = Admin(t, e.URL, e.APIToken, http.MethodPost, fmt.Sprintf("%s/%s/rules", base, pol.ID), map[string]any{
		"type": "RESOURCE_ACCESS", "status": "ACTIVE", "priority": 1, "name": "Client credentials",
		"conditions": map[string]any{
			"grantTypes": map[string]any{"include": []string{"client_credentials"}},
			"people":     map[string]any{"groups": map[string]any{"include": []string{"EVERYONE"}}},
			"scopes":     map[string]any{"include": scopes},
		},
		"actions": map[string]any{"token": map[string]any{"accessTokenLifetimeMinutes": 60}},
	})
	if status != http.StatusCreated {
		t.Fatalf("oktaemutest: create rule for %s: status %d: %s", clientID, status, data)
	}
	var ru struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &ru); err != nil {
		t.Fatalf("oktaemutest: create rule: %v", err)
	}
	return Policy{ID: pol.ID, RuleID: ru.ID}
}
