package oktaemu

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

const (
	allClients             = "ALL_CLIENTS"
	everyone               = "EVERYONE"
	grantClientCredentials = "client_credentials"
	oidcAppName            = "oidc_client"
	signOnModeOIDC         = "OPENID_CONNECT"

	authSecretBasic = "client_secret_basic"
	authSecretPost  = "client_secret_post"
	authSecretJWT   = "client_secret_jwt"
	authPrivateKey  = "private_key_jwt"
	authNone        = "none"

	maxClientSecrets = 2
	maxClientKeys    = 50
	defaultPageSize  = 20
	maxPageSize      = 200
)

// Enumerations from the spec (GrantType, OAuthResponseType, ...).
var (
	knownGrantTypes = []string{
		"authorization_code", "client_credentials", "implicit", "interaction_code", "password",
		"refresh_token", "urn:ietf:params:oauth:grant-type:device_code",
		"urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:saml2-bearer",
		"urn:ietf:params:oauth:grant-type:token-exchange", "urn:openid:params:grant-type:ciba",
		"urn:okta:params:oauth:grant-type:otp", "urn:okta:params:oauth:grant-type:oob",
		"http://auth0.com/oauth/grant-type/mfa-otp", "http://auth0.com/oauth/grant-type/mfa-oob",
	}
	knownAuthMethods   = []string{authSecretBasic, authSecretPost, authSecretJWT, authPrivateKey, authNone}
	knownResponseTypes = []string{"code", "id_token", "token"}
	knownAppTypes      = []string{"browser", "native", "service", "web"}
	clientIDPattern    = regexp.MustCompile(`^[A-Za-z0-9$\-_.+!*'(),]{6,100}$`)
)

// ---- request bodies ----

type appIn struct {
	Name          *string         `json:"name"`
	Label         *string         `json:"label"`
	SignOnMode    *string         `json:"signOnMode"`
	Profile       json.RawMessage `json:"profile"`
	Accessibility *accessibility  `json:"accessibility"`
	Visibility    *visibility     `json:"visibility"`
	Credentials   *struct {
		OAuthClient *oauthCredsIn `json:"oauthClient"`
	} `json:"credentials"`
	Settings *struct {
		ImplicitAssignment *bool            `json:"implicitAssignment"`
		Notes              *notesIn         `json:"notes"`
		OAuthClient        *oauthSettingsIn `json:"oauthClient"`
	} `json:"settings"`
}

type notesIn struct {
	Admin   *string `json:"admin"`
	Enduser *string `json:"enduser"`
}

type oauthCredsIn struct {
	ClientID                *string `json:"client_id"`
	ClientSecret            *string `json:"client_secret"`
	TokenEndpointAuthMethod *string `json:"token_endpoint_auth_method"`
	AutoKeyRotation         *bool   `json:"autoKeyRotation"`
	PKCERequired            *bool   `json:"pkce_required"`
}

