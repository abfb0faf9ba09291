package oktaemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// The org authorization server ({org}/oauth2/v1/...) issues access tokens
// for Okta's own API: a service app registered with private_key_jwt and
// granted okta.* scopes (grants.go) gets, with the client-credentials
// grant and a DPoP proof, a DPoP-bound token for the management API.
//
// Simplifications, stated: every client must send a DPoP proof (Okta
// requires DPoP of API service apps unless an admin turned it off); the
// org server's signing key lives in memory, so its tokens end with the
// process; its requests count in the token bucket.
const orgTokenLifetime = time.Hour

// orgKeys holds the org authorization server's signing key, made on first
// use.
type orgKeys struct {
	once sync.Once
	key  *signingKey
	err  error
}

func (s *Server) orgSigningKey() (*signingKey, error) {
	s.orgKey.once.Do(func() { s.orgKey.key, s.orgKey.err = newSigningKey(statusActive, s.now()) })
	return s.orgKey.key, s.orgKey.err
}

// orgAccessClaims are the claims of an org access token: Okta's access
// token claims and the DPoP confirmation (RFC 9449 section 6.1).
type orgAccessClaims struct {
	accessClaims
	Cnf map[string]any `json:"cnf"`
}

// orgToken serves POST {org}/oauth2/v1/token: client credentials with a
// private_key_jwt client assertion (aud = this URL) and a DPoP proof.
// Answers (RFC 6749 section 5.2, RFC 9449): 400 use_dpop_nonce with a
// DPoP-Nonce header for a proof without the server's nonce; 400
// invalid_dpop_proof for a missing or bad proof; 401 invalid_client for an
// unknown client or a bad assertion; 400 invalid_scope for a scope not
// granted to the app; else 200 token_type DPoP.
func (s *Server) orgToken(w http.ResponseWriter, r *http.Request, _ []string) {
	fail := func(e *oauthError) { writeOAuthError(w, e, false) }
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		fail(newOAuthError(http.StatusBadRequest, "invalid_request", "The request must use Content-Type application/x-www-form-urlencoded."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, min(s.cfg.MaxBodyBytes, maxTokenBodyBytes))
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(newOAuthError(http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large."))
			return
		}
		fail(newOAuthError(http.StatusBadRequest, "invalid_request", "The request body is not a valid form."))
		return
	}
	form := r.PostForm
	for k, v := range form {
		if len(v) > 1 {
			fail(newOAuthError(http.StatusBadRequest, "invalid_request", fmt.Sprintf("The '%s' parameter must not be repeated.", k)))
			return
		}
	}
	switch gt := form.Get("grant_type"); {
	case gt == "":
		fail(newOAuthError(http.StatusBadRequest, "invalid_request", "The 'grant_type' parameter is required."))
		return
	case gt != grantClientCredentials:
		fail(newOAuthError(http.StatusBadRequest, "unsupported_grant_type", "The grant type in the request isn't supported."))
		return
	}
	base := s.baseURL(r)
	tokenURL := base + "/oauth2/v1/token"
	now := s.now()

	// Client authentication: private_key_jwt only, for okta.* scopes.
	if _, _, basic := r.BasicAuth(); basic || form.Get("client_secret") != "" {
		fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "Client secrets can't be used for Okta API scopes; authenticate with private_key_jwt."))
		return
	}
	assertion := form.Get("client_assertion")
	if form.Get("client_assertion_type") != assertionType || assertion == "" {
		fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "No client credentials found."))
		return
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		if t, err := jwt.ParseInsecure([]byte(assertion)); err == nil {
			clientID = t.Subject()
		}
	}
	s.mu.Lock()
	a := s.st.appsByClientID[clientID]
	var keys []*clientKey
	ok := a != nil && a.Status == statusActive && a.AuthMethod == authPrivateKey && slices.Contains(a.OAuth.GrantTypes, grantClientCredentials)
	if ok {
		for _, k := range a.Keys {
			if k.Status == statusActive && k.Use == "sig" {
				keys = append(keys, k)
			}
		}
	}
	granted := s.st.grantedScopes(clientID, base)
	s.mu.Unlock()
	if !ok {
		fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "Invalid value for 'client_id' parameter."))
		return
	}
	jti, exp, oerr := verifyAssertion(assertion, clientID, tokenURL, keys, now)
	if oerr != nil {
		fail(oerr)
		return
	}

	// DPoP proof (RFC 9449 section 5), then the server nonce (section 8).
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		fail(newOAuthError(http.StatusBadRequest, "invalid_dpop_proof", "The DPoP proof JWT header is missing."))
		return
	}
	proof, desc := checkDPoPProof(proofs[0], http.MethodPost, tokenURL, now)
	if desc != "" {
		fail(newOAuthError(http.StatusBadRequest, "invalid_dpop_proof", desc))
		return
	}
	if !s.dpop.validNonce(proof.nonce, now) {
		w.Header().Set("DPoP-Nonce", s.dpop.newNonce(now))
		fail(newOAuthError(http.StatusBadRequest, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof."))
		return
	}
	if !s.dpop.rememberJTI(proof.jkt, proof.jti, now) {
		fail(newOAuthError(http.StatusBadRequest, "invalid_dpop_proof", "The DPoP proof 'jti' was used before."))
		return
	}
	if jti != "" && !s.rememberJTI(clientID, jti, exp, now) {
		fail(newOAuthError(http.StatusUnauthorized, "invalid_client", "The client_assertion token has already been used (its 'jti' was seen before)."))
		return
	}

	scopes := dedupe(strings.Fields(form.Get("scope")))
	if len(scopes) == 0 {
		fail(newOAuthError(http.StatusBadRequest, "invalid_scope", "The authorization server resource does not have any configured default scopes, 'scope' must be provided."))
		return
	}
	var notGranted []string
	for _, sc := range scopes {
		if !slices.Contains(granted, sc) {
			notGranted = append(notGranted, sc)
		}
	}
	if len(notGranted) > 0 {
		fail(newOAuthError(http.StatusBadRequest, "invalid_scope", "The following scopes are not allowed: "+strings.Join(notGranted, ", ")))
		return
	}
	key, err := s.orgSigningKey()
	if err != nil {
		writeAPIError(w, newAPIError(http.StatusInternalServerError, codeInternal, "Internal Server Error"))
		return
	}
	life := s.capLifetime(orgTokenLifetime)
	claims := orgAccessClaims{
		accessClaims: accessClaims{Ver: 1, JTI: "AT." + randomToken(32), Iss: base, Aud: base, Iat: now.Unix(), Exp: now.Add(life).Unix(),
			Cid: clientID, Scp: scopes, Sub: clientID},
		Cnf: map[string]any{"jkt": proof.jkt},
	}
	tok, err := signClaims(key, claims)
	if err != nil {
		writeAPIError(w, newAPIError(http.StatusInternalServerError, codeInternal, "Internal Server Error"))
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("DPoP-Nonce", s.dpop.newNonce(now))
	writeJSON(w, http.StatusOK, tokenResponse{
		TokenType: "DPoP", ExpiresIn: int64(life / time.Second), AccessToken: tok, Scope: strings.Join(scopes, " "),
	})
}

func signClaims(key *signingKey, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, key.Kid); err != nil {
		return "", err
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256, key.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", err
	}
	return string(tok), nil
}

// orgJWKS serves GET {org}/oauth2/v1/keys.
func (s *Server) orgJWKS(w http.ResponseWriter, _ *http.Request, _ []string) {
	key, err := s.orgSigningKey()
	if err != nil {
		writeAPIError(w, newAPIError(http.StatusInternalServerError, codeInternal, "Internal Server Error"))
		return
	}
	pub := publicJWKMap(key)
	w.Header().Set("Cache-Control", "max-age=300, must-revalidate")
	writeJSON(w, http.StatusOK, map[string]any{"keys": []jwkOut{{Kty: "RSA", Alg: "RS256", Kid: key.Kid, Use: "sig", E: pub["e"], N: pub["n"]}}})
}

// orgMetadata serves GET {org}/.well-known/oauth-authorization-server
// (spec: getWellKnownOAuthConfiguration of the org authorization server).
func (s *Server) orgMetadata(w http.ResponseWriter, r *http.Request, _ []string) {
	base := s.baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/oauth2/v1/authorize",
		"token_endpoint":                        base + "/oauth2/v1/token",
		"jwks_uri":                              base + "/oauth2/v1/keys",
		"response_types_supported":              []string{"token"},
		"grant_types_supported":                 []string{grantClientCredentials},
		"scopes_supported":                      OktaScopes,
		"token_endpoint_auth_methods_supported": []string{authPrivateKey},
		"token_endpoint_auth_signing_alg_values_supported": assertionAlgs,
		"dpop_signing_alg_values_supported":                dpopAlgs,
		"claims_supported":                                 []string{"ver", "jti", "iss", "aud", "iat", "exp", "cid", "scp", "sub", "cnf"},
	})
}

