package secrettemplate

import (
	"errors"
	"strings"
	"testing"
)

const secret = "s3cr3t-VALUE-that-must-not-leak"

func sample() Data {
	return Data{
		ClientID:     "0oa1client",
		ClientSecret: secret,
		TokenURL:     "https://issuer.test/oauth2/default/v1/token",
		Issuer:       "https://issuer.test/oauth2/default",
		Scopes:       []string{"hello:read", "billing:write"},
		Scope:        "hello:read billing:write",
		Audiences:    []string{"api://hello"},
		AuthMethod:   "client_secret_basic",
	}
}

func TestRender(t *testing.T) {
	tests := map[string]struct {
		tmpl string
		data func(*Data)
		want string
	}{
		"fields":              {tmpl: "{{.ClientID}} {{.TokenURL}} {{.Issuer}} {{.AuthMethod}}", want: "0oa1client https://issuer.test/oauth2/default/v1/token https://issuer.test/oauth2/default client_secret_basic"},
		"scope":               {tmpl: "{{.Scope}}", want: "hello:read billing:write"},
		"join":                {tmpl: `{{.Scopes | join ","}}`, want: "hello:read,billing:write"},
		"join audiences":      {tmpl: `{{join ";" .Audiences}}`, want: "api://hello"},
		"quote":               {tmpl: `{{quote "a\"b\n"}}`, want: `"a\"b\n"`},
		"squote":              {tmpl: `{{squote .ClientID}}`, want: `'0oa1client'`},
		"b64enc":              {tmpl: `{{b64enc "id:pw"}}`, want: "aWQ6cHc="},
		"toJson string":       {tmpl: `{{toJson "a<b\"\n"}}`, want: `"a<b\"\n"`},
		"toJson list":         {tmpl: `{{toJson .Scopes}}`, want: `["hello:read","billing:write"]`},
		"toJson empty list":   {tmpl: `{{toJson .Audiences}}`, data: func(d *Data) { d.Audiences = []string{} }, want: `[]`},
		"default used":        {tmpl: `{{.KeyID | default "none"}}`, want: "none"},
		"default not used":    {tmpl: `{{.ClientID | default "none"}}`, want: "0oa1client"},
		"default empty list":  {tmpl: `{{default "x" .Audiences}}`, data: func(d *Data) { d.Audiences = nil }, want: "x"},
		"upper lower trim":    {tmpl: `{{upper "ab"}}{{lower "CD"}}{{trim "  e \n"}}`, want: "ABcde"},
		"replace":             {tmpl: `{{replace "\n" "\\n" "a\nb"}}`, want: `a\nb`},
		"indent":              {tmpl: `{{indent 2 "a\nb"}}`, want: "  a\n  b"},
		"range":               {tmpl: `{{range $i, $s := .Scopes}}{{if $i}};{{end}}{{$s}}{{end}}`, want: "hello:read;billing:write"},
		"range two deep":      {tmpl: `{{range .Scopes}}{{range $.Audiences}}x{{end}}{{end}}`, want: "xx"},
		"private key":         {tmpl: `{{.PrivateKey}}|{{.KeyID}}`, data: func(d *Data) { d.PrivateKey, d.KeyID = "PEM", "kid1" }, want: "PEM|kid1"},
		"text/template funcs": {tmpl: `{{len .Scopes}} {{index .Scopes 1}} {{printf "%s!" .ClientID}}`, want: "2 billing:write 0oa1client!"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts, err := Parse(map[string]string{"k": tc.tmpl})
			if err != nil {
				t.Fatal(err)
			}
			d := sample()
			if tc.data != nil {
				tc.data(&d)
			}
			out, err := ts.Render(d)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out["k"]); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRenderEveryKey(t *testing.T) {
	ts, err := Parse(map[string]string{"b": "{{.ClientID}}", "a": "static", "c": ""})
	if err != nil {
		t.Fatal(err)
	}
	out, err := ts.Render(sample())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || string(out["a"]) != "static" || string(out["b"]) != "0oa1client" || string(out["c"]) != "" {
		t.Errorf("got %q", out)
	}
}

// A template that does not parse, or uses what is not allowed, is refused with its key,
// line and column.
func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		tmpl string
		want []string
	}{
		"unclosed action":  {tmpl: "a\nb={{.ClientID", want: []string{"key k", "k:2", "unclosed action"}},
		"unknown function": {tmpl: "{{env \"HOME\"}}", want: []string{"key k", "k:1", `function "env" not defined`}},
		"no readFile":      {tmpl: "{{readFile \"/etc/passwd\"}}", want: []string{`function "readFile" not defined`}},
		"unexpected end":   {tmpl: "x\n\n{{end}}", want: []string{"key k", "k:3", "unexpected {{end}}"}},
		"define":           {tmpl: `{{define "x"}}a{{end}}{{template "x"}}`, want: []string{"key k", "define and block are not allowed"}},
		"block":            {tmpl: `{{block "x" .}}a{{end}}`, want: []string{"key k", "define and block are not allowed"}},
		"template":         {tmpl: "a\n  {{template \"k\"}}", want: []string{"key k", "line 2", "template is not allowed"}},
		"range three deep": {tmpl: "{{range .Scopes}}{{range .}}\n{{range $.Scopes}}{{end}}{{end}}{{end}}", want: []string{"key k", "line 2", "range nested deeper than 2"}},
		"range in else":    {tmpl: "{{range .Scopes}}{{range .}}{{else}}{{range $.Scopes}}{{range $.Scopes}}{{end}}{{end}}{{end}}{{end}}", want: []string{"range nested deeper than 2"}},
		"ranges in a row":  {tmpl: strings.Repeat("{{range .Scopes}}{{range $.Scopes}}{{end}}{{end}}", 16), want: []string{"key k", "more than 65536 iterations"}},
		"range in if":      {tmpl: "{{range .Scopes}}{{if .}}{{range $.Scopes}}{{with .}}{{range $.Scopes}}{{end}}{{end}}{{end}}{{end}}{{end}}", want: []string{"range nested deeper than 2"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(map[string]string{"k": tc.tmpl})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// A template that fails to render says where and why, and never quotes a value of the
// data, even when text/template's own error would.
func TestRenderErrorsHoldNoData(t *testing.T) {
	tests := map[string]struct {
		tmpl string
		want []string
	}{
		"unknown field":       {tmpl: "a\n{{.ClientSecrets}}", want: []string{"key k", "line 2, column 2", "<.ClientSecrets>", "can't evaluate field ClientSecrets"}},
		"field of a string":   {tmpl: "{{.ClientSecret.Value}}", want: []string{"<.ClientSecret.Value>", "can't evaluate field Value in type string"}},
		"index out of range":  {tmpl: "{{index .Scopes 5}}", want: []string{"<index .Scopes 5>", "index out of range: 5"}},
		"index at the length": {tmpl: "{{index .Scopes 2}}", want: []string{"<index .Scopes 2>", "index: reflect: slice index out of range"}},
		"index of a string":   {tmpl: "{{index .ClientSecret 99}}", want: []string{"<index .ClientSecret 99>", "index out of range"}},
		"wrong type":          {tmpl: "{{join .ClientSecret .ClientSecret}}", want: []string{"<.ClientSecret>", "wrong type for value; expected []string; got string"}},
		"wrong arg count":     {tmpl: "{{upper .ClientSecret .ClientID}}", want: []string{"wrong number of args for upper"}},
		"comparison":          {tmpl: "{{if lt .ClientSecret 3}}x{{end}}", want: []string{"<lt .ClientSecret 3>", "lt: incompatible types for comparison: string and int"}},
		"slice beyond":        {tmpl: "{{slice .ClientSecret 3 1}}", want: []string{"<slice .ClientSecret 3 1>", "invalid slice index: 3 > 1"}},
		"range over a string": {tmpl: "{{range .ClientSecret}}{{end}}", want: []string{"<.ClientSecret>", "range can't iterate over this value"}},
		"call":                {tmpl: "{{call .ClientSecret}}", want: []string{"<call .ClientSecret>", "non-function .ClientSecret of type string"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts, err := Parse(map[string]string{"k": tc.tmpl})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ts.Render(sample())
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			msg := err.Error()
			if strings.Contains(msg, secret) || strings.Contains(msg, secret[:8]) {
				t.Fatalf("the error holds the client secret")
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

// text/template's own words for ranging over a string quote the string ("range can't
// iterate over <value>"); ours do not.
func TestRenderErrorDropsQuotedValue(t *testing.T) {
	ts, err := Parse(map[string]string{"k": "x\n{{range .ClientSecret}}{{.}}{{end}}"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Render(sample())
	if err == nil {
		t.Fatal("rendered")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("the error holds the client secret")
	}
	if !strings.Contains(err.Error(), "key k: line 2") {
		t.Errorf("error %q does not say where", err)
	}
}

func TestDescribeExecErrorKeepsOnlySafeWords(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"function error": {in: `template: k:1:2: executing "k" at <b64enc .ClientSecret>: error calling b64enc: bad value ` + secret,
			want: "line 1, column 2, at <b64enc .ClientSecret>: the function b64enc failed"},
		"unknown words": {in: `template: k:3:4: executing "k" at <.X>: something about ` + secret,
			want: "line 3, column 4, at <.X>: the action failed"},
		"map key": {in: `template: k:1:1: executing "k" at <.M.k>: map has no entry for key "` + secret + `"`,
			want: "line 1, column 1, at <.M.k>: the action failed"},
		"not an exec error": {in: "write: " + secret, want: "the template failed to render"},
		"safe words":        {in: `template: k:1:9: executing "k" at <.A>: can't evaluate field A in type secrettemplate.Data`, want: "line 1, column 9, at <.A>: can't evaluate field A in type secrettemplate.Data"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := describeExecError(errors.New(tc.in)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRenderOutputBounded(t *testing.T) {
	big := strings.Repeat("x", 4096)
	// 64 × 64 iterations of 4 KiB: 16 MiB if nothing stopped it.
	scopes := make([]string, 64)
	for i := range scopes {
		scopes[i] = "s"
	}
	ts, err := Parse(map[string]string{"k": "{{range .Scopes}}{{range $.Scopes}}" + big + "{{end}}{{end}}"})
	if err != nil {
		t.Fatal(err)
	}
	d := sample()
	d.Scopes = scopes
	_, err = ts.Render(d)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want a size refusal", err)
	}
}

// Functions refuse to build what the writer would refuse: a template cannot make the
// manager allocate much more than MaxOutputBytes.
func TestFuncBounds(t *testing.T) {
	big := strings.Repeat("y", 60000)
	const tooLarge = "the result would be larger than 262144 bytes"
	tests := map[string]struct {
		tmpl   string
		scopes int // when > 0, that many scopes
		want   string
	}{
		"replace of the empty string": {tmpl: `{{replace "" "` + big + `" "` + big + `"}}`, want: "replace: " + tooLarge},
		"replace growing":             {tmpl: `{{replace "y" "yyyyyy" "` + big + `"}}`, want: "replace: " + tooLarge},
		"indent too deep":             {tmpl: `{{indent 65 "a"}}`, want: "indent: the indent must be from 0 to 64"},
		"indent growing":              {tmpl: `{{indent 64 "` + strings.Repeat(`\n`, 5000) + `"}}`, want: "indent: " + tooLarge},
		"join growing":                {tmpl: `{{join "` + big + `" .Scopes}}`, scopes: 64, want: "join: " + tooLarge},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ts, err := Parse(map[string]string{"k": tc.tmpl})
			if err != nil {
				t.Fatal(err)
			}
			d := sample()
			if tc.scopes > 0 {
				d.Scopes = make([]string, tc.scopes)
			}
			_, err = ts.Render(d)
			if err == nil {
				t.Fatal("rendered")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}
