package okta

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// dpopProofType is the typ header of a DPoP proof (RFC 9449 §4.2).
const dpopProofType = "dpop+jwt"

// maxManagementBody bounds the request bodies the DPoP transport buffers for a retry; the
// provider's management requests are a few kilobytes.
const maxManagementBody = 4 << 20

// proof returns a DPoP proof JWT (RFC 9449 §4.2) for one request: typ dpop+jwt, alg ES256,
// the public key in the jwk header; claims jti, htm, htu (without query and fragment), iat,
// ath (the base64url SHA-256 of the access token, for resource requests) and nonce when the
// server gave one.
func (k *dpopKey) proof(method, target, accessToken, nonce string, now time.Time) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("dpop proof: target url: %w", err)
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("dpop proof: jti: %w", err)
	}
	claims := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
		"htm": method,
		"htu": u.String(),
		"iat": now.Unix(),
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("dpop proof: claims: %w", err)
	}
	pub, err := jwk.FromRaw(&k.priv.PublicKey)
	if err != nil {
		return "", fmt.Errorf("dpop proof: public jwk: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, dpopProofType); err != nil {
		return "", fmt.Errorf("dpop proof: typ: %w", err)
	}
	if err := hdr.Set(jws.JWKKey, pub); err != nil {
		return "", fmt.Errorf("dpop proof: jwk: %w", err)
	}
	signed, err := jws.Sign(payload, jws.WithKey(jwa.ES256, k.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", errors.New("dpop proof: signing failed")
	}
	return string(signed), nil
}

// dpopTransport sits between the Okta SDK and the budget transport in OAuth mode. It
// replaces the Authorization header the SDK made with "DPoP <access token>" (or "Bearer" for
// an app that does not bind tokens) and adds a fresh DPoP proof to every request. It answers
// the resource server's use_dpop_nonce challenge once, remembers the DPoP-Nonce the server
// sends in any answer for the next proof, and retries once with a fresh token when the
// resource server refuses the token (it may have expired early). Refused proofs become
// errors of class provider.ErrDPoPRejected.
type dpopTransport struct {
	base http.RoundTripper
	src  *tokenSource

	mu    sync.Mutex
	nonce string // the resource server's last DPoP-Nonce
}

func (t *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxManagementBody+1))
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		if len(b) > maxManagementBody {
			return nil, errors.New("request body too large")
		}
		body = b
	}
	nonceRetried, tokenRetried := false, false
	for {
		token, typ, err := t.src.accessToken(req.Context())
		if err != nil {
			return nil, err
		}
		r := req.Clone(req.Context())
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		r.Header.Del("Authorization")
		r.Header.Del("DPoP")
		if typ == "DPoP" {
			t.mu.Lock()
			nonce := t.nonce
			t.mu.Unlock()
			proof, err := t.src.proof.proof(r.Method, r.URL.String(), token, nonce, t.src.now())
			if err != nil {
				return nil, err
			}
			r.Header.Set("Authorization", "DPoP "+token)
			r.Header.Set("DPoP", proof)
		} else {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		newNonce := resp.Header.Get("DPoP-Nonce")
		if newNonce != "" {
			t.mu.Lock()
			t.nonce = newNonce
			t.mu.Unlock()
		}
		code, desc := challengeError(resp.Header.Values("WWW-Authenticate"))
		if resp.StatusCode == http.StatusForbidden && code == "insufficient_scope" {
			// The token lacks a scope this call needs (RFC 6750 §3.1): a configuration
			// matter, not a refused API token.
			drain(resp)
			need := challengeParam(resp.Header.Values("WWW-Authenticate"), "scope")
			return nil, &authError{class: provider.ErrOAuthScopeNotGranted, status: resp.StatusCode, code: code, msg: fmt.Sprintf(
				"okta's management API wants the scope %s for %s %s, which the operator's token does not carry: add it to spec.okta.oauth.scopes and grant it on the app's Okta API Scopes tab",
				sanitizeText(need), r.Method, r.URL.Path)}
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return resp, nil
		}
		switch {
		case code == "use_dpop_nonce" && newNonce != "" && !nonceRetried:
			nonceRetried = true
			drain(resp)
			continue
		case code == "use_dpop_nonce" || code == "invalid_dpop_proof":
			drain(resp)
			msg := "okta's management API refused the operator's DPoP proof (" + code
			if desc != "" {
				msg += ": " + sanitizeText(desc)
			}
			msg += "): check that the operator's clock is right"
			return nil, &authError{class: provider.ErrDPoPRejected, status: resp.StatusCode, code: code, msg: msg}
		case !tokenRetried:
			// The token expired or was revoked before its time: one retry with a new one.
			tokenRetried = true
			t.src.invalidate(token)
			drain(resp)
			continue
		}
		return resp, nil
	}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

var (
	challengeErrorRE = regexp.MustCompile(`(?:^|[\s,])error="([^"]*)"`)
	challengeDescRE  = regexp.MustCompile(`(?:^|[\s,])error_description="([^"]*)"`)
)

// challengeError returns the error code and description of a DPoP (or Bearer) challenge in
// WWW-Authenticate headers (RFC 9449 §7.1, RFC 6750 §3).
func challengeError(values []string) (code, desc string) {
	for _, v := range values {
		if m := challengeErrorRE.FindStringSubmatch(v); m != nil {
			code = m[1]
			if d := challengeDescRE.FindStringSubmatch(v); d != nil {
				desc = d[1]
			}
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "dpop") {
				return code, desc
			}
		}
	}
	return code, desc
}

// challengeParam returns a quoted parameter of the DPoP (or Bearer) challenge.
func challengeParam(values []string, name string) string {
	re := regexp.MustCompile(`(?:^|[\s,])` + regexp.QuoteMeta(name) + `="([^"]*)"`)
	for _, v := range values {
		if m := re.FindStringSubmatch(v); m != nil {
			return m[1]
		}
	}
	return ""
}

// sanitizeText keeps server text printable and short.
func sanitizeText(s string) string {
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
