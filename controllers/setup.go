package controllers

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Workers of the provider health checks, per kind.
const (
	ClusterProviderWorkers    = 2
	NamespacedProviderWorkers = 4
)

// Options configure the controllers.
type Options struct {
	// MaxConcurrentReconciles of the OAuthClient controller.
	MaxConcurrentReconciles int
	// ResyncPeriod between drift checks of each app.
	ResyncPeriod time.Duration
	// HealthInterval between provider health checks.
	HealthInterval time.Duration
	// HealthTimeout bounds one provider health check (DefaultHealthTimeout when 0).
	HealthTimeout time.Duration
	// SecretTTL is how long what a backend read from its provider's Secrets (the API
	// token, a private key) is reused (provider.DefaultSecretTTL when 0). The manager's
	// --api-token-cache-ttl sets it; it becomes provider.Clients.SecretTTL.
	SecretTTL time.Duration
	// PropagationGrace is how long new credentials the token endpoint refuses are retried
	// before they are replaced (a backend may take a moment to accept a new secret).
	PropagationGrace time.Duration
	// AllowInsecureLoopbackHTTP lets providers use http:// backend URLs of loopback hosts
	// (an emulator on the same machine); without it they must be https
	// (--allow-insecure-loopback-http).
	AllowInsecureLoopbackHTTP bool
	// WatchNamespaces limits the controllers to these namespaces (--watch-namespaces); nil:
	// cluster-wide. The cache must be limited too (managerconfig.LimitCache).
	WatchNamespaces []string
}

// The secure metrics endpoint (--metrics-secure) asks the API server who is calling and
// whether they may read /metrics.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Setup registers the OAuthClient and OAuthAPI controllers and the health checks of both provider kinds.
// Backend clients come from the backends registered with provider.Register (the manager
// imports them).
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	clients := provider.NewClients()
	clients.SecretTTL = o.SecretTTL
	clients.Options = provider.Options{AllowInsecureLoopbackHTTP: o.AllowInsecureLoopbackHTTP}
	source := &ClientSource{Cache: clients, Reader: mgr.GetAPIReader(),
		RequiredLabels: map[string]string{LabelProviderCredentials: "true"}, Namespaces: o.WatchNamespaces}
	if err := indexAPIs(ctx, mgr); err != nil {
		return err
	}
	if err := (&OAuthAPIReconciler{
		Client:       mgr.GetClient(),
		ClientSource: source,
		Recorder:     mgr.GetEventRecorder("clientcreds"),
		ResyncPeriod: o.ResyncPeriod,
	}).SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: 2}); err != nil {
		return err
	}
	if err := (&OAuthClientReconciler{
		Client:           mgr.GetClient(),
		APIReader:        guardedReader{Reader: mgr.GetAPIReader(), allowed: newNamespaceSet(o.WatchNamespaces)},
		ClientSource:     source,
		Recorder:         mgr.GetEventRecorder("clientcreds"),
		ResyncPeriod:     o.ResyncPeriod,
		PropagationGrace: o.PropagationGrace,
	}).SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: max(o.MaxConcurrentReconciles, 1)}); err != nil {
		return err
	}
	// The OAuthClient and provider gauges are read from the cache at each scrape.
	if err := registerStateCollector(NewStateCollector(mgr.GetCache())); err != nil {
		return err
	}
	// Each provider kind has its own controller, work queue and workers: tenants' slow
	// OAuthProviders hold only the OAuthProvider workers, each for at most HealthTimeout,
	// and never delay the ClusterOAuthProviders' checks. Namespaced providers get more
	// workers, as every tenant's share them.
	for _, kind := range []struct {
		newObj  func() oauthv1.ProviderObject
		workers int
	}{
		{func() oauthv1.ProviderObject { return &oauthv1.ClusterOAuthProvider{} }, ClusterProviderWorkers},
		{func() oauthv1.ProviderObject { return &oauthv1.OAuthProvider{} }, NamespacedProviderWorkers},
	} {
		if err := (&ProviderReconciler{
			Client: mgr.GetClient(), ClientSource: source, NewObject: kind.newObj,
			HealthInterval: o.HealthInterval, HealthTimeout: o.HealthTimeout,
		}).SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: kind.workers}); err != nil {
			return err
		}
	}
	return nil
}
