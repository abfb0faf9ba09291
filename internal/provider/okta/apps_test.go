package okta

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/provider"
)

const rsaJWK = `{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","e":"AQAB","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"}`

func testSpec(method provider.AuthMethod, keys ...provider.PublicKey) provider.AppSpec {
	return provider.AppSpec{
		Label: "team-a/billing", AuthMethod: method, PublicKeys: keys,
		Owner: provider.Owner{UID: "9b6f3c1e-uid", Namespace: "team-a", Name: "billing"},
	}
}

func TestValidateSpec(t *testing.T) {
	key := provider.PublicKey{KeyID: "k1", JWK: []byte(rsaJWK)}
	noKid := provider.PublicKey{KeyID: "k1", JWK: []byte(strings.Replace(rsaJWK, `"kid":"k1",`, "", 1))}
	tests := map[string]struct {
		spec    provider.AppSpec
		wantErr string
	}{
		"basic":                        {spec: testSpec(provider.AuthClientSecretBasic)},
		"post":                         {spec: testSpec(provider.AuthClientSecretPost)},
		"private_key_jwt":              {spec: testSpec(provider.AuthPrivateKeyJWT, key)},
		"private_key_jwt, kid added":   {spec: testSpec(provider.AuthPrivateKeyJWT, noKid)},
		"no label":                     {spec: provider.AppSpec{AuthMethod: provider.AuthClientSecretBasic, Owner: provider.Owner{UID: "u"}}, wantErr: "label is empty"},
		"unknown method":               {spec: testSpec("none"), wantErr: "unsupported token endpoint auth method"},
		"private_key_jwt without keys": {spec: testSpec(provider.AuthPrivateKeyJWT), wantErr: "at least one public key"},
		"no owner":                     {spec: provider.AppSpec{Label: "x", AuthMethod: provider.AuthClientSecretBasic}, wantErr: "owner uid is empty"},
		"private key material": {spec: testSpec(provider.AuthPrivateKeyJWT, provider.PublicKey{KeyID: "k1",
			JWK: []byte(strings.Replace(rsaJWK, `"e":"AQAB"`, `"e":"AQAB","d":"secret"`, 1))}), wantErr: "private key material"},
		"kid mismatch":      {spec: testSpec(provider.AuthPrivateKeyJWT, provider.PublicKey{KeyID: "k2", JWK: []byte(rsaJWK)}), wantErr: "differs"},
		"duplicate kid":     {spec: testSpec(provider.AuthPrivateKeyJWT, key, key), wantErr: "duplicate public key id"},
		"not a JSON object": {spec: testSpec(provider.AuthPrivateKeyJWT, provider.PublicKey{KeyID: "k1", JWK: []byte(`[1]`)}), wantErr: "not a JSON object"},
		"symmetric key":     {spec: testSpec(provider.AuthPrivateKeyJWT, provider.PublicKey{KeyID: "k1", JWK: []byte(`{"kty":"oct","kid":"k1"}`)}), wantErr: "unsupported key type"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			keys, err := validateSpec(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validateSpec: %v", err)
			}
			if len(keys) != len(tc.spec.PublicKeys) {
				t.Fatalf("%d keys, want %d", len(keys), len(tc.spec.PublicKeys))
			}
			for _, k := range keys {
				if k.(map[string]any)["kid"] != "k1" {
					t.Errorf("key without kid: %v", k)
				}
			}
		})
	}
}

