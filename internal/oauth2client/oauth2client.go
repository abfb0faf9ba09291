// Package oauth2client is the backend-neutral OAuth 2.0 client code of clientcreds: the
// client-credentials token request (RFC 6749 §4.4) with the three client authentication
// methods the project supports — client_secret_basic, client_secret_post and private_key_jwt
// (RFC 7523 client assertions signed RS256 or ES256) — the parsing of token endpoint errors
// into typed errors, and the private-key handling around private_key_jwt (PEM parsing, key
// generation, public JWKs).
//
// It knows no backend: the Okta provider, the operator's token check (through the provider)
// and the public consumer package pkg/credentials all use it, so there is one place where a
// token request is built and a client assertion is signed.
//
// The token request itself goes through golang.org/x/oauth2/clientcredentials; this package
// adds what that one does not do: a fresh, single-use client assertion per request, extra
// request headers (a DPoP proof, RFC 9449), the response headers of every answer (DPoP-Nonce,
// Retry-After, rate-limit headers), no redirects, strict token URL checks, and errors that
// carry the OAuth error code and never a secret.
//
// Nothing in this package logs, and no error it returns contains a client secret, a private
// key, a client assertion or an access token.
package oauth2client

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// AuthMethod is a token endpoint client authentication method (RFC 7591 §2,
// token_endpoint_auth_method).
type AuthMethod string

// The supported methods.
const (
	ClientSecretBasic AuthMethod = "client_secret_basic"
	ClientSecretPost  AuthMethod = "client_secret_post"
	PrivateKeyJWT     AuthMethod = "private_key_jwt"
)

// UsesSecret reports whether the method authenticates with a client secret.
func (m AuthMethod) UsesSecret() bool { return m != PrivateKeyJWT }

// Valid reports whether m is one of the supported methods.
func (m AuthMethod) Valid() bool {
	switch m {
	case ClientSecretBasic, ClientSecretPost, PrivateKeyJWT:
		return true
	}
	return false
}

// Credentials are what a client presents at the token endpoint.
type Credentials struct {
	ClientID   string
	AuthMethod AuthMethod
	// ClientSecret for client_secret_basic and client_secret_post.
	ClientSecret string
	// PrivateKeyPEM (PKCS#1, PKCS#8 or SEC 1 EC) and its KeyID for private_key_jwt.
	PrivateKeyPEM []byte
	KeyID         string
	// TokenURL is the token endpoint: https, or http on a loopback host.
	TokenURL string
	// Scopes requested; none means the authorization server's default.
	Scopes []string
}

// ErrInvalidConfig marks credentials that cannot be used as they are; no request was made.
var ErrInvalidConfig = errors.New("invalid client credentials configuration")

// Validate checks that creds are complete for their method without contacting anyone. Its
// errors match ErrInvalidConfig and never quote a secret or key.
func (c Credentials) Validate() error {
	if c.ClientID == "" {
		return configErr("client id is empty")
	}
	if err := CheckEndpointURL(c.TokenURL); err != nil {
		return configErr("token url: " + err.Error())
	}
	switch c.AuthMethod {
	case ClientSecretBasic, ClientSecretPost:
		if c.ClientSecret == "" {
			return configErr("client secret is empty")
		}
	case PrivateKeyJWT:
		if c.KeyID == "" {
			return configErr("key id is empty")
		}
		if len(c.PrivateKeyPEM) == 0 {
			return configErr("private key is empty")
		}
		if _, err := ParsePrivateKeyPEM(c.PrivateKeyPEM); err != nil {
			return configErr(err.Error())
		}
	case "":
		return configErr("token endpoint auth method is empty")
	default:
		return configErr(fmt.Sprintf("unsupported token endpoint auth method %q", sanitize(string(c.AuthMethod), nil)))
	}
	return nil
}

func configErr(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidConfig, msg) }

// CheckEndpointURL accepts absolute https URLs, and http URLs of loopback hosts (an
// emulator or a test server). URLs carrying user info are refused.
func CheckEndpointURL(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", sanitize(s, nil))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return fmt.Errorf("%q: http is allowed only for loopback hosts; use https", u.Redacted())
		}
	default:
		return fmt.Errorf("%q must use https", u.Redacted())
	}
	if u.User != nil {
		return fmt.Errorf("%q must not carry credentials", u.Redacted())
	}
	return nil
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
