package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// ClientSource gives the controllers the backend client of a provider object, built by the
// backend registered for the provider's spec field. The backend reads the Secrets it
// needs through a secretReader that enforces who may read what.
type ClientSource struct {
	// Cache is a *provider.Clients (unit tests give a stub).
	Cache ClientCache
	// Reader reads Secrets around the manager's cache, which holds only the Secrets the
	// manager writes.
	Reader client.Reader
	// RequiredLabels, when set, must be on every Secret a namespaced provider reads; one
	// without them is refused before its data is read.
	RequiredLabels map[string]string
	// Namespaces limits namespaced providers to these namespaces (--watch-namespaces); nil:
	// any.
	Namespaces []string

	// credentials are the Secrets each provider's client was last built from
	// (provider_finalizer.go).
	credentials credentialSecrets
}

// ClientCache builds and caches backend clients; *provider.Clients is the one.
type ClientCache interface {
	Client(ctx context.Context, obj oauthv1.ProviderObject, secrets provider.SecretReader) (provider.Client, error)
	Forget(obj oauthv1.ProviderObject)
}

// Client returns the backend client of p.
func (b *ClientSource) Client(ctx context.Context, p oauthv1.ProviderObject) (provider.Client, error) {
	reads := &secretReads{}
	prov, err := b.Cache.Client(ctx, p, &secretReader{reader: b.Reader, obj: p, requiredLabels: b.RequiredLabels,
		namespaces: newNamespaceSet(b.Namespaces), onRead: reads.add})
	if err != nil {
		return nil, err
	}
	b.credentials.remember(p, reads)
	// Every call is counted in clientcreds_backend_calls_total, by backend.
	return provider.Instrument(provider.BackendOf(p), prov), nil
}

// Forget drops the cached client of p, so the next Client reads its Secrets again.
func (b *ClientSource) Forget(p oauthv1.ProviderObject) { b.Cache.Forget(p) }

// secretReader is the provider.SecretReader handed to the backend of one provider object.
// A namespaced provider reads only in its own namespace (an empty namespace in a reference
// means that one); a cluster-scoped provider must name the namespace.
type secretReader struct {
	reader         client.Reader
	obj            oauthv1.ProviderObject
	requiredLabels map[string]string
	// namespaces a namespaced provider may be in (--watch-namespaces); nil: any. A cluster
	// provider's credentials namespace is allowed by the cluster admin who named it.
	namespaces namespaceSet
	// onRead, when set, is told every Secret whose value was read.
	onRead func(client.ObjectKey)
}

var _ provider.SecretReader = (*secretReader)(nil)

// ReadSecretKey returns the value of ref's key. Refusals wrap a Secret class of package
// provider; failures to reach the API server are returned unclassified.
func (r *secretReader) ReadSecretKey(ctx context.Context, ref provider.SecretRef) ([]byte, error) {
	own := r.obj.GetNamespace()
	if own != "" && !r.namespaces.allows(own) {
		return nil, fmt.Errorf("%w: Secret %s: namespace %q is outside --watch-namespaces", provider.ErrSecretForbidden, ref, own)
	}
	switch {
	case own != "" && ref.Namespace == "":
		ref.Namespace = own
	case own != "" && ref.Namespace != own:
		return nil, fmt.Errorf("%w: Secret %s: a namespaced provider reads Secrets only in its own namespace %q",
			provider.ErrSecretForbidden, ref, own)
	case ref.Namespace == "":
		return nil, fmt.Errorf("%w: the reference to Secret %q names no namespace", provider.ErrInvalidProvider, ref.Name)
	}
	key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}

	if own != "" && len(r.requiredLabels) > 0 {
		// Look at the labels alone first: an unlabelled Secret's data is never fetched.
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := r.reader.Get(ctx, key, m); err != nil {
			return nil, readError(ref, err)
		}
		if !hasLabels(m.Labels, r.requiredLabels) {
			return nil, notLabelled(ref, r.requiredLabels)
		}
		if isServiceAccountToken(m.Annotations, "") {
			return nil, serviceAccountToken(ref)
		}
	}
	var s corev1.Secret
	if err := r.reader.Get(ctx, key, &s); err != nil {
		return nil, readError(ref, err)
	}
	if own != "" && !hasLabels(s.Labels, r.requiredLabels) {
		return nil, notLabelled(ref, r.requiredLabels)
	}
	if isServiceAccountToken(s.Annotations, s.Type) {
		return nil, serviceAccountToken(ref)
	}
	if r.onRead != nil {
		r.onRead(key)
	}
	v := s.Data[ref.Key]
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: Secret %s has no key %q or it is empty", provider.ErrSecretNotFound, ref, ref.Key)
	}
	return v, nil
}

func readError(ref provider.SecretRef, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: Secret %s not found", provider.ErrSecretNotFound, ref)
	}
	return fmt.Errorf("read Secret %s: %w", ref, err)
}

func notLabelled(ref provider.SecretRef, want map[string]string) error {
	return fmt.Errorf("%w: Secret %s must carry the label(s) %v before it is read", provider.ErrSecretNotLabelled, ref, want)
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
