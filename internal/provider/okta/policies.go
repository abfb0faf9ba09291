package okta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// Access policies on the authorization server (Okta API Access Management), one per client.
//
// Calls: EnsureAccessPolicy of a policy that matches: 2 (get policy, list rules); creating
// one: 3 (list policies — to adopt one a lost answer left behind and to put the new one
// last —, create policy, create rule); each repair adds 1. DeleteAccessPolicy: 1.

// Okta's limits and fixed values of authorization-server policies and rules.
const (
	// MaxPolicyNameLength is the longest policy name Okta accepts.
	MaxPolicyNameLength = 100
	// MaxPolicyDescriptionLength is the longest policy description Okta accepts.
	MaxPolicyDescriptionLength = 255
	// PolicyRuleName is the name of the one rule of a managed policy.
	PolicyRuleName = "clientcreds client_credentials"

	policyType       = "OAUTH_AUTHORIZATION_POLICY"
	ruleType         = "RESOURCE_ACCESS"
	groupEveryone    = "EVERYONE"
	minTokenLifetime = 5 * time.Minute
	maxTokenLifetime = 24 * time.Hour
)

type policyView struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Priority    int    `json:"priority"`
	System      bool   `json:"system"`
	Conditions  struct {
		Clients struct {
			Include []string `json:"include"`
		} `json:"clients"`
	} `json:"conditions"`
}

type ruleView struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Priority   int    `json:"priority"`
	Conditions struct {
		People struct {
			Users struct {
				Include []string `json:"include"`
			} `json:"users"`
			Groups struct {
				Include []string `json:"include"`
			} `json:"groups"`
		} `json:"people"`
		GrantTypes struct {
			Include []string `json:"include"`
		} `json:"grantTypes"`
		Scopes struct {
			Include []string `json:"include"`
		} `json:"scopes"`
	} `json:"conditions"`
	Actions struct {
		Token struct {
			AccessTokenLifetimeMinutes int `json:"accessTokenLifetimeMinutes"`
		} `json:"token"`
	} `json:"actions"`
}

func (p *Client) policiesPath() string {
	return "/api/v1/authorizationServers/" + url.PathEscape(p.authServerID) + "/policies"
}

func (p *Client) policyPath(id string) string { return p.policiesPath() + "/" + url.PathEscape(id) }

// shorten cuts s to limit bytes, keeping a prefix, "~" and 8 hex digits of the SHA-256 of s.
func shorten(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	h := "~" + hex.EncodeToString(sum[:4])
	cut := limit - len(h)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + h
}

// normalizePolicySpec cuts the name and description to Okta's limits and checks the rest.
func normalizePolicySpec(spec *provider.AccessPolicySpec) error {
	spec.Name = shorten(strings.TrimSpace(spec.Name), MaxPolicyNameLength)
	spec.Description = shorten(strings.TrimSpace(spec.Description), MaxPolicyDescriptionLength)
	switch {
	case spec.Name == "":
		return fmt.Errorf("policy name is empty")
	case spec.Description == "":
		return fmt.Errorf("policy description is empty")
	case spec.ClientID == "":
		return fmt.Errorf("client id is empty")
	case len(spec.Scopes) == 0:
		return fmt.Errorf("a managed access policy needs at least one scope to grant")
	case spec.TokenLifetime < minTokenLifetime || spec.TokenLifetime > maxTokenLifetime || spec.TokenLifetime%time.Minute != 0:
		return fmt.Errorf("token lifetime %s must be whole minutes from 5m to 24h", spec.TokenLifetime)
	}
	return nil
}

func policyBody(spec provider.AccessPolicySpec, priority int) map[string]any {
	return map[string]any{
		"type":        policyType,
		"name":        spec.Name,
		"description": spec.Description,
		"status":      statusActive,
		"priority":    priority,
		"conditions":  map[string]any{"clients": map[string]any{"include": []string{spec.ClientID}}},
	}
}

