package verifier

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Request-target checks. The verifier picks a rule from the path it is
// shown; the upstream routes on the path its proxy forwards, after its own
// framework's normalisation. Those normalisations differ (Tomcat and Jetty
// drop ";" parameters, some routers resolve "%2e%2e", Envoy keeps "//",
// nginx merges it, some frameworks compare methods without case), so any
// target whose meaning depends on them is refused rather than guessed at.
// What is left is a path every one of them reads the same way.

// TargetOptions are the allow-listed exceptions to the target checks.
type TargetOptions struct {
	// AllowPathParams accepts raw ";" path parameters (for upstreams that
	// need them, such as Java servlet session ids). Rules are then matched
	// on the path with every segment's parameters removed, as servlet
	// containers route. Encoded semicolons (%3B) stay refused.
	AllowPathParams bool
}

// checkPath checks an escaped request path (no query, no fragment) and
// returns the decoded path rules are matched on. Refused, with
// errBadRequestTarget: a path not starting with "/"; a dot segment ("." or
// "..", raw or percent-encoded in any case, also before a ";"); an empty
// segment ("//"); a ";" (unless opts.AllowPathParams) or "%3B"; a
// backslash, "%5C" or "%2F"; a percent-encoded "%" that would decode to
// one of those on a second decoding; spaces and control characters (raw;
// encoded control characters too);
// malformed percent-encoding; and bytes that do not decode to UTF-8.
//
// It allocates only when the path holds percent-encoding or parameters.
func checkPath(escaped string, opts TargetOptions) (string, error) {
	if len(escaped) == 0 || escaped[0] != '/' {
		return "", errBadRequestTarget
	}
	hasPct, hasParams, ascii := false, false, true
	segStart := 1 // index of the first byte of the current segment
	for i := 1; i <= len(escaped); i++ {
		if i == len(escaped) || escaped[i] == '/' {
			seg := escaped[segStart:i]
			if seg == "" && i < len(escaped) || seg != "" && seg[0] == ';' {
				return "", errBadRequestTarget // "//", or "/;x/" which is "//" once parameters go
			}
			if isDotSegment(seg, opts.AllowPathParams) {
				return "", errBadRequestTarget
			}
			segStart = i + 1
			continue
		}
		c := escaped[i]
		switch {
		case c <= 0x20 || c == 0x7f || c == '\\' || c == '#' || c == '?':
			return "", errBadRequestTarget
		case c >= 0x80:
			ascii = false
		case c == ';':
			if !opts.AllowPathParams {
				return "", errBadRequestTarget
			}
			hasParams = true
		case c == '%':
			b, ok := pctByte(escaped, i)
			if !ok || refusedEncoded(b) {
				return "", errBadRequestTarget
			}
			if b == '%' {
				// "%25" followed by an encoding of a refused character is the
				// same trick for a server that decodes twice.
				if b2, ok := hexPair(escaped, i+3); ok && (refusedEncoded(b2) || b2 == '.') {
					return "", errBadRequestTarget
				}
			}
			hasPct = true
			i += 2
		}
	}
	if !hasPct && !hasParams {
		if !ascii && !utf8.ValidString(escaped) {
			return "", errBadRequestTarget
		}
		return escaped, nil
	}
	p := escaped
	if hasParams {
		p = stripParams(p)
	}
	if hasPct {
		var err error
		if p, err = url.PathUnescape(p); err != nil {
			return "", errBadRequestTarget
		}
	}
	if !utf8.ValidString(p) {
		return "", errBadRequestTarget
	}
	return p, nil
}

// refusedEncoded reports whether a percent-encoded byte is one the
// verifier never accepts in encoded form.
func refusedEncoded(b byte) bool {
	return b == '/' || b == '\\' || b == ';' || b < 0x20 || b == 0x7f
}

