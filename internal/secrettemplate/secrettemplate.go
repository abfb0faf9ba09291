// Package secrettemplate renders the keys of an OAuthClient's spec.secretTemplate.data:
// Go text/template templates over the client's credentials, with a small fixed set of
// functions that cannot reach files, the environment or the network.
//
// Its errors never hold a value of the data: a parse error can only quote the template
// (which is in the spec), and an execution error is reduced to the template's position,
// the action's text and a kind from a fixed list.
package secrettemplate

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// Limits on what a template may make.
const (
	// MaxOutputBytes is the most all rendered keys together may hold (a Secret holds at most
	// 1 MiB, the default keys and the private key included).
	MaxOutputBytes = 256 << 10
	// maxRangeDepth is how deeply range actions may nest: the lists are at most 64 long, so
	// two levels make at most 4096 iterations.
	maxRangeDepth = 2
	// maxListLen is the longest list a template sees (spec.scopes; audiences are at most 32).
	maxListLen = 64
	// maxIterations bounds the iterations one template's ranges can make, counted with every
	// list at maxListLen: many ranges in a row cost as much as deep ones.
	maxIterations = 1 << 16
)

// ErrInvalid is the class of every error of this package.
var ErrInvalid = errors.New("invalid template")

// Data is what a template sees.
type Data struct {
	ClientID     string
	ClientSecret string
	TokenURL     string
	Issuer       string
	Scopes       []string
	Scope        string
	Audiences    []string
	AuthMethod   string
	PrivateKey   string
	KeyID        string
}

// Funcs is the fixed set of functions besides text/template's own (and, or, not, len,
// index, slice, print, printf, println, html, js, urlquery, eq, ne, lt, le, gt, ge, call).
// Each is a pure function of its arguments; none reads files, the environment or the
// network.
//
//   - join SEP LIST: the list's items separated by SEP (`{{.Scopes | join ","}}`).
//   - quote S / squote S: S in double quotes with Go escapes / in single quotes as is.
//   - b64enc S: standard base64 (a PEM key as one line, a Basic header value).
//   - toJson V: V as a JSON value (strings quoted and escaped, lists as arrays), for JSON
//     files and for double-quoted .env values.
//   - default D V: V, or D when V is empty.
//   - upper, lower, trim S: case and surrounding white space.
//   - replace OLD NEW S: every OLD in S replaced by NEW (e.g. newlines escaped for a
//     .properties value).
//   - indent N S: every line of S indented by N spaces (a PEM block in YAML).
func Funcs() template.FuncMap {
	return template.FuncMap{
		"quote":   strconv.Quote,
		"squote":  func(s string) string { return "'" + s + "'" },
		"b64enc":  func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"toJson":  toJSON,
		"default": defaultOf,
		"upper":   strings.ToUpper,
		"lower":   strings.ToLower,
		"trim":    strings.TrimSpace,
		"replace": replace,
		"indent":  indent,
		"join":    join,
	}
}

// errFuncTooLarge is what a function answers instead of a result over MaxOutputBytes: the
// writer would refuse it anyway, but only after it was built.
var errFuncTooLarge = fmt.Errorf("the result would be larger than %d bytes", MaxOutputBytes)

func join(sep string, list []string) (string, error) {
	n := len(sep) * max(len(list)-1, 0)
	for _, s := range list {
		n += len(s)
	}
	if n > MaxOutputBytes {
		return "", errFuncTooLarge
	}
	return strings.Join(list, sep), nil
}

func replace(old, repl, s string) (string, error) {
	count := strings.Count(s, old) // for "" the runes of s plus one
	if len(s)+count*(len(repl)-len(old)) > MaxOutputBytes {
		return "", errFuncTooLarge
	}
	return strings.ReplaceAll(s, old, repl), nil
}

func toJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Not the encoder's words: they may quote the value.
		return "", errors.New("the value cannot be written as JSON")
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func defaultOf(def, v any) any {
	switch x := v.(type) {
	case nil:
		return def
	case string:
		if x == "" {
			return def
		}
	case []string:
		if len(x) == 0 {
			return def
		}
	}
	return v
}

// indent pads every line of s with n spaces, n from 0 to 64.
func indent(n int, s string) (string, error) {
	if n < 0 || n > 64 {
		return "", errors.New("the indent must be from 0 to 64")
	}
	if len(s)+n*(strings.Count(s, "\n")+1) > MaxOutputBytes {
		return "", errFuncTooLarge
	}
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad), nil
}

// Templates are parsed templates, one per key.
type Templates struct {
	keys  []string
	byKey map[string]*template.Template
}

// Parse parses every template of data (key → template text). The error names the key,
// line and column of the first template, in key order, that does not parse or uses what is
// not allowed.
func Parse(data map[string]string) (*Templates, error) {
	ts := &Templates{byKey: make(map[string]*template.Template, len(data))}
	for k := range data {
		ts.keys = append(ts.keys, k)
	}
	sort.Strings(ts.keys)
	for _, k := range ts.keys {
		t, err := template.New(k).Option("missingkey=error").Funcs(Funcs()).Parse(data[k])
		if err != nil {
			return nil, fmt.Errorf("%w: key %s: %s", ErrInvalid, k, strings.TrimPrefix(err.Error(), "template: "))
		}
		if err := check(k, t); err != nil {
			return nil, err
		}
		ts.byKey[k] = t
	}
	return ts, nil
}

// check refuses define, template and block (a template that calls itself never ends) and
// range nested deeper than maxRangeDepth.
func check(key string, t *template.Template) error {
	if len(t.Templates()) > 1 {
		return fmt.Errorf("%w: key %s: define and block are not allowed", ErrInvalid, key)
	}
	iterations := 0
	var walk func(n parse.Node, depth int) error
	walk = func(n parse.Node, depth int) error {
		switch x := n.(type) {
		case *parse.ListNode:
			if x == nil {
				return nil
			}
			for _, c := range x.Nodes {
				if err := walk(c, depth); err != nil {
					return err
				}
			}
		case *parse.TemplateNode:
			return fmt.Errorf("%w: key %s: %s: template is not allowed", ErrInvalid, key, position(t, x))
		case *parse.RangeNode:
			if depth+1 > maxRangeDepth {
				return fmt.Errorf("%w: key %s: %s: range nested deeper than %d", ErrInvalid, key, position(t, x), maxRangeDepth)
			}
			cost := 1
			for range depth + 1 {
				cost *= maxListLen
			}
			if iterations += cost; iterations > maxIterations {
				return fmt.Errorf("%w: key %s: %s: the ranges could make more than %d iterations (each list counted at %d)",
					ErrInvalid, key, position(t, x), maxIterations, maxListLen)
			}
			if err := walk(x.List, depth+1); err != nil {
				return err
			}
			return walk(x.ElseList, depth)
		case *parse.IfNode:
			if err := walk(x.List, depth); err != nil {
				return err
			}
			return walk(x.ElseList, depth)
		case *parse.WithNode:
			if err := walk(x.List, depth); err != nil {
				return err
			}
			return walk(x.ElseList, depth)
		}
		return nil
	}
	if t.Tree == nil {
		return nil
	}
	return walk(t.Root, 0)
}

func position(t *template.Template, n parse.Node) string {
	loc, _ := t.ErrorContext(n)
	// loc is "name:line:col"; the name is the key, said already.
	if _, rest, ok := strings.Cut(loc, ":"); ok {
		return "line " + strings.Replace(rest, ":", ", column ", 1)
	}
	return loc
}

