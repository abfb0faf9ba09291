package controllers_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/managerconfig"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
	// The manager's backend, registered under spec.okta. Each test's emulator has its own
	// org URL, so tests running in parallel don't share a rate budget.
	_ "github.com/clientcreds/clientcreds/internal/provider/okta"
	"github.com/clientcreds/clientcreds/internal/testenv"
	"github.com/clientcreds/clientcreds/internal/testutil"
)

// The tests of this package run the real controllers in a controller-runtime manager
// against a real kube-apiserver and etcd (envtest) and the Okta emulator, each test with
// its own namespace, provider, emulator and manager, and assert the state of the world:
// Secrets, apps in the emulator, tokens that work or don't.

var (
	// testEnv is the control plane of the envtest tests (kubeControllerManager adds a user).
	testEnv *envtest.Environment
	restCfg *rest.Config
	k8s     client.Client

	// managerLogs collects every manager's log output; TestMain checks it for leaks.
	managerLogs syncBuffer
	// secretValues are credential values the tests saw; none may appear in logs, events,
	// status or errors.
	secretValues sync.Map
)

const (
	waitTimeout = 45 * time.Second
	poll        = 100 * time.Millisecond
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Unit tests only (go test -short): no control plane; the envtest tests skip.
		os.Exit(m.Run())
	}
	env, err := testenv.New()
	testEnv = env
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restCfg, err = env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start control plane:", err)
		os.Exit(1)
	}
	logOut := io.Writer(&managerLogs)
	if os.Getenv("TEST_MANAGER_LOGS") != "" {
		logOut = io.MultiWriter(&managerLogs, os.Stderr)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logOut), zap.UseDevMode(false)))
	k8s, err = client.New(restCfg, client.Options{Scheme: testenv.Scheme()})
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
		if code == 0 {
			code = checkNoSecretLeaks()
		}
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop control plane:", err)
	}
	os.Exit(code)
}

// checkNoSecretLeaks greps manager logs, every event and every OAuthClient's status for
// any credential value a test saw.
func checkNoSecretLeaks() int {
	var haystacks []string
	haystacks = append(haystacks, managerLogs.String())
	ctx := context.Background()
	var evs eventsv1.EventList
	if err := k8s.List(ctx, &evs); err != nil {
		fmt.Fprintln(os.Stderr, "list events:", err)
		return 1
	}
	var corev1Evs corev1.EventList
	if err := k8s.List(ctx, &corev1Evs); err != nil {
		fmt.Fprintln(os.Stderr, "list events:", err)
		return 1
	}
	var clients oauthv1.OAuthClientList
	if err := k8s.List(ctx, &clients); err != nil {
		fmt.Fprintln(os.Stderr, "list oauthclients:", err)
		return 1
	}
	for _, o := range []any{evs.Items, corev1Evs.Items, clients.Items} {
		b, _ := json.Marshal(o)
		haystacks = append(haystacks, string(b))
	}
	n, leaks := 0, 0
	secretValues.Range(func(k, _ any) bool {
		n++
		for _, h := range haystacks {
			if strings.Contains(h, k.(string)) {
				leaks++
				break
			}
		}
		return true
	})
	if leaks > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d of %d credential values appear in logs, events or status\n", leaks, n)
		return 1
	}
	if n == 0 {
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
			fmt.Println("leak check: the selected tests read no credentials; nothing to check")
			return 0
		}
		fmt.Fprintln(os.Stderr, "FAIL: the leak check saw no credential values; it checked nothing")
		return 1
	}
	fmt.Printf("leak check: %d credential values, none in %d bytes of logs, %d events, %d OAuthClient statuses\n",
		n, managerLogs.Len(), len(evs.Items)+len(corev1Evs.Items), len(clients.Items))
	return 0
}

// syncBuffer collects the manager's logs for the leak check.
type syncBuffer = testutil.SyncBuffer

