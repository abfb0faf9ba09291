package oktaemu

import (
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// DPoP (RFC 9449) proofs, checked with jwx v2 (the project's JOSE
// library) rather than a DPoP package: the checks are a dozen lines of
// RFC 9449 section 4.3, and the Go DPoP packages bring a second JOSE stack.
const (
	dpopType = "dpop+jwt"
	// A proof is accepted from dpopMaxAge in the past to dpopSkew in the
	// future of its iat; its jti is remembered that long.
	dpopMaxAge = 5 * time.Minute
	dpopSkew   = time.Minute
	// Server nonces live dpopNonceLife.
	dpopNonceLife = 5 * time.Minute
)

// dpopAlgs are the proof algorithms accepted (asymmetric only, as RFC 9449
// requires; Okta's metadata lists the same).
var dpopAlgs = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

// dpopState remembers nonces handed out and proof ids seen. Its zero
// value is ready to use.
type dpopState struct {
	mu     sync.Mutex
	nonces map[string]time.Time // nonce → expiry
	jtis   map[string]time.Time // jkt + jti → expiry
	// requireResourceNonce makes management calls need a server nonce.
	requireResourceNonce bool
}

// newNonce hands out a fresh nonce.
func (d *dpopState) newNonce(now time.Time) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nonces == nil {
		d.nonces = map[string]time.Time{}
	}
	if len(d.nonces) > 1024 {
		for n, exp := range d.nonces {
			if now.After(exp) {
				delete(d.nonces, n)
			}
		}
	}
	n := randomToken(32)
	d.nonces[n] = now.Add(dpopNonceLife)
	return n
}

// validNonce reports whether n was handed out and has not expired.
func (d *dpopState) validNonce(n string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	exp, ok := d.nonces[n]
	return ok && n != "" && !now.After(exp)
}

// rotate forgets every nonce handed out.
func (d *dpopState) rotate() {
	d.mu.Lock()
	d.nonces = nil
	d.mu.Unlock()
}

// rememberJTI records a proof id; false means it was replayed.
func (d *dpopState) rememberJTI(jkt, jti string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.jtis == nil {
		d.jtis = map[string]time.Time{}
	}
	if len(d.jtis) > 4096 {
		for k, exp := range d.jtis {
			if now.After(exp) {
				delete(d.jtis, k)
			}
		}
	}
	key := jkt + "\x00" + jti
	if exp, seen := d.jtis[key]; seen && !now.After(exp) {
		return false
	}
	d.jtis[key] = now.Add(dpopMaxAge + dpopSkew)
	return true
}

func (d *dpopState) setRequireResourceNonce(v bool) {
	d.mu.Lock()
	d.requireResourceNonce = v
	d.mu.Unlock()
}

func (d *dpopState) resourceNonceRequired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requireResourceNonce
}

// SetDPoPResourceNonce makes management calls with a DPoP-bound token
// need a nonce from the emulator (RFC 9449 section 9): a proof without
// one is answered 401 use_dpop_nonce with a DPoP-Nonce header, and every
// answer carries a fresh DPoP-Nonce. Config.DPoPResourceNonce sets it at
// start.
func (s *Server) SetDPoPResourceNonce(v bool) { s.dpop.setRequireResourceNonce(v) }

// RotateDPoPNonces forgets every DPoP nonce handed out, so the next proof
// that carries one is answered use_dpop_nonce, as when a server rotates
// its nonces.
func (s *Server) RotateDPoPNonces() { s.dpop.rotate() }

// dpopProof is a checked proof.
type dpopProof struct {
	jkt   string // RFC 7638 thumbprint of its key, base64url
	jti   string
	nonce string
	ath   string
}

type dpopClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   *int64 `json:"iat"`
	Nonce string `json:"nonce"`
	ATH   string `json:"ath"`
}

// checkDPoPProof verifies a proof for method and target URL as RFC 9449
// section 4.3 asks (the nonce, ath and replay checks are the caller's);
// on failure it returns a description for invalid_dpop_proof.
func checkDPoPProof(proof, method, target string, now time.Time) (dpopProof, string) {
	msg, err := jws.Parse([]byte(proof), jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return dpopProof{}, "The DPoP proof is not a valid compact JWS."
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	if typ := hdr.Type(); typ != dpopType {
		return dpopProof{}, "The DPoP proof 'typ' header must be 'dpop+jwt'."
	}
	alg := hdr.Algorithm().String()
	if !slices.Contains(dpopAlgs, alg) {
		return dpopProof{}, "The DPoP proof signature algorithm isn't supported."
	}
	key := hdr.JWK()
	if key == nil {
		return dpopProof{}, "The DPoP proof must carry its public key in the 'jwk' header."
	}
	switch key.(type) {
	case jwk.RSAPrivateKey, jwk.ECDSAPrivateKey, jwk.OKPPrivateKey, jwk.SymmetricKey:
		return dpopProof{}, "The DPoP proof 'jwk' header must be a public key."
	}
	payload, err := jws.Verify([]byte(proof), jws.WithKey(jwa.SignatureAlgorithm(alg), key))
	if err != nil {
		return dpopProof{}, "The DPoP proof signature is invalid."
	}
	var c dpopClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return dpopProof{}, "The DPoP proof claims are not a JSON object."
	}
	switch {
	case c.JTI == "":
		return dpopProof{}, "The DPoP proof must contain a 'jti' claim."
	case c.HTM != method:
		return dpopProof{}, "The DPoP proof 'htm' claim doesn't match the request method."
	case !sameHTU(c.HTU, target):
		return dpopProof{}, "The DPoP proof 'htu' claim doesn't match the request URL."
	case c.IAT == nil:
		return dpopProof{}, "The DPoP proof must contain an 'iat' claim."
	}
	iat := time.Unix(*c.IAT, 0)
	if iat.Before(now.Add(-dpopMaxAge)) || iat.After(now.Add(dpopSkew)) {
		return dpopProof{}, "The DPoP proof 'iat' is too old or in the future."
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return dpopProof{}, "The DPoP proof key has no thumbprint."
	}
	return dpopProof{jkt: base64URL(tp), jti: c.JTI, nonce: c.Nonce, ath: c.ATH}, ""
}

// sameHTU compares an htu claim with the request URL, both without query
// and fragment, scheme and host case-insensitively (RFC 9449 section 4.3).
func sameHTU(htu, target string) bool {
	a, err1 := url.Parse(htu)
	b, err2 := url.Parse(target)
	if err1 != nil || err2 != nil || a.Scheme == "" || a.Host == "" {
		return false
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host) && a.EscapedPath() == b.EscapedPath()
}

// accessTokenHash is the ath of a token: base64url(SHA-256(token)).
func accessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64URL(sum[:])
}
