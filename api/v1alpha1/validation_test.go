package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
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
		// OpenID Connect scopes cannot be requested with the client-credentials grant.
		"openid scope":         {spec: "\n  scopes: [hello:read, openid]", wantErr: "must not include openid"},
		"profile scope":        {spec: "\n  scopes: [profile]", wantErr: "must not include openid"},
		"email scope":          {spec: "\n  scopes: [email]", wantErr: "must not include openid"},
		"address scope":        {spec: "\n  scopes: [address]", wantErr: "must not include openid"},
		"phone scope":          {spec: "\n  scopes: [phone]", wantErr: "must not include openid"},
		"offline_access scope": {spec: "\n  scopes: [offline_access]", wantErr: "must not include openid"},
		"openid-like scope":    {spec: "\n  scopes: [openid:read, emails]"},
		"token lifetime":       {spec: "\n  accessTokenLifetime: 30m"},
		"token lifetime 5m":    {spec: "\n  accessTokenLifetime: 5m"},
		"token lifetime 24h":   {spec: "\n  accessTokenLifetime: 24h"},
		"token lifetime short": {spec: "\n  accessTokenLifetime: 4m", wantErr: "accessTokenLifetime must be between 5m and 24h"},
		"token lifetime long":  {spec: "\n  accessTokenLifetime: 24h1m", wantErr: "accessTokenLifetime must be between 5m and 24h"},
		"token lifetime secs":  {spec: "\n  accessTokenLifetime: 10m30s", wantErr: "accessTokenLifetime must be a whole number of minutes"},
		"token lifetime word":  {spec: "\n  accessTokenLifetime: hourly", wantErr: "spec.accessTokenLifetime"},
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
`, wantErr: "set exactly one backend: okta or hydra"},
		"managed access policy": {manifest: strings.Replace(strings.Replace(validClusterProvider, "ORG", "https://a.okta.com", 1), "    orgURL", "    accessPolicy: Managed\n    orgURL", 1)},
		"bad access policy":     {manifest: strings.Replace(strings.Replace(validClusterProvider, "ORG", "https://a.okta.com", 1), "    orgURL", "    accessPolicy: Auto\n    orgURL", 1), wantErr: `Unsupported value: "Auto"`},
		"bad authz server id":   {manifest: strings.Replace(strings.Replace(validClusterProvider, "ORG", "https://a.okta.com", 1), "    orgURL", "    authorizationServerID: ../x\n    orgURL", 1), wantErr: "authorizationServerID"},
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
					if want := "External"; !strings.Contains(tc.manifest, "accessPolicy:") && okta["accessPolicy"] != want {
						t.Errorf("accessPolicy defaulted to %v, want %s", okta["accessPolicy"], want)
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
	for field, want := range map[string]any{"tokenEndpointAuthMethod": "client_secret_basic"} {
		if spec[field] != want {
			t.Errorf("spec.%s defaulted to %v, want %v", field, spec[field], want)
		}
	}
	if g := spec["rotation"].(map[string]any)["gracePeriod"]; g != "1h" {
		t.Errorf("rotation.gracePeriod defaulted to %v, want 1h", g)
	}
	// deletionPolicy has no stored default: it depends on spec.adopt, so the API server
	// leaves it unset and EffectiveDeletionPolicy decides — Delete for a created app, Orphan
	// for an adopted one.
	adopted := object(t, strings.Replace(validClient, "NAME", "defaults-adopted", 1)+"\n  adopt: {clientID: 0oa1024tz4g3KGW0a698}")
	if err := k8s.Create(context.Background(), adopted); err != nil {
		t.Fatal(err)
	}
	for u, want := range map[*unstructured.Unstructured]oauthv1.DeletionPolicy{obj: oauthv1.DeletionPolicyDelete, adopted: oauthv1.DeletionPolicyOrphan} {
		if p, ok := u.Object["spec"].(map[string]any)["deletionPolicy"]; ok {
			t.Errorf("%s: spec.deletionPolicy stored as %v, want it left unset", u.GetName(), p)
		}
		typed := &oauthv1.OAuthClient{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
			t.Fatal(err)
		}
		if got := typed.EffectiveDeletionPolicy(); got != want {
			t.Errorf("%s: effective deletionPolicy %q, want %q", u.GetName(), got, want)
		}
	}
}

// TestOAuthClientLongName: a name of 253 characters (the Kubernetes maximum) is admitted;
// the controller derives the app label and Secret label from it (see the controllers tests).
func TestOAuthClientLongName(t *testing.T) {
	name := strings.Repeat("a", 240) + "-long-name"
	name += strings.Repeat("b", 253-len(name))
	obj := object(t, strings.Replace(validClient, "NAME", name, 1))
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("a %d-character name was refused: %v", len(name), err)
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

// providerManifest is a provider of the given kind whose okta section holds auth (the lines
// after orgURL, indented by four spaces).
func providerManifest(kind, auth string) string {
	ns := ""
	if kind == "OAuthProvider" {
		ns = ", namespace: default"
	}
	return "apiVersion: oauth.clientcreds.dev/v1alpha1\nkind: " + kind + "\nmetadata: {name: NAME" + ns + "}\n" +
		"spec:\n  okta:\n    orgURL: https://example.okta.com\n" + auth
}

func TestProviderOAuthAdmission(t *testing.T) {
	const (
		oauthCluster = "    oauth:\n      clientID: 0oa1b2c3d4\n      privateKeySecretRef: {name: okta-operator-key, namespace: clientcreds-system, key: private.pem}\n"
		oauthNS      = "    oauth:\n      clientID: 0oa1b2c3d4\n      privateKeySecretRef: {name: okta-operator-key}\n"
		tokenCluster = "    apiTokenSecretRef: {name: okta-api-token, namespace: clientcreds-system}\n"
		tokenNS      = "    apiTokenSecretRef: {name: okta-api-token}\n"
		exactlyOne   = "set exactly one of okta.apiTokenSecretRef (an SSWS API token) and okta.oauth"
	)
	tests := map[string]struct {
		kind, auth string
		wantErr    string
		// wantScopes/wantKey: the defaults the API server must apply ("" = not checked).
		wantScopes, wantKey string
	}{
		"cluster oauth": {kind: "ClusterOAuthProvider", auth: oauthCluster, wantScopes: "okta.apps.manage", wantKey: "private.pem"},
		"cluster oauth every field": {kind: "ClusterOAuthProvider", auth: "    oauth:\n      clientID: 0oa1b2c3d4\n      keyID: my-key\n      scopes: [okta.apps.manage, okta.authorizationServers.manage]\n      privateKeySecretRef: {name: k, namespace: clientcreds-system, key: tls.key}\n",
			wantScopes: "okta.apps.manage okta.authorizationServers.manage", wantKey: "tls.key"},
		"namespaced oauth":          {kind: "OAuthProvider", auth: oauthNS, wantScopes: "okta.apps.manage", wantKey: "private.pem"},
		"cluster both":              {kind: "ClusterOAuthProvider", auth: tokenCluster + oauthCluster, wantErr: exactlyOne},
		"namespaced both":           {kind: "OAuthProvider", auth: tokenNS + oauthNS, wantErr: exactlyOne},
		"cluster neither":           {kind: "ClusterOAuthProvider", auth: "", wantErr: exactlyOne},
		"namespaced neither":        {kind: "OAuthProvider", auth: "", wantErr: exactlyOne},
		"cluster key needs ns":      {kind: "ClusterOAuthProvider", auth: oauthNS, wantErr: "okta.oauth.privateKeySecretRef.namespace is required for a ClusterOAuthProvider"},
		"namespaced key refuses ns": {kind: "OAuthProvider", auth: oauthCluster, wantErr: "okta.oauth.privateKeySecretRef.namespace is not allowed in an OAuthProvider"},
		"no client id":              {kind: "OAuthProvider", auth: "    oauth:\n      privateKeySecretRef: {name: k}\n", wantErr: "clientID: Required value"},
		"no key ref":                {kind: "OAuthProvider", auth: "    oauth:\n      clientID: 0oa1\n", wantErr: "privateKeySecretRef: Required value"},
		"client id with slash":      {kind: "OAuthProvider", auth: "    oauth:\n      clientID: ../apps\n      privateKeySecretRef: {name: k}\n", wantErr: "clientID"},
		"empty scopes":              {kind: "OAuthProvider", auth: oauthNS + "      scopes: []\n", wantErr: "scopes"},
		"scope with space":          {kind: "OAuthProvider", auth: oauthNS + "      scopes: [\"okta.apps.manage okta.users.read\"]\n", wantErr: "scopes"},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			obj := object(t, strings.Replace(providerManifest(tc.kind, tc.auth), "NAME", fmt.Sprintf("po-%d", i), 1))
			checkAdmission(t, k8s.Create(context.Background(), obj), tc.wantErr)
			if tc.wantErr != "" {
				return
			}
			oauth := obj.Object["spec"].(map[string]any)["okta"].(map[string]any)["oauth"].(map[string]any)
			var scopes []string
			for _, s := range oauth["scopes"].([]any) {
				scopes = append(scopes, s.(string))
			}
			if got := strings.Join(scopes, " "); got != tc.wantScopes {
				t.Errorf("scopes = %q, want %q", got, tc.wantScopes)
			}
			if got := oauth["privateKeySecretRef"].(map[string]any)["key"]; got != tc.wantKey {
				t.Errorf("privateKeySecretRef.key = %v, want %q", got, tc.wantKey)
			}
		})
	}
}

const hydraClusterProvider = `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: NAME}
spec:
  hydra:
    adminURL: ADMIN
    issuer: https://auth.example.com/