// consoleEdited is an app as a console edit leaves it: fields the provider does not manage,
// some of them false or empty (which the SDK's omitempty structs would drop), a foreign
// profile key, and system fields.
const consoleEdited = `{
  "id": "0oa1", "name": "oidc_client", "label": "old", "status": "INACTIVE",
  "created": "2026-01-01T00:00:00.000Z", "lastUpdated": "2026-01-02T00:00:00.000Z",
  "signOnMode": "OPENID_CONNECT",
  "accessibility": {"selfService": false, "errorRedirectUrl": ""},
  "visibility": {"autoSubmitToolbar": false, "hide": {"iOS": true, "web": false}, "appLinks": {"oidc_client_link": false}},
  "profile": {"team": "billing", "clientcreds.dev/owner-uid": "old-uid", "cost": 12345678901234567890},
  "credentials": {"oauthClient": {"client_id": "0oa1", "autoKeyRotation": false, "token_endpoint_auth_method": "private_key_jwt", "client_secret": "should-not-linger"},
                  "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"}},
  "settings": {"implicitAssignment": false, "notes": {"admin": "edited in the console", "enduser": null},
               "emOptInStatus": "NONE",
               "oauthClient": {"application_type": "service", "grant_types": ["client_credentials", "refresh_token"],
                               "response_types": ["token"], "consent_method": "REQUIRED", "issuer_mode": "ORG_URL",
                               "jwks": {"keys": [{"kid": "old", "kty": "RSA", "e": "AQAB", "n": "x", "id": "pks1", "status": "ACTIVE"}]}}},
  "_links": {"self": {"href": "https://x/api/v1/apps/0oa1"}}
}`

func TestUpdateBodyKeepsForeignFields(t *testing.T) {
	app, err := parseApp(json.RawMessage(consoleEdited))
	if err != nil {
		t.Fatal(err)
	}
	if app.ClientSecret != "should-not-linger" {
		t.Errorf("parsed secret not reported: %q", app.ClientSecret)
	}
	obj := app.Backend.(*appObject)
	if _, ok := obj.obj["credentials"].(map[string]any)["oauthClient"].(map[string]any)["client_secret"]; ok {
		t.Error("the client secret lingers in App.Backend")
	}
	spec := testSpec(provider.AuthClientSecretBasic)
	keys, err := validateSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	body, err := obj.clone()
	if err != nil {
		t.Fatal(err)
	}
	stripSystemFields(body)
	applySpec(body, spec, keys)
	out, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	// Re-decode the input the same way for comparisons.
	var in map[string]any
	_ = json.Unmarshal([]byte(consoleEdited), &in)

	kept := []string{"accessibility", "visibility"}
	for _, k := range kept {
		if !reflect.DeepEqual(got[k], in[k]) {
			t.Errorf("%s changed: %v, want %v", k, got[k], in[k])
		}
	}
	checks := map[string]struct{ got, want any }{
		"label":                         {got["label"], "team-a/billing"},
		"profile.team (foreign)":        {path(got, "profile", "team"), "billing"},
		"profile owner uid":             {path(got, "profile", ProfileOwnerUID), "9b6f3c1e-uid"},
		"profile owner":                 {path(got, "profile", ProfileOwner), "team-a/billing"},
		"credentials.userNameTemplate":  {path(got, "credentials", "userNameTemplate", "type"), "BUILT_IN"},
		"autoKeyRotation (false, kept)": {path(got, "credentials", "oauthClient", "autoKeyRotation"), false},
		"auth method":                   {path(got, "credentials", "oauthClient", "token_endpoint_auth_method"), "client_secret_basic"},
		"client_id kept":                {path(got, "credentials", "oauthClient", "client_id"), "0oa1"},
		"implicitAssignment (false)":    {path(got, "settings", "implicitAssignment"), false},
		"notes.admin":                   {path(got, "settings", "notes", "admin"), "edited in the console"},
		"consent_method":                {path(got, "settings", "oauthClient", "consent_method"), "REQUIRED"},
		"issuer_mode":                   {path(got, "settings", "oauthClient", "issuer_mode"), "ORG_URL"},
		"application_type":              {path(got, "settings", "oauthClient", "application_type"), "service"},
	}
	for name, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	if !reflect.DeepEqual(path(got, "settings", "oauthClient", "grant_types"), []any{"client_credentials"}) {
		t.Errorf("grant_types = %v", path(got, "settings", "oauthClient", "grant_types"))
	}
	if _, ok := got["settings"].(map[string]any)["oauthClient"].(map[string]any)["jwks"]; ok {
		t.Error("jwks kept for a secret-based method")
	}
	// A big number survives exactly.
	if !strings.Contains(string(out), "12345678901234567890") {
		t.Error("a large number in the profile lost precision")
	}
	// The notes' explicit null survives (a typed struct with omitempty would drop it).
	if v, ok := got["settings"].(map[string]any)["notes"].(map[string]any)["enduser"]; !ok || v != nil {
		t.Error("notes.enduser null was dropped")
	}
	for _, k := range []string{"id", "status", "created", "lastUpdated", "_links"} {
		if _, ok := got[k]; ok {
			t.Errorf("system field %s sent back", k)
		}
	}
	if _, ok := path(got, "settings").(map[string]any)["emOptInStatus"]; ok {
		t.Error("read-only settings.emOptInStatus sent back")
	}
	if strings.Contains(string(out), "should-not-linger") {
		t.Error("the client secret would be PUT back")
	}
}

