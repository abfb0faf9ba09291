package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

const validAPI = `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthAPI
metadata: {name: NAME, namespace: default}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta}
  scopes: [{name: "hello:read"}, {name: "hello:admin", displayName: Admin}]
`

// The OAuthAPI's rules are refused at admission when the verifier would refuse them: a
// path that is not clean and decoded, scopes the API does not declare, public with scopes.
func TestOAuthAPIAdmission(t *testing.T) {
	tests := map[string]struct {
		spec    string // appended to validAPI's spec
		wantErr string // substring of the API server's refusal; "" = accepted
	}{
		"no rules":        {},
		"rules":           {spec: "\n  rules: [{pathPrefix: /, methods: [GET, HEAD], scopes: [\"hello:read\"]}, {pathPrefix: /admin, scopes: [\"hello:admin\"]}, {pathPrefix: /healthz, public: true}]"},
		"dot in a name":   {spec: "\n  rules: [{pathPrefix: /.well-known/x, public: true}, {pathPrefix: /a.b/c..d}]"},
		"trailing slash":  {spec: "\n  rules: [{pathPrefix: /api/}]"},
		"no leading /":    {spec: "\n  rules: [{pathPrefix: admin}]", wantErr: "spec.rules[0].pathPrefix"},
		"empty segment":   {spec: "\n  rules: [{pathPrefix: /a//b}]", wantErr: "pathPrefix must be a clean path"},
		"dot-dot":         {spec: "\n  rules: [{pathPrefix: /a/../b}]", wantErr: "pathPrefix must be a clean path"},
		"trailing dot":    {spec: "\n  rules: [{pathPrefix: /a/.}]", wantErr: "pathPrefix must be a clean path"},
		"query":           {spec: "\n  rules: [{pathPrefix: \"/a?b\"}]", wantErr: "spec.rules[0].pathPrefix"},
		"encoded":         {spec: "\n  rules: [{pathPrefix: /a%2Fb}]", wantErr: "spec.rules[0].pathPrefix"},
		"backslash":       {spec: "\n  rules: [{pathPrefix: '/a\\b'}]", wantErr: "spec.rules[0].pathPrefix"},
		"foreign scope":   {spec: "\n  rules: [{pathPrefix: /, scopes: [\"billing:read\"]}]", wantErr: "every scope in rules must be one of the API's spec.scopes"},
		"public + scopes": {spec: "\n  rules: [{pathPrefix: /, public: true, scopes: [\"hello:read\"]}]", wantErr: "a public rule cannot require scopes"},
		"lower-case verb": {spec: "\n  rules: [{pathPrefix: /, methods: [get]}]", wantErr: "spec.rules[0].methods[0]"},
		"openid scope":    {spec: "\n  scopes: [{name: openid}]", wantErr: "reserved OpenID Connect scope"},
		"duplicate scope": {spec: "\n  scopes: [{name: a}, {name: a}]", wantErr: "Duplicate value"},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			body := strings.Replace(validAPI, "NAME", fmt.Sprintf("api-admission-%d", i), 1)
			if strings.Contains(tc.spec, "\n  scopes:") {
				// The case replaces the scopes.
				body = body[:strings.Index(body, "  scopes:")]
			}
			obj := object(t, body+strings.TrimPrefix(tc.spec, "\n")+"\n")
			err := k8s.Create(context.Background(), obj)
			checkAdmission(t, err, tc.wantErr)
		})
	}
}
