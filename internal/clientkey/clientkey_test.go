package clientkey

import (
	"encoding/json"
	"testing"
)

func TestGenerateRoundTrip(t *testing.T) {
	kp, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	kid, err := KeyIDOf(kp.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if kid != kp.Public.KeyID {
		t.Fatalf("kid of the private key %q differs from the public JWK's %q", kid, kp.Public.KeyID)
	}
	var jwk map[string]any
	if err := json.Unmarshal(kp.Public.JWK, &jwk); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid} {
		if jwk[k] != want {
			t.Errorf("jwk %s = %v, want %v", k, jwk[k], want)
		}
	}
	if _, ok := jwk["d"]; ok {
		t.Fatal("public JWK carries the private exponent")
	}
	other, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if other.Public.KeyID == kid {
		t.Fatal("two generated keys share a kid")
	}
}

func TestParsePrivateKeyPEMRejectsGarbage(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":    nil,
		"not pem":  []byte("hello"),
		"bad body": []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePrivateKeyPEM(in); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}
