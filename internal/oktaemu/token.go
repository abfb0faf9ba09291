package oktaemu

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

const (
	assertionType      = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxTokenBodyBytes  = 64 << 10
	assertionSkew      = time.Minute
	maxAssertionWindow = time.Hour
)

// assertionAlgs are the signature algorithms accepted on client assertions
// (and allowed as "alg" on registered keys).
var assertionAlgs = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

// ErrMint is wrapped by MintAccessToken errors.
var ErrMint = errors.New("oktaemu: cannot mint access token")

type tokenResponse struct {
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
}

// accessClaims are the claims of an access token, in Okta's order.
type accessClaims struct {
	Ver int      `json:"ver"`
	JTI string   `json:"jti"`
	Iss string   `json:"iss"`
	Aud string   `json:"aud"`
	Iat int64    `json:"iat"`
	Exp int64    `json:"exp"`
	Cid string   `json:"cid"`
	Scp []string `json:"scp"`
	Sub string   `json:"sub"`
}

// grant is everything needed to sign a token, copied out of the state so
// signing happens without the lock.
type grant struct {
	key      *signingKey
	issuer   string
	audience string
	clientID string
	scopes   []string
	lifetime time.Duration
}

func (s *Server) sign(g grant, now time.Time) (string, error) {
	claims := accessClaims{
		Ver: 1, JTI: "AT." + randomToken(32), Iss: g.issuer, Aud: g.audience,
		Iat: now.Unix(), Exp: now.Add(g.lifetime).Unix(),
		Cid: g.clientID, Scp: g.scopes, Sub: g.clientID,
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, g.key.Kid); err != nil {
		return "", err
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256, g.key.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", err
	}
	return string(tok), nil
}

// MintAccessToken signs an access token for clientID exactly as the token
// endpoint of the default authorization server would, without a request:
// the scopes must exist on the server and a policy rule must grant them to
// the client (its lifetime applies). The client need not exist as an app,
// which lets benchmarks pre-mint many tokens cheaply. Safe for concurrent
// use.
func (s *Server) MintAccessToken(clientID string, scopes []string) (string, error) {
	now := s.now()
	s.mu.Lock()
	as := s.st.authServer(defaultAuthServerID)
	var g grant
	var err error
	switch {
	case as == nil:
		err = fmt.Errorf("%w: no default authorization server", ErrMint)
	case clientID == "":
		err = fmt.Errorf("%w: client id is empty", ErrMint)
	case s.OrgURL() == "":
		err = fmt.Errorf("%w: the org URL is unknown; set Config.OrgURL or call SetOrgURL", ErrMint)
	default:
		g, err = s.grantFor(as, clientID, scopes, s.OrgURL())
	}
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	return s.sign(g, now)
}

// grantFor evaluates scopes and policies; the caller holds s.mu.
func (s *Server) grantFor(as *authServer, clientID string, scopes []string, base string) (grant, error) {
	if len(scopes) == 0 {
		return grant{}, fmt.Errorf("%w: no scopes requested", ErrMint)
	}
	for _, sc := range scopes {
		if x := as.scopeByName(sc); x == nil || !x.grantable() {
			return grant{}, fmt.Errorf("%w: scope %q is not configured", ErrMint, sc)
		}
	}
	life, ok := as.grantLifetime(clientID, scopes)
	if !ok {
		return grant{}, fmt.Errorf("%w: no policy rule grants these scopes", ErrMint)
	}
	key := as.activeKey()
	if key == nil {
		return grant{}, fmt.Errorf("%w: no active signing key", ErrMint)
	}
	aud := ""
	if len(as.Audiences) > 0 {
		aud = as.Audiences[0]
	}
	return grant{
		key: key, issuer: base + "/oauth2/" + as.ID, audience: aud,
		clientID: clientID, scopes: slices.Clone(scopes), lifetime: s.capLifetime(life),
	}, nil
}

