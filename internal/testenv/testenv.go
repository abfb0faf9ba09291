// Package testenv starts a real kube-apiserver and etcd (controller-runtime's envtest) with
// the project's CRDs installed, for integration tests. The binaries come from
// KUBEBUILDER_ASSETS, or from bin/k8s/<version> in the repository (hack/build-control-plane.sh).
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/testutil"
)

// K8sVersion is the control-plane version the tests run against. hack/k8s-version is
// the source of truth; `make verify` fails when this copy disagrees with it.
const K8sVersion = "1.37.2"

// AssetsDir is where kube-apiserver, etcd and kubectl are.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(testutil.RepoRoot(), "bin", "k8s", K8sVersion)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s not found in %s: run `make control-plane` (or `make test`) first", b, dir)
		}
	}
	return dir, nil
}

// Scheme knows the built-in kinds and the project's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := oauthv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// New returns an envtest environment with the CRDs from config/crd/bases.
func New() (*envtest.Environment, error) {
	dir, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	crds := filepath.Join(testutil.RepoRoot(), "config", "crd", "bases")
	if _, err := os.Stat(crds); err != nil {
		return nil, errors.New("config/crd/bases is missing: run `make manifests`")
	}
	return &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		CRDDirectoryPaths:        []string{crds},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   Scheme(),
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}, nil
}

// StartT starts the control plane of New for one test and stops it when the test ends;
// the test fails at once when it cannot start.
func StartT(t testing.TB) *rest.Config {
	t.Helper()
	env, err := New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Log(err)
		}
	})
	return cfg
}
