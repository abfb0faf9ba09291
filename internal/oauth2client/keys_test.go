package oauth2client

import (
	"encoding/json"
	"testing"
)

func TestGenerateKeyRoundTrip(t *testing.T) {
	kp, err := GenerateKey()
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
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if other.Public.KeyID == kid {
		t.Fatal("two generated keys share a kid")
	}
}

func TestPublicKeyOf(t *testing.T) {
	rk, ek := testKeys(t)
	tests := map[string]struct {
		pem     []byte
		wantKty string
		wantAlg string
		wantErr bool
	}{
		"RSA PKCS#1":     {pem: pemOf(t, rk, "RSA PRIVATE KEY"), wantKty: "RSA", wantAlg: "RS256"},
		"RSA PKCS#8":     {pem: pemOf(t, rk, "PRIVATE KEY"), wantKty: "RSA", wantAlg: "RS256"},
		"EC SEC 1":       {pem: pemOf(t, ek, "EC PRIVATE KEY"), wantKty: "EC", wantAlg: "ES256"},
		"EC PKCS#8":      {pem: pemOf(t, ek, "PRIVATE KEY"), wantKty: "EC", wantAlg: "ES256"},
		"empty":          {wantErr: true},
		"not pem":        {pem: []byte("hello"), wantErr: true},
		"bad body":       {pem: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), wantErr: true},
		"a certificate?": {pem: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pub, err := PublicKeyOf(tc.pem)
			if tc.wantErr {
				if err == nil {
					t.Fatal("expected an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var jwk map[string]any
			if err := json.Unmarshal(pub.JWK, &jwk); err != nil {
				t.Fatal(err)
			}
			if jwk["kty"] != tc.wantKty || jwk["alg"] != tc.wantAlg || jwk["kid"] != pub.KeyID || pub.KeyID == "" {
				t.Errorf("jwk %v kid %q", jwk, pub.KeyID)
			}
			if _, ok := jwk["d"]; ok {
				t.Error("public JWK carries the private part")
			}
		})
	}
	// The same key in two encodings has one kid.
	a, _ := KeyIDOf(pemOf(t, rk, "RSA PRIVATE KEY"))
	b, _ := KeyIDOf(pemOf(t, rk, "PRIVATE KEY"))
	if a == "" || a != b {
		t.Errorf("kids %q and %q of the same key", a, b)
	}
}
