package install

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/clientcreds/clientcreds/internal/testenv"
)

// TestServerSideDryRun sends what each install path renders to a real kube-apiserver as a
// server-side apply with dryRun=All (what `kubectl apply --server-side --dry-run=server`
// sends): the API server validates every object, CRDs and RBAC included, against its own
// schemas and admission, and stores nothing.
func TestServerSideDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	cfg := testenv.StartT(t)
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	renders := map[string][]*unstructured.Unstructured{
		"helm defaults": mustHelm(t),
		"helm watchNamespaces, serviceMonitor": mustHelm(t, "--set", "watchNamespaces={team-a,team-b}",
			"--set", "metrics.serviceMonitor.enabled=true", "--set", "hostNetwork=true"),
		"helm probes.exec, hostNetwork":          mustHelm(t, "--set", "probes.exec=true", "--set", "hostNetwork=true"),
		"kustomize config/default (make deploy)": kustomize(t, "default"),
		"kustomize config/overlays/namespaced":   kustomize(t, "overlays/namespaced"),
	}
	for name, objs := range renders {
		t.Run(name, func(t *testing.T) {
			// Namespaced objects need their namespace to exist; a dry run creates nothing.
			for _, o := range objs {
				if ns := o.GetNamespace(); ns != "" {
					createNamespace(ctx, t, c, ns)
				}
			}
			checked, skipped := 0, 0
			for _, o := range objs {
				if _, err := c.RESTMapper().RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version); meta.IsNoMatchError(err) &&
					o.GroupVersionKind().Group == "monitoring.coreos.com" {
					// prometheus-operator's CRDs are not the project's to install here; the
					// chart tests check these objects' content.
					t.Logf("not sent (no %s CRD on this API server): %s", o.GroupVersionKind().Group, key(o))
					skipped++
					continue
				}
				if err := dryRunApply(ctx, c, o); err != nil {
					t.Errorf("%s: %v", key(o), err)
				}
				checked++
			}
			if checked < 10 {
				t.Errorf("only %d objects sent (%d skipped); the rendering is suspiciously small", checked, skipped)
			}
			t.Logf("%d objects accepted by the API server (dry run), %d not sent", checked, skipped)
		})
	}

	// The check can fail: the API server refuses a Deployment it would not store.
	t.Run("a broken Deployment is refused", func(t *testing.T) {
		var d *unstructured.Unstructured
		for _, o := range renders["helm defaults"] {
			if o.GetKind() == "Deployment" {
				d = o.DeepCopy()
			}
		}
		if d == nil {
			t.Fatal("no Deployment rendered")
		}
		if err := unstructured.SetNestedField(d.Object, int64(-1), "spec", "replicas"); err != nil {
			t.Fatal(err)
		}
		err := dryRunApply(ctx, c, d)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.replicas") {
			t.Fatalf("replicas -1: got %v, want the API server's Invalid naming spec.replicas", err)
		}
	})
}

func dryRunApply(ctx context.Context, c client.Client, o *unstructured.Unstructured) error {
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
		client.DryRunAll, client.ForceOwnership, client.FieldOwner("clientcreds-install-test"))
}

func createNamespace(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}
