package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
	"github.com/clientcreds/clientcreds/pkg/credentials"
	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// TestConsumersRideThroughRotationOnHydra is TestConsumersRideThroughRotation on Ory Hydra,
// which keeps one secret per client: every rotation is a new Hydra client, so the Secret's
// CLIENT_ID changes with CLIENT_SECRET. The same two consumers — bin/token-injector and
// pkg/credentials in this process — send requests at 40/s each with the credentials
// mounted from the Secret by a simulated kubelet, across three rotations (interval 10s,
// grace 5s). No request may fail; each rotation must publish a new client id; every
// retired client must be refused by Hydra's token endpoint once its grace period is over
// (it is deleted), and work half-way through it.
//
// The protected API asks Hydra's introspection endpoint whether each bearer token is
// active, rather than going through the verifier: the consumers request no audience (the
// Secret has no AUDIENCE key yet), and Hydra's JWTs carry none unless asked, so the
// verifier's required audience would refuse them. Introspection is the stricter check:
// it also refuses the tokens of a deleted client before they expire. Hydra issues 20s
// access tokens here, so the consumers renew them several times across each rotation.
func TestConsumersRideThroughRotationOnHydra(t *testing.T) {
	const (
		interval     = 10 * time.Second // the shortest interval the CRD allows
		grace        = 5 * time.Second
		kubeletDelay = time.Second
		tokenLife    = 20 * time.Second
		rate         = 40 // requests per second and consumer
		rotations    = 3
		name         = "hydra-rider"
		provider     = "hydra-consumers"
	)
	c := sharedCluster(t)
	hs := hydratest.Start(t, hydratest.Options{AccessTokenTTL: tokenLife})
	startManager(t, c, "manager-consumers-hydra")
	c.kubectl(t, fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: %s}
spec:
  hydra: {adminURL: %q, issuer: %q}
`, provider, hs.AdminURL, hs.Issuer), "apply", "-f", "-")
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "--ignore-not-found", "--wait=false", "clusteroauthprovider/"+provider); err != nil {
			t.Log(err)
		}
	})
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=60s", "clusteroauthprovider/"+provider)
	ns := "consumers-hydra-" + randomHex(t, 3)
	c.kubectl(t, "", "create", "namespace", ns)
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "namespace", ns, "--wait=false"); err != nil {
			t.Log(err)
		}
	})
	c.kubectl(t, fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: %s, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %s}
  scopes: [%q]
  rotation: {interval: %s, gracePeriod: %s}
`, name, ns, provider, helloScope, interval, grace), "apply", "-f", "-")
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "--ignore-not-found", "--timeout=60s", "-n", ns, "oauthclient/"+name); err != nil {
			t.Log(err)
		}
	})
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=90s", "-n", ns, "oauthclient/"+name)
	oc := c.oauthClient(t, ns, name)
	secretName := oc.Status.SecretName

	api := startIntrospectingAPI(t, hs.AdminURL)

	vol := filepath.Join(t.TempDir(), "oauth")
	kc, err := kubernetes.NewForConfig(c.env.Config)
	if err != nil {
		t.Fatal(err)
	}
	kl := startKubelet(t, kc, ns, secretName, vol, kubeletDelay)
	rc := checkRefusals(kl, grace)

	listen, admin := harness.FreeAddr(t), harness.FreeAddr(t)
	inj := harness.Start(t, "token-injector-hydra", harness.Binary(t, "token-injector"), []string{
		"--listen", listen, "--admin-listen", admin, "--upstream", api.URL,
	}, harness.Options{Env: []string{"TOKEN_INJECTOR_CREDENTIALS_DIR=" + vol}})
	harness.WaitHTTP(t, "http://"+admin+"/readyz", startWait, inj)

	goLog := &lockedBuffer{}
	var fetchMu sync.Mutex
	var goFetches []fetchRecord
	src, err := credentials.FromDir(vol,
		credentials.WithLogger(slog.New(slog.NewJSONHandler(goLog, nil))),
		credentials.WithFetchObserver(func(f credentials.Fetch) {
			fetchMu.Lock()
			goFetches = append(goFetches, fetchRecord{at: time.Now(), took: f.Duration, method: f.AuthMethod, ok: f.Err == nil, retried: f.Retried})
			fetchMu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close() }()

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	loads := []*load{
		runLoad(ctx, "token-injector", &http.Client{Timeout: 15 * time.Second}, "http://"+listen+"/", rate),
		runLoad(ctx, "pkg/credentials", withTimeout(src.Client(), 15*time.Second), api.URL+"/", rate),
	}
	loadStart := time.Now()

	// Three rotations, then the last one's grace period and a little more.
	var lastRotation time.Time
	for {
		var seen []time.Time
		for _, v := range kl.history() {
			if v.cause == "rotation" {
				seen = append(seen, v.seen)
			}
		}
		if len(seen) >= rotations {
			lastRotation = seen[rotations-1]
			break
		}
		if time.Since(loadStart) > time.Duration(rotations+2)*interval {
			t.Fatalf("%d rotations within %s of load, want %d", len(seen), time.Since(loadStart).Round(time.Second), rotations)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Until(lastRotation.Add(grace + 2*time.Second)))
	stopLoad()
	for _, l := range loads {
		l.wait()
	}
	loadTime := time.Since(loadStart)
	kl.stop()
	rc.stop()

	for _, l := range loads {
		sent, failed := l.sent.Load(), l.failed.Load()
		t.Logf("%s: %d requests in %s (%.0f/s), %d failed, longest %s", l.name, sent, loadTime.Round(time.Millisecond),
			float64(sent)/loadTime.Seconds(), failed, l.longest().Round(time.Millisecond))
		if failed != 0 {
			t.Errorf("%s: %d of %d requests failed; first: %s", l.name, failed, sent, strings.Join(l.failures(), "; "))
		}
		if float64(sent)/loadTime.Seconds() < rate*0.8 {
			t.Errorf("%s: %.1f requests/s, want at least %.0f", l.name, float64(sent)/loadTime.Seconds(), rate*0.8)
		}
	}
	t.Logf("the API saw %d distinct access tokens from %d client ids; %d introspections, %d answered inactive and then active",
		api.tokens(), api.clients(), api.calls(), api.flips())

	// Each rotation published a new client id with its secret.
	versions := kl.history()
	ids := map[string]bool{}
	n := 0
	for _, v := range versions {
		t.Logf("Secret version at +%s (%s): client %s, published %s later", v.seen.Sub(loadStart).Round(100*time.Millisecond), v.cause,
			v.data["CLIENT_ID"], v.published.Sub(v.seen).Round(100*time.Millisecond))
		if ids[string(v.data["CLIENT_ID"])] {
			t.Errorf("client id %s published twice", v.data["CLIENT_ID"])
		}
		ids[string(v.data["CLIENT_ID"])] = true
		if v.cause == "rotation" {
			n++
		} else if v.cause != "initial" {
			t.Errorf("a Secret version caused by %s; only rotations were expected", v.cause)
		}
	}
	if n < rotations {
		t.Fatalf("%d rotations seen, want %d", n, rotations)
	}
	if api.clients() < rotations {
		t.Errorf("the API saw tokens of %d clients; the consumers did not follow %d rotations", api.clients(), rotations)
	}

	// Every retired client worked half-way through its grace period and was refused once it
	// was over.
	refusals := rc.results()
	for i, v := range versions[:len(versions)-1] {
		r, ok := refusals[i]
		switch {
		case !ok:
			t.Errorf("the client of the version seen at +%s was never checked", v.seen.Sub(loadStart).Round(100*time.Millisecond))
		case r.err != "":
			t.Errorf("the client of the version seen at +%s: %s", v.seen.Sub(loadStart).Round(100*time.Millisecond), r.err)
		default:
			t.Logf("client %s was refused %s after its grace period ended", v.data["CLIENT_ID"], r.after.Round(100*time.Millisecond))
		}
	}

	// Token fetches: none failed, the injector's count agrees.
	injFetches := injectorFetches(t, inj.LogPath)
	fetchMu.Lock()
	for _, side := range []struct {
		name    string
		fetches []fetchRecord
	}{{"token-injector", injFetches}, {"pkg/credentials", goFetches}} {
		failedFetches, retried := 0, 0
		for _, f := range side.fetches {
			if !f.ok {
				failedFetches++
			}
			if f.retried {
				retried++
			}
		}
		t.Logf("%s: %d token fetches (%d failed, %d retried with re-read files)", side.name, len(side.fetches), failedFetches, retried)
		if len(side.fetches) < rotations+1 {
			t.Errorf("%s: only %d token fetches across %d rotations", side.name, len(side.fetches), rotations)
		}
	}
	fetchMu.Unlock()
	m := call(t, http.MethodGet, "http://"+admin+"/metrics", "", nil)
	if !strings.Contains(m.body, "clientcreds_token_injector_rejected_requests_total 0") {
		t.Error("the token-injector rejected requests")
	}

	// After the last grace period: the current client and at most the one of a rotation
	// under way — no client leaked.
	inHydra := 0
	for _, h := range hydraClients(t, hs.AdminURL) {
		if h.Name == ns+"/"+name {
			inHydra++
		}
	}
	if inHydra < 1 || inHydra > 2 {
		t.Errorf("%d Hydra clients named %s/%s, want the current one (and the next, if a rotation is under way)", inHydra, ns, name)
	}

	injLog, _ := os.ReadFile(inj.LogPath)
	for _, v := range versions {
		val := strings.TrimSpace(string(v.data["CLIENT_SECRET"]))
		if len(val) >= 8 && (bytes.Contains(injLog, []byte(val)) || strings.Contains(goLog.String(), val)) {
			t.Error("a CLIENT_SECRET value appears in a consumer's log")
		}
	}
}

// introspectingAPI is a protected API that accepts a request when Hydra's introspection
// endpoint says its bearer token is active; it answers "Hello World!". A token's answer
// is reused for 500ms.
type introspectingAPI struct {
	URL string
	mu  sync.Mutex
	// seen maps a token to when it was last found active and its client id.
	seen    map[string]introspected
	ids     map[string]bool
	lookups int
	// flipped counts tokens answered inactive, then active 250ms later.
	flipped int
}

type introspected struct {
	at       time.Time
	clientID string
}

func startIntrospectingAPI(t *testing.T, adminURL string) *introspectingAPI {
	t.Helper()
	a := &introspectingAPI{seen: map[string]introspected{}, ids: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		if err := a.check(adminURL, tok); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "Hello World!")
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *introspectingAPI) check(adminURL, tok string) error {
	a.mu.Lock()
	if s, ok := a.seen[tok]; ok && time.Since(s.at) < 500*time.Millisecond {
		a.mu.Unlock()
		return nil
	}
	a.lookups++
	a.mu.Unlock()
	active, clientID, err := introspect(adminURL, tok)
	if err == nil && !active {
		// Hydra answers {"active": false} also when its storage failed to read the token
		// (RFC 7662 leaves no other answer), which its in-memory SQLite does now and then on
		// a loaded machine while a client is created. A token refused twice, 250ms apart, is
		// refused: a deleted client's stays refused. Second answers that differ are counted.
		time.Sleep(250 * time.Millisecond)
		active, clientID, err = introspect(adminURL, tok)
		if err == nil && active {
			a.mu.Lock()
			a.flipped++
			a.mu.Unlock()
		}
	}
	if err != nil {
		return err
	}
	if !active {
		return errors.New("token not active (introspection answered it twice)")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen[tok] = introspected{at: time.Now(), clientID: clientID}
	a.ids[clientID] = true
	return nil
}

// introspect asks Hydra's introspection endpoint whether tok is active with helloScope.
func introspect(adminURL, tok string) (active bool, clientID string, err error) {
	resp, err := http.PostForm(adminURL+"/admin/oauth2/introspect", url.Values{"token": {tok}, "scope": {helloScope}})
	if err != nil {
		return false, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Active   bool   `json:"active"`
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, "", fmt.Errorf("introspection answered %d: %w", resp.StatusCode, err)
	}
	return out.Active, out.ClientID, nil
}

func (a *introspectingAPI) tokens() int  { a.mu.Lock(); defer a.mu.Unlock(); return len(a.seen) }
func (a *introspectingAPI) clients() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.ids) }
func (a *introspectingAPI) calls() int   { a.mu.Lock(); defer a.mu.Unlock(); return a.lookups }
func (a *introspectingAPI) flips() int   { a.mu.Lock(); defer a.mu.Unlock(); return a.flipped }