func ruleBody(spec provider.AccessPolicySpec, priority int) map[string]any {
	b := map[string]any{
		"type":   ruleType,
		"name":   PolicyRuleName,
		"status": statusActive,
		"conditions": map[string]any{
			"people":     map[string]any{"groups": map[string]any{"include": []string{groupEveryone}}},
			"grantTypes": map[string]any{"include": []string{grantClientCreds}},
			"scopes":     map[string]any{"include": slices.Clone(spec.Scopes)},
		},
		"actions": map[string]any{"token": map[string]any{
			"accessTokenLifetimeMinutes": int(spec.TokenLifetime / time.Minute),
		}},
	}
	if priority > 0 {
		b["priority"] = priority
	}
	return b
}

func (v *policyView) matches(spec provider.AccessPolicySpec) bool {
	return v.Name == spec.Name && v.Description == spec.Description && v.Status == statusActive &&
		slices.Equal(v.Conditions.Clients.Include, []string{spec.ClientID})
}

func (v *ruleView) matches(spec provider.AccessPolicySpec) bool {
	c := v.Conditions
	have, want := slices.Clone(c.Scopes.Include), slices.Clone(spec.Scopes)
	slices.Sort(have)
	slices.Sort(want)
	return v.Status == statusActive && len(c.People.Users.Include) == 0 &&
		slices.Equal(c.People.Groups.Include, []string{groupEveryone}) &&
		slices.Equal(c.GrantTypes.Include, []string{grantClientCreds}) &&
		slices.Equal(have, slices.Compact(want)) &&
		v.Actions.Token.AccessTokenLifetimeMinutes == int(spec.TokenLifetime/time.Minute)
}

// EnsureAccessPolicy implements provider.AccessPolicyManager.
func (p *Client) EnsureAccessPolicy(ctx context.Context, id string, spec provider.AccessPolicySpec) (provider.AccessPolicyResult, error) {
	res := provider.AccessPolicyResult{ID: id}
	if err := normalizePolicySpec(&spec); err != nil {
		return res, provider.Errorf(provider.ErrPermanent, "ensure access policy", "%w", err)
	}
	var pol *policyView
	if id != "" {
		if err := checkID("policy", id); err != nil {
			return res, provider.Errorf(provider.ErrPermanent, "get access policy", "%w", err)
		}
		var v policyView
		_, err := p.call(ctx, "get access policy", http.MethodGet, p.policyPath(id), nil, &v, nil)
		switch {
		case err == nil:
			pol = &v
		case !isNotFound(err):
			return res, err
		}
	}
	if pol == nil {
		v, created, err := p.createOrAdoptPolicy(ctx, spec)
		if err != nil {
			return res, err
		}
		pol, res.Created = v, true
		res.ID = v.ID
		if created {
			return res, nil // fresh policy and rule: nothing to compare
		}
	}
	res.ID = pol.ID
	if !pol.matches(spec) {
		if pol.Status != statusActive {
			if _, err := p.call(ctx, "update access policy", http.MethodPost, p.policyPath(pol.ID)+"/lifecycle/activate", nil, nil, nil); err != nil {
				return res, err
			}
			pol.Status = statusActive
		}
		if !pol.matches(spec) {
			if _, err := p.call(ctx, "update access policy", http.MethodPut, p.policyPath(pol.ID), policyBody(spec, pol.Priority), nil, nil); err != nil {
				return res, err
			}
		}
		res.Repaired = true
	}
	repaired, err := p.ensureRule(ctx, pol.ID, spec)
	if err != nil {
		return res, err
	}
	res.Repaired = res.Repaired || repaired
	return res, nil
}

// createOrAdoptPolicy adopts the policy of spec's name for spec's client if one exists (an
// earlier create whose answer was lost), or creates it after every existing policy.
func (p *Client) createOrAdoptPolicy(ctx context.Context, spec provider.AccessPolicySpec) (*policyView, bool, error) {
	var list []policyView
	if _, err := p.call(ctx, "list access policies", http.MethodGet, p.policiesPath(), nil, &list, nil); err != nil {
		return nil, false, err
	}
	last := 0
	for i := range list {
		v := &list[i]
		if v.Name == spec.Name && slices.Equal(v.Conditions.Clients.Include, []string{spec.ClientID}) {
			return v, false, nil
		}
		last = max(last, v.Priority)
	}
	var created policyView
	if _, err := p.call(ctx, "create access policy", http.MethodPost, p.policiesPath(), policyBody(spec, last+1), &created, nil); err != nil {
		return nil, false, err
	}
	if created.ID == "" {
		return nil, false, provider.Errorf(provider.ErrTransient, "create access policy", "okta answered without the policy id")
	}
	if _, err := p.call(ctx, "create access policy rule", http.MethodPost, p.policyPath(created.ID)+"/rules", ruleBody(spec, 1), nil, unknownScope); err != nil {
		// The policy stays; the next attempt adopts it by name and adds the rule.
		return nil, false, err
	}
	return &created, true, nil
}

