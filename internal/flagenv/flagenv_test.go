package flagenv

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestApply(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		wantA   string
		wantD   time.Duration
		wantErr string
	}{
		"defaults":             {wantA: "def", wantD: time.Second},
		"env fills":            {env: map[string]string{"T_ADDR_NAME": "env", "T_WAIT": "3s"}, wantA: "env", wantD: 3 * time.Second},
		"flag beats env":       {args: []string{"--addr-name=flag"}, env: map[string]string{"T_ADDR_NAME": "env"}, wantA: "flag", wantD: time.Second},
		"bad env value errors": {env: map[string]string{"T_WAIT": "soon"}, wantErr: "T_WAIT"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			a := fs.String("addr-name", "def", "")
			d := fs.Duration("wait", time.Second, "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := Apply(fs, "T")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *a != tc.wantA || *d != tc.wantD {
				t.Fatalf("got %q %v, want %q %v", *a, *d, tc.wantA, tc.wantD)
			}
		})
	}
}