type oauthSettingsIn struct {
	ApplicationType        *string  `json:"application_type"`
	GrantTypes             []string `json:"grant_types"`
	ResponseTypes          []string `json:"response_types"`
	ClientURI              *string  `json:"client_uri"`
	LogoURI                *string  `json:"logo_uri"`
	PolicyURI              *string  `json:"policy_uri"`
	TosURI                 *string  `json:"tos_uri"`
	ConsentMethod          *string  `json:"consent_method"`
	IssuerMode             *string  `json:"issuer_mode"`
	WildcardRedirect       *string  `json:"wildcard_redirect"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	JWKS                   *struct {
		Keys []json.RawMessage `json:"keys"`
	} `json:"jwks"`
	JWKSURI               *string `json:"jwks_uri"`
	DPoPBoundAccessTokens *bool   `json:"dpop_bound_access_tokens"`
	ParticipateSLO        *bool   `json:"participate_slo"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// appSpec is a validated request body, ready to apply.
type appSpec struct {
	label, name   string
	profile       json.RawMessage
	accessibility *accessibility
	visibility    *visibility
	notes         notes
	implicit      bool
	clientID      string // "" = keep / default
	clientSecret  string // "" = none given
	authMethod    string
	autoKeyRot    bool
	pkce          bool
	oauth         oauthSettings
	keys          []*clientKey
}

// parseAppSpec validates an app body for create (existing == nil) or
// replace. It never touches state other than reading it.
func (st *state) parseAppSpec(in *appIn, existing *app, now time.Time) (*appSpec, *apiError) {
	sp := &appSpec{}
	if strings.TrimSpace(str(in.Label)) == "" {
		return nil, blankField("label")
	}
	sp.label = *in.Label
	mode := str(in.SignOnMode)
	if mode == "" {
		return nil, blankField("signOnMode")
	}
	if mode != signOnModeOIDC {
		return nil, validationError("signOnMode", "signOnMode: The emulator supports only OPENID_CONNECT apps.")
	}
	if existing == nil {
		switch str(in.Name) {
		case "":
			return nil, blankField("name")
		case oidcAppName:
		default:
			return nil, validationError("name", fmt.Sprintf("name: '%s' is not a valid app name for signOnMode OPENID_CONNECT; use 'oidc_client'.", str(in.Name)))
		}
	}
	sp.name = oidcAppName

	if len(in.Profile) > 0 && string(in.Profile) != "null" {
		if !strings.HasPrefix(strings.TrimSpace(string(in.Profile)), "{") {
			return nil, malformedBody("profile: expected a JSON object")
		}
		sp.profile = compactJSON(in.Profile)
	}
	sp.accessibility = in.Accessibility
	sp.visibility = in.Visibility

	var creds oauthCredsIn
	if in.Credentials != nil && in.Credentials.OAuthClient != nil {
		creds = *in.Credentials.OAuthClient
	}
	var set oauthSettingsIn
	if in.Settings != nil {
		if in.Settings.ImplicitAssignment != nil {
			sp.implicit = *in.Settings.ImplicitAssignment
		}
		if n := in.Settings.Notes; n != nil {
			sp.notes = notes{Admin: str(n.Admin), Enduser: str(n.Enduser)}
		}
		if in.Settings.OAuthClient != nil {
			set = *in.Settings.OAuthClient
		}
	}
	if in.Settings == nil || in.Settings.OAuthClient == nil {
		return nil, blankField("settings.oauthClient")
	}

	// application_type, grant_types, response_types
	appType := str(set.ApplicationType)
	switch {
	case appType == "":
		return nil, blankField("application_type")
	case !slices.Contains(knownAppTypes, appType):
		return nil, validationError("application_type", fmt.Sprintf("application_type: '%s' is invalid. Valid values: [%s].", appType, strings.Join(knownAppTypes, ", ")))
	case appType != "service":
		return nil, validationError("application_type", "application_type: The emulator supports only 'service' apps (client credentials).")
	}
	grants := set.GrantTypes
	if len(grants) == 0 {
		grants = []string{grantClientCredentials}
	}
	for _, g := range grants {
		if !slices.Contains(knownGrantTypes, g) {
			return nil, validationError("grant_types", fmt.Sprintf("grant_types: '%s' is not a valid grant type.", g))
		}
		// Okta took implicit beside client_credentials on a service app
		// (TestAccResourceOktaAppOauth_serviceNative #0).
		if g != grantClientCredentials && g != "implicit" {
			return nil, validationError("grant_types", fmt.Sprintf("grant_types: The grant type '%s' isn't allowed for application_type 'service'.", g))
		}
	}
	resp := set.ResponseTypes
	if len(resp) == 0 {
		resp = []string{"token"}
	}
	for _, rt := range resp {
		if !slices.Contains(knownResponseTypes, rt) {
			return nil, validationError("response_types", fmt.Sprintf("response_types: '%s' is not a valid response type.", rt))
		}
		if rt != "token" {
			return nil, validationError("response_types", fmt.Sprintf("response_types: The response type '%s' isn't allowed for application_type 'service'.", rt))
		}
	}
	consent := str(set.ConsentMethod)
	if consent == "" {
		consent = "TRUSTED"
	}
	if consent != "TRUSTED" && consent != "REQUIRED" {
		return nil, validationError("consent_method", fmt.Sprintf("consent_method: '%s' is invalid. Valid values: [REQUIRED, TRUSTED].", consent))
	}
	issuerMode := str(set.IssuerMode)
	if issuerMode == "" {
		issuerMode = "ORG_URL"
	}
	if !slices.Contains([]string{"CUSTOM_URL", "DYNAMIC", "ORG_URL"}, issuerMode) {
		return nil, validationError("issuer_mode", fmt.Sprintf("issuer_mode: '%s' is invalid. Valid values: [CUSTOM_URL, DYNAMIC, ORG_URL].", issuerMode))
	}
	wildcard := str(set.WildcardRedirect)
	if wildcard == "" {
		wildcard = "DISABLED"
	}
	if wildcard != "DISABLED" && wildcard != "SUBDOMAIN" {
		return nil, validationError("wildcard_redirect", fmt.Sprintf("wildcard_redirect: '%s' is invalid. Valid values: [DISABLED, SUBDOMAIN].", wildcard))
	}
	sp.oauth = oauthSettings{
		ApplicationType: appType, GrantTypes: slices.Clone(grants), ResponseTypes: slices.Clone(resp),
		ClientURI: str(set.ClientURI), LogoURI: str(set.LogoURI), PolicyURI: str(set.PolicyURI), TosURI: str(set.TosURI),
		ConsentMethod: consent, IssuerMode: issuerMode, WildcardRedirect: wildcard,
		RedirectURIs: nonNil(set.RedirectURIs), PostLogoutRedirectURIs: slices.Clone(set.PostLogoutRedirectURIs),
	}
	// dpop_bound_access_tokens is kept as sent (Okta's API service apps have it
	// true). The custom authorization servers' token endpoint checks no DPoP
	// proofs, so it refuses such an app's requests (fail closed, see token.go);
	// the org authorization server (orgauth.go) requires a proof of every app.
	if set.DPoPBoundAccessTokens != nil {
		sp.oauth.DPoPBoundAccessTokens = *set.DPoPBoundAccessTokens
	} else if existing != nil {
		sp.oauth.DPoPBoundAccessTokens = existing.OAuth.DPoPBoundAccessTokens
	}
	if set.ParticipateSLO != nil && *set.ParticipateSLO {
		return nil, validationError("participate_slo", "participate_slo: Single Logout needs a browser sign-in flow, which service apps don't have.")
	}

	// token_endpoint_auth_method
	method := str(creds.TokenEndpointAuthMethod)
	switch {
	case method == "" && existing != nil:
		// A replace that leaves the method out keeps it, rather than
		// silently switching a key-based client to a generated secret.
		method = existing.AuthMethod
	case method == "":
		method = authSecretBasic
	}
	switch method {
	case authSecretBasic, authSecretPost, authPrivateKey:
	case authSecretJWT:
		return nil, validationError("token_endpoint_auth_method", "token_endpoint_auth_method: 'client_secret_jwt' is not supported by the emulator.")
	case authNone:
		return nil, validationError("token_endpoint_auth_method", "token_endpoint_auth_method: 'none' isn't allowed for application_type 'service'.")
	default:
		return nil, validationError("token_endpoint_auth_method", fmt.Sprintf("token_endpoint_auth_method: 'token_endpoint_auth_method' is invalid. Valid values: [%s].", strings.Join(knownAuthMethods[:4], ", ")))
	}
	sp.authMethod = method
	sp.autoKeyRot = creds.AutoKeyRotation == nil || *creds.AutoKeyRotation
	sp.pkce = creds.PKCERequired != nil && *creds.PKCERequired
	if existing != nil {
		if creds.AutoKeyRotation == nil {
			sp.autoKeyRot = existing.AutoKeyRotation
		}
		if creds.PKCERequired == nil {
			sp.pkce = existing.PKCERequired
		}
	}

	// client_id
	if cid := str(creds.ClientID); cid != "" {
		switch {
		case existing != nil && cid != existing.ClientID:
			return nil, validationError("client_id", "client_id: The client_id of an app can't be changed.")
		case existing == nil && (!clientIDPattern.MatchString(cid) || cid == allClients):
			return nil, validationError("client_id", "client_id: The client_id must be 6 to 100 characters long and consist of alphanumeric characters or the following special characters: $-_.+!*'(), and can't be ALL_CLIENTS.")
		case existing == nil && st.appsByClientID[cid] != nil:
			return nil, validationError("client_id", "client_id: An object with this field already exists in the current organization")
		}
		sp.clientID = cid
	}

	// client_secret
	if sec := str(creds.ClientSecret); sec != "" {
		if method == authPrivateKey {
			return nil, secretWithPrivateKeyJWT()
		}
		if aerr := validateSecretValue(sec); aerr != nil {
			return nil, aerr
		}
		sp.clientSecret = sec
	}

	// jwks, jwks_uri
	var rawKeys []json.RawMessage
	if set.JWKS != nil {
		rawKeys = set.JWKS.Keys
	}
	// A service app may name a key-set URL instead of inline keys; Okta took
	// one on a client_secret_basic app (TestAccResourceOktaAppOAuthRoleAssignment_basic,
	// TestAccResourceOktaAppOauth_serviceWithJWKSURI). The emulator does not
	// fetch it: a private_key_jwt client of such an app cannot authenticate.
	if u := str(set.JWKSURI); u != "" {
		pu, err := url.Parse(u)
		switch {
		case err != nil || pu.Scheme != "https" || pu.Host == "":
			return nil, validationError("jwks_uri", "jwks_uri: 'jwks_uri' must be an absolute https URL.")
		case len(rawKeys) > 0:
			return nil, validationError("jwks_uri", "jwks_uri: Use either 'jwks' or 'jwks_uri', not both.")
		}
		sp.oauth.JWKSURI = u
	}
	var prev []*clientKey
	if existing != nil {
		prev = existing.Keys
	}
	keys, aerr := parseClientKeys(rawKeys, prev, now)
	if aerr != nil {
		return nil, aerr
	}
	if method == authPrivateKey && sp.oauth.JWKSURI == "" {
		if len(keys) == 0 {
			return nil, validationError("jwks", "jwks: A 'jwks' with at least one key is required when 'token_endpoint_auth_method' is 'private_key_jwt'.")
		}
		if !slices.ContainsFunc(keys, func(k *clientKey) bool { return k.Status == statusActive && k.Use == "sig" }) {
			return nil, validationError("JsonWebKey", "Can't deactivate the only active JSON Web Key when the value for `token_endpoint_auth_method` is `private_key_jwt`.")
		}
	}
	sp.keys = keys
	return sp, nil
}

func secretWithPrivateKeyJWT() *apiError {
	return validationError("client_secret", "'client_secret' can't be used when 'token_endpoint_auth_method' is 'private_key_jwt'.")
}

// validateSecretValue applies Okta's rules for caller-chosen secrets.
func validateSecretValue(sec string) *apiError {
	for _, r := range sec {
		if r < 0x20 || r > 0x7e {
			return validationError("client_secret", "client_secret: ''client_secret'' must only contain printable ASCII: [x20-x7E]+")
		}
	}
	switch {
	case len(sec) < 14:
		return validationError("client_secret", "client_secret: 'client_secret' must be at least '14' characters long.")
	case len(sec) > 100:
		return validationError("client_secret", "client_secret: 'client_secret' can't be more than '100' characters long.")
	}
	return nil
}

// parseClientKeys validates JWKs registered for private_key_jwt. Keys that
// match a previously registered one keep its id and timestamps.
func parseClientKeys(raws []json.RawMessage, prev []*clientKey, now time.Time) ([]*clientKey, *apiError) {
	const field = "JsonWebKey"
	if len(raws) > maxClientKeys {
		return nil, validationError(field, "You can't create a new key. You have reached the maximum number of keys allowed (50). To add another key, you must first delete an existing one.")
	}
	out := make([]*clientKey, 0, len(raws))
	kids := map[string]bool{}
	for _, raw := range raws {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return nil, malformedBody("jwks.keys: each key must be a JSON object")
		}
		for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := m[priv]; ok {
				return nil, validationError(field, "The 'jwks' must contain public keys only.")
			}
		}
		status, _ := m["status"].(string)
		if status == "" {
			status = statusActive
		}
		if status != statusActive && status != statusInactive {
			return nil, validationError(field, fmt.Sprintf("status: '%s' is invalid. Valid values: [ACTIVE, INACTIVE].", status))
		}
		var unsent []string
		use, _ := m["use"].(string)
		if use == "" {
			use = "sig"
			unsent = append(unsent, "use")
		}
		if use != "sig" && use != "enc" {
			return nil, validationError(field, fmt.Sprintf("use: '%s' is invalid. Valid values: [sig, enc].", use))
		}
		// Keep only the JWK members; drop Okta's read-only decorations
		// (id, status, created, lastUpdated, _links) the SDK echoes back.
		pubMembers := map[string]any{}
		for _, k := range []string{"kty", "kid", "alg", "use", "n", "e", "crv", "x", "y", "x5c", "x5t", "x5t#S256"} {
			if v, ok := m[k]; ok && v != nil {
				pubMembers[k] = v
			}
		}
		pubMembers["use"] = use
		// Okta took an EC key without "crv" and answered it as null
		// (TestAccResourceOktaAppOauth_serviceWithJWKS #1); the curve follows
		// from the coordinate length.
		if pubMembers["kty"] == "EC" && pubMembers["crv"] == nil {
			crv, ok := curveForCoordinate(pubMembers["x"])
			if !ok {
				return nil, validationError(field, "The EC key in the 'jwks' has no 'crv' and its coordinates fit no supported curve.")
			}
			pubMembers["crv"] = crv
			unsent = append(unsent, "crv")
		}
		pubJSON, _ := json.Marshal(pubMembers)
		key, err := jwk.ParseKey(pubJSON)
		if err != nil {
			return nil, validationError(field, "The key in the 'jwks' is not a valid JSON Web Key: "+sanitize(err.Error()))
		}
		switch raw := rawPublic(key).(type) {
		case *rsa.PublicKey:
			if raw.N.BitLen() < 2048 {
				return nil, validationError(field, "RSA key length in the 'jwks' is less than '2,048' bits for the given key.")
			}
		case *ecdsa.PublicKey:
		default:
			return nil, validationError(field, "Only RSA and EC keys are supported in the 'jwks'.")
		}
		if alg, ok := m["alg"].(string); ok && alg != "" && !slices.Contains(assertionAlgs, alg) {
			return nil, validationError(field, fmt.Sprintf("alg: '%s' is invalid. Valid values: [%s].", alg, strings.Join(assertionAlgs, ", ")))
		}
		kid := key.KeyID()
		if len(raws) > 1 {
			if kid == "" {
				return nil, validationError(field, "Each key should have a unique kid when adding multiple keys. Use the Apps API to update the JWKS to add a kid for the existing key, or delete the existing key and re-add the key with a kid using the JWKS APIs.")
			}
			if kids[kid] {
				return nil, validationError(field, "All keys in the 'jwks' must have a unique `kid`.")
			}
		}
		kids[kid] = true
		tp, err := key.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, validationError(field, "The key in the 'jwks' is not a valid JSON Web Key.")
		}
		ck := &clientKey{
			ID: newID("pks", 20), Kid: kid, Status: status, Use: use, JWK: pubJSON, Unsent: unsent,
			Thumbprint: base64URL(tp), Created: now, LastUpdated: now, pub: key,
		}
		for _, p := range prev {
			if p.Thumbprint == ck.Thumbprint && p.Kid == ck.Kid {
				ck.ID, ck.Created = p.ID, p.Created
				if p.Status == ck.Status {
					ck.LastUpdated = p.LastUpdated
				}
				break
			}
		}
		out = append(out, ck)
	}
	return out, nil
}

