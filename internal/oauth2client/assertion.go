package oauth2client

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"
)

// ClientAssertionType is the client_assertion_type of a JWT client assertion (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// DefaultAssertionLifetime is short: an assertion is used once, right away.
const DefaultAssertionLifetime = 2 * time.Minute

// ClientAssertion is the JWT a private_key_jwt client authenticates with (RFC 7523 §3):
// iss = sub = the client id, aud = the token endpoint, a short exp and a unique jti, signed
// RS256 (RSA key) or ES256 (EC P-256 key) with the kid in the header.
type ClientAssertion struct {
	ClientID string
	// Audience is the token endpoint URL (Okta requires exactly that).
	Audience string
	KeyID    string
	// Key is an *rsa.PrivateKey or an *ecdsa.PrivateKey on P-256 (see ParsePrivateKeyPEM).
	Key crypto.Signer
	// Lifetime of the assertion; DefaultAssertionLifetime when zero.
	Lifetime time.Duration
}

// Sign returns the compact JWS. Its errors never quote the key.
func (a ClientAssertion) Sign(now time.Time) (string, error) {
	switch {
	case a.ClientID == "":
		return "", errors.New("client assertion: client id is empty")
	case a.Audience == "":
		return "", errors.New("client assertion: audience is empty")
	case a.KeyID == "":
		return "", errors.New("client assertion: key id is empty")
	case a.Key == nil:
		return "", errors.New("client assertion: no private key")
	}
	life := a.Lifetime
	if life <= 0 {
		life = DefaultAssertionLifetime
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("client assertion: jti: %w", err)
	}
	claims, err := json.Marshal(map[string]any{
		"iss": a.ClientID,
		"sub": a.ClientID,
		"aud": a.Audience,
		"iat": now.Unix(),
		"exp": now.Add(life).Unix(),
		"jti": hex.EncodeToString(jti[:]),
	})
	if err != nil {
		return "", fmt.Errorf("client assertion: claims: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, a.KeyID); err != nil {
		return "", fmt.Errorf("client assertion: kid: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("client assertion: typ: %w", err)
	}
	signed, err := jws.Sign(claims, jws.WithKey(signingAlg(a.Key), a.Key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", errors.New("client assertion: signing with the private key failed")
	}
	return string(signed), nil
}

// NewClientAssertion signs the client assertion for creds (private_key_jwt) at now.
func NewClientAssertion(creds Credentials, now time.Time) (string, error) {
	if len(creds.PrivateKeyPEM) == 0 {
		return "", configErr("private key is empty")
	}
	key, err := ParsePrivateKeyPEM(creds.PrivateKeyPEM)
	if err != nil {
		return "", configErr(err.Error())
	}
	return ClientAssertion{ClientID: creds.ClientID, Audience: creds.TokenURL, KeyID: creds.KeyID, Key: key}.Sign(now)
}
