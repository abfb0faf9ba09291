package oktaemu

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

const (
	defaultAuthServerID = "default"
	stateVersion        = 1
	statusActive        = "ACTIVE"
	statusInactive      = "INACTIVE"
	keyStatusNext       = "NEXT"
	keyStatusExpired    = "EXPIRED"
	signingKeyBits      = 2048
)

// state is everything an org holds; it is also the state-file format.
type state struct {
	Version     int           `json:"version"`
	OrgID       string        `json:"orgId"`
	Seq         int64         `json:"seq"`
	Apps        []*app        `json:"apps"`
	AuthServers []*authServer `json:"authorizationServers"`
	// Grants are the apps' okta.* scope grants (grants.go).
	Grants []*scopeGrant `json:"grants,omitempty"`

	appsByID       map[string]*app
	appsByClientID map[string]*app
}

type app struct {
	ID                 string          `json:"id"`
	Seq                int64           `json:"seq"`
	Name               string          `json:"name"`
	Label              string          `json:"label"`
	Status             string          `json:"status"`
	Created            time.Time       `json:"created"`
	LastUpdated        time.Time       `json:"lastUpdated"`
	Profile            json.RawMessage `json:"profile,omitempty"`
	Accessibility      accessibility   `json:"accessibility"`
	Visibility         visibility      `json:"visibility"`
	Notes              notes           `json:"notes"`
	ImplicitAssignment bool            `json:"implicitAssignment"`
	ClientID           string          `json:"clientId"`
	AuthMethod         string          `json:"authMethod"`
	AutoKeyRotation    bool            `json:"autoKeyRotation"`
	PKCERequired       bool            `json:"pkceRequired"`
	OAuth              oauthSettings   `json:"oauth"`
	Keys               []*clientKey    `json:"keys,omitempty"`
	Secrets            []*clientSecret `json:"secrets,omitempty"`
}

type accessibility struct {
	SelfService      bool   `json:"selfService"`
	ErrorRedirectURL string `json:"errorRedirectUrl,omitempty"`
	LoginRedirectURL string `json:"loginRedirectUrl,omitempty"`
}

type visibility struct {
	AutoLaunch        bool            `json:"autoLaunch"`
	AutoSubmitToolbar bool            `json:"autoSubmitToolbar"`
	Hide              visibilityHide  `json:"hide"`
	AppLinks          map[string]bool `json:"appLinks,omitempty"`
}

type visibilityHide struct {
	IOS bool `json:"iOS"`
	Web bool `json:"web"`
}

type notes struct {
	Admin   string `json:"admin,omitempty"`
	Enduser string `json:"enduser,omitempty"`
}

type oauthSettings struct {
	ApplicationType        string   `json:"application_type"`
	GrantTypes             []string `json:"grant_types"`
	ResponseTypes          []string `json:"response_types"`
	ClientURI              string   `json:"client_uri,omitempty"`
	LogoURI                string   `json:"logo_uri,omitempty"`
	PolicyURI              string   `json:"policy_uri,omitempty"`
	TosURI                 string   `json:"tos_uri,omitempty"`
	ConsentMethod          string   `json:"consent_method"`
	IssuerMode             string   `json:"issuer_mode"`
	WildcardRedirect       string   `json:"wildcard_redirect"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	JWKSURI                string   `json:"jwks_uri,omitempty"`
	DPoPBoundAccessTokens  bool     `json:"dpop_bound_access_tokens"`
	ParticipateSLO         bool     `json:"participate_slo"`
}

// clientKey is a public key registered for private_key_jwt.
type clientKey struct {
	ID         string          `json:"id"`
	Kid        string          `json:"kid,omitempty"`
	Status     string          `json:"status"`
	Use        string          `json:"use"`
	JWK        json.RawMessage `json:"jwk"` // public members as registered
	Thumbprint string          `json:"thumbprint"`
	// Unsent lists the members the client left out ("use", an EC key's
	// "crv"): Okta answers them as null.
	Unsent      []string  `json:"unsent,omitempty"`
	Created     time.Time `json:"created"`
	LastUpdated time.Time `json:"lastUpdated"`

	pub jwk.Key
}

type clientSecret struct {
	ID          string    `json:"id"`
	Secret      string    `json:"secret"`
	Hash        string    `json:"hash"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
	LastUpdated time.Time `json:"lastUpdated"`
}

