package okta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// Keys of the app profile where the provider records the owning OAuthClient.
const (
	ProfileOwnerUID = "clientcreds.dev/owner-uid"
	ProfileOwner    = "clientcreds.dev/owner"
)

// App property values of a client-credentials service app.
const (
	appName           = "oidc_client"
	signOnMode        = "OPENID_CONNECT"
	applicationType   = "service"
	grantClientCreds  = "client_credentials"
	responseTypeToken = "token"
	statusActive      = "ACTIVE"
)

// findPageSize is the largest page Okta serves when listing apps.
const findPageSize = 200

// maxFindPages bounds FindApps, so a server that keeps answering with a next link cannot
// keep it busy forever.
const maxFindPages = 500

// appObject is the app exactly as Okta returned it, kept in App.Backend so UpdateApp can PUT
// back every field it does not manage (the SDK's typed structs drop unknown fields and,
// through omitempty, false and empty values).
type appObject struct {
	id  string
	obj map[string]any
}

// appView is the part of an app the provider reads.
type appView struct {
	ID          string          `json:"id"`
	Label       string          `json:"label"`
	Status      string          `json:"status"`
	Profile     json.RawMessage `json:"profile"`
	Credentials struct {
		OAuthClient struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
			AuthMethod   string `json:"token_endpoint_auth_method"`
		} `json:"oauthClient"`
	} `json:"credentials"`
	Settings struct {
		OAuthClient struct {
			ApplicationType string   `json:"application_type"`
			GrantTypes      []string `json:"grant_types"`
			ResponseTypes   []string `json:"response_types"`
			DPoPBound       bool     `json:"dpop_bound_access_tokens"`
			JWKS            *struct {
				Keys []struct {
					Kid string `json:"kid"`
				} `json:"keys"`
			} `json:"jwks"`
		} `json:"oauthClient"`
	} `json:"settings"`
}

// parseApp turns an app as Okta returned it into a provider.App.
func parseApp(raw json.RawMessage) (*provider.App, error) {
	var v appView
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode app: %w", err)
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("decode app: %w", err)
	}
	// The secret must not linger in Backend, nor be PUT back.
	if oc, ok := dig(obj, "credentials", "oauthClient"); ok {
		delete(oc, "client_secret")
	}
	oc := v.Settings.OAuthClient
	app := &provider.App{
		ID:                    v.ID,
		ClientID:              v.Credentials.OAuthClient.ClientID,
		Label:                 v.Label,
		Active:                v.Status == statusActive,
		AuthMethod:            provider.AuthMethod(v.Credentials.OAuthClient.AuthMethod),
		ClientCredentialsOnly: isServiceApp(oc.ApplicationType, oc.GrantTypes),
		OtherType:             otherType(oc.ApplicationType),
		GrantTypes:            oc.GrantTypes,
		ResponseTypes:         oc.ResponseTypes,
		DPoPBound:             oc.DPoPBound,
		Owner:                 parseOwner(v.Profile),
		ClientSecret:          v.Credentials.OAuthClient.ClientSecret,
		Backend:               &appObject{id: v.ID, obj: obj},
	}
	if oc.JWKS != nil {
		for _, k := range oc.JWKS.Keys {
			app.PublicKeyIDs = append(app.PublicKeyIDs, k.Kid)
		}
	}
	return app, nil
}

// isServiceApp reports whether an app is what the operator creates: a "service" app whose
// only grant is client_credentials.
func isServiceApp(appType string, grantTypes []string) bool {
	return appType == applicationType && len(grantTypes) == 1 && grantTypes[0] == grantClientCreds
}

// otherType is the app's application type when it is not a service app.
func otherType(appType string) string {
	if appType == applicationType {
		return ""
	}
	return appType
}

// parseOwner reads the owner the provider recorded in the app's profile; anything else in the
// profile (or a profile that is not an object) is ignored.
func parseOwner(profile json.RawMessage) provider.Owner {
	var p map[string]any
	if len(profile) == 0 || json.Unmarshal(profile, &p) != nil {
		return provider.Owner{}
	}
	var o provider.Owner
	o.UID, _ = p[ProfileOwnerUID].(string)
	if s, ok := p[ProfileOwner].(string); ok {
		if ns, name, found := strings.Cut(s, "/"); found {
			o.Namespace, o.Name = ns, name
		} else {
			o.Name = s
		}
	}
	return o
}

