// Package oauthapiwatch makes the verifier follow one OAuthAPI: it watches
// the object and hands its status.issuer, status.audience and spec.rules to
// the verifier (a verifier.Reloader) whenever they change, and withdraws
// them when the object is missing, being deleted, or has no issuer and
// audience in its status yet.
//
// It lives beside internal/verifier, not in it: the verifier runs without
// Kubernetes and without the operator's types, and only this package knows
// both. It reads the object as JSON into the few fields it needs (see
// object) rather than importing api/v1alpha1, which would pull
// controller-runtime into the verifier binary; the envtest tests create
// the objects with api/v1alpha1's types, so a renamed field fails them.
//
// The watch is a client-go informer on a single object (list and watch in
// the object's namespace with the field selector metadata.name=<name>),
// over the dynamic client. That is the least it takes: the verifier needs
// get, list and watch on oauthapis in that one namespace (a Role), no
// manager, no leader election and no cache of other objects.
package oauthapiwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/clientcreds/clientcreds/internal/verifier"
)

// Target is what the watch configures; *verifier.Reloader is one.
type Target interface {
	// Apply makes s the configuration, reporting whether anything changed;
	// on error the previous configuration stays.
	Apply(s verifier.Settings) (bool, error)
	// Suspend withdraws the configuration: every request is refused (503).
	Suspend(reason string)
}

// Errors.
var (
	// ErrRef marks an --oauthapi value that is not namespace/name.
	ErrRef = errors.New("invalid OAuthAPI reference")
	// ErrNoStatus: the OAuthAPI's status has no issuer or no audience yet
	// (the operator writes them once it has reconciled the API).
	ErrNoStatus = errors.New("the OAuthAPI has no status.issuer and status.audience yet")
)

// Ref names one OAuthAPI.
type Ref struct{ Namespace, Name string }

func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// ParseRef reads "namespace/name".
func ParseRef(s string) (Ref, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return Ref{}, fmt.Errorf("%w %q: want namespace/name", ErrRef, s)
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return Ref{}, fmt.Errorf("%w %q: namespace: %s", ErrRef, s, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return Ref{}, fmt.Errorf("%w %q: name: %s", ErrRef, s, strings.Join(errs, "; "))
	}
	return Ref{Namespace: ns, Name: name}, nil
}

// Group, version and resource of OAuthAPI (api/v1alpha1).
const (
	Group    = "oauth.clientcreds.dev"
	Version  = "v1alpha1"
	Resource = "oauthapis"
)

// object is what the verifier reads of an OAuthAPI (api/v1alpha1's
// OAuthAPI: spec.rules, whose items have the rules file's fields, and
// status.issuer and status.audience).
type object struct {
	Spec struct {
		Rules []verifier.Rule `json:"rules"`
	} `json:"spec"`
	Status struct {
		Issuer   string `json:"issuer"`
		Audience string `json:"audience"`
	} `json:"status"`
}

// SettingsOf returns the verifier settings an OAuthAPI declares: its
// status.issuer and status.audience (written by the operator) and its
// spec.rules, field for field the rules file's shape. It does not check the
// rules; the verifier does, exactly as it checks a rules file.
func SettingsOf(u *unstructured.Unstructured) (verifier.Settings, error) {
	var o object
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &o); err != nil {
		return verifier.Settings{}, fmt.Errorf("reading the OAuthAPI: %w", err)
	}
	if o.Status.Issuer == "" || o.Status.Audience == "" {
		return verifier.Settings{}, ErrNoStatus
	}
	return verifier.Settings{Issuer: o.Status.Issuer, Audience: o.Status.Audience, Rules: o.Spec.Rules}, nil
}