type authServer struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Audiences   []string  `json:"audiences"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
	LastUpdated time.Time `json:"lastUpdated"`
	LastRotated time.Time `json:"lastRotated"`
	// IssuerMode and RotationMode are "" in state files written before
	// they were kept: ORG_URL and AUTO.
	IssuerMode   string        `json:"issuerMode,omitempty"`
	RotationMode string        `json:"rotationMode,omitempty"`
	Keys         []*signingKey `json:"keys"`
	Scopes       []*scope      `json:"scopes"`
	Policies     []*policy     `json:"policies"`
	Claims       []*claim      `json:"claims,omitempty"`
}

// claim is a custom (or system) claim of an authorization server. The
// emulator stores and serves claims; tokens carry only the standard
// claims (see doc.go).
type claim struct {
	ID                   string   `json:"id"`
	Name                 string   `json:"name"`
	Status               string   `json:"status"`
	ClaimType            string   `json:"claimType"`
	ValueType            string   `json:"valueType"`
	Value                string   `json:"value,omitempty"`
	Scopes               []string `json:"scopes"`
	System               bool     `json:"system"`
	AlwaysIncludeInToken bool     `json:"alwaysIncludeInToken"`
	GroupFilterType      string   `json:"groupFilterType,omitempty"`
}

type signingKey struct {
	Kid     string    `json:"kid"`
	Status  string    `json:"status"`
	Created time.Time `json:"created"`
	PKCS8   []byte    `json:"pkcs8"`

	priv   jwk.Key // private JWK with kid and alg set
	public jwk.Key
}

type scope struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	DisplayName     string    `json:"displayName,omitempty"`
	Description     string    `json:"description,omitempty"`
	Consent         string    `json:"consent"`
	MetadataPublish string    `json:"metadataPublish"`
	Default         bool      `json:"default"`
	Optional        bool      `json:"optional"`
	System          bool      `json:"system"`
	Created         time.Time `json:"created"`
}

type policy struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	Priority    int       `json:"priority"`
	System      bool      `json:"system"`
	Clients     []string  `json:"clients"`
	Created     time.Time `json:"created"`
	LastUpdated time.Time `json:"lastUpdated"`
	Rules       []*rule   `json:"rules"`
}

type rule struct {
	ID                          string    `json:"id"`
	Name                        string    `json:"name"`
	Status                      string    `json:"status"`
	Priority                    int       `json:"priority"`
	System                      bool      `json:"system"`
	GrantTypes                  []string  `json:"grantTypes"`
	Scopes                      []string  `json:"scopes"`
	Users                       []string  `json:"users"`
	Groups                      []string  `json:"groups"`
	InlineHookID                string    `json:"inlineHookId,omitempty"`
	AccessTokenLifetimeMinutes  int       `json:"accessTokenLifetimeMinutes"`
	RefreshTokenLifetimeMinutes int       `json:"refreshTokenLifetimeMinutes"`
	RefreshTokenWindowMinutes   int       `json:"refreshTokenWindowMinutes"`
	Created                     time.Time `json:"created"`
	LastUpdated                 time.Time `json:"lastUpdated"`
}

// newState creates a fresh org with the default authorization server, its
// default policy and rule, and two signing keys (ACTIVE and NEXT).
func newState(cfg Config, now time.Time) (*state, error) {
	active, err := newSigningKey(statusActive, now)
	if err != nil {
		return nil, err
	}
	next, err := newSigningKey(keyStatusNext, now)
	if err != nil {
		return nil, err
	}
	as := &authServer{
		ID:          defaultAuthServerID,
		Name:        "default",
		Description: "Default Authorization Server for your Applications",
		Audiences:   []string{"api://default"},
		Status:      statusActive,
		Created:     now,
		LastUpdated: now,
		LastRotated: now,
		Keys:        []*signingKey{active, next},
		Scopes:      systemScopes(now),
		Claims:      systemClaims(),
		Policies: []*policy{{
			ID:          newID("00p", 20),
			Name:        "Default Policy",
			Description: "Default policy description",
			Status:      statusActive,
			Priority:    1,
			Clients:     []string{allClients},
			Created:     now,
			LastUpdated: now,
			Rules: []*rule{{
				ID:                          newID("0pr", 20),
				Name:                        "Default Policy Rule",
				Status:                      statusActive,
				Priority:                    1,
				GrantTypes:                  []string{grantClientCredentials},
				Scopes:                      []string{"*"},
				Users:                       []string{},
				Groups:                      []string{everyone},
				AccessTokenLifetimeMinutes:  max(int(cfg.TokenLifetime/time.Minute), 5),
				RefreshTokenLifetimeMinutes: 0,
				RefreshTokenWindowMinutes:   10080,
				Created:                     now,
				LastUpdated:                 now,
			}},
		}},
	}
	st := &state{Version: stateVersion, OrgID: newID("00o", 20), AuthServers: []*authServer{as}}
	st.index()
	return st, nil
}

// ensureScopes adds the configured scopes missing from the default server
// (and the system scopes and claims, for state files written before the
// emulator had them).
func (st *state) ensureScopes(names []string, now time.Time) error {
	as := st.authServer(defaultAuthServerID)
	if as == nil {
		return fmt.Errorf("%w: state has no %q authorization server", ErrInvalidConfig, defaultAuthServerID)
	}
	for _, sc := range systemScopes(now) {
		if as.scopeByName(sc.Name) == nil {
			as.Scopes = append(as.Scopes, sc)
		}
	}
	if len(as.Claims) == 0 {
		as.Claims = systemClaims()
	}
	for _, n := range names {
		if as.scopeByName(n) != nil {
			continue
		}
		as.Scopes = append(as.Scopes, &scope{
			ID: newID("scp", 20), Name: n, DisplayName: n, Description: n,
			Consent: "IMPLICIT", MetadataPublish: "ALL_CLIENTS", Created: now,
		})
	}
	return nil
}

func (st *state) index() {
	st.appsByID = make(map[string]*app, len(st.Apps))
	st.appsByClientID = make(map[string]*app, len(st.Apps))
	for _, a := range st.Apps {
		st.appsByID[a.ID] = a
		st.appsByClientID[a.ClientID] = a
	}
}

func (st *state) authServer(id string) *authServer {
	for _, as := range st.AuthServers {
		if as.ID == id {
			return as
		}
	}
	return nil
}

func (st *state) addApp(a *app) {
	st.Seq++
	a.Seq = st.Seq
	st.Apps = append(st.Apps, a)
	st.appsByID[a.ID] = a
	st.appsByClientID[a.ClientID] = a
}

func (st *state) removeApp(a *app) {
	delete(st.appsByID, a.ID)
	delete(st.appsByClientID, a.ClientID)
	for i, x := range st.Apps {
		if x == a {
			st.Apps = append(st.Apps[:i], st.Apps[i+1:]...)
			break
		}
	}
}

func (as *authServer) scopeByName(name string) *scope {
	for _, sc := range as.Scopes {
		if sc.Name == name {
			return sc
		}
	}
	return nil
}

func (as *authServer) activeKey() *signingKey {
	for _, k := range as.Keys {
		if k.Status == statusActive {
			return k
		}
	}
	return nil
}

func newSigningKey(status string, now time.Time) (*signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return nil, fmt.Errorf("oktaemu: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("oktaemu: encode signing key: %w", err)
	}
	k := &signingKey{Status: status, Created: now, PKCS8: der}
	if err := k.init(); err != nil {
		return nil, err
	}
	return k, nil
}

// init parses PKCS8 and derives the JWKs; the kid is the RFC 7638
// thumbprint, unless one was stored.
func (k *signingKey) init() error {
	raw, err := x509.ParsePKCS8PrivateKey(k.PKCS8)
	if err != nil {
		return fmt.Errorf("oktaemu: parse signing key: %w", err)
	}
	rk, ok := raw.(*rsa.PrivateKey)
	if !ok {
		return errors.New("oktaemu: signing key is not RSA")
	}
	priv, err := jwk.FromRaw(rk)
	if err != nil {
		return fmt.Errorf("oktaemu: signing key jwk: %w", err)
	}
	if k.Kid == "" {
		tp, err := priv.Thumbprint(crypto.SHA256)
		if err != nil {
			return fmt.Errorf("oktaemu: signing key thumbprint: %w", err)
		}
		k.Kid = base64URL(tp)
	}
	for _, kv := range []struct {
		name string
		v    any
	}{{jwk.KeyIDKey, k.Kid}, {jwk.AlgorithmKey, jwa.RS256}, {jwk.KeyUsageKey, "sig"}} {
		if err := priv.Set(kv.name, kv.v); err != nil {
			return fmt.Errorf("oktaemu: signing key jwk: %w", err)
		}
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return fmt.Errorf("oktaemu: signing key public jwk: %w", err)
	}
	k.priv, k.public = priv, pub
	return nil
}

// loadState reads path; a missing file is not an error (nil state).
func loadState(path string) (*state, bool, error) {
	if path == "" {
		return nil, false, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("oktaemu: read state file: %w", err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, false, fmt.Errorf("%w: state file %s: %v", ErrInvalidConfig, path, err)
	}
	if st.Version != stateVersion {
		return nil, false, fmt.Errorf("%w: state file %s has version %d, want %d", ErrInvalidConfig, path, st.Version, stateVersion)
	}
	for _, as := range st.AuthServers {
		for _, k := range as.Keys {
			if err := k.init(); err != nil {
				return nil, false, fmt.Errorf("state file %s: %w", path, err)
			}
		}
	}
	for _, a := range st.Apps {
		for _, k := range a.Keys {
			pub, err := jwk.ParseKey(k.JWK)
			if err != nil {
				return nil, false, fmt.Errorf("%w: state file %s: app %s key: %v", ErrInvalidConfig, path, a.ID, err)
			}
			k.pub = pub
		}
	}
	sort.SliceStable(st.Apps, func(i, j int) bool { return st.Apps[i].Seq < st.Apps[j].Seq })
	st.index()
	return &st, true, nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it into place, so readers never see a partial file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("oktaemu: write state file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("oktaemu: write state file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("oktaemu: write state file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("oktaemu: write state file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("oktaemu: write state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("oktaemu: write state file: %w", err)
	}
	return nil
}
