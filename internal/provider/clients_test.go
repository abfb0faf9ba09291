package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// secretMap is a SecretReader over values by "namespace/name/key".
type secretMap map[string]string

func (m secretMap) ReadSecretKey(_ context.Context, ref SecretRef) ([]byte, error) {
	v, ok := m[ref.Namespace+"/"+ref.Name+"/"+ref.Key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrSecretNotFound, ref)
	}
	return []byte(v), nil
}

// countingBackend reads the API token named by spec.okta and counts the clients it builds.
type countingBackend struct {
	builds   int
	buildErr error
}

type builtClient struct {
	Client
	n     int
	token string
}

func (b *countingBackend) Load(ctx context.Context, obj oauthv1.ProviderObject, secrets SecretReader) (func() (Client, error), error) {
	spec := obj.ProviderSpec().Okta
	if spec == nil {
		return nil, fmt.Errorf("%w: no okta section", ErrInvalidProvider)
	}
	ref := spec.APITokenSecretRef
	token, err := secrets.ReadSecretKey(ctx, SecretRef{Namespace: ref.Namespace, Name: ref.Name, Key: ref.TokenKey()})
	if err != nil {
		return nil, err
	}
	return func() (Client, error) {
		if b.buildErr != nil {
			return nil, b.buildErr
		}
		b.builds++
		return &builtClient{n: b.builds, token: string(token)}, nil
	}, nil
}

func cluster(name, orgURL string) *oauthv1.ClusterOAuthProvider {
	return &oauthv1.ClusterOAuthProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: oauthv1.OAuthProviderSpec{Okta: &oauthv1.OktaProvider{
			OrgURL:            orgURL,
			APITokenSecretRef: &oauthv1.SecretKeyReference{Name: "tok", Namespace: "ns"},
		}},
	}
}

