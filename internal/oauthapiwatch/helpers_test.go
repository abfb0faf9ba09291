package oauthapiwatch

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/testenv"
	"github.com/clientcreds/clientcreds/internal/verifier"
)

// The control plane shared by the package's tests.
var (
	restCfg *rest.Config
	k8s     client.Client
	dyn     dynamic.Interface
	// kubeconfig is the control plane's admin kubeconfig, as a file.
	kubeconfig []byte
)

func TestMain(m *testing.M) {
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if restCfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start control plane:", err)
		os.Exit(1)
	}
	kubeconfig = env.KubeConfig
	code := 1
	if k8s, err = client.New(restCfg, client.Options{Scheme: testenv.Scheme()}); err == nil {
		dyn, err = dynamic.NewForConfig(restCfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop control plane:", err)
	}
	os.Exit(code)
}

const testAudience = "api://hello"

// issuer is an authorization server on 127.0.0.1: metadata, a JWKS with
// one RSA key, and tokens signed with it.
type issuer struct {
	url string
	key *rsa.PrivateKey
	kid string
}

var (
	keyOnce sync.Once
	keyA    *rsa.PrivateKey
	keyB    *rsa.PrivateKey
)

func testKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		var err error
		if keyA, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
			keyB, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			panic(err)
		}
	})
	return keyA, keyB
}

func newIssuer(t *testing.T, key *rsa.PrivateKey, kid string) *issuer {
	t.Helper()
	pub, err := jwk.FromRaw(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"kid": kid, "alg": "RS256", "use": "sig"} {
		if err := pub.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, kid: kid}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/api/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.url, "jwks_uri": is.url + "/v1/keys"})
	})
	mux.HandleFunc("/oauth2/api/v1/keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.url = srv.URL + "/oauth2/api"
	return is
}

// token returns a token for aud with scopes (no scp claim when none),
// valid for ttl (expired when ttl is negative).
func (is *issuer) token(t *testing.T, aud string, ttl time.Duration, scopes ...string) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": is.url, "aud": aud, "cid": "0oa-test-client", "sub": "0oa-test-client",
		"iat": now.Add(-2 * time.Minute).Unix(), "exp": now.Add(ttl).Unix(),
	}
	if len(scopes) > 0 {
		claims["scp"] = scopes
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, is.kid); err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256, is.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// answer is what the decision table compares.
type answer struct {
	status int
	// errCode and scope are the error and scope attributes of the
	// WWW-Authenticate challenge ("" when absent).
	errCode, scope string
	// challenged: a WWW-Authenticate header was sent.
	challenged bool
}

var (
	errAttr   = regexp.MustCompile(`error="([^"]*)"`)
	scopeAttr = regexp.MustCompile(`scope="([^"]*)"`)
)

// ask sends a forward-auth request (nginx auth_request style) for method
// and path with token (none when empty).
func ask(h http.Handler, method, path, token string) answer {
	req := httptest.NewRequest(http.MethodGet, "/verify", nil)
	req.Header.Set("X-Original-Uri", path)
	req.Header.Set("X-Original-Method", method)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answerOf(rec.Code, rec.Header())
}