// ensureRule makes the policy hold exactly one rule, PolicyRuleName, as spec says.
func (p *Client) ensureRule(ctx context.Context, policyID string, spec provider.AccessPolicySpec) (bool, error) {
	rulesPath := p.policyPath(policyID) + "/rules"
	var rules []ruleView
	if _, err := p.call(ctx, "list access policy rules", http.MethodGet, rulesPath, nil, &rules, nil); err != nil {
		return false, err
	}
	var mine *ruleView
	repaired := false
	for i := range rules {
		r := &rules[i]
		if r.Name == PolicyRuleName && mine == nil {
			mine = r
			continue
		}
		// The policy is the client's own: a rule added in the console would grant more.
		if err := checkID("rule", r.ID); err != nil {
			return false, provider.Errorf(provider.ErrPermanent, "delete access policy rule", "%w", err)
		}
		if _, err := p.call(ctx, "delete access policy rule", http.MethodDelete, rulesPath+"/"+url.PathEscape(r.ID), nil, nil, nil); err != nil && !isNotFound(err) {
			return false, err
		}
		repaired = true
	}
	switch {
	case mine == nil:
		if _, err := p.call(ctx, "create access policy rule", http.MethodPost, rulesPath, ruleBody(spec, 1), nil, unknownScope); err != nil {
			return false, err
		}
		return true, nil
	case mine.matches(spec):
		return repaired, nil
	}
	if err := checkID("rule", mine.ID); err != nil {
		return false, provider.Errorf(provider.ErrPermanent, "update access policy rule", "%w", err)
	}
	rulePath := rulesPath + "/" + url.PathEscape(mine.ID)
	if mine.Status != statusActive {
		if _, err := p.call(ctx, "update access policy rule", http.MethodPost, rulePath+"/lifecycle/activate", nil, nil, nil); err != nil {
			return false, err
		}
		mine.Status = statusActive
	}
	if !mine.matches(spec) {
		if _, err := p.call(ctx, "update access policy rule", http.MethodPut, rulePath, ruleBody(spec, mine.Priority), nil, unknownScope); err != nil {
			return false, err
		}
	}
	return true, nil
}

// DeleteAccessPolicy implements provider.AccessPolicyManager: one call.
func (p *Client) DeleteAccessPolicy(ctx context.Context, id string) error {
	const op = "delete access policy"
	if err := checkID("policy", id); err != nil {
		return provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	_, err := p.call(ctx, op, http.MethodDelete, p.policyPath(id), nil, nil, nil)
	return err
}

func isNotFound(err error) bool { return errors.Is(err, provider.ErrNotFound) }

// unknownScope: a rule naming a scope the authorization server does not have is refused
// with a validation error about conditions.scopes.include; that is the client's scopes'
// fault (provider.ErrInvalidScope, as at the token endpoint), not a broken request.
func unknownScope(status int, oe *okta.Error) error {
	if status != http.StatusBadRequest || oe.ErrorCode != CodeValidation {
		return nil
	}
	texts := []string{oe.ErrorSummary}
	for _, c := range oe.ErrorCauses {
		if s, ok := c["errorSummary"].(string); ok {
			texts = append(texts, s)
		}
	}
	for _, t := range texts {
		if strings.Contains(t, "scopes") {
			return provider.ErrInvalidScope
		}
	}
	return nil
}

// ManagesAccessPolicies reports whether the provider was built for spec.okta.accessPolicy:
// Managed (Config.ManageAccessPolicies).
func (p *Client) ManagesAccessPolicies() bool { return p.manageAccessPolicies }

// Capabilities implements provider.Client: an Okta app holds two client secrets at once;
// which scopes and audiences a client gets is the authorization server's business (its
// access policies and its audience), not the app's.
func (p *Client) Capabilities() provider.Capabilities {
	return provider.Capabilities{OverlappingSecrets: true, ServerScopes: true}
}
