// Command oktaserviceapp registers the operator's own Okta API service app — the OAuth 2.0
// client the operator uses instead of an SSWS API token (spec.okta.oauth) — through Okta's
// management API, as an admin would in the Admin Console: it generates an RSA key pair,
// creates an active service app with private_key_jwt client authentication, the public key
// and DPoP-bound tokens, grants it the Okta API scopes, and gives it an admin role.
//
// The demo (OKTA_AUTH=oauth hack/demo.sh) uses it against the emulator; it works against a
// real org with an admin's API token too. The API token is read from OKTA_API_TOKEN, never
// from the command line. The private key is written to --key-out (mode 0600); stdout gets
// CLIENT_ID=… and KEY_ID=… lines, nothing secret.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "oktaserviceapp:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("oktaserviceapp", flag.ContinueOnError)
	orgURL := fs.String("org-url", "", "Okta org URL, e.g. https://example.okta.com (required)")
	label := fs.String("label", "clientcreds-operator", "label of the API service app")
	scopes := fs.String("scopes", "okta.apps.manage", "Okta API scopes to grant, comma-separated")
	role := fs.String("role", "APP_ADMIN", "admin role type to assign to the app (APP_ADMIN: Application Administrator); empty: none")
	keyOut := fs.String("key-out", "", "file to write the private key (PEM) to (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token := os.Getenv("OKTA_API_TOKEN")
	switch {
	case *orgURL == "" || *keyOut == "":
		return errors.New("--org-url and --key-out are required")
	case token == "":
		return errors.New("set OKTA_API_TOKEN to an admin's API token")
	}
	if err := oauth2client.CheckEndpointURL(*orgURL); err != nil {
		return fmt.Errorf("--org-url: %w", err)
	}
	org := strings.TrimRight(*orgURL, "/")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &client{org: org, token: token, http: &http.Client{Timeout: 30 * time.Second}}

	kp, err := oauth2client.GenerateKey()
	if err != nil {
		return err
	}
	var jwk map[string]any
	if err := json.Unmarshal(kp.Public.JWK, &jwk); err != nil {
		return err
	}
	var app struct {
		ID          string `json:"id"`
		Credentials struct {
			OAuthClient struct {
				ClientID string `json:"client_id"`
			} `json:"oauthClient"`
		} `json:"credentials"`
	}
	// Okta's createApplication with an OIDC service app (OpenAPI: Application, OIDC settings).
	body := map[string]any{
		"name":       "oidc_client",
		"label":      *label,
		"signOnMode": "OPENID_CONNECT",
		"credentials": map[string]any{
			"oauthClient": map[string]any{"token_endpoint_auth_method": "private_key_jwt"},
		},
		"settings": map[string]any{
			"oauthClient": map[string]any{
				"application_type":         "service",
				"grant_types":              []string{"client_credentials"},
				"response_types":           []string{"token"},
				"dpop_bound_access_tokens": true,
				"jwks":                     map[string]any{"keys": []any{jwk}},
			},
		},
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/apps?activate=true", body, &app); err != nil {
		return fmt.Errorf("create the service app: %w", err)
	}
	clientID := app.Credentials.OAuthClient.ClientID
	if clientID == "" {
		clientID = app.ID
	}
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		// grantConsentToScope: POST /api/v1/apps/{appId}/grants {issuer, scopeId}.
		if err := c.do(ctx, http.MethodPost, "/api/v1/apps/"+url.PathEscape(app.ID)+"/grants",
			map[string]any{"issuer": org, "scopeId": s}, nil); err != nil {
			return fmt.Errorf("grant %s: %w", s, err)
		}
	}
	if *role != "" {
		// assignRoleToClient: POST /oauth2/v1/clients/{clientId}/roles {type}.
		if err := c.do(ctx, http.MethodPost, "/oauth2/v1/clients/"+url.PathEscape(clientID)+"/roles",
			map[string]any{"type": *role}, nil); err != nil {
			return fmt.Errorf("assign role %s: %w", *role, err)
		}
	}
	if err := os.WriteFile(*keyOut, kp.PrivateKeyPEM, 0o600); err != nil {
		return fmt.Errorf("write the private key: %w", err)
	}
	fmt.Printf("CLIENT_ID=%s\nKEY_ID=%s\n", clientID, kp.Public.KeyID)
	return nil
}

type client struct {
	org, token string
	http       *http.Client
}

func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.org+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "SSWS "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Code    string `json:"errorCode"`
			Summary string `json:"errorSummary"`
		}
		_ = json.Unmarshal(answer, &e)
		return fmt.Errorf("okta answered %d %s: %s", resp.StatusCode, e.Code, e.Summary)
	}
	if out != nil {
		return json.Unmarshal(answer, out)
	}
	return nil
}
