package envflag

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := map[string]struct {
		args       []string
		env        map[string]string
		wantListen string
		wantSkew   time.Duration
		wantStrict bool
		wantErr    bool
	}{
		"defaults":              {wantListen: ":8080", wantSkew: 30 * time.Second},
		"from the environment":  {env: map[string]string{"VERIFIER_LISTEN": ":9000", "VERIFIER_CLOCK_SKEW": "5s", "VERIFIER_STRICT_TYP": "true"}, wantListen: ":9000", wantSkew: 5 * time.Second, wantStrict: true},
		"command line wins":     {args: []string{"--listen", ":1"}, env: map[string]string{"VERIFIER_LISTEN": ":2"}, wantListen: ":1", wantSkew: 30 * time.Second},
		"bad environment value": {env: map[string]string{"VERIFIER_CLOCK_SKEW": "soon"}, wantErr: true},
		"unrelated variable":    {env: map[string]string{"LISTEN": ":3", "HELLO_LISTEN": ":4"}, wantListen: ":8080", wantSkew: 30 * time.Second},
		"unknown flag":          {args: []string{"--nope"}, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
			fs.SetOutput(&bytes.Buffer{})
			listen := fs.String("listen", ":8080", "address")
			skew := fs.Duration("clock-skew", 30*time.Second, "skew")
			strict := fs.Bool("strict-typ", false, "strict")
			err := Parse(fs, "VERIFIER", tc.args, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if (err != nil) != tc.wantErr {
				t.Fatalf("Parse error = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if *listen != tc.wantListen || *skew != tc.wantSkew || *strict != tc.wantStrict {
				t.Fatalf("got %q %v %v", *listen, *skew, *strict)
			}
		})
	}
}

func TestUsageNamesEnvironmentVariables(t *testing.T) {
	fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.String("jwks-url", "", "the `URL` of the key set")
	fs.Usage = Usage(fs, "VERIFIER", "intro\n")
	fs.Usage()
	for _, want := range []string{"intro", "--jwks-url URL", "VERIFIER_JWKS_URL"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("usage %q lacks %q", out.String(), want)
		}
	}
}