func rawPublic(k jwk.Key) any {
	var raw any
	if err := k.Raw(&raw); err != nil {
		return nil
	}
	return raw
}

// sanitize keeps library error text short and single-line.
func sanitize(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// newSecret makes a client secret object. A generated value has 64
// base64url characters like Okta's.
func newSecret(value, status string, now time.Time) *clientSecret {
	if value == "" {
		value = randomToken(48)
	}
	salt := randomToken(12)
	sum := sha256.Sum256([]byte(salt + value))
	return &clientSecret{
		ID: newID("ocs", 20), Secret: value, Hash: base64URL(sum[:16]),
		Status: status, Created: now, LastUpdated: now,
	}
}

// applySpec writes a validated spec into a (new or existing) app.
func (a *app) applySpec(sp *appSpec, now time.Time) {
	a.Label = sp.label
	a.Name = sp.name
	a.Profile = sp.profile
	if sp.accessibility != nil {
		a.Accessibility = *sp.accessibility
	} else {
		a.Accessibility = accessibility{}
	}
	if sp.visibility != nil {
		a.Visibility = *sp.visibility
	} else {
		a.Visibility = visibility{Hide: visibilityHide{IOS: true, Web: true}, AppLinks: map[string]bool{"oidc_client_link": true}}
	}
	a.Notes = sp.notes
	a.ImplicitAssignment = sp.implicit
	a.AuthMethod = sp.authMethod
	a.AutoKeyRotation = sp.autoKeyRot
	a.PKCERequired = sp.pkce
	a.OAuth = sp.oauth
	a.Keys = sp.keys
	a.LastUpdated = now
}

func usesSecret(method string) bool { return method == authSecretBasic || method == authSecretPost }

func (a *app) activeSecrets() []*clientSecret {
	var out []*clientSecret
	for _, s := range a.Secrets {
		if s.Status == statusActive {
			out = append(out, s)
		}
	}
	return out
}

// currentSecret is the secret shown on create and replace: the newest
// active one.
func (a *app) currentSecret() *clientSecret {
	act := a.activeSecrets()
	if len(act) == 0 {
		return nil
	}
	return act[len(act)-1]
}

func (a *app) secretByID(id string) *clientSecret {
	for _, s := range a.Secrets {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// ---- responses ----

type hrefObject struct {
	Href  string     `json:"href"`
	Name  string     `json:"name,omitempty"`
	Type  string     `json:"type,omitempty"`
	Hints *hrefHints `json:"hints,omitempty"`
}

type hrefHints struct {
	Allow []string `json:"allow"`
}

func link(href string, methods ...string) *hrefObject {
	h := &hrefObject{Href: href}
	if len(methods) > 0 {
		h.Hints = &hrefHints{Allow: methods}
	}
	return h
}

type appOut struct {
	ID            string         `json:"id"`
	Orn           string         `json:"orn"`
	Name          string         `json:"name"`
	Label         string         `json:"label"`
	Status        string         `json:"status"`
	LastUpdated   string         `json:"lastUpdated"`
	Created       string         `json:"created"`
	Accessibility accessibility  `json:"accessibility"`
	Visibility    visibilityOut  `json:"visibility"`
	Features      []string       `json:"features"`
	SignOnMode    string         `json:"signOnMode"`
	Credentials   credentialsOut `json:"credentials"`
	// UniversalLogout is what newer recordings answer for service apps
	// (TestAccResourceOktaAppOauth_serviceWithJWKS, March 2026).
	UniversalLogout map[string]string `json:"universalLogout"`
	Settings        settingsOut       `json:"settings"`
	Profile         json.RawMessage   `json:"profile,omitempty"`
	Links           appLinks          `json:"_links"`
}

type visibilityOut struct {
	AutoLaunch        bool            `json:"autoLaunch"`
	AutoSubmitToolbar bool            `json:"autoSubmitToolbar"`
	Hide              visibilityHide  `json:"hide"`
	AppLinks          map[string]bool `json:"appLinks"`
}

type credentialsOut struct {
	UserNameTemplate struct {
		Template string `json:"template"`
		Type     string `json:"type"`
	} `json:"userNameTemplate"`
	// Signing names the key that signs the app's tokens (as recorded:
	// credentials.signing.kid); the emulator's is the default server's
	// active key.
	Signing     *signingOut   `json:"signing,omitempty"`
	OAuthClient oauthCredsOut `json:"oauthClient"`
}

type signingOut struct {
	Kid string `json:"kid"`
}

type oauthCredsOut struct {
	AutoKeyRotation         bool   `json:"autoKeyRotation"`
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret,omitempty"`
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	PKCERequired            bool   `json:"pkce_required"`
}

type settingsOut struct {
	App                map[string]any   `json:"app"`
	Notifications      map[string]any   `json:"notifications"`
	ManualProvisioning bool             `json:"manualProvisioning"`
	EmOptInStatus      string           `json:"emOptInStatus"`
	ImplicitAssignment bool             `json:"implicitAssignment"`
	Notes              notes            `json:"notes"`
	OAuthClient        oauthSettingsOut `json:"oauthClient"`
}

type oauthSettingsOut struct {
	oauthSettings
	IdpInitiatedLogin struct {
		Mode         string   `json:"mode"`
		DefaultScope []string `json:"default_scope"`
	} `json:"idp_initiated_login"`
	JWKS *jwksOut `json:"jwks,omitempty"`
}

type jwksOut struct {
	Keys []map[string]any `json:"keys"`
}

// appLinks links only to what the emulator serves (Okta also links
// groups, users and the logo).
type appLinks struct {
	Self       *hrefObject   `json:"self"`
	AppLinks   []*hrefObject `json:"appLinks"`
	Activate   *hrefObject   `json:"activate,omitempty"`
	Deactivate *hrefObject   `json:"deactivate,omitempty"`
}

func (st *state) renderApp(a *app, base string, withSecret bool) appOut {
	self := base + "/api/v1/apps/" + url.PathEscape(a.ID)
	o := appOut{
		ID: a.ID, Orn: "orn:okta:idp:" + st.OrgID + ":apps:" + a.Name + ":" + a.ID,
		Name: a.Name, Label: a.Label, Status: a.Status,
		LastUpdated: formatTime(a.LastUpdated), Created: formatTime(a.Created),
		Accessibility: a.Accessibility,
		Visibility: visibilityOut{
			AutoLaunch: a.Visibility.AutoLaunch, AutoSubmitToolbar: a.Visibility.AutoSubmitToolbar,
			Hide: a.Visibility.Hide, AppLinks: a.Visibility.AppLinks,
		},
		Features:   []string{},
		SignOnMode: signOnModeOIDC,
		Profile:    a.Profile,
	}
	if len(o.Visibility.AppLinks) == 0 {
		// Okta fills in the app's link when the client sends none
		// (TestAccResourceOktaAppOauth_serviceWithJWKS sends only "hide").
		o.Visibility.AppLinks = map[string]bool{"oidc_client_link": true}
	}
	o.UniversalLogout = map[string]string{"status": "DISABLED", "supportType": "FULL", "identityStack": "NOT_SHARED", "protocol": "GLOBAL_TOKEN_REVOCATION"}
	if as := st.authServer(defaultAuthServerID); as != nil {
		if k := as.activeKey(); k != nil {
			o.Credentials.Signing = &signingOut{Kid: k.Kid}
		}
	}
	o.Credentials.UserNameTemplate.Template = "${source.login}"
	o.Credentials.UserNameTemplate.Type = "BUILT_IN"
	o.Credentials.OAuthClient = oauthCredsOut{
		AutoKeyRotation: a.AutoKeyRotation, ClientID: a.ClientID,
		TokenEndpointAuthMethod: a.AuthMethod, PKCERequired: a.PKCERequired,
	}
	if withSecret && usesSecret(a.AuthMethod) {
		if cs := a.currentSecret(); cs != nil {
			o.Credentials.OAuthClient.ClientSecret = cs.Secret
		}
	}
	o.Settings = settingsOut{
		App:                map[string]any{},
		Notifications:      map[string]any{"vpn": map[string]any{"network": map[string]any{"connection": "DISABLED"}}},
		EmOptInStatus:      "NONE",
		ImplicitAssignment: a.ImplicitAssignment, Notes: a.Notes,
	}
	o.Settings.OAuthClient.oauthSettings = a.OAuth
	o.Settings.OAuthClient.RedirectURIs = nonNil(a.OAuth.RedirectURIs)
	o.Settings.OAuthClient.IdpInitiatedLogin.Mode = "DISABLED"
	o.Settings.OAuthClient.IdpInitiatedLogin.DefaultScope = []string{}
	if len(a.Keys) > 0 {
		o.Settings.OAuthClient.JWKS = &jwksOut{Keys: make([]map[string]any, 0, len(a.Keys))}
		for _, k := range a.Keys {
			o.Settings.OAuthClient.JWKS.Keys = append(o.Settings.OAuthClient.JWKS.Keys, k.render())
		}
	}
	o.Links = appLinks{
		Self:     link(self, http.MethodGet, http.MethodPut, http.MethodDelete),
		AppLinks: []*hrefObject{{Name: "oidc_client_link", Href: base + "/home/oidc_client/" + a.ID + "/aln" + a.ID[3:], Type: "text/html"}},
	}
	if a.Status == statusActive {
		o.Links.Deactivate = link(self+"/lifecycle/deactivate", http.MethodPost)
	} else {
		o.Links.Activate = link(self+"/lifecycle/activate", http.MethodPost)
	}
	return o
}

// render shows a registered key as Okta does
// (TestAccResourceOktaAppOauth_serviceWithJWKS): the JWK members with
// Okta's id and status, members the client left out as null, and no
// timestamps.
func (k *clientKey) render() map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(k.JWK, &m)
	m["id"] = k.ID
	m["status"] = k.Status
	for _, name := range k.Unsent {
		m[name] = nil
	}
	return m
}

// curveForCoordinate names the NIST curve whose coordinates have the
// length of x (base64url).
func curveForCoordinate(x any) (string, bool) {
	s, _ := x.(string)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", false
	}
	switch len(b) {
	case 32:
		return "P-256", true
	case 48:
		return "P-384", true
	case 66:
		return "P-521", true
	}
	return "", false
}

// ---- handlers ----

func (s *Server) createApp(w http.ResponseWriter, r *http.Request, _ []string) {
	activate := true
	if v := r.URL.Query().Get("activate"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeAPIError(w, validationError("activate", "activate: must be true or false"))
			return
		}
		activate = b
	}
	var in appIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	now := s.now()
	s.mu.Lock()
	sp, aerr := s.st.parseAppSpec(&in, nil, now)
	if aerr != nil {
		s.mu.Unlock()
		writeAPIError(w, aerr)
		return
	}
	a := &app{ID: newID("0oa", 20), Created: now, Status: statusInactive}
	if activate {
		a.Status = statusActive
	}
	a.ClientID = sp.clientID
	if a.ClientID == "" {
		a.ClientID = a.ID
	}
	a.applySpec(sp, now)
	if usesSecret(a.AuthMethod) {
		a.Secrets = []*clientSecret{newSecret(sp.clientSecret, statusActive, now)}
	}
	s.st.addApp(a)
	s.bump()
	out := s.st.renderApp(a, s.baseURL(r), true)
	s.mu.Unlock()
	s.changed()
	writeJSON(w, http.StatusOK, out)
}