// fixture is one test's world: a namespace, an emulator, a ClusterOAuthProvider pointing
// at it, and a running manager.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	ns       string
	provider string
	emu      *oktaemu.Server
	orgURL   string
	apiToken string
	tokenURL string
	mgrStop  func()
	mgrOpts  controllers.Options
	// intercept, when set, wraps the manager's client (injected failures).
	intercept *interceptor.Funcs
}

type fixtureOptions struct {
	emu          oktaemu.Config
	resyncPeriod time.Duration
	// wrap lets a test put middleware in front of the emulator.
	wrap func(http.Handler) http.Handler
	// noManager: the test starts the manager itself.
	noManager bool
	// maxConcurrent reconciles.
	maxConcurrent int
	// intercept wraps the manager's client with these functions (injected failures).
	intercept *interceptor.Funcs
	// accessPolicy of the fixture's provider; "" is the API default (External).
	accessPolicy oauthv1.AccessPolicyMode
}

var nameRE = regexp.MustCompile(`[^a-z0-9]+`)

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the control plane (envtest); skipped with -short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &fixture{t: t, ctx: ctx}

	if o.emu.APIToken == "" {
		o.emu.APIToken = "00test" + randHex(16)
	}
	srv, err := oktaemu.New(o.emu)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv
	if o.wrap != nil {
		h = o.wrap(srv)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	srv.SetOrgURL(hs.URL)
	f.emu, f.orgURL, f.apiToken = srv, hs.URL, o.emu.APIToken
	f.tokenURL = hs.URL + "/oauth2/default/v1/token"

	base := strings.Trim(nameRE.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	f.ns = strings.Trim(base, "-") + "-" + randHex(3)
	f.provider = f.ns
	f.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})
	f.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "okta-api-token", Namespace: f.ns,
			Labels: map[string]string{controllers.LabelProviderCredentials: "true"}},
		StringData: map[string]string{"token": f.apiToken},
	})
	f.intercept = o.intercept
	f.create(&oauthv1.ClusterOAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: f.provider, Labels: f.labels()},
		Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
			OrgURL:            f.orgURL,
			AccessPolicy:      o.accessPolicy,
			APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "okta-api-token", Namespace: f.ns},
		}},
	})
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: f.provider}})
	})
	f.mgrOpts = controllers.Options{
		AllowInsecureLoopbackHTTP: true,
		MaxConcurrentReconciles:   max(o.maxConcurrent, 4),
		ResyncPeriod:              o.resyncPeriod,
		HealthInterval:            time.Minute,
		SecretTTL:                 time.Second,
		PropagationGrace:          time.Second,
	}
	if !o.noManager {
		f.startManager()
	}
	return f
}

// testLabel marks the cluster-scoped objects of one test, so only its manager sees them.
const testLabel = "test.clientcreds.dev/namespace"

// labels are the labels of the test's cluster-scoped objects.
func (f *fixture) labels() map[string]string { return map[string]string{testLabel: f.ns} }

// sub returns the fixture for use in a subtest, failing the subtest rather than the parent.
func (f *fixture) sub(t *testing.T) *fixture {
	c := *f
	c.t = t
	return &c
}

// startManager runs the controllers in a fresh manager until the test ends or stop is
// called.
func (f *fixture) startManager() (stop func()) {
	f.t.Helper()
	// Tests run in parallel, each with its own manager: every manager sees only its test's
	// namespace and providers, as if it were alone in the cluster.
	cacheOpts := managerconfig.CacheOptions(controllers.LabelClient)
	cacheOpts.DefaultNamespaces = map[string]cache.Config{f.ns: {}}
	cacheOpts.ByObject[&oauthv1.ClusterOAuthProvider{}] = cache.ByObject{
		Label: labels.SelectorFromSet(labels.Set{testLabel: f.ns}),
	}
	var newClient client.NewClientFunc
	if funcs := f.intercept; funcs != nil {
		newClient = func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, opts)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, *funcs), nil
		}
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:    testenv.Scheme(),
		Metrics:   metricsserver.Options{BindAddress: "0"},
		Cache:     cacheOpts,
		NewClient: newClient,
		Controller: config.Controller{
			SkipNameValidation: ptr.To(true),
		},
		Logger: ctrl.Log.WithName(f.ns),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	if err := controllers.Setup(ctx, mgr, f.mgrOpts); err != nil {
		f.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			f.t.Errorf("manager: %v", err)
		}
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		<-done
	})
	f.mgrStop = stop
	f.t.Cleanup(stop)
	return stop
}

