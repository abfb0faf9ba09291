package credentials

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/clientcreds/clientcreds/internal/oauth2client"
)

// Keys of the Secret the operator writes: file names in a mounted directory, variable names
// (after an optional prefix) in the environment.
const (
	KeyClientID     = "CLIENT_ID"
	KeyClientSecret = "CLIENT_SECRET"
	KeyTokenURL     = "TOKEN_URL"
	KeyScope        = "SCOPE"
	KeyAuthMethod   = "AUTH_METHOD"
	KeyPrivateKey   = "PRIVATE_KEY"
	KeyKeyID        = "KEY_ID"
)

// dataLink is the symlink kubelet's atomic writer swaps to publish a new version.
const dataLink = "..data"

// maxFileSize bounds each credentials file.
const maxFileSize = 64 << 10

var keys = []string{KeyClientID, KeyClientSecret, KeyTokenURL, KeyScope, KeyAuthMethod, KeyPrivateKey, KeyKeyID}

// snapshot is one version of the credentials.
type snapshot struct {
	creds oauth2client.Credentials
	// version identifies the content (a hash; never the values).
	version string
	// label names the version for logs: the "..data" target, or "env".
	label string
}

// parse builds credentials from key values; get returns a key's value and whether it is
// set. Errors name keys, never values.
func parse(get func(string) (string, bool), scopes []string) (oauth2client.Credentials, error) {
	val := func(k string) string { v, _ := get(k); return strings.TrimSpace(v) }
	c := oauth2client.Credentials{
		ClientID:   val(KeyClientID),
		TokenURL:   val(KeyTokenURL),
		AuthMethod: oauth2client.AuthMethod(val(KeyAuthMethod)),
		KeyID:      val(KeyKeyID),
		Scopes:     strings.Fields(val(KeyScope)),
	}
	if scopes != nil {
		c.Scopes = scopes
	}
	// A secret's surrounding white space is kept: it is the secret's business. Only a final
	// newline, which editors and echo add, is dropped.
	secret, _ := get(KeyClientSecret)
	c.ClientSecret = strings.TrimSuffix(strings.TrimSuffix(secret, "\n"), "\r")
	if pk, ok := get(KeyPrivateKey); ok {
		c.PrivateKeyPEM = []byte(pk)
	}
	if c.AuthMethod == "" {
		// The operator always writes AUTH_METHOD; without it, the CRD's default applies.
		c.AuthMethod = oauth2client.ClientSecretBasic
	}
	if !c.AuthMethod.Valid() {
		return c, fmt.Errorf("%s names an unsupported method (want client_secret_basic, client_secret_post or private_key_jwt)", KeyAuthMethod)
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// readDir reads one version of the credentials from a kubelet-style directory.
func readDir(dir string, scopes []string) (snapshot, error) {
	base, label := dir, filepath.Base(dir)
	if target, err := os.Readlink(filepath.Join(dir, dataLink)); err == nil {
		// Read every key through the one resolved version directory, so that a swap
		// during the read cannot mix versions.
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		base, label = target, filepath.Base(target)
	}
	values := map[string]string{}
	h := sha256.New()
	for _, k := range keys {
		data, err := readSmall(filepath.Join(base, k))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return snapshot{}, fmt.Errorf("read %s: %w", k, err)
		}
		values[k] = string(data)
		fmt.Fprintf(h, "%s=%d:", k, len(data))
		h.Write(data)
	}
	if len(values) == 0 {
		return snapshot{}, fmt.Errorf("%s holds none of the credentials files (%s, ...)", dir, KeyClientID)
	}
	creds, err := parse(func(k string) (string, bool) { v, ok := values[k]; return v, ok }, scopes)
	if err != nil {
		return snapshot{}, fmt.Errorf("credentials in %s: %w", dir, err)
	}
	return snapshot{creds: creds, version: hex.EncodeToString(h.Sum(nil)), label: label}, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return data, nil
}

// readEnv reads the credentials from environment variables named prefix+key.
func readEnv(prefix string, scopes []string) (snapshot, error) {
	h := sha256.New()
	for _, k := range keys {
		v, ok := os.LookupEnv(prefix + k)
		if ok {
			fmt.Fprintf(h, "%s=%d:%s", k, len(v), v)
		}
	}
	creds, err := parse(func(k string) (string, bool) { return os.LookupEnv(prefix + k) }, scopes)
	if err != nil {
		return snapshot{}, fmt.Errorf("credentials in the environment (%s*): %w", prefix, err)
	}
	return snapshot{creds: creds, version: hex.EncodeToString(h.Sum(nil)), label: "env"}, nil
}

// linkTarget is the cheap change check: the "..data" target, or "" without one.
func linkTarget(dir string) string {
	t, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil {
		return ""
	}
	return t
}