// lookupApp finds the app named by p[0] or writes 404. The caller holds
// s.mu.
func (s *Server) lookupApp(w http.ResponseWriter, p []string) (*app, bool) {
	a := s.st.appsByID[p[0]]
	if a == nil {
		writeAPIError(w, notFound(p[0], "AppInstance"))
	}
	return a, a != nil
}

// appExists answers 404 for unknown apps before a body is read.
func (s *Server) appExists(w http.ResponseWriter, id string) bool {
	s.mu.Lock()
	ok := s.st.appsByID[id] != nil
	s.mu.Unlock()
	if !ok {
		writeAPIError(w, notFound(id, "AppInstance"))
	}
	return ok
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupApp, func(a *app, base string) appOut { return s.st.renderApp(a, base, false) })
}

func (s *Server) replaceApp(w http.ResponseWriter, r *http.Request, p []string) {
	var in appIn
	// Unknown ids answer 404 before the body is looked at.
	if !s.appExists(w, p[0]) {
		return
	}
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	now := s.now()
	serveChange(s, w, p, http.StatusOK, s.lookupApp, func(a *app) (appOut, *apiError) {
		sp, aerr := s.st.parseAppSpec(&in, a, now)
		if aerr == nil && sp.clientSecret != "" {
			if !slices.ContainsFunc(a.Secrets, func(cs *clientSecret) bool { return cs.Secret == sp.clientSecret }) && len(a.Secrets) >= maxClientSecrets {
				aerr = maxSecretsError()
			}
		}
		if aerr != nil {
			return appOut{}, aerr
		}
		a.applySpec(sp, now)
		if sp.clientSecret != "" {
			if cs := findSecretValue(a, sp.clientSecret); cs == nil {
				a.Secrets = append(a.Secrets, newSecret(sp.clientSecret, statusActive, now))
			} else if cs.Status != statusActive {
				cs.Status, cs.LastUpdated = statusActive, now
				// Show it as the current secret.
				a.Secrets = append(slices.DeleteFunc(a.Secrets, func(x *clientSecret) bool { return x == cs }), cs)
			}
		}
		if usesSecret(a.AuthMethod) && len(a.activeSecrets()) == 0 {
			if len(a.Secrets) >= maxClientSecrets {
				a.Secrets[0].Status, a.Secrets[0].LastUpdated = statusActive, now
			} else {
				a.Secrets = append(a.Secrets, newSecret("", statusActive, now))
			}
		}
		return s.st.renderApp(a, s.baseURL(r), true), nil
	})
}

