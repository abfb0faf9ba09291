package oktaemu_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// A client secret the caller brings (POST /api/v1/apps/{id}/credentials/secrets with
// client_secret; createOAuth2ClientSecret in ../shared/okta-openapi: "This API lets you bring
// your own secret"). The rules are the OpenAPI spec's: OAuthApplicationCredentials
// client_secret minLength 14, maxLength 100, and the error examples
// ErrorClientSecretTooShort, ErrorClientSecretTooLong and ErrorClientSecretNonAscii (400
// E0000001, the cause naming the rule, never the value). The recorded transcripts hold no
// refused value, so the spec is the source here. An accepted value is the one the token
// endpoint then accepts, and the list returns it (as the recordings show values).
func TestBringYourOwnClientSecret(t *testing.T) {
	h := newHarness(t, oktaemu.Config{})
	app := h.CreateServiceApp(t, "byo", "")
	path := "/api/v1/apps/" + app.ID + "/credentials/secrets"
	tests := map[string]struct {
		value     string
		wantCause string
	}{
		"13 characters":    {value: strings.Repeat("a", 13), wantCause: "client_secret: 'client_secret' must be at least '14' characters long."},
		"101 characters":   {value: strings.Repeat("b", 101), wantCause: "client_secret: 'client_secret' can't be more than '100' characters long."},
		"not ASCII":        {value: "geheimnis-schlüssel", wantCause: "must only contain printable ASCII"},
		"control char":     {value: "fourteen-chars\n", wantCause: "must only contain printable ASCII"},
		"14 characters ok": {value: "fourteen-chars"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if n := len(h.call(http.MethodGet, path, nil, "").list(t)); n != 1 {
				// Okta keeps two secrets; start from the app's one each time.
				t.Fatalf("app holds %d secrets before the case, want 1", n)
			}
			r := h.call(http.MethodPost, path, map[string]any{"client_secret": tc.value}, "")
			if tc.wantCause != "" {
				if r.status != http.StatusBadRequest || r.errorCode(t) != "E0000001" {
					t.Fatalf("POST: %d %s, want 400 E0000001", r.status, r.body)
				}
				if !strings.Contains(string(r.body), tc.wantCause) || strings.Contains(string(r.body), tc.value) {
					t.Fatalf("error body %s: want the cause %q and never the value", r.body, tc.wantCause)
				}
				return
			}
			if r.status != http.StatusCreated {
				t.Fatalf("POST: %d %s", r.status, r.body)
			}
			created := r.json(t)
			if created["client_secret"] != tc.value || created["status"] != "ACTIVE" {
				t.Fatalf("created secret: status %v, value as given: %v", created["status"], created["client_secret"] == tc.value)
			}
			if res, _ := h.RequestToken(tokenForm("hello:read"), app.ClientID, tc.value); res.Status != http.StatusOK {
				t.Fatalf("token with the brought secret: %d", res.Status)
			}
			id, _ := created["id"].(string)
			h.call(http.MethodPost, path+"/"+id+"/lifecycle/deactivate", nil, "")
			if r := h.call(http.MethodDelete, path+"/"+id, nil, ""); r.status != http.StatusNoContent {
				t.Fatalf("delete: %d", r.status)
			}
		})
	}
}
