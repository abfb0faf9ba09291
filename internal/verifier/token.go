package verifier

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

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
		if dots == 1 || strings.HasPrefix(token, "ory_at_") {
			return "", "", "", ErrOpaqueToken
		}
		return "", "", "", ErrMalformed
	}
	header, rest, _ := strings.Cut(token, ".")
	payload, signature, _ = strings.Cut(rest, ".")
	if header == "" || payload == "" {
		return "", "", "", ErrMalformed
	}
	return header, payload, signature, nil
}

// decodeSegment decodes seg into the free space of buf (whose capacity
// must cover it) and returns the decoded bytes, which stay valid until buf
// is reused.
func decodeSegment(buf []byte, seg string) ([]byte, error) {
	dst := buf[len(buf) : len(buf)+b64.DecodedLen(len(seg))]
	// The decoder only reads its input: viewing the string's memory saves
	// copying the token.
	n, err := b64.Decode(dst, stringBytes(seg))
	if err != nil {
		return nil, ErrMalformed
	}
	return dst[:n:n], nil
}

// stringBytes views s as bytes without copying. The result must never be
// written to.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// segmentBuffers hold the decoded segments of one token while it is
// checked. Nothing a buffer holds outlives the check: whatever a verified
// token contributes to its Identity is copied out first.
var segmentBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, b64.DecodedLen(MaxTokenSize))
	return &b
}}

// jwsHeader holds the protected header fields the verifier acts on. Key
// sources a token may carry (jku, x5u, jwk, x5c) are deliberately ignored:
// keys come only from the issuer's JWKS. kid and typ point into the
// decoded header.
type jwsHeader struct {
	// alg is one of supportedAlgList, or "" for any other name (which no
	// allow-list holds).
	alg    jwa.SignatureAlgorithm
	kid    []byte
	typ    []byte
	hasTyp bool
}

// supportedAlgList is supportedAlgs in a fixed order, to name a header's
// algorithm without allocating a string.
var supportedAlgList = []jwa.SignatureAlgorithm{
	jwa.RS256, jwa.RS384, jwa.RS512,
	jwa.PS256, jwa.PS384, jwa.PS512,
	jwa.ES256, jwa.ES384, jwa.ES512,
	jwa.EdDSA,
}

func knownAlg(name []byte) jwa.SignatureAlgorithm {
	for _, a := range supportedAlgList {
		if string(name) == string(a) {
			return a
		}
	}
	return ""
}

