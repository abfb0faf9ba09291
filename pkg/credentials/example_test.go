package credentials_test

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/clientcreds/clientcreds/pkg/credentials"
)

// exampleServers stands in for the authorization server and an API that wants a token.
func exampleServers() (tokenURL, apiURL string, stop func()) {
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "my-client" || secret != "my-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"an-access-token","token_type":"Bearer","expires_in":3600}`)
	}))
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer an-access-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "Hello World!")
	}))
	return idp.URL + "/oauth2/default/v1/token", api.URL, func() { idp.Close(); api.Close() }
}

// A workload mounts the Secret the operator wrote (say at /var/run/secrets/oauth) and calls
// an API with the bearer token; the Source follows kubelet's updates of the volume.
func ExampleFromDir() {
	tokenURL, apiURL, stop := exampleServers()
	defer stop()

	// Here a plain directory stands in for the mounted Secret.
	dir, err := os.MkdirTemp("", "oauth")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	for k, v := range map[string]string{
		credentials.KeyClientID:     "my-client",
		credentials.KeyClientSecret: "my-secret",
		credentials.KeyTokenURL:     tokenURL,
		credentials.KeyScope:        "hello:read",
		credentials.KeyAuthMethod:   "client_secret_basic",
	} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			log.Fatal(err)
		}
	}

	src, err := credentials.FromDir(dir, credentials.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = src.Close() }()

	resp, err := src.Client().Get(apiURL + "/hello")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 Hello World!
}

// With envFrom, the Secret's keys are environment variables; a prefix keeps several
// clients apart.
func ExampleFromEnv() {
	tokenURL, _, stop := exampleServers()
	defer stop()
	for k, v := range map[string]string{
		"BILLING_CLIENT_ID":     "my-client",
		"BILLING_CLIENT_SECRET": "my-secret",
		"BILLING_TOKEN_URL":     tokenURL,
		"BILLING_AUTH_METHOD":   "client_secret_basic",
	} {
		_ = os.Setenv(k, v)
		defer func() { _ = os.Unsetenv(k) }()
	}

	src, err := credentials.FromEnv(credentials.WithEnvPrefix("BILLING_"), credentials.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = src.Close() }()
	tok, err := src.Token() // an oauth2.TokenSource
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Type(), strings.HasPrefix(tok.AccessToken, "an-"))
	// Output: Bearer true
}
