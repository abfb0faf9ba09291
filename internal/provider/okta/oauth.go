package okta

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// OAuthConfig makes the provider reach Okta's management API as an API service app: OAuth
// 2.0 client credentials at the org authorization server ({orgURL}/oauth2/v1/token) with a
// private_key_jwt client assertion, and DPoP-bound access tokens (RFC 9449) sent as
// "Authorization: DPoP <token>" with a fresh proof on every call.
type OAuthConfig struct {
	// ClientID of the API service app.
	ClientID string
	// PrivateKeyPEM signs the client assertions: RSA (PKCS#1 or PKCS#8, RS256) or EC P-256
	// (SEC 1 or PKCS#8, ES256). It never appears in errors, logs or metrics.
	PrivateKeyPEM []byte
	// KeyID is the kid of the public key registered on the app. Empty means the key's RFC
	// 7638 SHA-256 thumbprint (base64url), the kid clientcreds gives the keys it registers.
	KeyID string
	// Scopes requested; empty means [okta.apps.manage].
	Scopes []string
}

// DefaultOAuthScope is requested when OAuthConfig.Scopes is empty.
const DefaultOAuthScope = "okta.apps.manage"

// orgTokenPath is the org authorization server's token endpoint, the only one that issues
// tokens for Okta's management API.
const orgTokenPath = "/oauth2/v1/token"

// apiTokenPlaceholder is handed to the SDK, which insists on a credential, in OAuth mode; the
// DPoP transport replaces the Authorization header it makes from it on every request.
const apiTokenPlaceholder = "oauth-dpop-transport"

// renewal: a token is renewed when less than this share of its lifetime is left (but at
// least minRenewMargin before it expires, and never more than maxRenewMargin).
const (
	renewShare     = 5 // renew in the last fifth of the lifetime
	minRenewMargin = time.Second
	maxRenewMargin = 5 * time.Minute
	// defaultTokenLifetime is assumed when the token answer has no expires_in.
	defaultTokenLifetime = 5 * time.Minute
)

var scopePattern = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)

// checkOAuthConfig validates c and returns the defaulted key id and scopes. Its errors
// never quote the key.
func checkOAuthConfig(c *OAuthConfig) (kid string, scopes []string, err error) {
	if c.ClientID == "" {
		return "", nil, errors.New("oauth client id is empty")
	}
	if !idPattern.MatchString(c.ClientID) {
		return "", nil, fmt.Errorf("oauth client id %q is not a valid okta client id", c.ClientID)
	}
	if len(c.PrivateKeyPEM) == 0 {
		return "", nil, fmt.Errorf("%w: it is empty", ErrPrivateKeyInvalid)
	}
	if _, err := oauth2client.ParsePrivateKeyPEM(c.PrivateKeyPEM); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrPrivateKeyInvalid, err)
	}
	kid = c.KeyID
	if kid == "" {
		if kid, err = oauth2client.KeyIDOf(c.PrivateKeyPEM); err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrPrivateKeyInvalid, err)
		}
	}
	scopes = c.Scopes
	if len(scopes) == 0 {
		scopes = []string{DefaultOAuthScope}
	}
	for _, s := range scopes {
		if !scopePattern.MatchString(s) {
			return "", nil, fmt.Errorf("oauth scope %q is not a valid scope", s)
		}
	}
	return kid, append([]string(nil), scopes...), nil
}

// ErrPrivateKeyInvalid: the OAuth private key cannot be used (not PEM, not RSA or EC P-256,
// too short). Returned by New; the message never quotes the key.
var ErrPrivateKeyInvalid = errors.New("the private key is not a usable PEM private key (RSA of at least 2048 bits as PKCS#1 or PKCS#8, or EC P-256 as SEC 1 or PKCS#8)")

// tokenSource gets, caches and renews the provider's own DPoP-bound access token from the
// org authorization server. It is safe for concurrent use; one token request at a time.
type tokenSource struct {
	creds oauth2client.Credentials
	proof *dpopKey
	http  *http.Client // the budget transport; no DPoP, no redirects
	now   func() time.Time

	sem chan struct{} // one token request at a time

	mu        sync.Mutex
	token     string
	tokenType string // "DPoP" or "Bearer", as the server said
	renewAt   time.Time
	expiresAt time.Time
	asNonce   string // the authorization server's last DPoP-Nonce
}

func newTokenSource(orgURL string, c *OAuthConfig, kid string, scopes []string, hc *http.Client) (*tokenSource, error) {
	key, err := newDPoPKey()
	if err != nil {
		return nil, err
	}
	return &tokenSource{
		creds: oauth2client.Credentials{
			ClientID:      c.ClientID,
			AuthMethod:    oauth2client.PrivateKeyJWT,
			PrivateKeyPEM: c.PrivateKeyPEM,
			KeyID:         kid,
			TokenURL:      orgURL + orgTokenPath,
			Scopes:        scopes,
		},
		proof: key,
		http:  hc,
		now:   time.Now,
		sem:   make(chan struct{}, 1),
	}, nil
}

// accessToken returns a valid access token and its type, requesting a new one when there is
// none or the cached one is due for renewal.
func (s *tokenSource) accessToken(ctx context.Context) (token, typ string, err error) {
	if tok, typ, ok := s.cached(); ok {
		return tok, typ, nil
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
	defer func() { <-s.sem }()
	// Another caller may have renewed it meanwhile.
	if tok, typ, ok := s.cached(); ok {
		return tok, typ, nil
	}
	return s.fetch(ctx)
}

func (s *tokenSource) cached() (string, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.renewAt) {
		return s.token, s.tokenType, true
	}
	return "", "", false
}

// invalidate drops token if it is still the cached one (the resource server refused it).
func (s *tokenSource) invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.token, s.tokenType = "", ""
	}
}

