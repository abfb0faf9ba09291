package oauth2client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
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
)

// RSABits is the size of the RSA keys GenerateKey makes.
const RSABits = 2048

// minRSABits is the smallest RSA key accepted for signing.
const minRSABits = 2048

// PublicKey is a public key as a JSON Web Key (RFC 7517), ready to register on a client.
type PublicKey struct {
	// KeyID is the JWK's kid: its RFC 7638 thumbprint (SHA-256, base64url).
	KeyID string
	// JWK is the JSON object, with kid, alg and use "sig"; never the private part.
	JWK []byte
}

// KeyPair is a generated key pair for a private_key_jwt client.
type KeyPair struct {
	// PrivateKeyPEM is the PKCS#8 private key, PEM-encoded ("PRIVATE KEY").
	PrivateKeyPEM []byte
	Public        PublicKey
}

// GenerateKey creates an RSA key pair for private_key_jwt (RS256). The kid is the key's
// thumbprint, so the same key always has the same id.
func GenerateKey() (*KeyPair, error) {
	priv, err := rsa.GenerateKey(rand.Reader, RSABits)
	if err != nil {
		return nil, fmt.Errorf("generate rsa key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	pub, err := publicJWK(priv.Public())
	if err != nil {
		return nil, err
	}
	return &KeyPair{PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), Public: pub}, nil
}

// ParsePrivateKeyPEM reads a PEM private key: PKCS#1 ("RSA PRIVATE KEY"), PKCS#8
// ("PRIVATE KEY", RSA or EC P-256) or SEC 1 ("EC PRIVATE KEY", P-256). RSA keys must have at
// least 2048 bits. Errors never quote the key.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("private key is not PEM-encoded")
	}
	var key any
	var err error
	var format string
	switch block.Type {
	case "RSA PRIVATE KEY":
		format = "PKCS#1"
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		format = "SEC 1"
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		format = "PKCS#8"
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block of type %q is not a private key", sanitize(block.Type, nil))
	}
	if err != nil {
		// The parser's error is not passed on: it could quote key material.
		return nil, fmt.Errorf("the PEM private key is not valid %s", format)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA private key has %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("EC private key on curve %s; only P-256 (ES256) is supported", k.Curve.Params().Name)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("private key of type %T is neither RSA nor EC P-256", key)
	}
}

// signingAlg is the JWS algorithm for a key parsed by ParsePrivateKeyPEM.
func signingAlg(key crypto.Signer) jwa.SignatureAlgorithm {
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		return jwa.ES256
	}
	return jwa.RS256
}

// PublicKeyOf returns the public JWK of a PEM private key, with the kid GenerateKey would
// give it, so a Secret's PRIVATE_KEY can be checked against its KEY_ID.
func PublicKeyOf(privatePEM []byte) (PublicKey, error) {
	k, err := ParsePrivateKeyPEM(privatePEM)
	if err != nil {
		return PublicKey{}, err
	}
	return publicJWK(k.Public())
}

// KeyIDOf returns the kid of a PEM private key's public half (see PublicKeyOf).
func KeyIDOf(privatePEM []byte) (string, error) {
	pub, err := PublicKeyOf(privatePEM)
	return pub.KeyID, err
}

func publicJWK(pub crypto.PublicKey) (PublicKey, error) {
	key, err := jwk.FromRaw(pub)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key to jwk: %w", err)
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return PublicKey{}, fmt.Errorf("jwk thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	alg := jwa.RS256
	if _, ok := pub.(*ecdsa.PublicKey); ok {
		alg = jwa.ES256
	}
	for k, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: "sig"} {
		if err := key.Set(k, v); err != nil {
			return PublicKey{}, fmt.Errorf("set jwk %s: %w", k, err)
		}
	}
	raw, err := json.Marshal(key)
	if err != nil {
		return PublicKey{}, fmt.Errorf("marshal jwk: %w", err)
	}
	return PublicKey{KeyID: kid, JWK: raw}, nil
}