func decodeObject(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // keep numbers exactly as Okta sent them
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("app is not a JSON object")
	}
	return obj, nil
}

// dig returns the object at path, if every step is an object.
func dig(obj map[string]any, path ...string) (map[string]any, bool) {
	cur := obj
	for _, k := range path {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// ensure returns the object at path, creating (or replacing non-object values with) empty
// objects on the way.
func ensure(obj map[string]any, path ...string) map[string]any {
	cur := obj
	for _, k := range path {
		next, ok := cur[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[k] = next
		}
		cur = next
	}
	return cur
}

// privateJWKMembers are the JWK members that carry private key material (RFC 7518 §6).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// validateSpec checks what the controller asks for before any call to Okta.
func validateSpec(spec provider.AppSpec) ([]any, error) {
	if strings.TrimSpace(spec.Label) == "" {
		return nil, fmt.Errorf("label is empty")
	}
	if len(spec.Label) > 255 {
		return nil, fmt.Errorf("label is longer than 255 characters")
	}
	switch spec.AuthMethod {
	case provider.AuthClientSecretBasic, provider.AuthClientSecretPost, provider.AuthPrivateKeyJWT:
	default:
		return nil, fmt.Errorf("unsupported token endpoint auth method %q", spec.AuthMethod)
	}
	if spec.AuthMethod == provider.AuthPrivateKeyJWT && len(spec.PublicKeys) == 0 {
		return nil, fmt.Errorf("private_key_jwt needs at least one public key")
	}
	if spec.Owner.UID == "" {
		return nil, fmt.Errorf("owner uid is empty")
	}
	keys := make([]any, 0, len(spec.PublicKeys))
	seen := map[string]bool{}
	for _, k := range spec.PublicKeys {
		if k.KeyID == "" {
			return nil, fmt.Errorf("public key without key id")
		}
		if seen[k.KeyID] {
			return nil, fmt.Errorf("duplicate public key id %q", k.KeyID)
		}
		seen[k.KeyID] = true
		jwk, err := decodeObject(k.JWK)
		if err != nil {
			return nil, fmt.Errorf("public key %q is not a JSON object", k.KeyID)
		}
		for _, m := range privateJWKMembers {
			if _, ok := jwk[m]; ok {
				return nil, fmt.Errorf("public key %q contains private key material", k.KeyID)
			}
		}
		if kty, _ := jwk["kty"].(string); kty != "RSA" && kty != "EC" {
			return nil, fmt.Errorf("public key %q: unsupported key type %q", k.KeyID, kty)
		}
		if kid, ok := jwk["kid"]; !ok {
			jwk["kid"] = k.KeyID
		} else if kid != k.KeyID {
			return nil, fmt.Errorf("public key %q: the JWK's kid %v differs", k.KeyID, kid)
		}
		keys = append(keys, jwk)
	}
	return keys, nil
}

// applySpec sets the fields the provider manages on an app object, leaving every other field
// as it is.
func applySpec(obj map[string]any, spec provider.AppSpec, keys []any) {
	obj["name"] = appName
	obj["signOnMode"] = signOnMode
	obj["label"] = spec.Label

	profile := ensure(obj, "profile")
	profile[ProfileOwnerUID] = spec.Owner.UID
	profile[ProfileOwner] = spec.Owner.Namespace + "/" + spec.Owner.Name

	cred := ensure(obj, "credentials", "oauthClient")
	cred["token_endpoint_auth_method"] = string(spec.AuthMethod)
	if _, ok := cred["autoKeyRotation"]; !ok {
		cred["autoKeyRotation"] = true
	}

	settings := ensure(obj, "settings", "oauthClient")
	settings["application_type"] = applicationType
	settings["grant_types"] = []any{grantClientCreds}
	settings["response_types"] = []any{responseTypeToken}
	// The Secret's consumers send no DPoP proofs: tokens must not need them.
	settings["dpop_bound_access_tokens"] = false
	if len(keys) > 0 {
		settings["jwks"] = map[string]any{"keys": keys}
	} else {
		delete(settings, "jwks")
	}
}

// stripSystemFields removes what Okta assigns itself (and ignores in a PUT): the API spec
// marks these read-only, so a request that carries them does not conform.
func stripSystemFields(obj map[string]any) {
	for _, k := range []string{"id", "created", "lastUpdated", "status", "features", "orn",
		"_embedded", "_links", "expressConfiguration", "universalLogout"} {
		delete(obj, k)
	}
	if s, ok := dig(obj, "settings"); ok {
		delete(s, "emOptInStatus")
	}
	if s, ok := dig(obj, "credentials", "signing"); ok {
		delete(s, "lastRotated")
		delete(s, "nextRotation")
	}
	if c, ok := dig(obj, "credentials", "oauthClient"); ok {
		delete(c, "client_secret")
	}
}

func appPath(id string) string { return "/api/v1/apps/" + url.PathEscape(id) }

// CreateApp creates an active client-credentials service app: one call to Okta.
func (p *Client) CreateApp(ctx context.Context, spec provider.AppSpec) (*provider.App, error) {
	const op = "create app"
	keys, err := validateSpec(spec)
	if err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	obj := map[string]any{}
	applySpec(obj, spec, keys)
	var raw json.RawMessage
	if _, err := p.call(ctx, op, http.MethodPost, "/api/v1/apps?activate=true", obj, &raw, nil); err != nil {
		return nil, err
	}
	app, err := parseApp(raw)
	if err != nil {
		return nil, provider.Errorf(provider.ErrTransient, op, "%w", err)
	}
	return app, nil
}

// GetApp reads an app: one call.
func (p *Client) GetApp(ctx context.Context, id string) (*provider.App, error) {
	const op = "get app"
	if err := checkID("app", id); err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	var raw json.RawMessage
	if _, err := p.call(ctx, op, http.MethodGet, appPath(id), nil, &raw, nil); err != nil {
		return nil, err
	}
	app, err := parseApp(raw)
	if err != nil {
		return nil, provider.Errorf(provider.ErrTransient, op, "%w", err)
	}
	app.ClientSecret = "" // never expected on a GET; don't pass one on if it came
	return app, nil
}

// FindApps lists the apps whose label starts with label (case-insensitive): one call per 200
// apps that Okta's search matches (it also matches app names).
func (p *Client) FindApps(ctx context.Context, label string) ([]provider.App, error) {
	const op = "find apps"
	if strings.TrimSpace(label) == "" {
		return nil, provider.Errorf(provider.ErrPermanent, op, "label is empty")
	}
	q := url.Values{}
	q.Set("q", label)
	want := strings.ToLower(label)
	return p.listApps(ctx, op, q, func(app *provider.App) bool {
		return strings.HasPrefix(strings.ToLower(app.Label), want)
	})
}

// ListApps implements provider.Inventory: every OpenID Connect app of the org (filter
// name eq "oidc_client"), one call per 200 apps.
func (p *Client) ListApps(ctx context.Context) ([]provider.App, error) {
	q := url.Values{}
	q.Set("filter", `name eq "`+appName+`"`)
	return p.listApps(ctx, "list apps", q, func(*provider.App) bool { return true })
}

// listApps pages through the app listing of query, keeping the apps keep accepts, without
// their secrets.
func (p *Client) listApps(ctx context.Context, op string, query url.Values, keep func(*provider.App) bool) ([]provider.App, error) {
	query.Set("limit", fmt.Sprint(findPageSize))
	next := appsCollection + "?" + query.Encode()
	var apps []provider.App
	seen := map[string]bool{}
	for page := 0; next != ""; page++ {
		if page == maxFindPages || seen[next] {
			return nil, provider.Errorf(provider.ErrTransient, op, "okta kept paging after %d pages", page)
		}
		seen[next] = true
		var raws []json.RawMessage
		resp, err := p.call(ctx, op, http.MethodGet, next, nil, &raws, nil)
		if err != nil {
			return nil, err
		}
		for _, raw := range raws {
			app, err := parseApp(raw)
			if err != nil {
				return nil, provider.Errorf(provider.ErrTransient, op, "%w", err)
			}
			if keep(app) {
				app.ClientSecret = ""
				apps = append(apps, *app)
			}
		}
		next, err = p.nextPage(resp.Header)
		if err != nil {
			return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
		}
	}
	return apps, nil
}

// appsCollection is the management API path the provider pages through (FindApps).
const appsCollection = "/api/v1/apps"

// nextPage returns the path and query of the rel="next" link of an app listing. The link is
// resolved against the org URL and followed only when its scheme and host are the org's
// and its path is the listing's: the SDK appends what it returns to the org URL and sends
// the API token with it, so a link like "@attacker.example/..." must never get through. A
// link that does not parse is an error.
func (p *Client) nextPage(h http.Header) (string, error) {
	for _, v := range h.Values("Link") {
		for _, link := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(link, ";")
			if !ok || !isNextRel(params) {
				continue
			}
			target = strings.TrimSpace(target)
			target = strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">")
			ref, err := url.Parse(target)
			if err != nil {
				return "", fmt.Errorf("next link is not a URL")
			}
			org, err := url.Parse(p.orgURL + "/")
			if err != nil {
				return "", fmt.Errorf("org url: %w", err)
			}
			u := org.ResolveReference(ref)
			key, err := orgKey(u.Scheme + "://" + u.Host)
			if err != nil || key != p.orgURL || u.User != nil {
				// Following it would send the API token elsewhere.
				return "", fmt.Errorf("next link points outside the org")
			}
			if u.EscapedPath() != appsCollection {
				return "", fmt.Errorf("next link points outside the listing %s", appsCollection)
			}
			if u.RawQuery == "" {
				return appsCollection, nil
			}
			return appsCollection + "?" + u.RawQuery, nil
		}
	}
	return "", nil
}