// fetch requests a token, answering one use_dpop_nonce challenge (RFC 9449 §8).
func (s *tokenSource) fetch(ctx context.Context) (string, string, error) {
	s.mu.Lock()
	nonce := s.asNonce
	s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		proof, err := s.proof.proof(http.MethodPost, s.creds.TokenURL, "", nonce, s.now())
		if err != nil {
			return "", "", err
		}
		tok, err := oauth2client.RequestToken(ctx, s.http, s.creds,
			oauth2client.WithHeader("DPoP", proof), oauth2client.WithClock(s.now))
		var oe *oauth2client.Error
		if errors.As(err, &oe) {
			if n := oe.DPoPNonce(); n != "" {
				s.mu.Lock()
				s.asNonce = n
				s.mu.Unlock()
				if errors.Is(oe, oauth2client.ErrUseDPoPNonce) && attempt == 0 && n != nonce {
					nonce = n
					continue
				}
			}
			return "", "", tokenRefusal(s.creds.ClientID, s.creds.Scopes, oe)
		}
		if err != nil {
			return "", "", err // no answer: the transport's or the budget's error
		}
		typ := tok.TokenType
		switch {
		case strings.EqualFold(typ, "DPoP"):
			typ = "DPoP"
		case strings.EqualFold(typ, "Bearer") || typ == "":
			// An app that does not require DPoP gets a plain bearer token.
			typ = "Bearer"
		default:
			return "", "", &authError{class: provider.ErrPermanent, status: http.StatusOK,
				msg: fmt.Sprintf("the org authorization server issued a token of type %q; want DPoP or Bearer", sanitizeText(typ))}
		}
		now := s.now()
		life := defaultTokenLifetime
		switch {
		case tok.ExpiresIn > 0:
			life = time.Duration(tok.ExpiresIn) * time.Second
		case !tok.Expiry.IsZero():
			life = time.Until(tok.Expiry)
		}
		margin := min(max(life/renewShare, minRenewMargin), maxRenewMargin)
		s.mu.Lock()
		if n := tok.Header.Get("DPoP-Nonce"); n != "" {
			s.asNonce = n
		}
		s.token, s.tokenType = tok.AccessToken, typ
		s.expiresAt = now.Add(life)
		s.renewAt = now.Add(life - margin)
		s.mu.Unlock()
		return tok.AccessToken, typ, nil
	}
}

// authError is a refusal of the provider's own OAuth credentials: by the org authorization
// server (token request) or by the management API (DPoP proof). It never holds key material
// or a token.
type authError struct {
	class  error // a provider class
	status int
	code   string
	msg    string
}

func (e *authError) Error() string { return e.msg }

// tokenRefusal turns the org authorization server's refusal into an authError whose message
// says what to fix.
func tokenRefusal(clientID string, scopes []string, oe *oauth2client.Error) error {
	what := oe.Error()
	switch {
	case errors.Is(oe, oauth2client.ErrInvalidClient):
		return &authError{class: provider.ErrOAuthClientRejected, status: oe.Status, code: oe.Code, msg: fmt.Sprintf(
			"okta refused the operator's OAuth client %s (%s): check that it is an active API service app whose client authentication is public key / private key, "+
				"that the public key of the configured private key is registered on it with the configured key id, and that the operator's clock is right", clientID, what)}
	case errors.Is(oe, oauth2client.ErrInvalidScope):
		return &authError{class: provider.ErrOAuthScopeNotGranted, status: oe.Status, code: oe.Code, msg: fmt.Sprintf(
			"okta did not grant the scopes %s to the operator's OAuth client %s (%s): grant them on the app's Okta API Scopes tab, or change spec.okta.oauth.scopes",
			strings.Join(scopes, " "), clientID, what)}
	case errors.Is(oe, oauth2client.ErrInvalidDPoPProof), errors.Is(oe, oauth2client.ErrUseDPoPNonce):
		return &authError{class: provider.ErrDPoPRejected, status: oe.Status, code: oe.Code, msg: fmt.Sprintf(
			"okta refused the operator's DPoP proof at the token endpoint (%s): check that the operator's clock is right; the app must accept DPoP proofs signed ES256", what)}
	case oe.Status == http.StatusTooManyRequests:
		return &authError{class: provider.ErrRateLimited, status: oe.Status, code: oe.Code, msg: what}
	case oe.Retryable():
		return &authError{class: provider.ErrTransient, status: oe.Status, code: oe.Code, msg: what}
	case errors.Is(oe, oauth2client.ErrUnauthorizedClient):
		return &authError{class: provider.ErrOAuthClientRejected, status: oe.Status, code: oe.Code, msg: fmt.Sprintf(
			"okta does not allow the operator's OAuth client %s the client credentials grant (%s): make it an API service app", clientID, what)}
	}
	return &authError{class: provider.ErrPermanent, status: oe.Status, code: oe.Code,
		msg: fmt.Sprintf("okta refused the operator's token request for client %s (%s)", clientID, what)}
}

// dpopKey is the provider's DPoP key pair: an EC P-256 key made in memory when the provider
// is built, never stored, so tokens are bound to this process's provider only.
type dpopKey struct {
	priv *ecdsa.PrivateKey
}

func newDPoPKey() (*dpopKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate dpop key: %w", err)
	}
	return &dpopKey{priv: k}, nil
}

// asAuthError classifies an authError found in err's chain (the SDK and net/http wrap what
// the DPoP transport returns), or returns nil.
func asAuthError(op string, err error) error {
	var ae *authError
	if !errors.As(err, &ae) {
		return nil
	}
	return &provider.Error{Class: ae.class, Op: op, Code: ae.code, Status: ae.status, Err: ae}
}
