package oktaemu_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
)

// TestStateFile restarts the emulator on the same state file: apps,
// secrets, keys, scopes and policies survive; tokens minted before the
// restart still verify.
func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	token := "00state-test-token"

	first := oktaemutest.Start(t, oktaemu.Config{APIToken: token, StateFile: path, Scopes: []string{"hello:read"}})
	app := first.CreateServiceApp(t, "persisted", "")
	keyApp := first.CreateServiceApp(t, "persisted-key", "private_key_jwt")
	before := first.FetchToken(t, app.ClientID, app.ClientSecret, "hello:read")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("state file not written after changes: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	first.HTTP.Close()
	if err := first.Server.Close(); err != nil {
		t.Fatal(err)
	}

	second := oktaemutest.Start(t, oktaemu.Config{APIToken: token, StateFile: path, Scopes: []string{"hello:read", "hello:write"}})
	// Same signing keys; the port (and so the issuer) changed.
	verifyWith(t, second.JWKSURL, first.Issuer, before)
	h := &harness{Env: second, t: t, client: http.DefaultClient}
	if r := h.call(http.MethodGet, "/api/v1/apps/"+app.ID, nil, ""); r.status != 200 || r.json(t)["label"] != "persisted" {
		t.Fatalf("app after restart: %d %s", r.status, r.body)
	}
	second.FetchToken(t, app.ClientID, app.ClientSecret, "hello:read hello:write")
	second.FetchTokenWithKey(t, keyApp, "hello:read")

	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state directory holds %d files; temporary files were left behind", len(entries))
	}
}

func TestStateFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]string{
		"not json":      "{",
		"wrong version": `{"version": 99}`,
		"bad key":       `{"version": 1, "authorizationServers": [{"id": "default", "keys": [{"kid": "k", "pkcs8": "AAAA"}]}]}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".json")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := oktaemu.New(oktaemu.Config{APIToken: "x", StateFile: p}); err == nil {
				t.Fatal("a broken state file was accepted")
			}
		})
	}
	t.Run("unwritable directory", func(t *testing.T) {
		_, err := oktaemu.New(oktaemu.Config{APIToken: "x", StateFile: filepath.Join(dir, "missing", "state.json")})
		if err == nil {
			t.Fatal("no error for a state file that cannot be written")
		}
	})
	t.Run("no token", func(t *testing.T) {
		if _, err := oktaemu.New(oktaemu.Config{}); !errors.Is(err, oktaemu.ErrAPITokenRequired) {
			t.Fatalf("err = %v", err)
		}
	})
}