// token serves POST /oauth2/{as}/v1/token for the client-credentials grant.
func (s *Server) token(w http.ResponseWriter, r *http.Request, p []string) {
	asID := p[0]
	_, _, basic := r.BasicAuth()
	hasAuthz := r.Header.Get("Authorization") != ""
	fail := func(e *oauthError) { writeOAuthError(w, e, hasAuthz) }

	s.mu.Lock()
	exists := s.st.authServer(asID) != nil
	s.mu.Unlock()
	if !exists {
		writeAPIError(w, notFound(asID, "AuthorizationServer"))
		return
	}

	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		fail(newOAuthError(http.StatusBadRequest, "invalid_request", "The request must use Content-Type application/x-www-form-urlencoded."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, min(s.cfg.MaxBodyBytes, maxTokenBodyBytes))
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e := newOAuthError(http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large.")
			fail(e)
			return
		}
		fail(newOAuthError(http.StatusBadRequest, "invalid_request", "The request body is not a valid form."))
		return
	}
	form := r.PostForm
	for _, k := range []string{"grant_type", "scope", "client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if len(form[k]) > 1 {
			fail(newOAuthError(http.StatusBadRequest, "invalid_request", fmt.Sprintf("The '%s' parameter must not be repeated.", k)))
			return
		}
	}
	grantType := form.Get("grant_type")
	if grantType == "" {
		fail(newOAuthError(http.StatusBadRequest, "invalid_request", "The 'grant_type' parameter is required."))
		return
	}
	if !slices.Contains(knownGrantTypes, grantType) {
		fail(newOAuthError(http.StatusBadRequest, "unsupported_grant_type", "The grant type in the request isn't supported."))
		return
	}

	// Client authentication: exactly one method.
	methods := 0
	if hasAuthz {
		methods++
	}
	if form.Get("client_secret") != "" {
		methods++
	}
	if form.Get("client_assertion") != "" || form.Get("client_assertion_type") != "" {
		methods++
	}
	switch {
	case methods > 1:
		fail(newOAuthError(http.StatusBadRequest, "invalid_request", "Can't supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a `client_assertion` in the post body."))
		return
	case methods == 0:
		fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "No client credentials found."))
		return
	}

	base := s.baseURL(r)
	tokenURL := base + "/oauth2/" + asID + "/v1/token"
	now := s.now()
	var clientID, secret, via string
	var assertion string
	switch {
	case hasAuthz:
		if !basic {
			fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "No client credentials found."))
			return
		}
		clientID, secret, _ = r.BasicAuth()
		// RFC 6749 section 2.3.1: both parts are form-encoded first.
		if v, err := url.QueryUnescape(clientID); err == nil {
			clientID = v
		}
		via = authSecretBasic
	case form.Get("client_secret") != "":
		clientID, secret, via = form.Get("client_id"), form.Get("client_secret"), authSecretPost
	default:
		if form.Get("client_assertion_type") != assertionType || form.Get("client_assertion") == "" {
			fail(newOAuthError(http.StatusBadRequest, "invalid_request", "The `client_assertion_type` is invalid."))
			return
		}
		assertion, via = form.Get("client_assertion"), authPrivateKey
		clientID = form.Get("client_id")
		if clientID == "" {
			// The client is named by the assertion's issuer/subject.
			if t, err := jwt.ParseInsecure([]byte(assertion)); err == nil {
				clientID = t.Subject()
			}
		}
	}
	if clientID == "" {
		fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "Invalid value for 'client_id' parameter."))
		return
	}

	// Look the client up and copy what verification needs.
	s.mu.Lock()
	a := s.st.appsByClientID[clientID]
	var appMethod string
	var secrets []string
	var keys []*clientKey
	var appGrants []string
	var dpopBound bool
	if a != nil && a.Status == statusActive {
		appMethod = a.AuthMethod
		dpopBound = a.OAuth.DPoPBoundAccessTokens
		for _, cs := range a.activeSecrets() {
			secrets = append(secrets, cs.Secret)
		}
		for _, k := range a.Keys {
			if k.Status == statusActive && k.Use == "sig" {
				keys = append(keys, k)
			}
		}
		appGrants = slices.Clone(a.OAuth.GrantTypes)
	}
	s.mu.Unlock()
	if appMethod == "" {
		fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "Invalid value for 'client_id' parameter."))
		return
	}

	switch via {
	case authSecretBasic, authSecretPost:
		// Okta accepts either transport for a client registered with a
		// client-secret method.
		if !usesSecret(appMethod) {
			fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "The client isn't configured for client-secret authentication; use the registered token_endpoint_auth_method."))
			return
		}
		if !matchSecret(secrets, secret) {
			fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "The client secret supplied for a confidential client is invalid."))
			return
		}
	case authPrivateKey:
		if appMethod != authPrivateKey {
			fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "The client isn't configured for private_key_jwt authentication; use the registered token_endpoint_auth_method."))
			return
		}
		jti, exp, oerr := verifyAssertion(assertion, clientID, tokenURL, keys, now)
		if oerr != nil {
			fail(oerr)
			return
		}
		if jti != "" && !s.rememberJTI(clientID, jti, exp, now) {
			fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "The client_assertion token has already been used (its 'jti' was seen before)."))
			return
		}
	}

	if dpopBound {
		// The app asks for sender-constrained tokens (RFC 9449); this
		// endpoint checks no DPoP proofs, so it refuses rather than issue a
		// Bearer token the app's settings forbid.
		fail(newOAuthError(http.StatusBadRequest, "invalid_dpop_proof", "The DPoP proof JWT header is missing."))
		return
	}
	if grantType != grantClientCredentials || !slices.Contains(appGrants, grantClientCredentials) {
		fail(newOAuthError(http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("The client is not authorized to use the provided grant type. Configured grant types: [%s].", strings.Join(appGrants, ", "))))
		return
	}

	scopes := strings.Fields(form.Get("scope"))
	s.mu.Lock()
	as := s.st.authServer(asID)
	var g grant
	var oerr *oauthError
	if as == nil {
		oerr = newOAuthError(http.StatusBadRequest, "invalid_request", "The authorization server doesn't exist.")
	} else {
		if len(scopes) == 0 {
			for _, sc := range as.Scopes {
				if sc.Default {
					scopes = append(scopes, sc.Name)
				}
			}
		}
		oerr = checkScopes(as, scopes)
		if oerr == nil {
			var err error
			g, err = s.grantFor(as, clientID, dedupe(scopes), base)
			if err != nil {
				oerr = newOAuthError(http.StatusBadRequest, "access_denied", "Policy evaluation failed for this request, please check the policy configurations.")
			}
		}
	}
	s.mu.Unlock()
	if oerr != nil {
		fail(oerr)
		return
	}
	tok, err := s.sign(g, now)
	if err != nil {
		writeAPIError(w, newAPIError(http.StatusInternalServerError, codeInternal, "Internal Server Error"))
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		TokenType: "Bearer", ExpiresIn: int64(g.lifetime / time.Second),
		AccessToken: tok, Scope: strings.Join(g.scopes, " "),
	})
}

