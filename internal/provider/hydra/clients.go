package hydra

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// markerKey is the key of the clientcreds marker in a Hydra client's metadata.
const markerKey = "clientcreds"

// lifespanKey is the client field that holds the lifetime of the access tokens its
// client-credentials grant issues (Hydra's per-client token lifespans, which the admin API's
// client create and update take with the rest of the client; null: the server's
// ttl.access_token).
const lifespanKey = "client_credentials_grant_access_token_lifespan"

// marker names the OAuthClient a Hydra client belongs to, so that a client created by a
// call whose answer was lost is found and adopted instead of created twice, and numbers the
// client secret the operator last set.
type marker struct {
	UID       string `json:"uid"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// SecretGeneration counts the secrets the operator set; the current one's id is
	// "g<SecretGeneration>".
	SecretGeneration int `json:"secretGeneration,omitempty"`
	// Generation numbers the OAuthClient's clients: a rotation creates the next one
	// (provider.AppSpec.Generation).
	Generation int64 `json:"generation,omitempty"`
}

// clientDoc is a Hydra client as the admin API answers it: every field kept as it came, so
// an update puts back what the operator does not manage.
type clientDoc map[string]json.RawMessage

func (c clientDoc) str(key string) string {
	var s string
	_ = json.Unmarshal(c[key], &s)
	return s
}

func (c clientDoc) strs(key string) []string {
	var s []string
	_ = json.Unmarshal(c[key], &s)
	return s
}

func (c clientDoc) set(key string, v any) {
	b, _ := json.Marshal(v) // strings, slices and maps of them: never fails
	c[key] = b
}

// lifespan reads the client-credentials access-token lifespan; 0 when unset (null) or not
// a duration.
func (c clientDoc) lifespan() time.Duration {
	d, err := time.ParseDuration(c.str(lifespanKey))
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// setLifespan sets the client-credentials access-token lifespan; 0 clears it (null), so
// the server's default applies. Hydra takes any Go duration; the operator sends only whole
// seconds (the admin API's spec pattern has no fractions).
func (c clientDoc) setLifespan(d time.Duration) error {
	switch {
	case d == 0:
		c[lifespanKey] = json.RawMessage("null")
	case d < 0 || d%time.Second != 0:
		return fmt.Errorf("access-token lifetime %s cannot be expressed as a Hydra client token lifespan (whole seconds above zero)", d)
	default:
		c.set(lifespanKey, d.String())
	}
	return nil
}

func (c clientDoc) metadata() map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(c["metadata"], &m)
	return m
}

func (c clientDoc) marker() marker {
	var mk marker
	_ = json.Unmarshal(c.metadata()[markerKey], &mk)
	return mk
}

func (c clientDoc) setMarker(mk marker) {
	m := c.metadata()
	b, _ := json.Marshal(mk)
	m[markerKey] = b
	c.set("metadata", m)
}

// jwks is the client's JSON Web Key Set.
type jwks struct {
	Keys []json.RawMessage `json:"keys"`
}

func (c clientDoc) keyIDs() []string {
	var set jwks
	_ = json.Unmarshal(c["jwks"], &set)
	var ids []string
	for _, k := range set.Keys {
		var h struct {
			KID string `json:"kid"`
		}
		if json.Unmarshal(k, &h) == nil && h.KID != "" {
			ids = append(ids, h.KID)
		}
	}
	return ids
}

// scopeList splits Hydra's space-separated scope.
func scopeList(s string) []string { return strings.Fields(s) }

// toApp is the provider's view of a Hydra client.
func toApp(c clientDoc) *provider.App {
	mk := c.marker()
	grants, responses := c.strs("grant_types"), c.strs("response_types")
	ccOnly := slices.Equal(grants, []string{"client_credentials"}) &&
		(len(responses) == 0 || slices.Equal(responses, []string{"token"}))
	method := c.str("token_endpoint_auth_method")
	if method == "" {
		method = string(provider.AuthClientSecretBasic) // Hydra's default
	}
	return &provider.App{
		ID:                    c.str("client_id"),
		ClientID:              c.str("client_id"),
		Label:                 c.str("client_name"),
		Active:                true, // Hydra clients have no inactive state
		AuthMethod:            provider.AuthMethod(method),
		ClientCredentialsOnly: ccOnly,
		GrantTypes:            grants,
		ResponseTypes:         responses,
		PublicKeyIDs:          c.keyIDs(),
		Owner:                 provider.Owner{UID: mk.UID, Namespace: mk.Namespace, Name: mk.Name},
		Generation:            mk.Generation,
		Scopes:                scopeList(c.str("scope")),
		Audiences:             c.strs("audience"),
		AccessTokenLifetime:   c.lifespan(),
		Backend:               c,
	}
}

// apply makes c what spec asks for, leaving every other field as it is. The token lifespan
// goes with the client in the same create or update call (one admin call, not a second
// PUT /admin/clients/{id}/lifespans).
func apply(c clientDoc, spec provider.AppSpec) error {
	c.set("client_name", spec.Label)
	c.set("grant_types", []string{"client_credentials"})
	c.set("response_types", []string{"token"})
	c.set("scope", strings.Join(spec.Scopes, " "))
	aud := spec.Audiences
	if aud == nil {
		aud = []string{}
	}
	c.set("audience", aud)
	if err := c.setLifespan(spec.AccessTokenLifetime); err != nil {
		return err
	}
	c.set("token_endpoint_auth_method", string(spec.AuthMethod))
	if spec.AuthMethod == provider.AuthPrivateKeyJWT {
		set := jwks{}
		alg := ""
		for _, k := range spec.PublicKeys {
			set.Keys = append(set.Keys, json.RawMessage(k.JWK))
			var h struct {
				Alg string `json:"alg"`
			}
			if json.Unmarshal(k.JWK, &h) == nil && alg == "" {
				alg = h.Alg
			}
		}
		if len(set.Keys) == 0 {
			return errors.New("private_key_jwt needs a public key")
		}
		c.set("jwks", set)
		if alg == "" {
			alg = "RS256"
		}
		c.set("token_endpoint_auth_signing_alg", alg)
	} else {
		delete(c, "jwks")
		delete(c, "token_endpoint_auth_signing_alg")
	}
	mk := c.marker()
	mk.UID, mk.Namespace, mk.Name = spec.Owner.UID, spec.Owner.Namespace, spec.Owner.Name
	mk.Generation = spec.Generation
	c.setMarker(mk)
	return nil
}

// newSecret returns a random client secret: 32 bytes, base64url (43 characters).
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func secretID(generation int) string { return "g" + strconv.Itoa(generation) }

func clientPath(id string) string { return "/admin/clients/" + url.PathEscape(id) }

// CreateApp creates a client-credentials client. For secret-based methods the answer
// carries the secret the operator generated and sent (generation 1).
func (p *Client) CreateApp(ctx context.Context, spec provider.AppSpec) (*provider.App, error) {
	const op = "create client"
	c := clientDoc{}
	if err := apply(c, spec); err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	var secret string
	if spec.AuthMethod.UsesSecret() {
		s, err := newSecret()
		if err != nil {
			return nil, provider.Errorf(provider.ErrTransient, op, "%w", err)
		}
		secret = s
		c.set("client_secret", secret)
		mk := c.marker()
		mk.SecretGeneration = 1
		c.setMarker(mk)
	}
	var out clientDoc
	if _, err := p.call(ctx, op, http.MethodPost, "/admin/clients", nil, c, &out); err != nil {
		return nil, err
	}
	delete(out, "client_secret")
	delete(out, "registration_access_token")
	app := toApp(out)
	app.ClientSecret = secret
	return app, nil
}

// GetApp reads a client; ErrNotFound when it does not exist.
func (p *Client) GetApp(ctx context.Context, id string) (*provider.App, error) {
	c, err := p.getClient(ctx, "get client", id)
	if err != nil {
		return nil, err
	}
	return toApp(c), nil
}

func (p *Client) getClient(ctx context.Context, op, id string) (clientDoc, error) {
	if id == "" {
		return nil, provider.Errorf(provider.ErrNotFound, op, "empty client id")
	}
	var c clientDoc
	if _, err := p.call(ctx, op, http.MethodGet, clientPath(id), nil, nil, &c); err != nil {
		return nil, err
	}
	return c, nil
}

// maxFindPages bounds FindApps: 500 clients a page.
const maxFindPages = 20

// FindApps lists the clients whose client_name is exactly label (Hydra's filter is exact).
func (p *Client) FindApps(ctx context.Context, label string) ([]provider.App, error) {
	return p.listClients(ctx, "find clients", url.Values{"client_name": {label}})
}

var _ provider.Inventory = (*Client)(nil)

// ListApps implements provider.Inventory: every client, 500 a call.
func (p *Client) ListApps(ctx context.Context) ([]provider.App, error) {
	return p.listClients(ctx, "list clients", url.Values{})
}

// ScopeGrants implements provider.Inventory: Hydra keeps a client's scopes on the client
// (App.Scopes), so there are none.
func (p *Client) ScopeGrants(context.Context) ([]provider.ScopeGrant, error) { return nil, nil }

// listClients pages through the clients query selects.
func (p *Client) listClients(ctx context.Context, op string, q url.Values) ([]provider.App, error) {
	var apps []provider.App
	q.Set("page_size", "500")
	for range maxFindPages {
		var page []clientDoc
		h, err := p.call(ctx, op, http.MethodGet, "/admin/clients", q, nil, &page)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			apps = append(apps, *toApp(c))
		}
		next := nextPageToken(h.Get("Link"))
		if next == "" || len(page) == 0 {
			return apps, nil
		}
		q.Set("page_token", next)
	}
	return nil, provider.Errorf(provider.ErrPermanent, op, "more than %d pages of clients", maxFindPages)
}

// nextPageToken reads the page_token of the rel="next" link of a Link header.
func nextPageToken(link string) string {
	for _, part := range strings.Split(link, ",") {
		if !strings.Contains(part, `rel="next"`) {
			continue
		}
		start, end := strings.Index(part, "<"), strings.Index(part, ">")
		if start < 0 || end <= start {
			return ""
		}
		u, err := url.Parse(part[start+1 : end])
		if err != nil {
			return ""
		}
		return u.Query().Get("page_token")
	}
	return ""
}

// UpdateApp makes the client match spec, keeping what spec does not cover. A client whose
// marker names another OAuthClient — or none — is not ours: it is left alone (ErrConflict,
// naming the owner). Turning a private_key_jwt client to a secret-based method sets a new
// secret, returned in ClientSecret.
func (p *Client) UpdateApp(ctx context.Context, app *provider.App, spec provider.AppSpec) (*provider.App, error) {
	const op = "update client"
	c, ok := app.Backend.(clientDoc)
	if !ok {
		var err error
		if c, err = p.getClient(ctx, op, app.ID); err != nil {
			return nil, err
		}
	}
	if err := checkOwner(c, spec.Owner, spec.TakeOver); err != nil {
		return nil, &provider.Error{Class: provider.ErrConflict, Op: op, Err: err}
	}
	c = cloneClient(c)
	before := c.str("token_endpoint_auth_method")
	if err := apply(c, spec); err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	var secret string
	if spec.AuthMethod.UsesSecret() && before == string(provider.AuthPrivateKeyJWT) {
		s, err := newSecret()
		if err != nil {
			return nil, provider.Errorf(provider.ErrTransient, op, "%w", err)
		}
		secret = s
		c.set("client_secret", secret)
		mk := c.marker()
		mk.SecretGeneration++
		c.setMarker(mk)
	} else {
		delete(c, "client_secret") // an empty secret keeps Hydra's
	}
	var out clientDoc
	if _, err := p.call(ctx, op, http.MethodPut, clientPath(app.ID), nil, c, &out); err != nil {
		return nil, err
	}
	delete(out, "client_secret")
	updated := toApp(out)
	updated.ClientSecret = secret
	return updated, nil
}

// checkOwner refuses a client that is not owner's; with takeOver, a client without a
// marker becomes owner's.
func checkOwner(c clientDoc, owner provider.Owner, takeOver bool) error {
	mk := c.marker()
	switch {
	case mk.UID == "" && takeOver:
		return nil
	case mk.UID == "":
		return fmt.Errorf("client %s was not created by clientcreds (its metadata has no %q marker); it is left as it is",
			c.str("client_id"), markerKey)
	case mk.UID != owner.UID:
		return fmt.Errorf("client %s belongs to OAuthClient %s/%s (uid %s), not this one; it is left as it is",
			c.str("client_id"), mk.Namespace, mk.Name, mk.UID)
	}
	return nil
}

func cloneClient(c clientDoc) clientDoc {
	out := make(clientDoc, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// DeleteApp deletes a client; ErrNotFound when it does not exist.
func (p *Client) DeleteApp(ctx context.Context, id string) error {
	_, err := p.call(ctx, "delete client", http.MethodDelete, clientPath(id), nil, nil, nil)
	return err
}

// ListSecrets reports the client's one secret, numbered by the marker; none for
// private_key_jwt.
func (p *Client) ListSecrets(ctx context.Context, appID string) ([]provider.ClientSecret, error) {
	c, err := p.getClient(ctx, "list client secrets", appID)
	if err != nil {
		return nil, err
	}
	if !provider.AuthMethod(c.str("token_endpoint_auth_method")).UsesSecret() {
		return nil, nil
	}
	return []provider.ClientSecret{{ID: secretID(c.marker().SecretGeneration), Active: true}}, nil
}

// CreateSecret sets a new secret on the client. Hydra keeps one: the previous secret stops
// working at once.
func (p *Client) CreateSecret(ctx context.Context, appID string) (*provider.ClientSecret, error) {
	const op = "set client secret"
	secret, err := newSecret()
	if err != nil {
		return nil, provider.Errorf(provider.ErrTransient, op, "%w", err)
	}
	return p.setSecret(ctx, op, appID, secret)
}

// ImportSecret sets the caller's value as the client's secret (client_secret on the admin
// API's PUT): one read, one write. As with CreateSecret the previous secret stops working at
// once. A value Hydra refuses (400) is provider.ErrSecretValueRefused.
func (p *Client) ImportSecret(ctx context.Context, appID, value string) (*provider.ClientSecret, error) {
	const op = "import client secret"
	s, err := p.setSecret(ctx, op, appID, value)
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Status == http.StatusBadRequest {
		pe.Class = provider.ErrSecretValueRefused
	}
	return s, err
}

// ReadSecrets: Hydra stores a hash of the client secret and never returns its value.
func (p *Client) ReadSecrets(context.Context, string) ([]provider.ClientSecret, error) {
	return nil, provider.Errorf(provider.ErrSecretNotReadable, "read client secrets", "hydra keeps only a hash of the client secret")
}

func (p *Client) setSecret(ctx context.Context, op, appID, secret string) (*provider.ClientSecret, error) {
	c, err := p.getClient(ctx, op, appID)
	if err != nil {
		return nil, err
	}
	c.set("client_secret", secret)
	mk := c.marker()
	mk.SecretGeneration++
	c.setMarker(mk)
	if _, err := p.call(ctx, op, http.MethodPut, clientPath(appID), nil, c, nil); err != nil {
		return nil, err
	}
	return &provider.ClientSecret{ID: secretID(mk.SecretGeneration), Active: true, Created: p.now(), Value: secret}, nil
}

// RevokeSecret: a secret other than the current one was replaced already (ErrNotFound); the
// current one cannot be revoked without setting another (ErrConflict).
func (p *Client) RevokeSecret(ctx context.Context, appID, id string) error {
	const op = "revoke client secret"
	c, err := p.getClient(ctx, op, appID)
	if err != nil {
		return err
	}
	if id == secretID(c.marker().SecretGeneration) {
		return provider.Errorf(provider.ErrConflict, op, "hydra keeps one secret per client; the current secret %s is replaced, not revoked", id)
	}
	return provider.Errorf(provider.ErrNotFound, op, "secret %s was replaced already", id)
}
