package secrettemplate_test

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/joho/godotenv"
	"github.com/magiconair/properties"
	"sigs.k8s.io/yaml"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/oauth2client"
	"github.com/clientcreds/clientcreds/internal/secrettemplate"
)

// The worked examples in config/samples/secret-templates: each is rendered over
// credentials like those a backend issues and read back by its format's parser, and
// every value must come back exactly.

const examples = "../../config/samples/secret-templates"

// okta-like: 64 characters of [A-Za-z0-9_-], what Okta and Hydra issue.
func clientSecret(t *testing.T) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

func exampleData(t *testing.T, method oauthv1.TokenEndpointAuthMethod, scopes []string) secrettemplate.Data {
	d := secrettemplate.Data{
		ClientID:   "0oa8x2kq1nZ4bQwLs5d7",
		TokenURL:   "https://example.okta.test/oauth2/default/v1/token",
		Issuer:     "https://example.okta.test/oauth2/default",
		Scopes:     scopes,
		Scope:      strings.Join(scopes, " "),
		AuthMethod: string(method),
	}
	if method == oauthv1.AuthPrivateKeyJWT {
		kp, err := oauth2client.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		d.PrivateKey, d.KeyID = string(kp.PrivateKeyPEM), kp.Public.KeyID
	} else {
		d.ClientSecret = clientSecret(t)
	}
	return d
}

// loadExample reads an example as the API server would take it (unknown fields refused)
// and renders its templates over credentials for its own auth method, or method when set.
func loadExample(t *testing.T, file string, method oauthv1.TokenEndpointAuthMethod) (*oauthv1.OAuthClient, secrettemplate.Data, map[string][]byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(examples, file))
	if err != nil {
		t.Fatal(err)
	}
	var obj oauthv1.OAuthClient
	if err := yaml.UnmarshalStrict(raw, &obj); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if method == "" {
		method = obj.AuthMethod()
	}
	ts, err := secrettemplate.Parse(obj.Spec.SecretTemplate.Data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	d := exampleData(t, method, obj.Spec.Scopes)
	out, err := ts.Render(d)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return &obj, d, out
}

func TestExampleSpringBootProperties(t *testing.T) {
	_, d, out := loadExample(t, "spring-boot.yaml", "")
	p, err := properties.Load(out["application.properties"], properties.UTF8)
	if err != nil {
		t.Fatalf("application.properties does not parse: %v", err)
	}
	const reg, prov = "spring.security.oauth2.client.registration.okta.", "spring.security.oauth2.client.provider.okta."
	want := map[string]string{
		reg + "client-id":                    d.ClientID,
		reg + "client-secret":                d.ClientSecret,
		reg + "authorization-grant-type":     "client_credentials",
		reg + "client-authentication-method": "client_secret_basic",
		reg + "scope":                        strings.Join(d.Scopes, ","),
		prov + "token-uri":                   d.TokenURL,
		prov + "issuer-uri":                  d.Issuer,
	}
	if got := p.Map(); !reflect.DeepEqual(got, want) {
		t.Errorf("application.properties read back as\n%v\nwant\n%v", got, want)
	}
}

func TestExampleDotNetAppSettings(t *testing.T) {
	for _, method := range []oauthv1.TokenEndpointAuthMethod{oauthv1.AuthClientSecretBasic, oauthv1.AuthClientSecretPost} {
		t.Run(string(method), func(t *testing.T) {
			_, d, out := loadExample(t, "dotnet-appsettings.yaml", method)
			var got map[string]map[string]string
			dec := json.NewDecoder(strings.NewReader(string(out["appsettings.json"])))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("appsettings.json does not parse: %v\n%s", err, out["appsettings.json"])
			}
			style := "AuthorizationHeader"
			if method == oauthv1.AuthClientSecretPost {
				style = "PostBody"
			}
			want := map[string]map[string]string{"ClientCredentials": {
				"TokenEndpoint": d.TokenURL, "Authority": d.Issuer, "ClientId": d.ClientID,
				"ClientSecret": d.ClientSecret, "Scope": "hello:read billing:write", "ClientCredentialStyle": style,
			}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("appsettings.json read back as %v, want %v", got, want)
			}
		})
	}
}

func TestExampleDotEnv(t *testing.T) {
	for _, method := range []oauthv1.TokenEndpointAuthMethod{oauthv1.AuthClientSecretBasic, oauthv1.AuthPrivateKeyJWT} {
		t.Run(string(method), func(t *testing.T) {
			_, d, out := loadExample(t, "dotenv.yaml", method)
			got, err := godotenv.UnmarshalBytes(out[".env"])
			if err != nil {
				t.Fatalf(".env does not parse: %v", err)
			}
			want := map[string]string{
				"OAUTH_CLIENT_ID": d.ClientID, "OAUTH_TOKEN_URL": d.TokenURL, "OAUTH_SCOPE": d.Scope,
				"OAUTH_AUTH_METHOD": string(method),
			}
			if method == oauthv1.AuthPrivateKeyJWT {
				want["OAUTH_PRIVATE_KEY"], want["OAUTH_KEY_ID"] = d.PrivateKey, d.KeyID
			} else {
				want["OAUTH_CLIENT_SECRET"] = d.ClientSecret
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf(".env read back with keys %v, want %v (or values differ)", keysOf(got), keysOf(want))
			}
		})
	}
}

func TestExampleJSONCredentials(t *testing.T) {
	type file struct {
		Type         string   `json:"type"`
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		PrivateKey   string   `json:"private_key"`
		KeyID        string   `json:"key_id"`
		TokenURL     string   `json:"token_url"`
		Issuer       string   `json:"issuer"`
		Scopes       []string `json:"scopes"`
		Audiences    []string `json:"audiences"`
		AuthMethod   string   `json:"auth_method"`
	}
	for _, method := range []oauthv1.TokenEndpointAuthMethod{oauthv1.AuthPrivateKeyJWT, oauthv1.AuthClientSecretBasic} {
		t.Run(string(method), func(t *testing.T) {
			_, d, out := loadExample(t, "json-credentials.yaml", method)
			var got file
			dec := json.NewDecoder(strings.NewReader(string(out["credentials.json"])))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("credentials.json does not parse: %v", err)
			}
			want := file{Type: "oauth2_client_credentials", ClientID: d.ClientID, ClientSecret: d.ClientSecret,
				PrivateKey: d.PrivateKey, KeyID: d.KeyID, TokenURL: d.TokenURL, Issuer: d.Issuer,
				Scopes: d.Scopes, Audiences: []string{}, AuthMethod: string(method)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("credentials.json read back differently (auth method %s)", method)
			}
			// Absent lists are arrays, not null.
			if !strings.Contains(string(out["credentials.json"]), `"audiences": []`) {
				t.Errorf("audiences is not an empty array")
			}
		})
	}
}

func keysOf(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
