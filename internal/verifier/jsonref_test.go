package verifier

// This file keeps the verifier's first JSON handling — encoding/json's
// Decoder walked token by token — as a reference. The hand-written scanner
// in json.go replaced it on the token path to cut allocations; the
// differential tests in json_test.go check that both accept and refuse the
// same headers and claims, for the same reason, with the same values.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

type refHeader struct {
	alg    jwa.SignatureAlgorithm
	kid    string
	typ    string
	hasTyp bool
}

func refParseHeader(raw []byte) (refHeader, error) {
	var h refHeader
	hasAlg := false
	err := refWalkObject(raw, func(key string, val json.RawMessage) error {
		switch key {
		case "alg":
			s, ok := refJSONString(val)
			if !ok {
				return ErrMalformed
			}
			h.alg = jwa.SignatureAlgorithm(s)
			hasAlg = true
		case "kid":
			s, ok := refJSONString(val)
			if !ok {
				return ErrMalformed
			}
			h.kid = s
		case "typ":
			s, ok := refJSONString(val)
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

// refAcceptableTyp reports whether a typ header names a JWT access token:
// "JWT" or "at+jwt" (RFC 9068), with or without the "application/" prefix.
func refAcceptableTyp(typ string) bool {
	t := strings.ToLower(typ)
	t = strings.TrimPrefix(t, "application/")
	return t == "jwt" || t == "at+jwt"
}

// refClaims are the registered and Okta refClaims the verifier checks.
type refClaims struct {
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

func refParseClaims(raw []byte) (refClaims, error) {
	var c refClaims
	var scp, scope []string
	hasScp := false
	err := refWalkObject(raw, func(key string, val json.RawMessage) error {
		var ok bool
		switch key {
		case "iss":
			c.iss, ok = refJSONString(val)
			c.hasIss = true
		case "aud":
			c.aud, ok = refStringOrList(val)
			c.hasAud = true
		case "exp":
			c.exp, ok = refNumericDate(val)
			c.hasExp = true
		case "nbf":
			c.nbf, ok = refNumericDate(val)
			c.hasNbf = true
		case "iat":
			c.iat, ok = refNumericDate(val)
			c.hasIat = true
		case "sub":
			c.sub, ok = refJSONString(val)
			ok = ok && refHeaderSafe(c.sub)
		case "cid":
			c.cid, ok = refJSONString(val)
			ok = ok && refHeaderSafe(c.cid)
		case "client_id":
			c.clientID, ok = refJSONString(val)
			ok = ok && refHeaderSafe(c.clientID)
		case "scp":
			// Okta sends an array; a space-separated string is taken too.
			scp, ok = refStringOrList(val)
			if ok && val[0] == '"' {
				scp = strings.Fields(scp[0])
			}
			hasScp = true
		case "scope":
			var s string
			s, ok = refJSONString(val)
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
		if !refValidScopeToken(s) {
			return c, ErrInvalidClaims
		}
	}
	return c, nil
}

// errRefDuplicate and errRefNotObject are internal: callers map them to the
// refusal that fits the segment being parsed.
var (
	errRefDuplicate = errors.New("duplicate member name")
	errRefNotObject = errors.New("not a JSON object")
)

// refWalkObject calls fn for each member of the JSON object in data, refusing
// duplicate member names (which different JSON parsers resolve
// differently), trailing data and anything that is not an object.
func refWalkObject(data []byte, fn func(key string, val json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return errRefNotObject
	}
	seen := make(map[string]struct{}, 16)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errRefNotObject
		}
		key, ok := tok.(string)
		if !ok {
			return errRefNotObject
		}
		if _, dup := seen[key]; dup {
			return errRefDuplicate
		}
		seen[key] = struct{}{}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return errRefNotObject
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return errRefNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return errRefNotObject
	}
	return nil
}

func refJSONString(val json.RawMessage) (string, bool) {
	if len(val) == 0 || val[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return "", false
	}
	return s, true
}

func refStringOrList(val json.RawMessage) ([]string, bool) {
	if len(val) == 0 {
		return nil, false
	}
	switch val[0] {
	case '"':
		s, ok := refJSONString(val)
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
			s, ok := refJSONString(item)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// refNumericDate parses a JWT NumericDate: a JSON number of seconds since the
// epoch. Strings, negative values and values past the year 9999 are refused.
func refNumericDate(val json.RawMessage) (float64, bool) {
	if len(val) == 0 || val[0] < '0' || val[0] > '9' {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(val), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return 0, false
	}
	return f, true
}

// refValidScopeToken checks RFC 6749's scope-token syntax: printable ASCII
// without space, double quote or backslash.
func refValidScopeToken(s string) bool {
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

// refHeaderSafe reports whether s may be copied into an HTTP header value:
// valid UTF-8 without control characters.
func refHeaderSafe(s string) bool {
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