func checkScopes(as *authServer, scopes []string) *oauthError {
	if len(scopes) == 0 {
		return newOAuthError(http.StatusBadRequest, "invalid_scope", "The authorization server resource does not have any configured default scopes, 'scope' must be provided.")
	}
	for _, sc := range scopes {
		if x := as.scopeByName(sc); x == nil || !x.grantable() {
			return newOAuthError(http.StatusBadRequest, "invalid_scope", "One or more scopes are not configured for the authorization server resource.")
		}
	}
	return nil
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func matchSecret(active []string, given string) bool {
	ok := false
	candidates := []string{given}
	if v, err := url.QueryUnescape(given); err == nil && v != given {
		candidates = append(candidates, v)
	}
	for _, want := range active {
		for _, c := range candidates {
			if subtle.ConstantTimeCompare([]byte(want), []byte(c)) == 1 {
				ok = true
			}
		}
	}
	return ok
}

// rememberJTI records a client assertion id; false means it was replayed.
func (s *Server) rememberJTI(clientID, jti string, exp, now time.Time) bool {
	key := clientID + "\x00" + jti
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.jtis) > 1024 {
		for k, e := range s.jtis {
			if now.After(e.Add(assertionSkew)) {
				delete(s.jtis, k)
			}
		}
	}
	if _, seen := s.jtis[key]; seen {
		return false
	}
	s.jtis[key] = exp
	return true
}

