package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/clientcreds/clientcreds/internal/testenv"
)

// These tests install the generated CRDs into a real kube-apiserver and check that what
// admission can judge is judged there: a bad manifest is refused with a message that says
// what to fix, as `kubectl apply` would show it.

var k8s client.Client

func TestMain(m *testing.M) {
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start control plane:", err)
		os.Exit(1)
	}
	k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err == nil {
		k8s = client.WithFieldValidation(k8s, metav1.FieldValidationStrict)
	}
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop control plane:", err)
	}
	os.Exit(code)
}

func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("bad test manifest: %v", err)
	}
	return u
}

const validClient = `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: NAME, namespace: default}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta}
`

func TestOAuthClientAdmission(t *testing.T) {
	tests := map[string]struct {
		spec    string // appended to validClient's spec
		wantErr string // substring of the API server's refusal; "" = accepted
	}{
		"minimal": {},
		"every field": {spec: `
  displayName: Billing Service
  scopes: ["hello:read", "billing:write"]
  tokenEndpointAuthMethod: client_secret_post
  secretTemplate: {name: billing-creds, labels: {team: a}, annotations: {note: x}}
  rotation: {interval: 720h, gracePeriod: 1h}
  deletionPolicy: Orphan`},
		"private_key_jwt":         {spec: "\n  tokenEndpointAuthMethod: private_key_jwt"},
		"unknown auth method":     {spec: "\n  tokenEndpointAuthMethod: client_secret_jwt", wantErr: `Unsupported value: "client_secret_jwt"`},
		"bad secret name":         {spec: "\n  secretTemplate: {name: Bad_Name}", wantErr: "secretTemplate.name must be a valid Secret name"},
		"grace not shorter":       {spec: "\n  rotation: {interval: 1h, gracePeriod: 2h}", wantErr: "rotation.gracePeriod must be shorter than rotation.interval"},
		"grace equal":             {spec: "\n  rotation: {interval: 1h, gracePeriod: 60m}", wantErr: "rotation.gracePeriod must be shorter than rotation.interval"},
		"default grace too long":  {spec: "\n  rotation: {interval: 30m}", wantErr: "rotation.gracePeriod must be shorter than rotation.interval"},
		"interval not a duration": {spec: "\n  rotation: {interval: monthly}", wantErr: "spec.rotation.interval"},
		"interval too short":      {spec: "\n  rotation: {interval: 5s, gracePeriod: 1s}", wantErr: "rotation.interval must be at least 10s"},
		"rotation with pkjwt": {spec: "\n  tokenEndpointAuthMethod: private_key_jwt\n  rotation: {interval: 24h}",
			wantErr: "cannot be used with private_key_jwt"},
		"bad deletion policy": {spec: "\n  deletionPolicy: Keep", wantErr: `Unsupported value: "Keep"`},
		"bad scope":           {spec: "\n  scopes: [\"has space\"]", wantErr: "spec.scopes[0]"},
		"duplicate scopes":    {spec: "\n  scopes: [a, a]", wantErr: "Duplicate value"},
		"unknown field":       {spec: "\n  clientSecret: hunter2", wantErr: `unknown field "spec.clientSecret"`},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			obj := object(t, strings.Replace(validClient, "NAME", fmt.Sprintf("admission-%d", i), 1)+tc.spec)
			err := k8s.Create(context.Background(), obj)
			checkAdmission(t, err, tc.wantErr)
		})
	}
}

func TestOAuthClientProviderRefRequired(t *testing.T) {
	tests := map[string]struct{ manifest, wantErr string }{
		"no providerRef": {`
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: noref, namespace: default}
spec: {displayName: x}`, "spec.providerRef: Required value"},
		"no kind": {`
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: nokind, namespace: default}
spec: {providerRef: {name: okta}}`, "spec.providerRef.kind: Required value"},
		"bad kind": {`
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: badkind, namespace: default}
spec: {providerRef: {kind: Okta, name: okta}}`, `Unsupported value: "Okta"`},
		"empty name": {`
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: emptyname, namespace: default}
spec: {providerRef: {kind: OAuthProvider, name: ""}}`, "spec.providerRef.name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checkAdmission(t, k8s.Create(context.Background(), object(t, tc.manifest)), tc.wantErr)
		})
	}
}

func TestOAuthClientImmutableFields(t *testing.T) {
	ctx := context.Background()
	base := strings.Replace(validClient, "NAME", "immutable", 1) + "\n  secretTemplate: {name: first}"
	obj := object(t, base)
	if err := k8s.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		mutate  func(spec map[string]any)
		wantErr string
	}{
		"provider kind": {func(s map[string]any) { s["providerRef"].(map[string]any)["kind"] = "OAuthProvider" }, "providerRef is immutable"},
		"provider name": {func(s map[string]any) { s["providerRef"].(map[string]any)["name"] = "other" }, "providerRef is immutable"},
		"secret name":   {func(s map[string]any) { s["secretTemplate"].(map[string]any)["name"] = "second" }, "secretTemplate.name is immutable"},
		"secret name removed": {func(s map[string]any) { delete(s["secretTemplate"].(map[string]any), "name") },
			"secretTemplate.name cannot be added or removed"},
		"display name is mutable": {func(s map[string]any) { s["displayName"] = "New Label" }, ""},
		"auth method is mutable":  {func(s map[string]any) { s["tokenEndpointAuthMethod"] = "client_secret_post" }, ""},
		"scopes are mutable":      {func(s map[string]any) { s["scopes"] = []any{"a", "b"} }, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(obj.GroupVersionKind())
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
				t.Fatal(err)
			}
			tc.mutate(cur.Object["spec"].(map[string]any))
			checkAdmission(t, k8s.Update(ctx, cur), tc.wantErr)
		})
	}
}

