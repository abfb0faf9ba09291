package okta

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// Client-assertion constants (RFC 7523 §2.2).
const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionLifetime is short: the assertion is used once, right away.
	assertionLifetime = 2 * time.Minute
)

// RequestToken performs a client-credentials token request at creds.TokenURL and reports
// whether a token was issued. It never returns the token, and no secret appears in its errors.
func (p *Provider) RequestToken(ctx context.Context, creds provider.Credentials) error {
	const op = "request token"
	if creds.ClientID == "" {
		return provider.Errorf(provider.ErrPermanent, op, "client id is empty")
	}
	if err := checkEndpointURL(creds.TokenURL); err != nil {
		return provider.Errorf(provider.ErrPermanent, op, "token url: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(creds.Scopes) > 0 {
		form.Set("scope", strings.Join(creds.Scopes, " "))
	}
	var basic string
	var secrets []string // values to keep out of error messages
	switch creds.AuthMethod {
	case provider.AuthClientSecretBasic, provider.AuthClientSecretPost:
		if creds.ClientSecret == "" {
			return provider.Errorf(provider.ErrPermanent, op, "client secret is empty")
		}
		secrets = append(secrets, creds.ClientSecret)
		if creds.AuthMethod == provider.AuthClientSecretBasic {
			// RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding.
			basic = base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(creds.ClientID) + ":" + url.QueryEscape(creds.ClientSecret)))
		} else {
			form.Set("client_id", creds.ClientID)
			form.Set("client_secret", creds.ClientSecret)
		}
	case provider.AuthPrivateKeyJWT:
		assertion, err := clientAssertion(creds, time.Now())
		if err != nil {
			return provider.Errorf(provider.ErrPermanent, op, "%w", err)
		}
		secrets = append(secrets, assertion)
		form.Set("client_id", creds.ClientID)
		form.Set("client_assertion_type", clientAssertionType)
		form.Set("client_assertion", assertion)
	default:
		return provider.Errorf(provider.ErrPermanent, op, "unsupported token endpoint auth method %q", creds.AuthMethod)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, creds.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return provider.Errorf(provider.ErrPermanent, op, "build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic != "" {
		req.Header.Set("Authorization", "Basic "+basic)
	}
	// Credentials must not follow a redirect to wherever it points.
	client := *p.http
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return classifyNoAnswer(ctx, op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return provider.Errorf(provider.ErrTransient, op, "read answer: %w", err)
	}
	return tokenOutcome(op, resp.StatusCode, body, secrets)
}

// tokenOutcome classifies a token endpoint answer.
func tokenOutcome(op string, status int, body []byte, secrets []string) error {
	if status == http.StatusOK {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
			return provider.Errorf(provider.ErrPermanent, op, "token endpoint answered 200 without an access token")
		}
		return nil
	}
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &oe)
	var class error
	switch {
	case oe.Error == "invalid_client":
		class = provider.ErrInvalidClient
	case oe.Error == "invalid_scope":
		class = provider.ErrInvalidScope
	case status == http.StatusTooManyRequests:
		class = provider.ErrRateLimited
	case status == http.StatusRequestTimeout || status >= 500:
		class = provider.ErrTransient
	case status == http.StatusUnauthorized && oe.Error == "":
		class = provider.ErrInvalidClient
	default:
		class = provider.ErrPermanent
	}
	msg := fmt.Sprintf("token endpoint answered %d", status)
	if oe.Error != "" {
		msg += ": " + sanitize(oe.Error, secrets)
	}
	if oe.Description != "" {
		msg += ": " + sanitize(oe.Description, secrets)
	}
	return &provider.Error{Class: class, Op: op, Code: oe.Error, Status: status, Err: errors.New(msg)}
}

// sanitize keeps server text printable and short, and masks any secret it echoes.
func sanitize(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// clientAssertion builds the RS256-signed client assertion of RFC 7523 for private_key_jwt:
// iss = sub = client id, aud = token URL, a short exp and a unique jti.
func clientAssertion(creds provider.Credentials, now time.Time) (string, error) {
	if creds.KeyID == "" {
		return "", errors.New("key id is empty")
	}
	if len(creds.PrivateKeyPEM) == 0 {
		return "", errors.New("private key is empty")
	}
	// The parser's errors are not passed on: they could quote the key.
	key, err := jwk.ParseKey(creds.PrivateKeyPEM, jwk.WithPEM(true))
	if err != nil {
		return "", errors.New("private key is not a PEM-encoded RSA private key")
	}
	if _, ok := key.(jwk.RSAPrivateKey); !ok {
		return "", errors.New("private key is not a PEM-encoded RSA private key")
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("generate jti: %w", err)
	}
	claims, err := json.Marshal(map[string]any{
		"iss": creds.ClientID,
		"sub": creds.ClientID,
		"aud": creds.TokenURL,
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
		"jti": hex.EncodeToString(jti[:]),
	})
	if err != nil {
		return "", fmt.Errorf("encode assertion claims: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, creds.KeyID); err != nil {
		return "", fmt.Errorf("set assertion kid: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("set assertion typ: %w", err)
	}
	signed, err := jws.Sign(claims, jws.WithKey(jwa.RS256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", errors.New("sign client assertion with the private key failed")
	}
	return string(signed), nil
}