func parseHeader(raw []byte) (jwsHeader, error) {
	var h jwsHeader
	hasAlg := false
	err := walkObject(raw, func(key, val []byte) error {
		switch string(key) {
		case "alg":
			if !isString(val) {
				return ErrMalformed
			}
			h.alg = knownAlg(unquote(val))
			hasAlg = true
		case "kid":
			if !isString(val) {
				return ErrMalformed
			}
			h.kid = unquote(val)
		case "typ":
			if !isString(val) {
				return ErrMalformed
			}
			h.typ, h.hasTyp = unquote(val), true
		case "crit", "b64":
			// No extension is understood, so any critical one must be
			// refused (RFC 7515 section 4.1.11); b64 is only legal with crit.
			return ErrUnsupportedHeader
		}
		return nil
	})
	if err != nil {
		if err == ErrUnsupportedHeader || err == ErrMalformed {
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
// "JWT" or "at+jwt" (RFC 9068), with or without the "application/" prefix,
// in any case.
func acceptableTyp(typ []byte) bool {
	for _, c := range typ {
		if c >= utf8.RuneSelf {
			// Unicode case mapping can turn some non-ASCII letters into
			// ASCII ones; leave that to the strings package.
			return acceptableTypString(string(typ))
		}
	}
	const prefix = "application/"
	if len(typ) >= len(prefix) && asciiEqualFold(typ[:len(prefix)], prefix) {
		typ = typ[len(prefix):]
	}
	return asciiEqualFold(typ, "jwt") || asciiEqualFold(typ, "at+jwt")
}

func acceptableTypString(typ string) bool {
	t := strings.ToLower(typ)
	t = strings.TrimPrefix(t, "application/")
	return t == "jwt" || t == "at+jwt"
}

// asciiEqualFold compares ASCII b with lower-case ASCII want, ignoring case.
func asciiEqualFold(b []byte, want string) bool {
	if len(b) != len(want) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// claims are the registered and Okta claims the verifier checks. Every
// slice points into the decoded claims segment (or, for strings with
// escapes, into fresh memory); nothing here may be kept once the segment's
// buffer is reused.
type claims struct {
	iss    []byte
	hasIss bool
	// aud is the raw value: a JSON string or an array of JSON strings.
	aud    []byte
	hasAud bool
	exp    float64
	hasExp bool
	nbf    float64
	hasNbf bool
	iat    float64
	hasIat bool

	sub      []byte
	cid      []byte
	clientID []byte

	// scopes is the raw value the granted scopes come from: scp if present,
	// else scope; hasScopes says whether either claim was there.
	scopes    []byte
	hasScopes bool
	// scopeCount is how many scopes it holds, scopeBytes their length
	// joined by single spaces.
	scopeCount int
	scopeBytes int
}

// parseClaims fills c from the claims JSON in raw.
func parseClaims(raw []byte, c *claims) error {
	var scp, scope []byte
	hasScp, hasScope := false, false
	err := walkObject(raw, func(key, val []byte) error {
		var ok bool
		switch string(key) {
		case "iss":
			ok = isString(val)
			if ok {
				c.iss = unquote(val)
			}
			c.hasIss = true
		case "aud":
			ok = isStringOrList(val)
			c.aud = val
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
			c.sub, ok = headerSafeString(val)
		case "cid":
			c.cid, ok = headerSafeString(val)
		case "client_id":
			c.clientID, ok = headerSafeString(val)
		case "scp":
			// Okta sends an array; a space-separated string is taken too.
			ok = isStringOrList(val)
			scp = val
			hasScp = true
		case "scope":
			ok = isString(val)
			scope = val
			hasScope = true
		default:
			return nil
		}
		if !ok {
			return ErrInvalidClaims
		}
		return nil
	})
	if err != nil {
		return ErrInvalidClaims
	}
	switch {
	case hasScp:
		c.scopes, c.hasScopes = scp, true
	case hasScope:
		c.scopes, c.hasScopes = scope, true
	default:
		return nil
	}
	it := scopesOf(c.scopes)
	for sc, ok := it.next(); ok; sc, ok = it.next() {
		if !validScopeToken(sc) {
			return ErrInvalidClaims
		}
		if c.scopeCount > 0 {
			c.scopeBytes++
		}
		c.scopeCount++
		c.scopeBytes += len(sc)
	}
	return nil
}

// clientIdentifier is the cid claim (Okta), else client_id (RFC 9068),
// else sub.
func (c *claims) clientIdentifier() []byte {
	switch {
	case len(c.cid) > 0:
		return c.cid
	case len(c.clientID) > 0:
		return c.clientID
	}
	return c.sub
}

// scopeIter yields the scopes of a checked scp or scope claim value: the
// strings of an array, or the runs of a string between white space, split
// as strings.Fields splits them.
type scopeIter struct {
	list   arrayIter
	isList bool
	s      []byte
	// fields holds strings.Fields of a string with non-ASCII bytes, which
	// may hold Unicode white space.
	fields    []string
	useFields bool
}

func scopesOf(val []byte) scopeIter {
	if !isString(val) {
		return scopeIter{list: newArrayIter(val), isList: true}
	}
	s := unquote(val)
	for _, b := range s {
		if b >= utf8.RuneSelf {
			return scopeIter{fields: strings.Fields(string(s)), useFields: true}
		}
	}
	return scopeIter{s: s}
}

func (it *scopeIter) next() ([]byte, bool) {
	switch {
	case it.isList:
		item, ok := it.list.next()
		if !ok {
			return nil, false
		}
		return unquote(item), true
	case it.useFields:
		if len(it.fields) == 0 {
			return nil, false
		}
		f := it.fields[0]
		it.fields = it.fields[1:]
		return []byte(f), true
	}
	i := 0
	for i < len(it.s) && asciiSpace(it.s[i]) {
		i++
	}
	if i == len(it.s) {
		return nil, false
	}
	j := i
	for j < len(it.s) && !asciiSpace(it.s[j]) {
		j++
	}
	f := it.s[i:j]
	it.s = it.s[j:]
	return f, true
}

// asciiSpace is unicode.IsSpace for ASCII.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// isStringOrList reports whether a checked JSON value is a string or an
// array of strings.
func isStringOrList(val []byte) bool {
	switch val[0] {
	case '"':
		return true
	case '[':
		it := newArrayIter(val)
		for item, ok := it.next(); ok; item, ok = it.next() {
			if !isString(item) {
				return false
			}
		}
		return true
	}
	return false
}

// stringIter yields the unquoted strings of a checked JSON string or array
// of strings; an absent value (nil) has none.
type stringIter struct {
	single []byte
	list   arrayIter
	isList bool
	done   bool
}

func stringsOf(val []byte) stringIter {
	switch {
	case len(val) == 0:
		return stringIter{done: true}
	case isString(val):
		return stringIter{single: val}
	}
	return stringIter{list: newArrayIter(val), isList: true}
}

func (it *stringIter) next() ([]byte, bool) {
	if it.done {
		return nil, false
	}
	if !it.isList {
		it.done = true
		return unquote(it.single), true
	}
	item, ok := it.list.next()
	if !ok {
		it.done = true
		return nil, false
	}
	return unquote(item), true
}

// headerSafeString unquotes a string value that may be copied into an HTTP
// header.
func headerSafeString(val []byte) ([]byte, bool) {
	if !isString(val) {
		return nil, false
	}
	s := unquote(val)
	return s, headerSafe(s)
}

// numericDate parses a JWT NumericDate: a JSON number of seconds since the
// epoch. Strings, negative values and values past the year 9999 are refused.
func numericDate(val []byte) (float64, bool) {
	if len(val) == 0 || !isDigit(val[0]) {
		return 0, false
	}
	// Whole numbers of up to 15 digits are exact in a float64: the common
	// case needs no float parsing.
	if len(val) <= 15 {
		n := int64(0)
		whole := true
		for _, c := range val {
			if !isDigit(c) {
				whole = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if whole {
			return float64(n), n <= maxNumericDate
		}
	}
	// ParseFloat keeps nothing of its argument.
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(val), len(val)), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return 0, false
	}
	return f, true
}

// validScopeToken checks RFC 6749's scope-token syntax: printable ASCII
// without space, double quote or backslash.
func validScopeToken[T string | []byte](s T) bool {
	if len(s) == 0 {
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
// valid UTF-8 without control characters. (Control characters are single
// bytes in UTF-8, never part of a longer sequence.)
func headerSafe(s []byte) bool {
	if !utf8.Valid(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