// verifyAssertion checks a private_key_jwt client assertion against the
// client's registered keys and returns its jti and expiry.
func verifyAssertion(assertion, clientID, tokenURL string, keys []*clientKey, now time.Time) (string, time.Time, *oauthError) {
	bad := func(desc string) (string, time.Time, *oauthError) {
		return "", time.Time{}, newOAuthError(http.StatusUnauthorized, "invalid_client", desc)
	}
	msg, err := jws.Parse([]byte(assertion), jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return bad("The client_assertion is not a valid compact JWS.")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg := hdr.Algorithm().String()
	if !slices.Contains(assertionAlgs, alg) {
		return bad("The client_assertion signature algorithm isn't supported.")
	}
	kid := hdr.KeyID()
	var tok jwt.Token
	matchedKid := false
	for _, k := range keys {
		if kid != "" && k.Kid != "" && k.Kid != kid {
			continue
		}
		matchedKid = true
		if ka := k.pub.Algorithm().String(); ka != "" && ka != alg {
			continue
		}
		t, err := jwt.Parse([]byte(assertion), jwt.WithKey(jwa.SignatureAlgorithm(alg), k.pub), jwt.WithValidate(false))
		if err == nil {
			tok = t
			break
		}
	}
	if tok == nil {
		if kid != "" && !matchedKid {
			return bad("The client_assertion was signed with a key ('kid') that isn't registered for the client.")
		}
		return bad("The client_assertion signature is invalid.")
	}
	if tok.Issuer() != clientID || tok.Subject() != clientID {
		return bad("The 'iss' and 'sub' claims of the client_assertion must both be the client_id.")
	}
	if !slices.Contains(tok.Audience(), tokenURL) {
		return bad("The 'aud' claim of the client_assertion must be the token endpoint URL.")
	}
	exp := tok.Expiration()
	switch {
	case exp.IsZero():
		return bad("The client_assertion must contain an 'exp' claim.")
	case !now.Before(exp.Add(assertionSkew)):
		return bad("The client_assertion token has expired.")
	case exp.After(now.Add(maxAssertionWindow + assertionSkew)):
		return bad("The 'exp' claim of the client_assertion is more than one hour in the future.")
	}
	if nbf := tok.NotBefore(); !nbf.IsZero() && nbf.After(now.Add(assertionSkew)) {
		return bad("The client_assertion isn't valid yet ('nbf').")
	}
	if iat := tok.IssuedAt(); !iat.IsZero() && iat.After(now.Add(assertionSkew)) {
		return bad("The client_assertion was issued in the future ('iat').")
	}
	return tok.JwtID(), exp, nil
}

// ---- keys and metadata ----

func publicJWKMap(k *signingKey) map[string]string {
	data, _ := json.Marshal(k.public)
	m := map[string]string{}
	var raw map[string]any
	_ = json.Unmarshal(data, &raw)
	for key, v := range raw {
		if s, ok := v.(string); ok {
			m[key] = s
		}
	}
	return m
}

type jwkOut struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	E   string `json:"e"`
	N   string `json:"n"`
}

// jwks serves GET /oauth2/{as}/v1/keys: every key of the server (ACTIVE,
// NEXT and the EXPIRED one), so verifiers know a key before it signs and
// still know it after a rotation.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request, p []string) {
	s.mu.Lock()
	as, ok := s.lookupAuthServer(w, p)
	if !ok {
		s.mu.Unlock()
		return
	}
	keys := make([]jwkOut, 0, len(as.Keys))
	for _, k := range as.Keys {
		pub := publicJWKMap(k)
		keys = append(keys, jwkOut{Kty: "RSA", Alg: "RS256", Kid: k.Kid, Use: "sig", E: pub["e"], N: pub["n"]})
	}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "max-age=300, must-revalidate")
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func metadata(as *authServer, base string, oidc bool) map[string]any {
	issuer := base + "/oauth2/" + as.ID
	scopes := []string{}
	for _, sc := range as.Scopes {
		if sc.MetadataPublish == "ALL_CLIENTS" {
			scopes = append(scopes, sc.Name)
		}
	}
	authMethods := []string{authSecretBasic, authSecretPost, authPrivateKey}
	m := map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                issuer + "/v1/authorize",
		"token_endpoint":                        issuer + "/v1/token",
		"jwks_uri":                              issuer + "/v1/keys",
		"response_types_supported":              []string{"token"},
		"grant_types_supported":                 []string{grantClientCredentials},
		"scopes_supported":                      scopes,
		"token_endpoint_auth_methods_supported": authMethods,
		"claims_supported":                      []string{"ver", "jti", "iss", "aud", "iat", "exp", "cid", "scp", "sub"},
		"request_parameter_supported":           false,
	}
	if oidc {
		m["subject_types_supported"] = []string{"public"}
		m["id_token_signing_alg_values_supported"] = []string{"RS256"}
	}
	return m
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request, p []string, oidc bool) {
	serveRead(s, w, r, p, s.lookupAuthServer, func(as *authServer, base string) map[string]any {
		return metadata(as, base, oidc)
	})
}

func (s *Server) oauthMetadata(w http.ResponseWriter, r *http.Request, p []string) {
	s.serveMetadata(w, r, p, false)
}

func (s *Server) oidcMetadata(w http.ResponseWriter, r *http.Request, p []string) {
	s.serveMetadata(w, r, p, true)
}

// capLifetime applies the emulator-only cap of a TokenLifetime below Okta's
// 5-minute minimum (Config.TokenLifetime); otherwise the rule's lifetime
// stands.
func (s *Server) capLifetime(life time.Duration) time.Duration {
	if c := s.cfg.TokenLifetime; c < 5*time.Minute && c < life {
		return c
	}
	return life
}
