package controllers

import (
	"testing"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

func TestContentHash(t *testing.T) {
	base := map[string][]byte{"a": []byte("bc"), "d": []byte("e")}
	same := map[string][]byte{"d": []byte("e"), "a": []byte("bc")}
	if contentHash(base) != contentHash(same) {
		t.Fatal("the hash depends on the map's order")
	}
	different := map[string]map[string][]byte{
		"a byte moved from value to key": {"ab": []byte("c"), "d": []byte("e")},
		"a value changed":                {"a": []byte("bC"), "d": []byte("e")},
		"a key added":                    {"a": []byte("bc"), "d": []byte("e"), "f": nil},
		"a key removed":                  {"a": []byte("bc")},
		"values swapped":                 {"a": []byte("e"), "d": []byte("bc")},
		"empty":                          {},
	}
	seen := map[string]string{contentHash(base): "base"}
	for name, data := range different {
		h := contentHash(data)
		if other, dup := seen[h]; dup {
			t.Errorf("%s hashes like %s", name, other)
		}
		seen[h] = name
		if len(h) != 64 {
			t.Errorf("%s: hash %q is not hex SHA-256", name, h)
		}
	}
}

func TestDropDefaultKeys(t *testing.T) {
	all := func() map[string][]byte {
		m := map[string][]byte{"app.properties": []byte("x")}
		for _, k := range []string{KeyClientID, KeyClientSecret, KeyPrivateKey, KeyKeyID, KeyTokenURL, KeyIssuer, KeyScope, KeyAudience, KeyAuthMethod} {
			m[k] = []byte("x")
		}
		return m
	}
	tests := map[string]struct {
		tmpl *oauthv1.SecretTemplate
		want int
	}{
		"no template":  {want: 10},
		"keys unset":   {tmpl: &oauthv1.SecretTemplate{}, want: 10},
		"keys Default": {tmpl: &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysDefault}, want: 10},
		// Only the rendered key: the operator reads the values from the state Secret.
		"keys None": {tmpl: &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone}, want: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := &oauthv1.OAuthClient{Spec: oauthv1.OAuthClientSpec{SecretTemplate: tc.tmpl}}
			data := all()
			dropDefaultKeys(obj, data)
			if len(data) != tc.want {
				t.Errorf("%d keys left, want %d", len(data), tc.want)
			}
			if data["app.properties"] == nil {
				t.Error("a rendered key was dropped")
			}
		})
	}
}
