package controllers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
)

// Never revoke the published credential (issue 11): rotation with failures injected at the
// worst moments. In each case a consumer that reads the Secret and requests a token every
// second sees no failure, and the app never holds more than two client secrets.

type injection int

const (
	// secretWrite409 / secretWrite500: the Secret update that publishes a newly issued
	// secret fails once.
	secretWrite409 injection = iota
	secretWrite500
	// statusWrite: the Secret is written, the status write after it fails once.
	statusWrite
	// managerKilled: the manager stops right after the Secret is written, before the status
	// write; a new manager (with empty memory) takes over.
	managerKilled
	// stateWrittenKilled (keys None): the manager stops right after the state Secret gained
	// the new value, before the Secret is written.
	stateWrittenKilled
)

// injector holds the failure of one test; its funcs wrap the manager's client.
type injector struct {
	kind       injection
	secretName string
	// stateName is the state Secret's name and secretKey the Secret's key of the client
	// secret (keys None); secretKey "" is CLIENT_SECRET.
	stateName, secretKey string
	fired                atomic.Bool
	failStatus           atomic.Bool
	dead                 atomic.Bool
	killed               chan struct{}
}

var errKilled = errors.New("injected: the manager process is gone")

// publishes reports whether an update of the Secret replaces its client secret.
func (in *injector) publishes(ctx context.Context, c client.WithWatch, obj client.Object) bool {
	s, ok := obj.(*corev1.Secret)
	if !ok || s.Name != in.secretName {
		return false
	}
	old := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(s), old); err != nil {
		return false
	}
	key := in.secretKey
	if key == "" {
		key = controllers.KeyClientSecret
	}
	return len(old.Data[key]) > 0 && string(old.Data[key]) != string(s.Data[key])
}

// addsState reports whether an update of the state Secret adds a value.
func (in *injector) addsState(ctx context.Context, c client.WithWatch, obj client.Object) bool {
	s, ok := obj.(*corev1.Secret)
	if !ok || in.stateName == "" || s.Name != in.stateName {
		return false
	}
	old := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(s), old); err != nil {
		return false
	}
	for k := range s.Data {
		if _, ok := old.Data[k]; !ok {
			return true
		}
	}
	return false
}