func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	if err := k8s.Create(f.ctx, obj); err != nil {
		f.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// newClient creates an OAuthClient in the fixture's namespace.
func (f *fixture) newClient(name string, mutate ...func(*oauthv1.OAuthClient)) *oauthv1.OAuthClient {
	f.t.Helper()
	obj := &oauthv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: oauthv1.OAuthClientSpec{
			ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: f.provider},
			Scopes:      []string{"hello:read"},
		},
	}
	for _, m := range mutate {
		m(obj)
	}
	f.create(obj)
	return obj
}

func (f *fixture) get(name string) *oauthv1.OAuthClient {
	f.t.Helper()
	obj := &oauthv1.OAuthClient{}
	if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, obj); err != nil {
		f.t.Fatalf("get OAuthClient %s: %v", name, err)
	}
	return obj
}

// update applies mutate to the latest version of an OAuthClient, retrying on conflicts.
func (f *fixture) update(name string, mutate func(*oauthv1.OAuthClient)) {
	f.t.Helper()
	for i := 0; ; i++ {
		obj := f.get(name)
		mutate(obj)
		err := k8s.Update(f.ctx, obj)
		if err == nil {
			return
		}
		if i > 20 {
			f.t.Fatalf("update %s: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond until it holds or the timeout passes.
func (f *fixture) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, last)
		}
		time.Sleep(poll)
	}
}

func readyCondition(obj *oauthv1.OAuthClient) *metav1.Condition {
	return meta.FindStatusCondition(obj.Status.Conditions, oauthv1.ConditionReady)
}

func describe(obj *oauthv1.OAuthClient) string {
	var parts []string
	for _, c := range obj.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s (%s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return fmt.Sprintf("gen %d observed %d; %s", obj.Generation, obj.Status.ObservedGeneration, strings.Join(parts, "; "))
}

// waitReady waits until the client is Ready for its current generation.
func (f *fixture) waitReady(name string) *oauthv1.OAuthClient {
	f.t.Helper()
	var obj *oauthv1.OAuthClient
	f.eventually(waitTimeout, name+" to be Ready", func() (bool, string) {
		obj = f.get(name)
		c := readyCondition(obj)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == obj.Generation &&
			obj.Status.ObservedGeneration == obj.Generation, describe(obj)
	})
	return obj
}

// waitReason waits until the client's Ready condition has the reason.
func (f *fixture) waitReason(name string, status metav1.ConditionStatus, reason string) *oauthv1.OAuthClient {
	f.t.Helper()
	var obj *oauthv1.OAuthClient
	f.eventually(waitTimeout, fmt.Sprintf("%s Ready=%s reason %s", name, status, reason), func() (bool, string) {
		obj = f.get(name)
		c := readyCondition(obj)
		return c != nil && c.Status == status && c.Reason == reason, describe(obj)
	})
	return obj
}

// secret returns the output Secret, or nil.
func (f *fixture) secret(name string) *corev1.Secret {
	f.t.Helper()
	s := &corev1.Secret{}
	err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, s)
	if err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil
		}
		f.t.Fatalf("get Secret %s: %v", name, err)
	}
	for _, k := range []string{controllers.KeyClientSecret, controllers.KeyPrivateKey} {
		if v := s.Data[k]; len(v) > 0 {
			secretValues.Store(string(v), true)
		}
	}
	return s
}

