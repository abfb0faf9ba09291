package okta

import (
	"errors"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/provider"
)

func TestNewValidatesConfig(t *testing.T) {
	tests := map[string]struct {
		cfg     Config
		wantOrg string
		wantErr string
	}{
		"https org":                          {cfg: Config{OrgURL: "https://Example.okta.com/", APIToken: testToken}, wantOrg: "https://example.okta.com"},
		"https org with default port":        {cfg: Config{OrgURL: "https://example.okta.com:443", APIToken: testToken}, wantOrg: "https://example.okta.com"},
		"https org with another port":        {cfg: Config{OrgURL: "https://example.okta.com:8443", APIToken: testToken}, wantOrg: "https://example.okta.com:8443"},
		"http on localhost":                  {cfg: Config{OrgURL: "http://localhost:8180", APIToken: testToken, AllowInsecureLoopbackHTTP: true}, wantOrg: "http://localhost:8180"},
		"http on 127.0.0.0/8":                {cfg: Config{OrgURL: "http://127.1.2.3:8180", APIToken: testToken, AllowInsecureLoopbackHTTP: true}, wantOrg: "http://127.1.2.3:8180"},
		"http on ::1":                        {cfg: Config{OrgURL: "http://[::1]:8180", APIToken: testToken, AllowInsecureLoopbackHTTP: true}, wantOrg: "http://[::1]:8180"},
		"http on loopback without the flag":  {cfg: Config{OrgURL: "http://127.0.0.1:8180", APIToken: testToken}, wantErr: "only when the manager runs with --allow-insecure-loopback-http"},
		"http on localhost without the flag": {cfg: Config{OrgURL: "http://localhost:8180", APIToken: testToken}, wantErr: "only when the manager runs with --allow-insecure-loopback-http"},
		"http elsewhere":                     {cfg: Config{OrgURL: "http://example.okta.com", APIToken: testToken, AllowInsecureLoopbackHTTP: true}, wantErr: "http is allowed only for loopback hosts"},
		"http on a private address":          {cfg: Config{OrgURL: "http://10.0.0.1", APIToken: testToken, AllowInsecureLoopbackHTTP: true}, wantErr: "http is allowed only for loopback hosts"},
		"http on a name that looks local":    {cfg: Config{OrgURL: "http://localhost.example.com", APIToken: testToken, AllowInsecureLoopbackHTTP: true}, wantErr: "http is allowed only for loopback hosts"},
		"other scheme":                       {cfg: Config{OrgURL: "ftp://example.okta.com", APIToken: testToken}, wantErr: "must use https"},
		"no scheme":                          {cfg: Config{OrgURL: "example.okta.com", APIToken: testToken}, wantErr: "not an absolute URL"},
		"empty org":                          {cfg: Config{APIToken: testToken}, wantErr: "org url is empty"},
		"org with a path":                    {cfg: Config{OrgURL: "https://example.okta.com/oauth2/default", APIToken: testToken}, wantErr: "must be just scheme and host"},
		"org with a query":                   {cfg: Config{OrgURL: "https://example.okta.com?x=1", APIToken: testToken}, wantErr: "must be just scheme and host"},
		"org with user info":                 {cfg: Config{OrgURL: "https://u:p@example.okta.com", APIToken: testToken}, wantErr: "must be just scheme and host"},
		"empty token":                        {cfg: Config{OrgURL: "https://example.okta.com"}, wantErr: "api token is empty"},
		"token with a newline":               {cfg: Config{OrgURL: "https://example.okta.com", APIToken: testToken + "\n"}, wantErr: "whitespace or control characters"},
		"authorization server id with path":  {cfg: Config{OrgURL: "https://example.okta.com", APIToken: testToken, AuthorizationServerID: "../x"}, wantErr: "authorization server id"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New error = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.HasPrefix(tc.cfg.OrgURL, "http://") && !errors.Is(err, provider.ErrInsecureURL) {
					t.Errorf("New error = %v, want class %v", err, provider.ErrInsecureURL)
				}
				if tc.cfg.APIToken != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.cfg.APIToken)) {
					t.Error("the error contains the API token")
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if p.orgURL != tc.wantOrg {
				t.Errorf("org url %q, want %q", p.orgURL, tc.wantOrg)
			}
			if p.authServerID != DefaultAuthorizationServerID {
				t.Errorf("authorization server %q, want the default", p.authServerID)
			}
		})
	}
}

func TestNewSharesBudgetsByDefault(t *testing.T) {
	a, err := New(Config{OrgURL: "https://shared.okta.com", APIToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{OrgURL: "https://SHARED.okta.com/", APIToken: "other-token"})
	if err != nil {
		t.Fatal(err)
	}
	if a.budgets != SharedBudgets() || a.http.Transport.(*transport).budget != b.http.Transport.(*transport).budget {
		t.Error("providers of one org do not share the process-wide budget")
	}
}
