package okta

import (
	"context"
	"net/http"
	"slices"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// allClients is how a policy names every client of the authorization server.
const allClients = "ALL_CLIENTS"

var _ provider.Inventory = (*Client)(nil)

// ScopeGrants implements provider.Inventory: every active rule of an active access policy
// of the authorization server that grants client_credentials with no user condition (the
// rules that can issue a client-credentials token, as Okta evaluates them). Calls: 1 to list
// the policies, plus 1 per active policy to list its rules.
func (p *Client) ScopeGrants(ctx context.Context) ([]provider.ScopeGrant, error) {
	var pols []policyView
	if _, err := p.call(ctx, "list access policies", http.MethodGet, p.policiesPath(), nil, &pols, nil); err != nil {
		return nil, err
	}
	slices.SortStableFunc(pols, func(a, b policyView) int { return a.Priority - b.Priority })
	var grants []provider.ScopeGrant
	for _, pol := range pols {
		if pol.Status != statusActive {
			continue
		}
		if err := checkID("policy", pol.ID); err != nil {
			return nil, provider.Errorf(provider.ErrTransient, "list access policy rules", "%w", err)
		}
		var rules []ruleView
		if _, err := p.call(ctx, "list access policy rules", http.MethodGet, p.policyPath(pol.ID)+"/rules", nil, &rules, nil); err != nil {
			return nil, err
		}
		slices.SortStableFunc(rules, func(a, b ruleView) int { return a.Priority - b.Priority })
		clients := make([]string, 0, len(pol.Conditions.Clients.Include))
		for _, c := range pol.Conditions.Clients.Include {
			if c == allClients {
				c = provider.AllClients
			}
			clients = append(clients, c)
		}
		for _, r := range rules {
			c := r.Conditions
			if r.Status != statusActive || !slices.Contains(c.GrantTypes.Include, grantClientCreds) ||
				len(c.People.Users.Include) > 0 ||
				(len(c.People.Groups.Include) > 0 && !slices.Contains(c.People.Groups.Include, groupEveryone)) {
				continue
			}
			grants = append(grants, provider.ScopeGrant{Policy: pol.Name, Rule: r.Name,
				Clients: slices.Clone(clients), Scopes: slices.Clone(c.Scopes.Include)})
		}
	}
	return grants, nil
}
