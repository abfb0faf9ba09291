package oktaemutest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
)

func TestStartAndHelpers(t *testing.T) {
	env := oktaemutest.Start(t, oktaemu.Config{})
	if env.APIToken == "" || env.Issuer != env.URL+"/oauth2/default" || env.TokenURL != env.Issuer+"/v1/token" || env.JWKSURL != env.Issuer+"/v1/keys" {
		t.Fatalf("env = %+v", env)
	}
	for _, method := range []string{"", "client_secret_basic", "client_secret_post", "private_key_jwt"} {
		t.Run("method "+method, func(t *testing.T) {
			app := env.CreateServiceApp(t, "helper "+method, method)
			if app.ID == "" || app.ClientID != app.ID {
				t.Fatalf("app = %+v", app.ID)
			}
			var tok string
			if method == "private_key_jwt" {
				if app.ClientSecret != "" || app.PrivateKey == nil {
					t.Fatal("private_key_jwt app: want a key and no secret")
				}
				tok = env.FetchTokenWithKey(t, app, "hello:read")
			} else {
				tok = env.FetchToken(t, app.ClientID, app.ClientSecret, "hello:read")
			}
			if strings.Count(tok, ".") != 2 {
				t.Errorf("not a compact JWT")
			}
		})
	}

	// The spec-checked client validates traffic (here: valid traffic).
	c := env.SpecCheckedClient(t)
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/api/v1/apps", nil)
	req.Header.Set("Authorization", "SSWS "+env.APIToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("list: %d", resp.StatusCode)
	}

	res, err := env.RequestToken(map[string][]string{"grant_type": {"client_credentials"}, "scope": {"hello:read"}}, "nobody", "nothing-at-all")
	if err != nil || res.Status != 401 || res.Error != "invalid_client" {
		t.Errorf("bad credentials: %+v %v", res.Status, err)
	}
}

func TestStartKeepsGivenToken(t *testing.T) {
	env := oktaemutest.Start(t, oktaemu.Config{APIToken: "00given", Scopes: []string{"a:b"}})
	if env.APIToken != "00given" {
		t.Errorf("token replaced")
	}
	app := env.CreateServiceApp(t, "x", "")
	env.FetchToken(t, app.ClientID, app.ClientSecret, "a:b")
}
