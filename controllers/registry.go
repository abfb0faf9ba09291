package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// ProviderConfig is what a backend needs to be reached.
type ProviderConfig struct {
	OrgURL                string
	AuthorizationServerID string
	APIToken              string
	// ManageAccessPolicies: spec.okta.accessPolicy is Managed.
	ManageAccessPolicies bool
}

// ProviderFactory builds a backend client. The manager wires the Okta backend; it must not
// call the backend.
type ProviderFactory func(cfg ProviderConfig) (provider.Provider, error)

// errAPITokenMissing: the API-token Secret or its key is missing or empty.
var errAPITokenMissing = errors.New("api token missing")

// Providers builds backend clients from provider objects and keeps them, so every
// OAuthClient of one provider shares one client (and, through it, one rate budget).
// The API-token Secret is read with an uncached reader: the manager's Secret cache only
// holds the Secrets it writes. A read is reused for TokenTTL.
type Providers struct {
	Reader   client.Reader
	Factory  ProviderFactory
	TokenTTL time.Duration
	Now      func() time.Time

	mu      sync.Mutex
	entries map[string]*providerEntry
}

type providerEntry struct {
	spec    oauthv1.OktaProvider // the spec the entry was built from
	fetched time.Time
	hash    string // of the config, token included
	prov    provider.Provider
}

func providerKey(p oauthv1.ProviderObject) string {
	return fmt.Sprintf("%T/%s/%s", p, p.GetNamespace(), p.GetName())
}

// Get returns the backend client for p, reading its API token when needed.
func (r *Providers) Get(ctx context.Context, p oauthv1.ProviderObject) (provider.Provider, error) {
	spec := p.ProviderSpec().Okta
	if spec == nil {
		return nil, fmt.Errorf("%w: provider has no okta section", errInvalidProvider)
	}
	now := r.now()
	key := providerKey(p)

	r.mu.Lock()
	e := r.entries[key]
	if e != nil && e.spec == *spec && now.Sub(e.fetched) < r.TokenTTL {
		r.mu.Unlock()
		return e.prov, nil
	}
	r.mu.Unlock()

	token, err := r.readToken(ctx, p)
	if err != nil {
		return nil, err
	}
	cfg := ProviderConfig{OrgURL: spec.OrgURL, AuthorizationServerID: spec.AuthorizationServer(), APIToken: token,
		ManageAccessPolicies: spec.ManagesAccessPolicies()}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%t\x00%s", cfg.OrgURL, cfg.AuthorizationServerID, cfg.ManageAccessPolicies, cfg.APIToken)))
	hash := hex.EncodeToString(sum[:])

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries == nil {
		r.entries = map[string]*providerEntry{}
	}
	if e := r.entries[key]; e != nil && e.hash == hash {
		e.fetched, e.spec = now, *spec
		return e.prov, nil
	}
	prov, err := r.Factory(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidProvider, err)
	}
	r.entries[key] = &providerEntry{spec: *spec, fetched: now, hash: hash, prov: prov}
	return prov, nil
}

// Forget drops the client for p, so the next Get reads the API token again (after the
// backend refused it, or when the provider is deleted).
func (r *Providers) Forget(p oauthv1.ProviderObject) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.entries, providerKey(p))
}

func (r *Providers) readToken(ctx context.Context, p oauthv1.ProviderObject) (string, error) {
	ref := p.ProviderSpec().Okta.APITokenSecretRef
	name := types.NamespacedName{Namespace: p.TokenSecretNamespace(), Name: ref.Name}
	var s corev1.Secret
	if err := r.Reader.Get(ctx, name, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%w: Secret %s not found", errAPITokenMissing, name)
		}
		return "", fmt.Errorf("read API-token Secret %s: %w", name, err)
	}
	token := string(s.Data[ref.TokenKey()])
	if token == "" {
		return "", fmt.Errorf("%w: Secret %s has no key %q or it is empty", errAPITokenMissing, name, ref.TokenKey())
	}
	return token, nil
}

func (r *Providers) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// errInvalidProvider: the provider object cannot be turned into a backend client.
var errInvalidProvider = errors.New("invalid provider")
