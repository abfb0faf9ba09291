package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/clientcreds/clientcreds/internal/testenv"
)

// TestVerifierTokenReviewWithKubeAPIServer runs a real kube-apiserver whose
// webhook token authenticator is bin/verifier's /tokenreview, and asks the
// API server who an emulator-issued access token is (SelfSubjectReview).
func TestVerifierTokenReviewWithKubeAPIServer(t *testing.T) {
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	c := startEmulator(t)
	verifierURL := startVerifier(t, "verifier-tokenreview", c)

	kubeconfig := filepath.Join(t.TempDir(), "webhook.kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: verifier
  cluster:
    server: `+verifierURL+`/tokenreview
users:
- name: apiserver
  user: {}
contexts:
- name: webhook
  context: {cluster: verifier, user: apiserver}
current-context: webhook
`), 0o600); err != nil {
		t.Fatal(err)
	}

	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	env.ControlPlane.GetAPIServer().Configure().
		Set("authentication-token-webhook-config-file", kubeconfig).
		Set("authentication-token-webhook-version", "v1").
		Set("authentication-token-webhook-cache-ttl", "1s")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping kube-apiserver: %v", err)
		}
	})

	whoami := func(token string) (*authv1.SelfSubjectReview, error) {
		anon := rest.AnonymousClientConfig(cfg)
		anon.BearerToken = token
		cs, err := kubernetes.NewForConfig(anon)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authv1.SelfSubjectReview{}, metav1.CreateOptions{})
	}

	t.Run("valid token authenticates as the client", func(t *testing.T) {
		r, err := whoami(c.token(t, helloScope))
		if err != nil {
			t.Fatalf("SelfSubjectReview: %v", err)
		}
		u := r.Status.UserInfo
		if u.Username != "oauth:"+c.clientID {
			t.Fatalf("username = %q, want oauth:%s", u.Username, c.clientID)
		}
		for _, g := range []string{"oauth:scope:" + helloScope, "system:authenticated"} {
			if !slices.Contains(u.Groups, g) {
				t.Fatalf("groups = %v, want %s among them", u.Groups, g)
			}
		}
	})
	for name, token := range map[string]func(t *testing.T) string{
		"token without the required scope": func(t *testing.T) string { return c.token(t, otherScope) },
		"forged token": func(t *testing.T) string {
			tok := c.token(t, helloScope)
			return tok[:len(tok)-8] + "AAAAAAAA"
		},
		"not a JWT": func(*testing.T) string { return "definitely-not-a-jwt" },
	} {
		t.Run(name+" is unauthorized", func(t *testing.T) {
			_, err := whoami(token(t))
			if !apierrors.IsUnauthorized(err) {
				t.Fatalf("SelfSubjectReview error = %v, want 401 Unauthorized", err)
			}
		})
	}
}