// tokenWith requests a token exactly as a workload would from the Secret's values. It
// returns the HTTP status and the access token.
func (f *fixture) tokenWith(data map[string][]byte) (int, string) {
	f.t.Helper()
	clientID := string(data[controllers.KeyClientID])
	tokenURL := string(data[controllers.KeyTokenURL])
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {string(data[controllers.KeyScope])}}
	basic := false
	switch string(data[controllers.KeyAuthMethod]) {
	case "client_secret_basic":
		basic = true
	case "client_secret_post":
		form.Set("client_id", clientID)
		form.Set("client_secret", string(data[controllers.KeyClientSecret]))
	case "private_key_jwt":
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", f.assertion(clientID, tokenURL, data[controllers.KeyPrivateKey], string(data[controllers.KeyKeyID])))
	default:
		f.t.Fatalf("Secret has AUTH_METHOD %q", data[controllers.KeyAuthMethod])
	}
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	if basic {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(string(data[controllers.KeyClientSecret])))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.AccessToken
}

// assertion signs a private_key_jwt client assertion with the Secret's key.
func (f *fixture) assertion(clientID, tokenURL string, pemKey []byte, kid string) string {
	f.t.Helper()
	key, err := jwk.ParseKey(pemKey, jwk.WithPEM(true))
	if err != nil {
		f.t.Fatalf("parse PRIVATE_KEY: %v", err)
	}
	if err := key.Set(jwk.KeyIDKey, kid); err != nil {
		f.t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(clientID).Subject(clientID).Audience([]string{tokenURL}).
		IssuedAt(now).Expiration(now.Add(time.Minute)).JwtID(randHex(16)).Build()
	if err != nil {
		f.t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(signed)
}

// app reads an app from the emulator's management API: status code and decoded body.
func (f *fixture) app(id string) (int, map[string]any) {
	f.t.Helper()
	return f.mgmt(http.MethodGet, "/api/v1/apps/"+id, nil)
}

// mgmt calls the emulator's management API as an Okta admin (or the console) would.
func (f *fixture) mgmt(method, path string, body any) (int, map[string]any) {
	f.t.Helper()
	status, data := oktaemutest.Admin(f.t, f.orgURL, f.apiToken, method, path, body)
	out := map[string]any{}
	_ = json.Unmarshal(data, &out)
	return status, out
}

// appsOwnedBy lists the emulator's apps whose profile names the OAuthClient as owner.
func (f *fixture) appsOwnedBy(uid string) []map[string]any {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.orgURL+"/api/v1/apps?limit=200", nil)
	req.Header.Set("Authorization", "SSWS "+f.apiToken)
	req.Header.Set("Accept", "application/json")
	var owned []map[string]any
	for req != nil {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Fatal(err)
		}
		var page []map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		for _, a := range page {
			if b, _ := json.Marshal(a["profile"]); strings.Contains(string(b), uid) {
				owned = append(owned, a)
			}
		}
		req = nil
		for _, l := range resp.Header.Values("Link") {
			if strings.Contains(l, `rel="next"`) {
				next := strings.TrimSuffix(strings.TrimPrefix(strings.Split(l, ";")[0], "<"), ">")
				req, _ = http.NewRequest(http.MethodGet, next, nil)
				req.Header.Set("Authorization", "SSWS "+f.apiToken)
				req.Header.Set("Accept", "application/json")
			}
		}
	}
	return owned
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// mgmtList calls a management endpoint that answers a JSON array.
func (f *fixture) mgmtList(path string) (int, []any) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.orgURL+path, nil)
	req.Header.Set("Authorization", "SSWS "+f.apiToken)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// eventReasons lists the reasons of the events recorded about an OAuthClient.
func (f *fixture) eventReasons(name string) []string {
	f.t.Helper()
	var evs eventsv1.EventList
	if err := k8s.List(f.ctx, &evs, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range evs.Items {
		if e.Regarding.Kind == "OAuthClient" && e.Regarding.Name == name {
			out = append(out, e.Type+"/"+e.Reason)
		}
	}
	return out
}