AUTH`

func TestHydraProviderAdmission(t *testing.T) {
	hydra := func(admin, auth string) string {
		return strings.Replace(strings.Replace(hydraClusterProvider, "ADMIN", admin, 1), "AUTH", auth, 1)
	}
	tests := map[string]struct {
		manifest string
		wantErr  string
	}{
		"in-cluster admin api, no auth": {manifest: hydra("http://hydra-admin.hydra.svc:4445", "")},
		"bearer token over https": {manifest: hydra("https://hydra-admin.example:4445",
			"    auth: {bearerTokenSecretRef: {name: t, namespace: clientcreds-system}}")},
		"bearer token over loopback http": {manifest: hydra("http://127.0.0.1:4445",
			"    auth: {bearerTokenSecretRef: {name: t, namespace: clientcreds-system}}")},
		"bearer token over remote http": {manifest: hydra("http://hydra-admin.hydra.svc:4445",
			"    auth: {bearerTokenSecretRef: {name: t, namespace: clientcreds-system}}"), wantErr: "needs an https adminURL"},
		"client certificate over http": {manifest: hydra("http://127.0.0.1:4445",
			"    auth: {clientCertificateSecretRef: {name: c, namespace: clientcreds-system}}"), wantErr: "clientCertificateSecretRef needs an https adminURL"},
		"both auth methods": {manifest: hydra("https://h.example",
			"    auth: {bearerTokenSecretRef: {name: t, namespace: ns1}, clientCertificateSecretRef: {name: c, namespace: ns1}}"), wantErr: "set at most one of hydra.auth"},
		"cluster kind needs the secret namespace": {manifest: hydra("https://h.example",
			"    auth: {bearerTokenSecretRef: {name: t}}"), wantErr: "hydra.auth.bearerTokenSecretRef.namespace is required"},
		"admin url not a url": {manifest: hydra("hydra-admin", ""), wantErr: "adminURL must be an absolute http or https URL"},
		"plain http issuer on a remote host": {manifest: strings.Replace(hydra("https://h.example", ""), "https://auth.example.com/", "http://hydra-public.hydra.svc:4444/", 1),
			wantErr: "issuer must be an https URL"},
		"okta and hydra": {manifest: strings.Replace(hydra("https://h.example", ""), "spec:\n", "spec:\n  okta: {orgURL: https://a.okta.com, apiTokenSecretRef: {name: t, namespace: ns1}}\n", 1),
			wantErr: "set exactly one backend: okta or hydra"},
		"namespaced kind refuses a secret namespace": {manifest: `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthProvider
metadata: {name: NAME, namespace: default}
spec:
  hydra:
    adminURL: https://h.example
    issuer: https://auth.example.com/
    auth: {clientCertificateSecretRef: {name: c, namespace: elsewhere}}
`, wantErr: "hydra.auth.clientCertificateSecretRef.namespace is not allowed in an OAuthProvider"},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			obj := object(t, strings.Replace(tc.manifest, "NAME", fmt.Sprintf("h-%d", i), 1))
			checkAdmission(t, k8s.Create(context.Background(), obj), tc.wantErr)
		})
	}
}
