// Package clientkey generates the key pairs clients use for private_key_jwt: the private
// key goes into the client's Secret as PEM, the public key is registered on the app as a JWK.
package clientkey

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// Bits is the RSA key size.
const Bits = 2048

// KeyPair is a generated key pair.
type KeyPair struct {
	// PrivateKeyPEM is the PKCS#8 private key, PEM-encoded.
	PrivateKeyPEM []byte
	// Public is the public key as a JWK with kid, alg RS256 and use sig.
	Public provider.PublicKey
}

// Generate creates an RSA key pair. The kid is the key's RFC 7638 thumbprint, so the same
// key always has the same id.
func Generate() (*KeyPair, error) {
	priv, err := rsa.GenerateKey(rand.Reader, Bits)
	if err != nil {
		return nil, fmt.Errorf("generate rsa key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	pub, err := PublicJWK(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		Public:        *pub,
	}, nil
}

// PublicJWK turns an RSA public key into the JWK registered on an app.
func PublicJWK(pub *rsa.PublicKey) (*provider.PublicKey, error) {
	key, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, fmt.Errorf("public key to jwk: %w", err)
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("jwk thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	for k, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.RS256, jwk.KeyUsageKey: "sig"} {
		if err := key.Set(k, v); err != nil {
			return nil, fmt.Errorf("set jwk %s: %w", k, err)
		}
	}
	raw, err := json.Marshal(key)
	if err != nil {
		return nil, fmt.Errorf("marshal jwk: %w", err)
	}
	return &provider.PublicKey{KeyID: kid, JWK: raw}, nil
}

// ParsePrivateKeyPEM reads a PEM private key (PKCS#8 or PKCS#1) as written by Generate.
func ParsePrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block in private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("private key is neither PKCS#8 nor PKCS#1")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("private key is not an RSA key")
	}
	return rk, nil
}

// KeyIDOf returns the kid Generate gives the public half of a PEM private key, so a Secret's
// PRIVATE_KEY can be checked against its KEY_ID.
func KeyIDOf(privatePEM []byte) (string, error) {
	k, err := ParsePrivateKeyPEM(privatePEM)
	if err != nil {
		return "", err
	}
	pub, err := PublicJWK(&k.PublicKey)
	if err != nil {
		return "", err
	}
	return pub.KeyID, nil
}