func (in *injector) funcs() *interceptor.Funcs {
	gr := schema.GroupResource{Resource: "secrets"}
	return &interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if in.dead.Load() {
				return errKilled
			}
			publishing := in.publishes(ctx, c, obj)
			if in.kind == stateWrittenKilled && !in.fired.Load() && in.addsState(ctx, c, obj) {
				if err := c.Update(ctx, obj, opts...); err != nil {
					return err
				}
				in.fired.Store(true)
				in.dead.Store(true)
				close(in.killed)
				return nil
			}
			if publishing && !in.fired.Load() {
				switch in.kind {
				case secretWrite409:
					in.fired.Store(true)
					return apierrors.NewConflict(gr, obj.GetName(), errors.New("injected conflict"))
				case secretWrite500:
					in.fired.Store(true)
					return apierrors.NewInternalError(errors.New("injected server error"))
				}
			}
			if err := c.Update(ctx, obj, opts...); err != nil {
				return err
			}
			if publishing && !in.fired.Load() {
				switch in.kind {
				case statusWrite:
					in.fired.Store(true)
					in.failStatus.Store(true)
				case managerKilled:
					in.fired.Store(true)
					in.dead.Store(true)
					close(in.killed)
				}
			}
			return nil
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if in.dead.Load() {
				return errKilled
			}
			if sub == "status" && in.failStatus.CompareAndSwap(true, false) {
				return apierrors.NewInternalError(errors.New("injected status write failure"))
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if in.dead.Load() {
				return errKilled
			}
			return c.Create(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if in.dead.Load() {
				return errKilled
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if in.dead.Load() {
				return errKilled
			}
			return c.Delete(ctx, obj, opts...)
		},
	}
}

// consumer reads the Secret and requests a token every second, as a workload would.
type consumer struct {
	mu       sync.Mutex
	requests int
	failures []string
	// keys maps the Secret's data to the default keys (keys None); nil: they are the
	// Secret's own.
	keys func(map[string][]byte) map[string][]byte
}

func (c *consumer) run(ctx context.Context, f *fixture, secretName string) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: secretName}, s); err == nil {
			data := s.Data
			if c.keys != nil {
				data = c.keys(data)
			}
			secretValues.Store(string(data[controllers.KeyClientSecret]), true)
			code, err := requestToken(ctx, data)
			c.mu.Lock()
			if ctx.Err() == nil {
				c.requests++
				if err != nil || code != http.StatusOK {
					c.failures = append(c.failures, fmt.Sprintf("%s: status %d %v", time.Now().Format("15:04:05.000"), code, err))
				}
			}
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func requestToken(ctx context.Context, data map[string][]byte) (int, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {string(data[controllers.KeyScope])}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, string(data[controllers.KeyTokenURL]), strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(url.QueryEscape(string(data[controllers.KeyClientID])), url.QueryEscape(string(data[controllers.KeyClientSecret])))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode == http.StatusOK && out.AccessToken == "" {
		return resp.StatusCode, errors.New("200 without a token")
	}
	return resp.StatusCode, nil
}

func TestNeverRevokePublishedSecret(t *testing.T) {
	t.Parallel()
	testNeverRevokePublished(t, map[string]injection{
		"Secret write 409":   secretWrite409,
		"Secret write 500":   secretWrite500,
		"status write fails": statusWrite,
		"manager killed":     managerKilled,
	}, false)
}

// The same with keys None: the Secret holds only rendered keys, and the state Secret's
// write comes first — a manager killed right after it leaves the Secret's credentials
// readable.
func TestKeysNoneNeverRevokePublishedSecret(t *testing.T) {
	t.Parallel()
	testNeverRevokePublished(t, map[string]injection{
		"Secret write 500":            secretWrite500,
		"status write fails":          statusWrite,
		"manager killed after Secret": managerKilled,
		"manager killed after state":  stateWrittenKilled,
	}, true)
}

func testNeverRevokePublished(t *testing.T, cases map[string]injection, none bool) {
	for name, kind := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := &injector{kind: kind, secretName: "rot-oauth-client", killed: make(chan struct{})}
			if none {
				in.stateName, in.secretKey = "rot-oauth-client-clientcreds-state", "OAUTH_SECRET"
			}
			f := newFixture(t, fixtureOptions{intercept: in.funcs()})
			f.newClient("rot", func(o *oauthv1.OAuthClient) {
				o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: 10 * time.Second},
					GracePeriod: &metav1.Duration{Duration: 4 * time.Second}}
				if none {
					o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone, Data: envFromTemplate()}
				}
			})
			obj := f.waitReady("rot")
			appID := obj.Status.AppID

			ctx, stop := context.WithCancel(f.ctx)
			var wg sync.WaitGroup
			cons := &consumer{}
			if none {
				cons.keys = asDefaultKeys
			}
			var maxSecrets atomic.Int64
			wg.Add(2)
			go func() { defer wg.Done(); cons.run(ctx, f, "rot-oauth-client") }()
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if n := f.countSecrets(ctx, appID); int64(n) > maxSecrets.Load() {
						maxSecrets.Store(int64(n))
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()

			if kind == managerKilled || kind == stateWrittenKilled {
				select {
				case <-in.killed:
				case <-time.After(waitTimeout):
					stop()
					t.Fatal("the rotation never published")
				}
				f.mgrStop()
				f.intercept = nil // the new process has no failures
				f.startManager()
			}
			// Wait for the failure, then for a rotation that completes after it: the Secret's
			// secret is the one status names, and the previous one is retired.
			f.eventually(90*time.Second, "a completed rotation after the injected failure", func() (bool, string) {
				if !in.fired.Load() {
					return false, "not fired yet"
				}
				o := f.get("rot")
				s := f.secret("rot-oauth-client")
				id := s.Annotations[controllers.AnnotationClientSecretID]
				ok := id != "" && id == o.Status.SecretID && o.Status.RetireAfter == nil && f.countSecrets(f.ctx, appID) == 1 &&
					isReadyNow(o)
				if none {
					st := f.stateSecret(o)
					ok = ok && st != nil && len(st.Data) == 1 && len(s.Data) == len(envFromKeys)
				}
				return ok, fmt.Sprintf("annotation %q status %q retireAfter %v; %s", id, o.Status.SecretID, o.Status.RetireAfter, describe(o))
			})
			// One more second of tokens with the final state.
			time.Sleep(1500 * time.Millisecond)
			stop()
			wg.Wait()

			cons.mu.Lock()
			defer cons.mu.Unlock()
			t.Logf("%s: %d token requests, max %d client secrets in Okta", name, cons.requests, maxSecrets.Load())
			if len(cons.failures) > 0 {
				t.Errorf("the consumer saw %d failed token requests: %v", len(cons.failures), cons.failures)
			}
			if cons.requests < 5 {
				t.Errorf("only %d token requests were made", cons.requests)
			}
			if m := maxSecrets.Load(); m > 2 {
				t.Errorf("Okta held %d client secrets at once, want at most 2", m)
			}
		})
	}
}

func isReadyNow(o *oauthv1.OAuthClient) bool {
	c := readyCondition(o)
	return c != nil && c.Status == metav1.ConditionTrue
}

// countSecrets counts an app's client secrets in the emulator.
func (f *fixture) countSecrets(ctx context.Context, appID string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.orgURL+"/api/v1/apps/"+appID+"/credentials/secrets", nil)
	req.Header.Set("Authorization", "SSWS "+f.apiToken)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var list []json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&list)
	return len(list)
}