func isNextRel(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "rel") {
			for _, r := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
				if strings.EqualFold(r, "next") {
					return true
				}
			}
		}
	}
	return false
}

// UpdateApp makes app match spec with a PUT of the whole app (Okta replaces the app with the
// body), keeping every field spec does not cover, then activates the app if it is inactive.
// Calls: one PUT, plus one GET when app carries no object from GetApp/FindApps/CreateApp,
// plus one activate when the app is inactive.
func (p *Client) UpdateApp(ctx context.Context, app *provider.App, spec provider.AppSpec) (*provider.App, error) {
	const op = "update app"
	if app == nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "no app given")
	}
	if err := checkID("app", app.ID); err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	keys, err := validateSpec(spec)
	if err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	cur, ok := app.Backend.(*appObject)
	active := app.Active
	if !ok || cur == nil || cur.id != app.ID {
		fresh, err := p.GetApp(ctx, app.ID)
		if err != nil {
			return nil, err
		}
		cur = fresh.Backend.(*appObject)
		active = fresh.Active
	}
	body, err := cur.clone()
	if err != nil {
		return nil, provider.Errorf(provider.ErrPermanent, op, "%w", err)
	}
	stripSystemFields(body)
	applySpec(body, spec, keys)
	var raw json.RawMessage
	if _, err := p.call(ctx, op, http.MethodPut, appPath(app.ID), body, &raw, nil); err != nil {
		return nil, err
	}
	updated, err := parseApp(raw)
	if err != nil {
		return nil, provider.Errorf(provider.ErrTransient, op, "%w", err)
	}
	if !active || !updated.Active {
		if resp, err := p.client.Application.ActivateApplication(ctx, app.ID); err != nil {
			return nil, classify(ctx, "activate app", resp, err, nil)
		}
		updated.Active = true
		if obj, ok := updated.Backend.(*appObject); ok {
			obj.obj["status"] = statusActive
		}
	}
	return updated, nil
}

func (a *appObject) clone() (map[string]any, error) {
	b, err := json.Marshal(a.obj)
	if err != nil {
		return nil, fmt.Errorf("copy app: %w", err)
	}
	return decodeObject(b)
}

// DeleteApp deactivates and deletes an app (Okta deletes only inactive apps): two calls.
func (p *Client) DeleteApp(ctx context.Context, id string) error {
	if err := checkID("app", id); err != nil {
		return provider.Errorf(provider.ErrPermanent, "delete app", "%w", err)
	}
	if resp, err := p.client.Application.DeactivateApplication(ctx, id); err != nil {
		return classify(ctx, "deactivate app", resp, err, nil)
	}
	if resp, err := p.client.Application.DeleteApplication(ctx, id); err != nil {
		return classify(ctx, "delete app", resp, err, nil)
	}
	return nil
}
