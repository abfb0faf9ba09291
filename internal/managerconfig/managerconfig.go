// Package managerconfig turns the manager's flags into controller-runtime settings: which
// namespaces it watches (--watch-namespaces) and what its cache holds. It has no controller
// logic; cmd/manager and the tests that start a manager use it.
package managerconfig

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// ParseNamespaces reads the value of --watch-namespaces: namespace names separated by
// commas. Empty means every namespace (nil).
func ParseNamespaces(v string) ([]string, error) {
	var out []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if errs := validation.ValidateNamespaceName(n, false); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", n, strings.Join(errs, "; "))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// LimitCache restricts the manager's cache — every watch of a namespaced kind — to
// namespaces; nil leaves it cluster-wide. Cluster-scoped kinds (ClusterOAuthProviders,
// Namespaces) are watched as before.
func LimitCache(o *cache.Options, namespaces []string) {
	if len(namespaces) == 0 {
		return
	}
	o.DefaultNamespaces = map[string]cache.Config{}
	for _, n := range namespaces {
		o.DefaultNamespaces[n] = cache.Config{}
	}
}

// CacheOptions limits the manager's Secret cache (and watch) to the Secrets it writes —
// those carrying managedLabel (controllers.LabelClient) — and keeps in memory only what the
// controllers read.
func CacheOptions(managedLabel string) cache.Options {
	managed, err := labels.NewRequirement(managedLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant, valid label key
	}
	return cache.Options{
		DefaultTransform: trimForCache,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.NewSelector().Add(*managed)},
		},
	}
}

// lastAppliedAnnotation is where client-side `kubectl apply` keeps a copy of the whole
// object; for an OAuthClient it roughly doubles what the cache would hold.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// trimForCache drops managedFields from every cached object (an update without them keeps
// the server's) and the last-applied copy from OAuthClients, which the controller only
// ever patches, never updates whole — so at 5,000 clients the cache holds the objects,
// not two or three renderings of each.
func trimForCache(in any) (any, error) {
	obj, ok := in.(client.Object)
	if !ok {
		return in, nil
	}
	obj.SetManagedFields(nil)
	if c, ok := obj.(*oauthv1.OAuthClient); ok {
		delete(c.Annotations, lastAppliedAnnotation)
	}
	return obj, nil
}
