package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/clientcreds/clientcreds/internal/provider"
)

// namespaceSet is the set of namespaces the manager may touch; nil means all.
type namespaceSet map[string]bool

func newNamespaceSet(namespaces []string) namespaceSet {
	if len(namespaces) == 0 {
		return nil
	}
	s := namespaceSet{}
	for _, n := range namespaces {
		s[n] = true
	}
	return s
}

func (s namespaceSet) allows(ns string) bool { return s == nil || s[ns] }

// guardedReader is the uncached reader limited to the watched namespaces: a read in any
// other namespace (or across all of them) is refused before it reaches the API server.
type guardedReader struct {
	client.Reader
	allowed namespaceSet
}

func (g guardedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if !g.allowed.allows(key.Namespace) {
		return fmt.Errorf("%w: namespace %q is outside --watch-namespaces", provider.ErrSecretForbidden, key.Namespace)
	}
	return g.Reader.Get(ctx, key, obj, opts...)
}

func (g guardedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	if g.allowed != nil && !g.allowed[lo.Namespace] {
		return fmt.Errorf("%w: listing in namespace %q is outside --watch-namespaces", provider.ErrSecretForbidden, lo.Namespace)
	}
	return g.Reader.List(ctx, list, opts...)
}