func findSecretValue(a *app, v string) *clientSecret {
	for _, cs := range a.Secrets {
		if cs.Secret == v {
			return cs
		}
	}
	return nil
}

func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request, p []string) {
	serveDelete(s, w, p, s.lookupApp, func(a *app) *apiError {
		if a.Status == statusActive {
			return newAPIError(http.StatusForbidden, codeDeleteAppActive, "Delete application forbidden.")
		}
		s.st.removeApp(a)
		return nil
	})
}

func (a *app) lifecycle() (*string, *time.Time) { return &a.Status, &a.LastUpdated }

// setAppStatus answers 200 with an empty JSON object (policies and rules
// answer 204).
func (s *Server) setAppStatus(w http.ResponseWriter, p []string, status string) {
	if setStatus(s, w, p, s.lookupApp, status) {
		writeJSON(w, http.StatusOK, map[string]any{})
	}
}

func (s *Server) activateApp(w http.ResponseWriter, r *http.Request, p []string) {
	s.setAppStatus(w, p, statusActive)
}

func (s *Server) deactivateApp(w http.ResponseWriter, r *http.Request, p []string) {
	s.setAppStatus(w, p, statusInactive)
}

// listApps serves GET /api/v1/apps with q, filter, limit and after, and
// links pages with separate Link headers (rel="self" and rel="next").
func (s *Server) listApps(w http.ResponseWriter, r *http.Request, _ []string) {
	qv := r.URL.Query()
	limit := defaultPageSize
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeAPIError(w, validationError("limit", "limit: must be an integer"))
			return
		}
		if n > 0 {
			limit = min(n, maxPageSize)
		}
	}
	var after int64
	if v := qv.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeAPIError(w, validationError("after", "after: The cursor is not valid; use the next link of a previous page."))
			return
		}
		after = n
	}
	pred, aerr := parseAppFilter(qv.Get("filter"))
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	q := strings.ToLower(qv.Get("q"))
	base := s.baseURL(r)

	s.mu.Lock()
	page := make([]appOut, 0, limit)
	var last int64
	more := false
	for _, a := range s.st.Apps { // ordered by Seq
		if a.Seq <= after {
			continue
		}
		if q != "" && !strings.HasPrefix(strings.ToLower(a.Label), q) && !strings.HasPrefix(strings.ToLower(a.Name), q) {
			continue
		}
		if pred != nil && !pred(a) {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, s.st.renderApp(a, base, false))
		last = a.Seq
	}
	s.mu.Unlock()

	selfURL := base + "/api/v1/apps"
	if raw := r.URL.RawQuery; raw != "" {
		selfURL += "?" + raw
	}
	w.Header().Add("Link", "<"+selfURL+`>; rel="self"`)
	if more {
		nq := url.Values{}
		for k, v := range qv {
			nq[k] = slices.Clone(v)
		}
		nq.Set("after", strconv.FormatInt(last, 10))
		nq.Set("limit", strconv.Itoa(limit))
		w.Header().Add("Link", "<"+base+"/api/v1/apps?"+nq.Encode()+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, page)
}