// pctByte decodes the "%XX" at s[i:].
func pctByte(s string, i int) (byte, bool) {
	if s[i] != '%' {
		return 0, false
	}
	return hexPair(s, i+1)
}

// hexPair decodes the two hex digits at s[i:].
func hexPair(s string, i int) (byte, bool) {
	if i+1 >= len(s) {
		return 0, false
	}
	h, ok1 := unhex(s[i])
	l, ok2 := unhex(s[i+1])
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isDotSegment reports whether an escaped segment means "." or "..": raw or
// with any of its dots written %2e/%2E, and, when parameters are allowed,
// judged on the part before the first ";".
func isDotSegment(seg string, params bool) bool {
	if params {
		seg, _, _ = strings.Cut(seg, ";")
	}
	dots := 0
	for i := 0; i < len(seg); {
		switch {
		case seg[i] == '.':
			i++
		case len(seg)-i >= 3 && seg[i] == '%' && seg[i+1] == '2' && (seg[i+2] == 'e' || seg[i+2] == 'E'):
			i += 3
		default:
			return false
		}
		dots++
		if dots > 2 {
			return false
		}
	}
	return dots > 0
}

// stripParams removes every segment's ";..." parameters.
func stripParams(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for i, seg := range strings.Split(p, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		seg, _, _ = strings.Cut(seg, ";")
		b.WriteString(seg)
	}
	return b.String()
}

// canonicalMethod reports whether m is an upper-case method token: A-Z,
// digits, "-" and "_", at most 32 bytes, with at least one letter. "get"
// and "Delete" are refused: some frameworks fold case, rules do not.
func canonicalMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	letter := false
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return letter
}

// originURIPath takes the path of an origin-form request target
// ("/path?query"), the form nginx's $request_uri and Traefik's
// X-Forwarded-Uri carry. A fragment is refused: it never reaches a server.
func originURIPath(v string, opts TargetOptions) (string, error) {
	p, _, _ := strings.Cut(v, "?")
	return checkPath(p, opts)
}

// absoluteURLPath takes the path of an absolute URL such as ingress-nginx's
// X-Original-URL. Only http and https URLs with a valid host, an optional
// numeric port, no user info, no fragment and a path starting with "/" are
// accepted.
func absoluteURLPath(v string, opts TargetOptions) (string, error) {
	var rest string
	switch {
	case hasPrefixFold(v, "https://"):
		rest = v[len("https://"):]
	case hasPrefixFold(v, "http://"):
		rest = v[len("http://"):]
	default:
		return "", errBadRequestTarget
	}
	if strings.ContainsAny(rest, "#") {
		return "", errBadRequestTarget
	}
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return "", errBadRequestTarget // no path
	}
	authority, target := rest[:slash], rest[slash:]
	if q := strings.IndexByte(authority, '?'); q >= 0 {
		return "", errBadRequestTarget // query before the path
	}
	if !validAuthority(authority) {
		return "", errBadRequestTarget
	}
	return originURIPath(target, opts)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// validAuthority accepts host[:port] with a DNS-style host name, an IPv4
// address or a bracketed IPv6 address, and a port of 1 to 65535. User info
// ("user@") is refused.
func validAuthority(a string) bool {
	if a == "" || strings.ContainsAny(a, "@") {
		return false
	}
	host, port := a, ""
	if a[0] == '[' {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return false
		}
		host, port = a[1:end], a[end+1:]
		if net.ParseIP(host) == nil || !strings.Contains(host, ":") {
			return false
		}
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
			return validPort(port)
		}
		return true
	}
	if i := strings.LastIndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
		if !validPort(port) {
			return false
		}
	}
	return validHostName(host)
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// validHostName accepts letters, digits, "-" and "." in labels of 1 to 63
// bytes, 253 bytes at most (IPv4 addresses are such names too).
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_':
			label++
			if label > 63 {
				return false
			}
		default:
			return false
		}
	}
	return label > 0 || h[len(h)-1] == '.'
}