const validClusterProvider = `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: NAME}
spec:
  okta:
    orgURL: ORG
    apiTokenSecretRef: {name: okta-api-token, namespace: clientcreds-system}
`

func TestProviderAdmission(t *testing.T) {
	tests := map[string]struct {
		manifest string
		wantErr  string
	}{
		"https org":             {manifest: strings.Replace(validClusterProvider, "ORG", "https://example.okta.com", 1)},
		"http loopback":         {manifest: strings.Replace(validClusterProvider, "ORG", "http://127.0.0.1:8180", 1)},
		"http localhost":        {manifest: strings.Replace(validClusterProvider, "ORG", "http://localhost:8180", 1)},
		"http remote":           {manifest: strings.Replace(validClusterProvider, "ORG", "http://example.okta.com", 1), wantErr: "orgURL must use https"},
		"http lookalike":        {manifest: strings.Replace(validClusterProvider, "ORG", "http://127.0.0.1.evil.example", 1), wantErr: "orgURL must use https"},
		"not a url":             {manifest: strings.Replace(validClusterProvider, "ORG", "example.okta.com", 1), wantErr: "orgURL must"},
		"org with path":         {manifest: strings.Replace(validClusterProvider, "ORG", "https://example.okta.com/oauth2/default", 1), wantErr: "without a path"},
		"ftp":                   {manifest: strings.Replace(validClusterProvider, "ORG", "ftp://example.okta.com", 1), wantErr: "orgURL must use https"},
		"cluster kind needs ns": {manifest: strings.Replace(strings.Replace(validClusterProvider, "ORG", "https://a.okta.com", 1), ", namespace: clientcreds-system", "", 1), wantErr: "namespace is required for a ClusterOAuthProvider"},
		"namespaced kind refuses ns": {manifest: `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthProvider
metadata: {name: NAME, namespace: default}
spec:
  okta:
    orgURL: https://example.okta.com
    apiTokenSecretRef: {name: t, namespace: elsewhere}
`, wantErr: "namespace is not allowed in an OAuthProvider"},
		"namespaced kind": {manifest: `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthProvider
metadata: {name: NAME, namespace: default}
spec:
  okta:
    orgURL: https://example.okta.com
    apiTokenSecretRef: {name: t}
`},
		"no okta section": {manifest: `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: NAME}
spec: {}
`, wantErr: "spec.okta: Required value"},
		"selector and scopes": {manifest: strings.Replace(validClusterProvider, "ORG", "https://a.okta.com", 1) +
			"  namespaceSelector: {matchLabels: {tenant: a}}\n  allowedScopes: [\"orders:*\", \"hello:read\"]\n"},
		"scope with a space": {manifest: strings.Replace(validClusterProvider, "ORG", "https://a.okta.com", 1) +
			"  allowedScopes: [\"a b\"]\n", wantErr: "allowedScopes"},
		"namespaced kind refuses a selector": {manifest: `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthProvider
metadata: {name: NAME, namespace: default}
spec:
  okta:
    orgURL: https://example.okta.com
    apiTokenSecretRef: {name: t}
  namespaceSelector: {}
`, wantErr: "namespaceSelector applies to ClusterOAuthProviders only"},
		"namespaced kind takes scopes": {manifest: `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthProvider
metadata: {name: NAME, namespace: default}
spec:
  okta:
    orgURL: https://example.okta.com
    apiTokenSecretRef: {name: t}
  allowedScopes: [hello:read]
`},
		"bad authz server id": {manifest: strings.Replace(strings.Replace(validClusterProvider, "ORG", "https://a.okta.com", 1), "    orgURL", "    authorizationServerID: ../x\n    orgURL", 1), wantErr: "authorizationServerID"},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			obj := object(t, strings.Replace(tc.manifest, "NAME", fmt.Sprintf("p-%d", i), 1))
			checkAdmission(t, k8s.Create(context.Background(), obj), tc.wantErr)
			if tc.wantErr == "" {
				// Defaults are applied by the API server.
				if obj.GetKind() == "ClusterOAuthProvider" || obj.GetKind() == "OAuthProvider" {
					okta := obj.Object["spec"].(map[string]any)["okta"].(map[string]any)
					if okta["authorizationServerID"] != "default" {
						t.Errorf("authorizationServerID defaulted to %v, want default", okta["authorizationServerID"])
					}
					if okta["apiTokenSecretRef"].(map[string]any)["key"] != "token" {
						t.Errorf("apiTokenSecretRef.key not defaulted to token")
					}
				}
			}
		})
	}
}

func TestOAuthClientDefaults(t *testing.T) {
	obj := object(t, strings.Replace(validClient, "NAME", "defaults", 1)+"\n  rotation: {interval: 24h}")
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	spec := obj.Object["spec"].(map[string]any)
	for field, want := range map[string]any{"tokenEndpointAuthMethod": "client_secret_basic", "deletionPolicy": "Delete"} {
		if spec[field] != want {
			t.Errorf("spec.%s defaulted to %v, want %v", field, spec[field], want)
		}
	}
	if g := spec["rotation"].(map[string]any)["gracePeriod"]; g != "1h" {
		t.Errorf("rotation.gracePeriod defaulted to %v, want 1h", g)
	}
}

func checkAdmission(t *testing.T, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("accepted; want a refusal containing %q", wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("refusal %q does not contain %q", err.Error(), wantErr)
	}
}