// parseAppFilter supports Okta's filter expressions on id, status and name
// with the eq operator, joined by "and" or "or" ("and" binds tighter).
func parseAppFilter(expr string) (func(*app) bool, *apiError) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, nil
	}
	bad := newAPIError(http.StatusBadRequest, codeInvalidSearch, "Invalid search criteria.")
	toks, ok := tokenizeFilter(expr)
	if !ok {
		return nil, bad
	}
	type cond struct{ attr, val string }
	var ors [][]cond
	var cur []cond
	for i := 0; i < len(toks); {
		if i+3 > len(toks) {
			return nil, bad
		}
		attr, op, val := toks[i], strings.ToLower(toks[i+1]), toks[i+2]
		if op != "eq" || !strings.HasPrefix(val, `"`) {
			return nil, bad
		}
		switch attr {
		case "id", "status", "name":
		default:
			return nil, bad
		}
		cur = append(cur, cond{attr, strings.Trim(val, `"`)})
		i += 3
		if i == len(toks) {
			break
		}
		switch strings.ToLower(toks[i]) {
		case "and":
		case "or":
			ors = append(ors, cur)
			cur = nil
		default:
			return nil, bad
		}
		i++
		if i == len(toks) {
			return nil, bad
		}
	}
	ors = append(ors, cur)
	return func(a *app) bool {
		for _, ands := range ors {
			ok := true
			for _, c := range ands {
				var v string
				switch c.attr {
				case "id":
					v = a.ID
				case "status":
					v = a.Status
				case "name":
					v = a.Name
				}
				if v != c.val {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	}, nil
}

// tokenizeFilter splits on spaces, keeping double-quoted strings whole.
func tokenizeFilter(s string) ([]string, bool) {
	var toks []string
	for i := 0; i < len(s); {
		switch s[i] {
		case ' ':
			i++
		case '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, false
			}
			toks = append(toks, s[i:i+j+2])
			i += j + 2
		default:
			j := strings.IndexAny(s[i:], ` "`)
			if j < 0 {
				j = len(s) - i
			}
			toks = append(toks, s[i:i+j])
			i += j
		}
	}
	return toks, true
}
