package verifier

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// refusalCase is one token the verifier must refuse with want.
type refusalCase struct {
	name  string
	token string
	want  error
	// cfg adjusts the verifier configuration for this case.
	cfg func(*Config)
}

// refusalEnv is the issuer, keys and tokens shared by the refusal table,
// the fuzz seeds and the benchmarks.
type refusalEnv struct {
	ti       *testIssuer
	attacker *httptest.Server
	cases    []refusalCase
	good     string
}

func newRefusalEnv(t testing.TB) *refusalEnv {
	t.Helper()
	k := testKeys(t)
	ti := newTestIssuer(t,
		rsaJWK(t, k.a, kidA),
		rsaJWK(t, k.b, kidB),
		publicJWK(t, k.ec, map[string]any{"kid": "key-ec", "alg": "ES256", "use": "sig"}),
	)
	env := &refusalEnv{ti: ti}
	// A server that must never be contacted: tokens point jku/x5u at it.
	env.attacker = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ti.otherHits.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(env.attacker.Close)

	c := func(edit func(map[string]any)) string {
		cl := claimsFor(ti)
		if edit != nil {
			edit(cl)
		}
		return mustJSON(t, cl)
	}
	hdr := func(fields map[string]any) string { return mustJSON(t, fields) }
	rs := func(h, p string) string { return sign(t, h, p, jwa.RS256, k.a) }
	good := goodToken(t, ti, nil)
	env.good = good
	goodParts := strings.Split(good, ".")
	now := testNow.Unix()

	pubDER, err := x509.MarshalPKIXPublicKey(&k.a.PublicKey)
	if err != nil {
		t.Fatalf("marshal public key: %v", err)
	}
	attackerJWK := mustJSON(t, publicJWK(t, k.other, map[string]any{"kid": kidA}))
	esAllowed := func(cfg *Config) { cfg.AllowedAlgs = []string{"RS256", "ES256"} }
	es256Token := sign(t, hdr(map[string]any{"alg": "ES256", "kid": "key-ec"}), c(nil), jwa.ES256, k.ec)
	esParts := strings.Split(es256Token, ".")
	esInput := esParts[0] + "." + esParts[1]
	zeroSig := base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	shortSig := base64.RawURLEncoding.EncodeToString(make([]byte, 63))
	rawSig, _ := base64.RawURLEncoding.DecodeString(esParts[2])

	env.cases = []refusalCase{
		{name: "alg none, empty signature", token: b64s(`{"alg":"none","kid":"key-a"}`) + "." + goodParts[1] + ".", want: ErrUnsupportedAlg},
		{name: "alg none with a signature", token: b64s(`{"alg":"none","kid":"key-a"}`) + "." + goodParts[1] + "." + goodParts[2], want: ErrUnsupportedAlg},
		{name: "alg None spelled differently", token: b64s(`{"alg":"nOnE","kid":"key-a"}`) + "." + goodParts[1] + ".", want: ErrUnsupportedAlg},
		{name: "HS256 signed with the RSA public key as secret", token: sign(t, hdr(map[string]any{"alg": "HS256", "kid": kidA}), c(nil), jwa.HS256, pubDER), want: ErrUnsupportedAlg},
		{name: "HS256 signed with the public JWK as secret", token: sign(t, hdr(map[string]any{"alg": "HS256", "kid": kidA, "typ": "JWT"}), c(nil), jwa.HS256, []byte(mustJSON(t, publicJWK(t, k.a, nil)))), want: ErrUnsupportedAlg},
		{name: "alg outside the allow-list", token: sign(t, hdr(map[string]any{"alg": "RS384", "kid": kidA}), c(nil), jwa.RS384, k.a), want: ErrUnsupportedAlg},
		{name: "alg allowed but differs from the key's alg", token: sign(t, hdr(map[string]any{"alg": "RS512", "kid": kidA}), c(nil), jwa.RS512, k.a), want: ErrUnsupportedAlg,
			cfg: func(cfg *Config) { cfg.AllowedAlgs = []string{"RS256", "RS512"} }},
		{name: "ES256 header on an RSA key", token: sign(t, hdr(map[string]any{"alg": "ES256", "kid": kidA}), c(nil), jwa.ES256, k.ec), want: ErrUnsupportedAlg, cfg: esAllowed},
		{name: "missing kid with several keys", token: rs(hdr(map[string]any{"alg": "RS256"}), c(nil)), want: ErrMissingKid},
		{name: "empty kid", token: rs(hdr(map[string]any{"alg": "RS256", "kid": ""}), c(nil)), want: ErrMissingKid},
		{name: "kid not a string", token: rs(`{"alg":"RS256","kid":7}`, c(nil)), want: ErrMalformed},
		{name: "unknown kid", token: rs(mustJSON(t, header("no-such-key")), c(nil)), want: ErrUnknownKid},
		{name: "kid with path characters", token: rs(mustJSON(t, header("../../../../etc/passwd")), c(nil)), want: ErrUnknownKid},
		{name: "kid with SQL characters", token: rs(mustJSON(t, header("' OR '1'='1'; --")), c(nil)), want: ErrUnknownKid},
		{name: "kid with a NUL and a newline", token: rs(mustJSON(t, header("key-a\x00\n")), c(nil)), want: ErrUnknownKid},
		{name: "very long kid", token: rs(mustJSON(t, header(strings.Repeat("k", 1000))), c(nil)), want: ErrUnknownKid},
		{name: "jku pointing at an attacker key set", token: sign(t, hdr(map[string]any{"alg": "RS256", "kid": "attacker", "jku": env.attacker.URL + "/jwks"}), c(nil), jwa.RS256, k.other), want: ErrUnknownKid},
		{name: "jku with a known kid but another key", token: sign(t, hdr(map[string]any{"alg": "RS256", "kid": kidA, "jku": env.attacker.URL + "/jwks"}), c(nil), jwa.RS256, k.other), want: ErrBadSignature},
		{name: "x5u pointing at an attacker certificate", token: sign(t, hdr(map[string]any{"alg": "RS256", "kid": kidA, "x5u": env.attacker.URL + "/cert.pem"}), c(nil), jwa.RS256, k.other), want: ErrBadSignature},
		{name: "embedded jwk of the signer", token: sign(t, `{"alg":"RS256","kid":"key-a","jwk":`+attackerJWK+`}`, c(nil), jwa.RS256, k.other), want: ErrBadSignature},
		{name: "embedded jwk with an unknown kid", token: sign(t, `{"alg":"RS256","kid":"attacker","jwk":`+attackerJWK+`}`, c(nil), jwa.RS256, k.other), want: ErrUnknownKid},
		{name: "x5c chain of the signer", token: sign(t, hdr(map[string]any{"alg": "RS256", "kid": kidA, "x5c": []string{base64.StdEncoding.EncodeToString(pubDER)}}), c(nil), jwa.RS256, k.other), want: ErrBadSignature},
		{name: "unknown crit header", token: rs(hdr(map[string]any{"alg": "RS256", "kid": kidA, "crit": []string{"exp"}, "exp": 1}), c(nil)), want: ErrUnsupportedHeader},
		{name: "b64 false", token: rs(hdr(map[string]any{"alg": "RS256", "kid": kidA, "b64": false, "crit": []string{"b64"}}), c(nil)), want: ErrUnsupportedHeader},
		{name: "typ JOSE when strict", token: rs(hdr(map[string]any{"alg": "RS256", "kid": kidA, "typ": "JOSE"}), c(nil)), want: ErrBadType, cfg: func(cfg *Config) { cfg.StrictTyp = true }},
		{name: "typ absent when strict", token: good, want: ErrBadType, cfg: func(cfg *Config) { cfg.StrictTyp = true }},
		{name: "typ id_token+jwt when strict", token: rs(hdr(map[string]any{"alg": "RS256", "kid": kidA, "typ": "id_token+jwt"}), c(nil)), want: ErrBadType, cfg: func(cfg *Config) { cfg.StrictTyp = true }},
		{name: "iss with a trailing slash", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["iss"] = ti.issuer + "/" })), want: ErrBadIssuer},
		{name: "iss in another case", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["iss"] = strings.ToUpper(ti.issuer) })), want: ErrBadIssuer},
		{name: "iss with another scheme", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["iss"] = strings.Replace(ti.issuer, "http://", "https://", 1) })), want: ErrBadIssuer},
		{name: "iss missing", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { delete(m, "iss") })), want: ErrBadIssuer},
		{name: "iss not a string", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["iss"] = []string{ti.issuer} })), want: ErrInvalidClaims},
		{name: "aud missing", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { delete(m, "aud") })), want: ErrBadAudience},
		{name: "aud other", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["aud"] = "api://other" })), want: ErrBadAudience},
		{name: "aud list without ours", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["aud"] = []string{"api://other", "api://default/"} })), want: ErrBadAudience},
		{name: "aud empty list", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["aud"] = []string{} })), want: ErrBadAudience},
		{name: "expired", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["exp"] = now - 31 })), want: ErrExpired},
		{name: "expired long ago", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["iat"] = 1; m["exp"] = 3601 })), want: ErrExpired},
		{name: "nbf in the future beyond the skew", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["nbf"] = now + 31 })), want: ErrNotYetValid},
		{name: "iat in the future beyond the skew", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["iat"] = now + 3600 })), want: ErrNotYetValid},
		{name: "no exp", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { delete(m, "exp") })), want: ErrInvalidClaims},
		{name: "exp is a string", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["exp"] = fmtUnix(now + 3600) })), want: ErrInvalidClaims},
		{name: "nbf is a string", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["nbf"] = fmtUnix(now) })), want: ErrInvalidClaims},
		{name: "iat is a string", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["iat"] = "yesterday" })), want: ErrInvalidClaims},
		{name: "exp is huge", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["exp"] = 1e300 })), want: ErrInvalidClaims},
		{name: "exp beyond 64 bits", token: rs(mustJSON(t, header(kidA)), strings.Replace(c(nil), `"exp":`+fmtUnix(now+3600), `"exp":99999999999999999999999999`, 1)), want: ErrInvalidClaims},
		{name: "exp negative", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["exp"] = -1 })), want: ErrInvalidClaims},
		{name: "iat negative", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["iat"] = -100 })), want: ErrInvalidClaims},
		{name: "exp is a boolean", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["exp"] = true })), want: ErrInvalidClaims},
		{name: "duplicate exp claim", token: rs(mustJSON(t, header(kidA)), strings.Replace(c(nil), `"exp":`, `"exp":1,"exp":`, 1)), want: ErrInvalidClaims},
		{name: "duplicate iss claim", token: rs(mustJSON(t, header(kidA)), strings.Replace(c(nil), `"iss":`, `"iss":"https://evil.example","iss":`, 1)), want: ErrInvalidClaims},
		{name: "duplicate claim through an escape", token: rs(mustJSON(t, header(kidA)), strings.Replace(c(nil), `"aud":`, `"\u0061ud":"x","aud":`, 1)), want: ErrInvalidClaims},
		{name: "duplicate alg header", token: rs(`{"alg":"none","alg":"RS256","kid":"key-a"}`, c(nil)), want: ErrMalformed},
		{name: "JWS JSON serialization", token: `{"payload":"` + goodParts[1] + `","protected":"` + goodParts[0] + `","signature":"` + goodParts[2] + `"}`, want: ErrMalformed},
		{name: "JWE, five segments", token: goodParts[0] + ".ZW5j.aXY." + goodParts[1] + ".dGFn", want: ErrMalformed},
		{name: "two segments", token: goodParts[0] + "." + goodParts[1], want: ErrMalformed},
		{name: "four segments", token: good + ".AAAA", want: ErrMalformed},
		{name: "one segment", token: goodParts[1], want: ErrMalformed},
		{name: "empty header segment", token: "." + goodParts[1] + "." + goodParts[2], want: ErrMalformed},
		{name: "over 8 KiB", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["pad"] = strings.Repeat("x", 8<<10) })), want: ErrTooLarge},
		{name: "base64 padding", token: goodParts[0] + "=." + goodParts[1] + "." + goodParts[2], want: ErrMalformed},
		{name: "base64 plus and slash", token: strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/", want: ErrMalformed},
		{name: "base64 with a newline inside", token: goodParts[0][:5] + "\n" + goodParts[0][5:] + "." + goodParts[1] + "." + goodParts[2], want: ErrMalformed},
		{name: "base64 with non-zero trailing bits", token: goodParts[0] + "." + goodParts[1] + "." + goodParts[2][:len(goodParts[2])-1] + "B", want: ErrMalformed},
		{name: "header is a JSON array", token: b64s(`["RS256","key-a"]`) + "." + goodParts[1] + "." + goodParts[2], want: ErrMalformed},
		{name: "header is not JSON", token: b64s(`alg=RS256`) + "." + goodParts[1] + "." + goodParts[2], want: ErrMalformed},
		{name: "header with trailing data", token: b64s(`{"alg":"RS256","kid":"key-a"}{}`) + "." + goodParts[1] + "." + goodParts[2], want: ErrMalformed},
		{name: "payload is a JSON string", token: rs(mustJSON(t, header(kidA)), `"hello"`), want: ErrInvalidClaims},
		{name: "payload is a JSON array", token: rs(mustJSON(t, header(kidA)), `[1,2,3]`), want: ErrInvalidClaims},
		{name: "payload is null", token: rs(mustJSON(t, header(kidA)), `null`), want: ErrInvalidClaims},
		{name: "ECDSA signature too short", token: esInput + "." + shortSig, want: ErrBadSignature, cfg: esAllowed},
		{name: "ECDSA signature too long", token: esInput + "." + base64.RawURLEncoding.EncodeToString(append(rawSig, 0)), want: ErrBadSignature, cfg: esAllowed},
		{name: "ECDSA r = s = 0", token: esInput + "." + zeroSig, want: ErrBadSignature, cfg: esAllowed},
		{name: "ECDSA DER signature", token: esInput + "." + base64.RawURLEncoding.EncodeToString(append([]byte{0x30, 0x44, 0x02, 0x20}, rawSig...)), want: ErrBadSignature, cfg: esAllowed},
		{name: "signature from a key rotated out of the JWKS", token: sign(t, mustJSON(t, header("key-rotated")), c(nil), jwa.RS256, k.b), want: ErrUnknownKid},
		{name: "token signed by another issuer's key", token: sign(t, mustJSON(t, header(kidA)), c(nil), jwa.RS256, k.other), want: ErrBadSignature},
		{name: "another issuer's token and key", token: sign(t, mustJSON(t, header(kidA)), c(func(m map[string]any) { m["iss"] = "https://other.example/oauth2/default" }), jwa.RS256, k.other), want: ErrBadSignature},
		{name: "payload tampered after signing", token: goodParts[0] + "." + b64s(c(func(m map[string]any) { m["scp"] = []string{"hello:read", "admin"} })) + "." + goodParts[2], want: ErrBadSignature},
		{name: "signature of another key id", token: goodParts[0] + "." + goodParts[1] + "." + strings.Split(sign(t, mustJSON(t, header(kidB)), c(nil), jwa.RS256, k.b), ".")[2], want: ErrBadSignature},
		{name: "empty signature", token: goodParts[0] + "." + goodParts[1] + ".", want: ErrBadSignature},
		{name: "scope with a control character", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["scp"] = []string{"hello:read\r\nX-Auth-Client-Id: admin"} })), want: ErrInvalidClaims},
		{name: "client id with a newline", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["cid"] = "a\nb" })), want: ErrInvalidClaims},
		{name: "no client id at all", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { delete(m, "cid"); delete(m, "sub") })), want: ErrInvalidClaims},
		{name: "scp of numbers", token: rs(mustJSON(t, header(kidA)), c(func(m map[string]any) { m["scp"] = []int{1, 2} })), want: ErrInvalidClaims},
	}
	return env
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	env := newRefusalEnv(t)
	clock := newFakeClock()
	for _, tc := range env.cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(t, env.ti, clock, tc.cfg)
			id, err := v.Verify(context.Background(), tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
			if id != nil {
				t.Fatalf("Verify returned an identity for a refused token")
			}

			srv := NewServer(ServerConfig{Verifier: v})
			req := httptest.NewRequest(http.MethodGet, "/verify", nil)
			req.Header["Authorization"] = []string{"Bearer " + tc.token}
			req.Header.Set("X-Original-URI", "/")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("/verify status = %d, want 401", rec.Code)
			}
			challenge := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, `Bearer error="invalid_`) {
				t.Fatalf("WWW-Authenticate = %q, want a Bearer error challenge", challenge)
			}
			if rec.Header().Get(HeaderClientID) != "" {
				t.Fatalf("refused request carries %s", HeaderClientID)
			}
		})
	}
	if n := env.ti.otherHits.Load(); n != 0 {
		t.Fatalf("the verifier contacted a URL named by a token %d times", n)
	}
}

