package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// LabelProviderCredentials must be "true" on every Secret an OAuthProvider (namespaced)
// reads: without it the Secret is not read (reason CredentialsSecretNotLabelled), so an
// OAuthProvider cannot be pointed at just any Secret of its namespace.
const LabelProviderCredentials = "oauth.clientcreds.dev/provider-credentials"

// credentialsFinalizerPrefix + a provider's UID is the finalizer that provider puts on
// each Secret its backend reads. It keeps the credentials readable while the provider
// still has OAuthClients whose apps must be deleted through it — when a namespace is
// deleted, its Secrets go at the same moment as everything else in it.
const credentialsFinalizerPrefix = "provider.oauth.clientcreds.dev/"

func credentialsFinalizer(p oauthv1.ProviderObject) string {
	return credentialsFinalizerPrefix + string(p.GetUID())
}

// isServiceAccountToken reports whether a Secret holds a ServiceAccount token, by its
// type or by the annotation the token controller sets (visible in metadata alone).
func isServiceAccountToken(annotations map[string]string, typ corev1.SecretType) bool {
	if typ == corev1.SecretTypeServiceAccountToken {
		return true
	}
	_, ok := annotations[corev1.ServiceAccountNameKey]
	return ok
}

func serviceAccountToken(ref provider.SecretRef) error {
	return fmt.Errorf("%w: Secret %s holds a ServiceAccount token, which is never sent to a backend", provider.ErrSecretForbidden, ref)
}

// secretReads collects the Secrets one Load read.
type secretReads struct {
	mu   sync.Mutex
	keys []client.ObjectKey
}

func (s *secretReads) add(k client.ObjectKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.keys, k) {
		s.keys = append(s.keys, k)
	}
}

// credentialSecrets remembers, per provider object, the Secrets its client was last built
// from. A client returned from the registry's cache reads nothing and changes nothing here.
type credentialSecrets struct {
	mu sync.Mutex
	m  map[string][]client.ObjectKey
}

func providerKey(p oauthv1.ProviderObject) string {
	return kindOf(p) + "/" + p.GetNamespace() + "/" + p.GetName()
}

func (c *credentialSecrets) remember(p oauthv1.ProviderObject, reads *secretReads) {
	reads.mu.Lock()
	keys := slices.Clone(reads.keys)
	reads.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]client.ObjectKey{}
	}
	c.m[providerKey(p)] = keys
}

func (c *credentialSecrets) of(p oauthv1.ProviderObject) []client.ObjectKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.m[providerKey(p)])
}

func (c *credentialSecrets) forget(p oauthv1.ProviderObject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, providerKey(p))
}

// holdCredentials puts p's finalizer on the Secrets its client was built from and takes it
// off every other Secret in those namespaces (and p's own): after a change of the spec the
// previous Secret is free again. With keep == false it takes it off everywhere (p is gone).
func (r *ProviderReconciler) holdCredentials(ctx context.Context, p oauthv1.ProviderObject, keep bool) error {
	fin := credentialsFinalizer(p)
	known := r.ClientSource.credentials.of(p)
	if keep && len(known) == 0 {
		return nil // nothing known yet: change nothing
	}
	var held []client.ObjectKey
	if keep {
		held = known
	}
	namespaces := []string{}
	if ns := p.GetNamespace(); ns != "" {
		namespaces = append(namespaces, ns)
	}
	for _, k := range known {
		if !slices.Contains(namespaces, k.Namespace) {
			namespaces = append(namespaces, k.Namespace)
		}
	}
	for _, k := range held {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := r.ClientSource.Reader.Get(ctx, k, m); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("read Secret %s: %w", k, err)
		}
		if !m.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(m, fin) {
			continue // a Secret being deleted takes no new finalizer
		}
		if err := r.patchFinalizer(ctx, m, fin, true); err != nil {
			return err
		}
	}
	for _, ns := range namespaces {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
		if err := r.ClientSource.Reader.List(ctx, list, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("list Secrets in %s: %w", ns, err)
		}
		for i := range list.Items {
			m := &list.Items[i]
			if !controllerutil.ContainsFinalizer(m, fin) || slices.Contains(held, client.ObjectKeyFromObject(m)) {
				continue
			}
			if err := r.patchFinalizer(ctx, m, fin, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *ProviderReconciler) patchFinalizer(ctx context.Context, m *metav1.PartialObjectMetadata, fin string, add bool) error {
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	patch := client.MergeFromWithOptions(m.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if add {
		controllerutil.AddFinalizer(m, fin)
	} else {
		controllerutil.RemoveFinalizer(m, fin)
	}
	if err := r.Patch(ctx, m, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update the finalizers of Secret %s/%s: %w", m.Namespace, m.Name, err)
	}
	return nil
}
