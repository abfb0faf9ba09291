package verifier

import (
	"errors"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A single-pass JSON reader for the two small objects of a token: the JWS
// header and the claims. It accepts exactly the JSON that encoding/json
// accepts (RFC 8259 syntax; strings unescaped the same way, invalid UTF-8
// and lone surrogates becoming U+FFFD) but hands out slices of the input
// instead of allocating a value for every token, key and string. The
// reference implementation on encoding/json's Decoder lives on in
// jsonref_test.go, and json_test.go checks the two against each other.

// errDuplicate and errNotObject are internal: callers map them to the
// refusal that fits the segment being parsed.
var (
	errDuplicate = errors.New("duplicate member name")
	errNotObject = errors.New("not a JSON object")
)

// maxJSONDepth matches encoding/json's nesting limit. A token of at most
// MaxTokenSize bytes cannot reach it; it is here so that the reader never
// recurses without bound whatever it is given.
const maxJSONDepth = 10000

// seenInline is how many member names walkObject compares one by one
// before it switches to a map: real headers and claims have a dozen
// members, a crafted header may have hundreds.
const seenInline = 16

// walkObject calls fn for each member of the JSON object in data, in order,
// with the unescaped member name and the member's raw value (already
// checked to be well-formed JSON). It refuses duplicate member names
// (which different JSON parsers resolve differently), trailing data and
// anything that is not an object. As with a streaming decoder, fn sees
// every member that precedes the first syntax error, and an error fn
// returns stops the walk and is returned as is.
//
// The slices given to fn point into data (or, for names and strings with
// escapes, into fresh memory) and must not be kept beyond data's life.
func walkObject(data []byte, fn func(key, val []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errNotObject
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return endOfDocument(data, i+1)
	}
	var inline [seenInline][]byte
	seen := inline[:0]
	var seenMap map[string]struct{}
	for {
		if i >= len(data) || data[i] != '"' {
			return errNotObject
		}
		end, ok := scanString(data, i)
		if !ok {
			return errNotObject
		}
		key := unquote(data[i:end])
		if seenMap != nil {
			if _, dup := seenMap[string(key)]; dup {
				return errDuplicate
			}
			seenMap[string(key)] = struct{}{}
		} else {
			for _, k := range seen {
				if string(k) == string(key) {
					return errDuplicate
				}
			}
			if len(seen) < seenInline {
				seen = append(seen, key)
			} else {
				seenMap = make(map[string]struct{}, 2*seenInline)
				for _, k := range seen {
					seenMap[string(k)] = struct{}{}
				}
				seenMap[string(key)] = struct{}{}
			}
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return errNotObject
		}
		i = skipSpace(data, i+1)
		vend, ok := skipValue(data, i, 1)
		if !ok {
			return errNotObject
		}
		if err := fn(key, data[i:vend]); err != nil {
			return err
		}
		i = skipSpace(data, vend)
		if i >= len(data) {
			return errNotObject
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return endOfDocument(data, i+1)
		default:
			return errNotObject
		}
	}
}

// endOfDocument accepts only whitespace after the object that ended at i.
func endOfDocument(data []byte, i int) error {
	if skipSpace(data, i) != len(data) {
		return errNotObject
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipValue checks the JSON value starting at data[i] and returns the index
// just past it. depth counts the containers it is nested in.
func skipValue(data []byte, i, depth int) (int, bool) {
	if i >= len(data) {
		return i, false
	}
	switch c := data[i]; {
	case c == '"':
		return scanString(data, i)
	case c == '{':
		return skipObject(data, i, depth+1)
	case c == '[':
		return skipArray(data, i, depth+1)
	case c == '-' || isDigit(c):
		return scanNumber(data, i)
	case c == 't':
		return literal(data, i, "true")
	case c == 'f':
		return literal(data, i, "false")
	case c == 'n':
		return literal(data, i, "null")
	}
	return i, false
}

func literal(data []byte, i int, word string) (int, bool) {
	end := i + len(word)
	if end > len(data) || string(data[i:end]) != word {
		return i, false
	}
	return end, true
}

// skipObject checks a nested object (no duplicate check: only the top
// level's member names matter to the verifier).
func skipObject(data []byte, i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return i, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return i, false
		}
		end, ok := scanString(data, i)
		if !ok {
			return i, false
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return i, false
		}
		i, ok = skipValue(data, skipSpace(data, i+1), depth)
		if !ok {
			return i, false
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return i, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func skipArray(data []byte, i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return i, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		i, ok = skipValue(data, i, depth)
		if !ok {
			return i, false
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return i, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// scanNumber checks an RFC 8259 number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
// What follows it is the caller's business.
func scanNumber(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return i, false
	case data[i] == '0':
		i++
	case isDigit(data[i]):
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return i, false
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return i, false
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	return i, true
}

// scanString checks the string starting at data[i] (a double quote) and
// returns the index just past its closing quote. Control characters must be
// escaped; the escapes are those of RFC 8259. Bytes of 0x80 and above are
// let through here; unquote deals with invalid UTF-8.
func scanString(data []byte, i int) (int, bool) {
	i++
	for i < len(data) {
		switch c := data[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(data) {
				return i, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default:
			i++
		}
	}
	return i, false
}

// isString reports whether a checked JSON value is a string.
func isString(val []byte) bool { return len(val) > 0 && val[0] == '"' }

// unquote returns the contents of a checked JSON string (quotes included in
// quoted). A string without escapes that is valid UTF-8 — nearly all of
// them — comes back as a slice of quoted; otherwise the result is new
// memory, with escapes resolved, invalid UTF-8 bytes and unpaired UTF-16
// surrogates replaced by U+FFFD, as encoding/json does.
func unquote(quoted []byte) []byte {
	s := quoted[1 : len(quoted)-1]
	r := 0
	for r < len(s) {
		c := s[r]
		if c == '\\' {
			break
		}
		if c < utf8.RuneSelf {
			r++
			continue
		}
		rr, size := utf8.DecodeRune(s[r:])
		if rr == utf8.RuneError && size == 1 {
			break
		}
		r += size
	}
	if r == len(s) {
		return s
	}
	out := make([]byte, r, len(s)+2*utf8.UTFMax)
	copy(out, s[:r])
	for r < len(s) {
		c := s[r]
		switch {
		case c == '\\':
			// scanString has checked the escape.
			switch s[r+1] {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				rr := hex4(s[r+2:])
				r += 6
				if utf16.IsSurrogate(rr) {
					var next rune = -1
					if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
						next = hex4(s[r+2:])
					}
					if pair := utf16.DecodeRune(rr, next); pair != unicode.ReplacementChar {
						out = utf8.AppendRune(out, pair)
						r += 6
						continue
					}
					rr = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, rr)
				continue
			default: // '"', '\\', '/'
				out = append(out, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			out = utf8.AppendRune(out, rr)
			r += size
		}
	}
	return out
}

// hex4 reads four hex digits, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// arrayIter walks the elements of a checked JSON array. (An iterator
// rather than a callback: escape analysis cannot follow a slice handed to
// a function value, and would move the caller's scratch space to the heap.)
type arrayIter struct {
	data []byte
	i    int
}

func newArrayIter(array []byte) arrayIter {
	return arrayIter{data: array, i: skipSpace(array, 1)}
}

// next returns the next element, or false after the last.
func (it *arrayIter) next() ([]byte, bool) {
	if it.i >= len(it.data) || it.data[it.i] == ']' {
		return nil, false
	}
	start := it.i
	end, _ := skipValue(it.data, start, 1)
	i := skipSpace(it.data, end)
	if i < len(it.data) && it.data[i] == ',' {
		i = skipSpace(it.data, i+1)
	}
	it.i = i
	return it.data[start:end], true
}