// Render renders every key. The error names the key, the line and column, the action and
// what went wrong, from a fixed list of kinds: never a value of d.
func (ts *Templates) Render(d Data) (map[string][]byte, error) {
	// toJson writes an absent list as [], not null.
	if d.Scopes == nil {
		d.Scopes = []string{}
	}
	if d.Audiences == nil {
		d.Audiences = []string{}
	}
	out := make(map[string][]byte, len(ts.keys))
	w := &limitedBuffer{left: MaxOutputBytes}
	for _, k := range ts.keys {
		w.buf.Reset()
		if err := ts.byKey[k].Execute(w, d); err != nil {
			if errors.Is(err, errTooLarge) {
				return nil, fmt.Errorf("%w: key %s: the rendered keys are larger than %d bytes together", ErrInvalid, k, MaxOutputBytes)
			}
			return nil, fmt.Errorf("%w: key %s: %s", ErrInvalid, k, describeExecError(err))
		}
		out[k] = bytes.Clone(w.buf.Bytes())
	}
	return out, nil
}

var errTooLarge = errors.New("output too large")

type limitedBuffer struct {
	buf  bytes.Buffer
	left int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, errTooLarge
	}
	l.left -= len(p)
	return l.buf.Write(p)
}

// execError matches text/template's execution errors: "template: NAME:LINE:COL: executing
// "NAME" at <ACTION>: DETAIL".
var execError = regexp.MustCompile(`^template: [^:]*:(\d+):(\d+): executing "[^"]*" at <(.*?)>: (.*)$`)

// Details whose every part comes from the template or from types, never from data.
var safeDetails = []*regexp.Regexp{
	regexp.MustCompile(`^can't evaluate field \w+ in type [\w.\[\]*]+$`),
	regexp.MustCompile(`^wrong number of args for \w+: want (at least )?\d+ got \d+$`),
	regexp.MustCompile(`^wrong type for value; expected [\w.\[\]{}* ]+; got [\w.\[\]{}* ]+$`),
	regexp.MustCompile(`^nil pointer evaluating [\w.\[\]*]+\.\w+$`),
}

// Builtin functions' details whose every part comes from the template or from types.
var safeCallDetails = []*regexp.Regexp{
	regexp.MustCompile(`^index out of range: -?\d+$`),
	regexp.MustCompile(`^reflect: slice index out of range$`),
	regexp.MustCompile(`^invalid slice index: -?\d+ > -?\d+$`),
	regexp.MustCompile(`^incompatible types for comparison(: [\w.\[\]* ]+ and [\w.\[\]* ]+)?$`),
	regexp.MustCompile(`^the result would be larger than \d+ bytes$`),
	regexp.MustCompile(`^the indent must be from 0 to 64$`),
	regexp.MustCompile(`^non-function [\w.$]+ of type [\w.\[\]*]+$`),
	regexp.MustCompile(`^can't index item of type [\w.\[\]*]+$`),
	regexp.MustCompile(`^cannot index slice/array with type [\w.\[\]*]+$`),
}

// errorCalling matches a function's error: its name is kept, and its words only when they
// are among safeCallDetails (the words of text/template's builtins can quote a value).
var errorCalling = regexp.MustCompile(`^error calling (\w+): (.*)$`)

// rangeOver is text/template's refusal to range over a value, which it quotes.
const rangeOver = "range can't iterate over "

func describeExecError(err error) string {
	m := execError.FindStringSubmatch(err.Error())
	if m == nil {
		return "the template failed to render"
	}
	where := fmt.Sprintf("line %s, column %s, at <%s>", m[1], m[2], m[3])
	detail := m[4]
	for _, re := range safeDetails {
		if re.MatchString(detail) {
			return where + ": " + detail
		}
	}
	if c := errorCalling.FindStringSubmatch(detail); c != nil {
		for _, re := range safeCallDetails {
			if re.MatchString(c[2]) {
				return where + ": " + c[1] + ": " + c[2]
			}
		}
		return where + ": the function " + c[1] + " failed"
	}
	if strings.HasPrefix(detail, rangeOver) {
		return where + ": range can't iterate over this value (not a list)"
	}
	return where + ": the action failed"
}
