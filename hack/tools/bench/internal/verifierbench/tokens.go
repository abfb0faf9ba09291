package verifierbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// Scopes of the benchmark's authorization server: every token carries Scope, which the
// targets require; OtherScope only serves the sanity check that a token without the
// required scope is refused.
const (
	Scope      = "hello:read"
	OtherScope = "other:read"
	Audience   = "api://default"
)

// issuer is an Okta emulator serving the benchmark's authorization server (metadata and
// JWKS) on loopback, in this process, so that tokens can be minted without requests.
type issuer struct {
	emu *oktaemu.Server
	srv *http.Server
	url string // the issuer URL
}

func startIssuer() (*issuer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 20)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	emu, err := oktaemu.New(oktaemu.Config{
		APIToken:      hex.EncodeToString(tok),
		Scopes:        []string{Scope, OtherScope},
		OrgURL:        "http://" + ln.Addr().String(),
		TokenLifetime: 4 * time.Hour,
		// Metadata and key fetches of restarted targets must never be refused.
		RateLimits: oktaemu.RateLimits{Other: -1, Token: -1},
	})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &issuer{emu: emu, srv: srv, url: emu.Issuer()}, nil
}

func (is *issuer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = is.srv.Shutdown(ctx)
}

// jwks returns the issuer's key set as served at its keys endpoint.
func (is *issuer) jwks() ([]byte, error) {
	resp, err := http.Get(is.url + "/v1/keys")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/v1/keys: %s", is.url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// mint signs n access tokens, as the token endpoint would for a set of clients, using every
// CPU. Each token is unique (its jti and, across clients, cid and sub differ).
func (is *issuer) mint(n int, scopes []string) ([]string, error) {
	out := make([]string, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				t, err := is.emu.MintAccessToken(fmt.Sprintf("0oabench%06d", i%1000), scopes)
				if err != nil {
					errs <- err
					return
				}
				out[i] = t
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return out, nil
}

func writeLines(path string, lines []string) error {
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}