// RESTConfig returns the configuration to reach the API server: the
// kubeconfig file when one is named, else the pod's in-cluster
// configuration.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
	} else if cfg, err = rest.InClusterConfig(); err != nil {
		return nil, fmt.Errorf("no in-cluster configuration (outside a pod, name a kubeconfig with --kubeconfig): %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "clientcreds-verifier"
	return cfg, nil
}

// Config configures a Watch.
type Config struct {
	Ref    Ref
	Client dynamic.Interface
	Target Target
	Logger *slog.Logger
}

// Watch follows one OAuthAPI.
type Watch struct {
	ref    Ref
	target Target
	log    *slog.Logger
	inf    cache.SharedIndexInformer

	mu     sync.Mutex // serializes sync
	synced bool
}

var gvr = schema.GroupVersionResource{Group: Group, Version: Version, Resource: Resource}

// New returns a Watch; Run starts it.
func New(cfg Config) *Watch {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ri := cfg.Client.Resource(gvr).Namespace(cfg.Ref.Namespace)
	sel := fields.OneTermEqualSelector("metadata.name", cfg.Ref.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return ri.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return ri.Watch(ctx, o)
		},
	}
	w := &Watch{
		ref:    cfg.Ref,
		target: cfg.Target,
		log:    cfg.Logger.With("oauthapi", cfg.Ref.String()),
		inf:    cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 0, cache.Indexers{}),
	}
	return w
}

// Run watches until ctx ends. Until the first list succeeds the target
// stays as it is (a new Reloader: not configured); list errors then become
// the reason it gives.
func (w *Watch) Run(ctx context.Context) error {
	notify := func(any) { w.sync() }
	if _, err := w.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, _ any) { w.sync() },
		DeleteFunc: notify,
	}); err != nil {
		return err
	}
	if err := w.inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		w.watchError(err)
	}); err != nil {
		return err
	}
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), w.inf.HasSynced) {
			w.mu.Lock()
			w.synced = true
			w.mu.Unlock()
			w.sync()
		}
	}()
	w.inf.RunWithContext(ctx)
	return nil
}

func (w *Watch) watchError(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.synced {
		// Nothing read yet: say why (RBAC, CRD missing, API server down).
		w.target.Suspend(fmt.Sprintf("oauthapi %s cannot be read: %v", w.ref, err))
	}
	w.log.Warn("Watching the OAuthAPI failed; retrying", "error", err)
}

// sync hands the target what the informer's store holds now. Every store
// change is followed by a call, so the last call always sees the latest
// object, whatever order concurrent calls ran in.
func (w *Watch) sync() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.synced {
		// Objects arriving with the initial list; the sync after it
		// decides, so that a missing object is noticed too.
		return
	}
	obj, exists, err := w.inf.GetStore().GetByKey(w.ref.String())
	if err != nil || !exists {
		w.target.Suspend(fmt.Sprintf("oauthapi %s not found", w.ref))
		w.log.Warn("OAuthAPI not found; refusing every request (503) until it exists")
		return
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	if u.GetDeletionTimestamp() != nil {
		w.target.Suspend(fmt.Sprintf("oauthapi %s is being deleted", w.ref))
		w.log.Warn("OAuthAPI is being deleted; refusing every request (503)")
		return
	}
	s, err := SettingsOf(u)
	if errors.Is(err, ErrNoStatus) {
		w.target.Suspend(fmt.Sprintf("oauthapi %s: %v (is the clientcreds operator running?)", w.ref, err))
		w.log.Warn("OAuthAPI has no issuer and audience in its status yet; refusing every request (503)")
		return
	}
	if err != nil {
		w.refused(u, err)
		return
	}
	changed, err := w.target.Apply(s)
	if err != nil {
		w.refused(u, err)
		return
	}
	if changed {
		w.log.Info("Applied the OAuthAPI's settings", "resourceVersion", u.GetResourceVersion(),
			"issuer", s.Issuer, "audience", s.Audience, "rules", len(s.Rules))
	}
}

func (w *Watch) refused(u *unstructured.Unstructured, err error) {
	w.log.Error("Refusing the OAuthAPI's settings; the last good ones stay in force (if none, every request is refused with 503)",
		"resourceVersion", u.GetResourceVersion(), "error", err)
}