// identifyOAuth authenticates a management request made with an access
// token of the org authorization server: "Authorization: DPoP <token>"
// and a DPoP proof for this request (RFC 9449 section 7) whose key is the
// one the token is bound to (cnf.jkt) and whose ath is the token's hash.
// Failures answer 401 with a DPoP challenge (section 7.1).
func (s *Server) identifyOAuth(r *http.Request) principal {
	now := s.now()
	base := s.baseURL(r)
	refuse := func(code, desc string) principal {
		return principal{fail: func(w http.ResponseWriter) {
			h := w.Header()
			h.Set("WWW-Authenticate", fmt.Sprintf(`DPoP algs="%s", error="%s", error_description="%s"`, strings.Join(dpopAlgs, " "), code, desc))
			if code == "use_dpop_nonce" {
				h.Set("DPoP-Nonce", s.dpop.newNonce(now))
			}
			writeAPIError(w, invalidToken())
		}}
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	claims, ok := s.verifyOrgToken(tok, base, now)
	if !ok {
		return refuse("invalid_token", "The access token is invalid or expired.")
	}
	if !strings.EqualFold(scheme, "DPoP") {
		return refuse("invalid_token", "The access token is DPoP-bound: send it with the DPoP authorization scheme and a DPoP proof.")
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return refuse("invalid_dpop_proof", "The DPoP proof JWT header is missing.")
	}
	proof, desc := checkDPoPProof(proofs[0], r.Method, base+r.URL.EscapedPath(), now)
	switch {
	case desc != "":
		return refuse("invalid_dpop_proof", desc)
	case proof.ath != accessTokenHash(tok):
		return refuse("invalid_dpop_proof", "The DPoP proof 'ath' claim doesn't match the access token.")
	case proof.jkt != claims.jkt:
		return refuse("invalid_dpop_proof", "The DPoP proof isn't signed by the key the access token is bound to.")
	case s.dpop.resourceNonceRequired() && !s.dpop.validNonce(proof.nonce, now):
		return refuse("use_dpop_nonce", "Resource server requires nonce in DPoP proof")
	case !s.dpop.rememberJTI(proof.jkt, proof.jti, now):
		return refuse("invalid_dpop_proof", "The DPoP proof 'jti' was used before.")
	}
	return principal{kind: principalOAuth, clientID: claims.cid, scopes: claims.scp}
}

type orgTokenClaims struct {
	cid, jkt string
	scp      []string
}

// verifyOrgToken checks an org access token's signature, issuer, audience
// and lifetime.
func (s *Server) verifyOrgToken(tok, base string, now time.Time) (orgTokenClaims, bool) {
	if tok == "" || strings.Count(tok, ".") != 2 {
		return orgTokenClaims{}, false
	}
	key, err := s.orgSigningKey()
	if err != nil {
		return orgTokenClaims{}, false
	}
	payload, err := jws.Verify([]byte(tok), jws.WithKey(jwa.RS256, key.public))
	if err != nil {
		return orgTokenClaims{}, false
	}
	var c orgAccessClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss != base || c.Aud != base || now.Unix() >= c.Exp {
		return orgTokenClaims{}, false
	}
	jkt, _ := c.Cnf["jkt"].(string)
	if jkt == "" || c.Cid == "" {
		return orgTokenClaims{}, false
	}
	return orgTokenClaims{cid: c.Cid, jkt: jkt, scp: c.Scp}, true
}