func answerOf(code int, h http.Header) answer {
	a := answer{status: code}
	c := h.Get("WWW-Authenticate")
	a.challenged = c != ""
	if m := errAttr.FindStringSubmatch(c); m != nil {
		a.errCode = m[1]
	}
	if m := scopeAttr.FindStringSubmatch(c); m != nil {
		a.scope = m[1]
	}
	return a
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "oauthapiwatch-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// newOAuthAPI creates an OAuthAPI with rules (converted field by field
// from the rules file's shape) and, when iss is set, writes its status as
// the operator would.
func newOAuthAPI(t *testing.T, ns, name string, rules []verifier.Rule, iss, aud string) *oauthv1.OAuthAPI {
	t.Helper()
	api := &oauthv1.OAuthAPI{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: oauthv1.OAuthAPISpec{
			ProviderRef: oauthv1.ProviderReference{Kind: "ClusterOAuthProvider", Name: "okta"},
			Scopes:      []oauthv1.APIScope{{Name: "hello:read"}, {Name: "hello:write"}, {Name: "hello:admin"}},
			Rules:       apiRules(rules),
		},
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, api); err != nil {
		t.Fatalf("creating the OAuthAPI: %v", err)
	}
	if iss != "" {
		setStatus(t, api, iss, aud)
	}
	return api
}

func apiRules(rules []verifier.Rule) []oauthv1.APIRule {
	var out []oauthv1.APIRule
	for _, r := range rules {
		out = append(out, oauthv1.APIRule{PathPrefix: r.PathPrefix, Methods: r.Methods, Scopes: r.Scopes, Public: r.Public})
	}
	return out
}

func setStatus(t *testing.T, api *oauthv1.OAuthAPI, iss, aud string) {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(api), api); err != nil {
		t.Fatal(err)
	}
	api.Status.Issuer, api.Status.Audience = iss, aud
	if err := k8s.Status().Update(ctx, api); err != nil {
		t.Fatalf("writing the OAuthAPI's status: %v", err)
	}
}

// update reads the OAuthAPI, changes it and writes it back.
func update(t *testing.T, api *oauthv1.OAuthAPI, change func(*oauthv1.OAuthAPI)) {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(api), api); err != nil {
		t.Fatal(err)
	}
	change(api)
	if err := k8s.Update(ctx, api); err != nil {
		t.Fatalf("updating the OAuthAPI: %v", err)
	}
}

// following is a verifier server following one OAuthAPI.
type following struct {
	rl      *verifier.Reloader
	handler http.Handler
}

// follow starts a Reloader and a Watch on ns/name, both stopped at the
// end of the test. mutate may change the reloader's configuration.
func follow(t *testing.T, ns, name string, mutate func(*verifier.ReloaderConfig)) *following {
	t.Helper()
	return followWith(t, dyn, ns, name, mutate)
}

// followWith is follow with the given client.
func followWith(t *testing.T, c dynamic.Interface, ns, name string, mutate func(*verifier.ReloaderConfig)) *following {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := verifier.ReloaderConfig{
		DefaultScopes: []string{"hello:read"},
		Waiting:       "oauthapi " + ns + "/" + name + " not read yet",
	}
	if mutate != nil {
		mutate(&cfg)
	}
	rl, err := verifier.NewReloader(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := New(Config{Ref: Ref{Namespace: ns, Name: name}, Client: c, Target: rl})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &following{rl: rl, handler: rl.Server()}
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after 10s", what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls until a request for method and path with token gets want.
func (f *following) waitFor(t *testing.T, what, method, path, token string, want int) {
	t.Helper()
	eventually(t, what, func() (bool, string) {
		a := ask(f.handler, method, path, token)
		return a.status == want, fmt.Sprintf("%+v", a)
	})
}

// unconfigured returns /readyz's status and the reason the reloader holds
// for not being configured ("" when it is): answers carry only
// verifier.NotConfiguredBody, the reason is for the log and Current.
func (f *following) unconfigured(t *testing.T) (int, string) {
	t.Helper()
	code, body := readyz(f.handler)
	_, why, ok := f.rl.Current()
	if ok {
		why = ""
	}
	if code == http.StatusServiceUnavailable && why != "" && body != verifier.NotConfiguredBody+"\n" {
		t.Errorf("/readyz while not configured (%s): %q, want only %q", why, body, verifier.NotConfiguredBody)
	}
	return code, why
}

func readyz(h http.Handler) (int, string) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	if s, ok := h.(*verifier.Server); ok {
		s.Admin().ServeHTTP(rec, req)
	} else {
		h.ServeHTTP(rec, req)
	}
	return rec.Code, rec.Body.String()
}