func TestClientsCachesAndRebuilds(t *testing.T) {
	type step struct {
		advance   time.Duration
		orgURL    string
		token     string // "" removes the Secret
		wantBuild int    // the build number of the client returned; 0: an error
		wantErr   error
	}
	tests := map[string][]step{
		"reused within the TTL, even after the Secret changed": {
			{orgURL: "https://a", token: "t1", wantBuild: 1},
			{advance: 30 * time.Second, orgURL: "https://a", token: "t2", wantBuild: 1},
		},
		"kept after the TTL when nothing changed": {
			{orgURL: "https://a", token: "t1", wantBuild: 1},
			{advance: 2 * time.Minute, orgURL: "https://a", token: "t1", wantBuild: 1},
		},
		"rebuilt after the TTL when the Secret changed": {
			{orgURL: "https://a", token: "t1", wantBuild: 1},
			{advance: 2 * time.Minute, orgURL: "https://a", token: "t2", wantBuild: 2},
		},
		"rebuilt at once when the spec changed": {
			{orgURL: "https://a", token: "t1", wantBuild: 1},
			{orgURL: "https://b", token: "t1", wantBuild: 2},
		},
		"a missing Secret is an error of its class, the client stays": {
			{orgURL: "https://a", token: "t1", wantBuild: 1},
			{advance: 2 * time.Minute, orgURL: "https://a", wantErr: ErrSecretNotFound},
			{orgURL: "https://a", token: "t1", wantBuild: 1},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			now := time.Unix(1_000_000, 0)
			b := &countingBackend{}
			r := &Clients{backends: map[string]Factory{"okta": b}, SecretTTL: time.Minute, Now: func() time.Time { return now }}
			for i, s := range steps {
				now = now.Add(s.advance)
				secrets := secretMap{}
				if s.token != "" {
					secrets["ns/tok/token"] = s.token
				}
				got, err := r.Client(context.Background(), cluster("p", s.orgURL), secrets)
				if s.wantErr != nil {
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("step %d: error %v, want %v", i, err, s.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if n := got.(*builtClient).n; n != s.wantBuild {
					t.Fatalf("step %d: client of build %d, want build %d", i, n, s.wantBuild)
				}
			}
		})
	}
}

func TestClientsForgetRereads(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := &countingBackend{}
	r := &Clients{backends: map[string]Factory{"okta": b}, Now: func() time.Time { return now }}
	p := cluster("p", "https://a")
	if _, err := r.Client(context.Background(), p, secretMap{"ns/tok/token": "t1"}); err != nil {
		t.Fatal(err)
	}
	r.Forget(p)
	got, err := r.Client(context.Background(), p, secretMap{"ns/tok/token": "t2"})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.(*builtClient); c.token != "t2" || c.n != 2 {
		t.Errorf("after Forget: build %d with token %q, want build 2 with the new token", c.n, c.token)
	}
}

func TestClientsChoosesTheBackendBySpecField(t *testing.T) {
	tests := map[string]struct {
		backends map[string]Factory
		obj      oauthv1.ProviderObject
		buildErr error
		wantErr  string
	}{
		"the one field set": {
			backends: map[string]Factory{"okta": &countingBackend{}, "hydra": &countingBackend{}},
			obj:      cluster("p", "https://a"),
		},
		"no field set": {
			backends: map[string]Factory{"okta": &countingBackend{}, "hydra": &countingBackend{}},
			obj:      &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "p"}},
			wantErr:  "the spec sets no backend; known: hydra, okta",
		},
		"a field no backend registered": {
			backends: map[string]Factory{"hydra": &countingBackend{}},
			obj:      cluster("p", "https://a"),
			wantErr:  "the spec sets no backend; known: hydra",
		},
		"the backend refuses the configuration": {
			backends: map[string]Factory{"okta": &countingBackend{buildErr: errors.New("org url is not https")}},
			obj:      cluster("p", "https://a"),
			wantErr:  "org url is not https",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &Clients{backends: tc.backends}
			_, err := r.Client(context.Background(), tc.obj, secretMap{"ns/tok/token": "t"})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidProvider) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want ErrInvalidProvider containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestClientsKeepsObjectsApart(t *testing.T) {
	b := &countingBackend{}
	r := &Clients{backends: map[string]Factory{"okta": b}}
	secrets := secretMap{"ns/tok/token": "t"}
	cp := cluster("p", "https://a")
	np := &oauthv1.OAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: cp.Spec}
	a, err := r.Client(context.Background(), cp, secrets)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Client(context.Background(), np, secrets)
	if err != nil {
		t.Fatal(err)
	}
	if a == n {
		t.Error("a ClusterOAuthProvider and an OAuthProvider of one name share a client")
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	Register("test-twice", &countingBackend{})
	defer func() {
		if recover() == nil {
			t.Error("registering a field twice did not panic")
		}
	}()
	Register("test-twice", &countingBackend{})
}

// optionsBackend records the Options the Clients cache gave it.
type optionsBackend struct{ got *[]Options }

func (b optionsBackend) WithOptions(o Options) Factory {
	*b.got = append(*b.got, o)
	return b
}

func (b optionsBackend) Load(context.Context, oauthv1.ProviderObject, SecretReader) (func() (Client, error), error) {
	return func() (Client, error) { return builtClient{}, nil }, nil
}

// Issue 27: the manager's --allow-insecure-loopback-http reaches the backends through the
// Clients cache's Options.
func TestClientsPassesOptions(t *testing.T) {
	for _, allow := range []bool{false, true} {
		var got []Options
		r := &Clients{backends: map[string]Factory{"okta": optionsBackend{got: &got}},
			Options: Options{AllowInsecureLoopbackHTTP: allow}}
		if _, err := r.Client(context.Background(), cluster("p", "https://example.okta.com"), secretMap{}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].AllowInsecureLoopbackHTTP != allow {
			t.Errorf("backend got options %+v, want one with AllowInsecureLoopbackHTTP=%v", got, allow)
		}
	}
}
