package main

import (
	"strings"
	"testing"
)

func TestRunRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]struct {
		args    []string
		env     map[string]string
		wantErr string
	}{
		"no upstream":            {args: []string{"--credentials-dir", dir}, wantErr: "--upstream is required"},
		"relative upstream":      {args: []string{"--upstream", "/x", "--credentials-dir", dir}, wantErr: "absolute http(s) URL"},
		"ftp upstream":           {args: []string{"--upstream", "ftp://h/", "--credentials-dir", dir}, wantErr: "absolute http(s) URL"},
		"no credentials dir":     {args: []string{"--upstream", "http://127.0.0.1:1"}, wantErr: "--credentials-dir is required"},
		"empty credentials dir":  {args: []string{"--upstream", "http://127.0.0.1:1", "--credentials-dir", dir}, wantErr: "none of the credentials files"},
		"bad env twin":           {args: []string{"--upstream", "http://127.0.0.1:1"}, env: map[string]string{"TOKEN_INJECTOR_POLL_INTERVAL": "often"}, wantErr: "TOKEN_INJECTOR_POLL_INTERVAL"},
		"env twin fills a flag":  {env: map[string]string{"TOKEN_INJECTOR_UPSTREAM": "http://127.0.0.1:1", "TOKEN_INJECTOR_CREDENTIALS_DIR": dir}, wantErr: "none of the credentials files"},
		"negative max token age": {args: []string{"--upstream", "http://127.0.0.1:1", "--credentials-dir", dir, "--max-token-age", "-1s"}, wantErr: "--max-token-age"},
		"listen without a port":  {args: []string{"--upstream", "http://127.0.0.1:1", "--credentials-dir", dir, "--listen", "127.0.0.1"}, wantErr: "--listen"},
		"unknown log level":      {args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		"unknown flag":           {args: []string{"--frobnicate"}, wantErr: "frobnicate"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := run(append(tc.args, "--admin-listen", ""))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("run: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