func TestVerifyAcceptsGoodTokens(t *testing.T) {
	k := testKeys(t)
	ti := newTestIssuer(t, rsaJWK(t, k.a, kidA),
		publicJWK(t, k.b, map[string]any{"kid": kidB}), // no alg: any allowed RSA alg
		publicJWK(t, k.ec, map[string]any{"kid": "key-ec", "alg": "ES256"}))
	clock := newFakeClock()
	now := testNow.Unix()
	hdr := func(alg, kid string, extra map[string]any) string {
		h := map[string]any{"alg": alg, "kid": kid}
		for n, v := range extra {
			h[n] = v
		}
		return mustJSON(t, h)
	}
	claims := func(edit func(map[string]any)) string {
		c := claimsFor(ti)
		if edit != nil {
			edit(c)
		}
		return mustJSON(t, c)
	}
	cases := []struct {
		name       string
		token      string
		cfg        func(*Config)
		wantClient string
		wantScopes string
	}{
		{name: "okta-style RS256", token: sign(t, hdr("RS256", kidA, nil), claims(nil), jwa.RS256, k.a), wantClient: testClientID, wantScopes: "hello:read"},
		{name: "expired but within the skew", token: sign(t, hdr("RS256", kidA, nil), claims(func(m map[string]any) { m["exp"] = now - 29 }), jwa.RS256, k.a), wantClient: testClientID, wantScopes: "hello:read"},
		{name: "nbf and iat within the skew", token: sign(t, hdr("RS256", kidA, nil), claims(func(m map[string]any) { m["nbf"] = now + 29; m["iat"] = now + 29 }), jwa.RS256, k.a), wantClient: testClientID, wantScopes: "hello:read"},
		{name: "fractional times", token: sign(t, hdr("RS256", kidA, nil), claims(func(m map[string]any) { m["exp"] = float64(now) + 10.5 }), jwa.RS256, k.a), wantClient: testClientID, wantScopes: "hello:read"},
		{name: "aud as a list", token: sign(t, hdr("RS256", kidA, nil), claims(func(m map[string]any) { m["aud"] = []string{"x", testAudience} }), jwa.RS256, k.a), wantClient: testClientID, wantScopes: "hello:read"},
		{name: "several scopes", token: sign(t, hdr("RS256", kidA, nil), claims(func(m map[string]any) { m["scp"] = []string{"hello:read", "other:scope"} }), jwa.RS256, k.a), wantClient: testClientID, wantScopes: "hello:read other:scope"},
		{name: "RFC 9068 scope string and client_id", token: sign(t, hdr("RS256", kidA, map[string]any{"typ": "at+jwt"}), claims(func(m map[string]any) {
			delete(m, "scp")
			delete(m, "cid")
			m["scope"] = "a b"
			m["client_id"] = "rfc9068-client"
		}), jwa.RS256, k.a), wantClient: "rfc9068-client", wantScopes: "a b"},
		{name: "typ at+jwt when strict", token: sign(t, hdr("RS256", kidA, map[string]any{"typ": "at+jwt"}), claims(nil), jwa.RS256, k.a), cfg: func(c *Config) { c.StrictTyp = true }, wantClient: testClientID, wantScopes: "hello:read"},
		{name: "typ application/at+jwt when strict", token: sign(t, hdr("RS256", kidA, map[string]any{"typ": "application/at+jwt"}), claims(nil), jwa.RS256, k.a), cfg: func(c *Config) { c.StrictTyp = true }, wantClient: testClientID, wantScopes: "hello:read"},
		{name: "typ JWT when strict", token: sign(t, hdr("RS256", kidA, map[string]any{"typ": "JWT"}), claims(nil), jwa.RS256, k.a), cfg: func(c *Config) { c.StrictTyp = true }, wantClient: testClientID, wantScopes: "hello:read"},
		{name: "typ ignored when not strict", token: sign(t, hdr("RS256", kidA, map[string]any{"typ": "whatever"}), claims(nil), jwa.RS256, k.a), wantClient: testClientID, wantScopes: "hello:read"},
		{name: "key without alg, PS256 allowed", token: sign(t, hdr("PS256", kidB, nil), claims(nil), jwa.PS256, k.b), cfg: func(c *Config) { c.AllowedAlgs = []string{"RS256", "PS256"} }, wantClient: testClientID, wantScopes: "hello:read"},
		{name: "ES256 when allowed", token: sign(t, hdr("ES256", "key-ec", nil), claims(nil), jwa.ES256, k.ec), cfg: func(c *Config) { c.AllowedAlgs = []string{"ES256"} }, wantClient: testClientID, wantScopes: "hello:read"},
		{name: "exp far in the future", token: sign(t, hdr("RS256", kidA, nil), claims(func(m map[string]any) { m["exp"] = 253402300799 }), jwa.RS256, k.a), wantClient: testClientID, wantScopes: "hello:read"},
		{name: "unknown crit-free headers ignored", token: sign(t, hdr("RS256", kidA, map[string]any{"cty": "x", "x5t": "abc"}), claims(nil), jwa.RS256, k.a), wantClient: testClientID, wantScopes: "hello:read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(t, ti, clock, tc.cfg)
			id, err := v.Verify(context.Background(), tc.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.ClientID != tc.wantClient || id.ScopeString != tc.wantScopes {
				t.Fatalf("identity = %q %q, want %q %q", id.ClientID, id.ScopeString, tc.wantClient, tc.wantScopes)
			}
			if !id.ExpiresAt.After(testNow.Add(-DefaultClockSkew)) {
				t.Fatalf("ExpiresAt = %s, before now", id.ExpiresAt)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	base := Config{Issuer: "https://example.okta.com/oauth2/default", Audience: "api://default"}
	cases := map[string]func(*Config){
		"no issuer":               func(c *Config) { c.Issuer = "" },
		"no audience":             func(c *Config) { c.Audience = "" },
		"relative issuer":         func(c *Config) { c.Issuer = "/oauth2/default" },
		"http issuer not local":   func(c *Config) { c.Issuer = "http://example.okta.com/oauth2/default" },
		"ftp jwks url":            func(c *Config) { c.JWKSURL = "ftp://example.com/keys" },
		"alg none":                func(c *Config) { c.AllowedAlgs = []string{"none"} },
		"alg HS256":               func(c *Config) { c.AllowedAlgs = []string{"RS256", "HS256"} },
		"unknown alg":             func(c *Config) { c.AllowedAlgs = []string{"RS257"} },
		"negative skew":           func(c *Config) { c.ClockSkew = -time.Second },
		"negative cooldown":       func(c *Config) { c.UnknownKidCooldown = -time.Second },
		"lower-case alg spelling": func(c *Config) { c.AllowedAlgs = []string{"rs256"} },
		"negative max stale":      func(c *Config) { c.JWKSMaxStale = -time.Second },
		// Loopback is decided by parsing an IP address, never by a name.
		"http issuer on a 127. name":        func(c *Config) { c.Issuer = "http://127.example/oauth2/default" },
		"http issuer on a 127.0.0.1. name":  func(c *Config) { c.Issuer = "http://127.0.0.1.nip.io/oauth2/default" },
		"http issuer on localhost":          func(c *Config) { c.Issuer = "http://localhost:9999/oauth2/default" },
		"http jwks url on a 127. name":      func(c *Config) { c.JWKSURL = "http://127.attacker.example/keys" },
		"http issuer on a private address":  func(c *Config) { c.Issuer = "http://10.0.0.1/oauth2/default" },
		"http issuer on an unspecified one": func(c *Config) { c.Issuer = "http://0.0.0.0/oauth2/default" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := base
			mutate(&cfg)
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New error = %v, want ErrConfig", err)
			}
		})
	}
	for _, issuer := range []string{"http://127.0.0.1:9999/oauth2/default", "http://127.1.2.3/oauth2/default", "http://[::1]:9999/oauth2/default"} {
		t.Run("http loopback issuer is fine: "+issuer, func(t *testing.T) {
			cfg := base
			cfg.Issuer = issuer
			if _, err := New(cfg); err != nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
	t.Run("http issuer allowed explicitly", func(t *testing.T) {
		cfg := base
		cfg.Issuer = "http://okta-emulator.svc/oauth2/default"
		cfg.AllowInsecureIssuer = true
		if _, err := New(cfg); err != nil {
			t.Fatalf("New: %v", err)
		}
	})
}