func path(obj map[string]any, keys ...string) any {
	var cur any = obj
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func TestParseOwner(t *testing.T) {
	tests := map[string]struct {
		profile string
		want    provider.Owner
	}{
		"owner recorded":      {profile: `{"clientcreds.dev/owner-uid":"u1","clientcreds.dev/owner":"ns/name"}`, want: provider.Owner{UID: "u1", Namespace: "ns", Name: "name"}},
		"only the uid":        {profile: `{"clientcreds.dev/owner-uid":"u1"}`, want: provider.Owner{UID: "u1"}},
		"foreign profile":     {profile: `{"team":"x"}`},
		"no profile":          {profile: ``},
		"profile is null":     {profile: `null`},
		"profile not object":  {profile: `"text"`},
		"uid of another type": {profile: `{"clientcreds.dev/owner-uid":42}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := parseOwner(json.RawMessage(tc.profile)); got != tc.want {
				t.Errorf("owner = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNextPage(t *testing.T) {
	p := newTestProvider(t, "https://example.okta.com")
	tests := map[string]struct {
		links   []string
		want    string
		wantErr bool
	}{
		"no link":               {},
		"only self":             {links: []string{`<https://example.okta.com/api/v1/apps?limit=200>; rel="self"`}},
		"self and next":         {links: []string{`<https://example.okta.com/api/v1/apps?limit=200>; rel="self"`, `<https://example.okta.com/api/v1/apps?after=0oa9&limit=200&q=team>; rel="next"`}, want: "/api/v1/apps?after=0oa9&limit=200&q=team"},
		"one header, two links": {links: []string{`<https://example.okta.com/api/v1/apps>; rel="self", <https://example.okta.com/api/v1/apps?after=x>; rel="next"`}, want: "/api/v1/apps?after=x"},
		"relative next":         {links: []string{`</api/v1/apps?after=x>; rel="next"`}, want: "/api/v1/apps?after=x"},
		"other host":            {links: []string{`<https://evil.example.com/api/v1/apps?after=x>; rel="next"`}, wantErr: true},
		"other scheme":          {links: []string{`<http://example.okta.com/api/v1/apps?after=x>; rel="next"`}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tc.links {
				h.Add("Link", l)
			}
			got, err := p.nextPage(h)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("nextPage = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestRoutesAndBuckets(t *testing.T) {
	tests := []struct {
		method, path  string
		route, bucket string
	}{
		{"GET", "/api/v1/apps", "/api/v1/apps", BucketApps},
		{"POST", "/api/v1/apps", "/api/v1/apps", BucketApps},
		{"GET", "/api/v1/apps/0oa1b2c3", "/api/v1/apps/{id}", BucketApp},
		{"PUT", "/api/v1/apps/0oa1b2c3", "/api/v1/apps/{id}", BucketApp},
		{"DELETE", "/api/v1/apps/0oa1b2c3", "/api/v1/apps/{id}", BucketApp},
		{"POST", "/api/v1/apps/0oa1b2c3/lifecycle/deactivate", "/api/v1/apps/{id}/lifecycle/deactivate", BucketApps},
		{"GET", "/api/v1/apps/0oa1/credentials/secrets", "/api/v1/apps/{id}/credentials/secrets", BucketApps},
		{"DELETE", "/api/v1/apps/0oa1/credentials/secrets/ocs9", "/api/v1/apps/{id}/credentials/secrets/{secretId}", BucketApps},
		{"POST", "/api/v1/apps/0oa1/credentials/secrets/ocs9/lifecycle/deactivate", "/api/v1/apps/{id}/credentials/secrets/{secretId}/lifecycle/deactivate", BucketApps},
		{"GET", "/api/v1/authorizationServers/default", "/api/v1/authorizationServers/{authServerId}", BucketOther},
		{"GET", "/oauth2/aus123/.well-known/oauth-authorization-server", "/oauth2/{authServerId}/.well-known/oauth-authorization-server", BucketOther},
		{"POST", "/oauth2/default/v1/token", "/oauth2/{authServerId}/v1/token", BucketToken},
		{"POST", "/oauth2/v1/token", "/oauth2/v1/token", BucketOrgToken},
		{"GET", "/api/v1/users/00u123/whatever", "/api/v1/users/{userId}/{other}", BucketOther},
		{"GET", "/", "/", BucketOther},
	}
	for _, tc := range tests {
		route := routeOf(tc.path)
		if route != tc.route {
			t.Errorf("routeOf(%q) = %q, want %q", tc.path, route, tc.route)
		}
		if b := bucketOf(tc.method, route); b != tc.bucket {
			t.Errorf("bucketOf(%s %s) = %q, want %q", tc.method, route, b, tc.bucket)
		}
	}
}

func TestParseAppClientCredentialsOnly(t *testing.T) {
	tests := map[string]struct {
		oauthClient string
		want        bool
	}{
		"service app, client_credentials":  {`{"application_type": "service", "grant_types": ["client_credentials"]}`, true},
		"service app with a refresh grant": {`{"application_type": "service", "grant_types": ["client_credentials", "refresh_token"]}`, false},
		"web app, client_credentials":      {`{"application_type": "web", "grant_types": ["client_credentials"]}`, false},
		"service app without grants":       {`{"application_type": "service"}`, false},
		"service app, authorization_code":  {`{"application_type": "service", "grant_types": ["authorization_code"]}`, false},
		"no oauthClient settings at all":   {`{}`, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			raw := `{"id": "0oa1", "status": "ACTIVE", "settings": {"oauthClient": ` + tc.oauthClient + `}}`
			app, err := parseApp(json.RawMessage(raw))
			if err != nil {
				t.Fatal(err)
			}
			if app.ClientCredentialsOnly != tc.want {
				t.Errorf("ClientCredentialsOnly = %v, want %v", app.ClientCredentialsOnly, tc.want)
			}
		})
	}
}

// dpop_bound_access_tokens (recorded in the transcripts' app answers) is sent as false, and
// an app that has it on (changed in the console) does not match, so the controller repairs
// it.
func TestDPoPBoundIsKeptOff(t *testing.T) {
	tests := map[string]struct {
		setting   string
		wantBound bool
	}{
		"on (console)": {`"dpop_bound_access_tokens": true,`, true},
		"off":          {`"dpop_bound_access_tokens": false,`, false},
		"absent":       {``, false},
	}
	spec := testSpec(provider.AuthClientSecretBasic)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			raw := `{"id": "0oa1", "status": "ACTIVE", "label": "` + spec.Label + `",
				"profile": {"` + ProfileOwnerUID + `": "` + spec.Owner.UID + `"},
				"credentials": {"oauthClient": {"token_endpoint_auth_method": "client_secret_basic"}},
				"settings": {"oauthClient": {` + tc.setting + `"application_type": "service", "grant_types": ["client_credentials"]}}}`
			app, err := parseApp(json.RawMessage(raw))
			if err != nil {
				t.Fatal(err)
			}
			if app.DPoPBound != tc.wantBound || app.Matches(spec) == tc.wantBound {
				t.Fatalf("DPoPBound %v, Matches %v; want bound %v and a match only when off", app.DPoPBound, app.Matches(spec), tc.wantBound)
			}
			body, _ := app.Backend.(*appObject).clone()
			keys, _ := validateSpec(spec)
			applySpec(body, spec, keys)
			if v, ok := path(body, "settings", "oauthClient", "dpop_bound_access_tokens").(bool); !ok || v {
				t.Fatalf("update body sends dpop_bound_access_tokens %v, want false", path(body, "settings", "oauthClient", "dpop_bound_access_tokens"))
			}
		})
	}
}
