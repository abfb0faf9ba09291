package verifier

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// MaxTokenSize is the largest token, in bytes, the verifier looks at.
const MaxTokenSize = 8 << 10

// maxNumericDate is 9999-12-31T23:59:59Z; larger time claims are refused.
const maxNumericDate = 253402300799

// maxKidLength caps the key id looked up in the key set.
const maxKidLength = 256

var b64 = base64.RawURLEncoding.Strict()

// compactParts splits a compact JWS into its three segments after checking
// that it only holds base64url characters and dots: padding, "+", "/",
// whitespace (which the base64 decoder would silently skip), JSON
// serialization and JWE (five segments) all fail here.
func compactParts(token string) (header, payload, signature string, err error) {
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			dots++
		default:
			return "", "", "", ErrMalformed
		}
	}
	if dots != 2 {
		return "", "", "", ErrMalformed
	}
	header, rest, _ := strings.Cut(token, ".")
	payload, signature, _ = strings.Cut(rest, ".")
	if header == "" || payload == "" {
		return "", "", "", ErrMalformed
	}
	return header, payload, signature, nil
}

func decodeSegment(seg string) ([]byte, error) {
	out, err := b64.DecodeString(seg)
	if err != nil {
		return nil, ErrMalformed
	}
	return out, nil
}

// jwsHeader holds the protected header fields the verifier acts on. Key
// sources a token may carry (jku, x5u, jwk, x5c) are deliberately ignored:
// keys come only from the issuer's JWKS.
type jwsHeader struct {
	alg    jwa.SignatureAlgorithm
	kid    string
	typ    string
	hasTyp bool
}

func parseHeader(raw []byte) (jwsHeader, error) {
	var h jwsHeader
	hasAlg := false
	err := walkObject(raw, func(key string, val json.RawMessage) error {
		switch key {
		case "alg":
			s, ok := jsonString(val)
			if !ok {
				return ErrMalformed
			}
			h.alg = jwa.SignatureAlgorithm(s)
			hasAlg = true
		case "kid":
			s, ok := jsonString(val)
			if !ok {
				return ErrMalformed
			}
			h.kid = s
		case "typ":
			s, ok := jsonString(val)
			if !ok {
				return ErrMalformed
			}
			h.typ, h.hasTyp = s, true
		case "crit", "b64":
			// No extension is understood, so any critical one must be
			// refused (RFC 7515 section 4.1.11); b64 is only legal with crit.
			return ErrUnsupportedHeader
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrUnsupportedHeader) || errors.Is(err, ErrMalformed) {
			return h, err
		}
		return h, ErrMalformed
	}
	if !hasAlg {
		return h, ErrMalformed
	}
	return h, nil
}

// acceptableTyp reports whether a typ header names a JWT access token:
// "JWT" or "at+jwt" (RFC 9068), with or without the "application/" prefix.
func acceptableTyp(typ string) bool {
	t := strings.ToLower(typ)
	t = strings.TrimPrefix(t, "application/")
	return t == "jwt" || t == "at+jwt"
}

// claims are the registered and Okta claims the verifier checks.
type claims struct {
	iss      string
	hasIss   bool
	aud      []string
	hasAud   bool
	exp      float64
	hasExp   bool
	nbf      float64
	hasNbf   bool
	iat      float64
	hasIat   bool
	sub      string
	cid      string
	clientID string
	scopes   []string
}

func parseClaims(raw []byte) (claims, error) {
	var c claims
	var scp, scope []string
	hasScp := false
	err := walkObject(raw, func(key string, val json.RawMessage) error {
		var ok bool
		switch key {
		case "iss":
			c.iss, ok = jsonString(val)
			c.hasIss = true
		case "aud":
			c.aud, ok = stringOrList(val)
			c.hasAud = true
		case "exp":
			c.exp, ok = numericDate(val)
			c.hasExp = true
		case "nbf":
			c.nbf, ok = numericDate(val)
			c.hasNbf = true
		case "iat":
			c.iat, ok = numericDate(val)
			c.hasIat = true
		case "sub":
			c.sub, ok = jsonString(val)
			ok = ok && headerSafe(c.sub)
		case "cid":
			c.cid, ok = jsonString(val)
			ok = ok && headerSafe(c.cid)
		case "client_id":
			c.clientID, ok = jsonString(val)
			ok = ok && headerSafe(c.clientID)
		case "scp":
			// Okta sends an array; a space-separated string is taken too.
			scp, ok = stringOrList(val)
			if ok && val[0] == '"' {
				scp = strings.Fields(scp[0])
			}
			hasScp = true
		case "scope":
			var s string
			s, ok = jsonString(val)
			scope = strings.Fields(s)
		default:
			return nil
		}
		if !ok {
			return ErrInvalidClaims
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrInvalidClaims) {
			return c, err
		}
		return c, ErrInvalidClaims
	}
	if hasScp {
		c.scopes = scp
	} else {
		c.scopes = scope
	}
	for _, s := range c.scopes {
		if !validScopeToken(s) {
			return c, ErrInvalidClaims
		}
	}
	return c, nil
}

// errDuplicate and errNotObject are internal: callers map them to the
// refusal that fits the segment being parsed.
var (
	errDuplicate = errors.New("duplicate member name")
	errNotObject = errors.New("not a JSON object")
)

// walkObject calls fn for each member of the JSON object in data, refusing
// duplicate member names (which different JSON parsers resolve
// differently), trailing data and anything that is not an object.
func walkObject(data []byte, fn func(key string, val json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return errNotObject
	}
	seen := make(map[string]struct{}, 16)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errNotObject
		}
		key, ok := tok.(string)
		if !ok {
			return errNotObject
		}
		if _, dup := seen[key]; dup {
			return errDuplicate
		}
		seen[key] = struct{}{}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return errNotObject
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return errNotObject
	}
	return nil
}

func jsonString(val json.RawMessage) (string, bool) {
	if len(val) == 0 || val[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return "", false
	}
	return s, true
}

func stringOrList(val json.RawMessage) ([]string, bool) {
	if len(val) == 0 {
		return nil, false
	}
	switch val[0] {
	case '"':
		s, ok := jsonString(val)
		if !ok {
			return nil, false
		}
		return []string{s}, true
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(val, &list); err != nil {
			return nil, false
		}
		out := make([]string, 0, len(list))
		for _, item := range list {
			s, ok := jsonString(item)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// numericDate parses a JWT NumericDate: a JSON number of seconds since the
// epoch. Strings, negative values and values past the year 9999 are refused.
func numericDate(val json.RawMessage) (float64, bool) {
	if len(val) == 0 || !(val[0] >= '0' && val[0] <= '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(val), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return 0, false
	}
	return f, true
}

// validScopeToken checks RFC 6749's scope-token syntax: printable ASCII
// without space, double quote or backslash.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// headerSafe reports whether s may be copied into an HTTP header value:
// valid UTF-8 without control characters.
func headerSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
