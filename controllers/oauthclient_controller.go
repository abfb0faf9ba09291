package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

const (
	// Finalizer holds an OAuthClient until its app is removed from the backend.
	Finalizer = "oauth.clientcreds.dev/finalizer"
	// DefaultResyncPeriod between checks of an app in the backend (drift detection).
	DefaultResyncPeriod = 10 * time.Minute
	// providerIndexKey indexes OAuthClients by the provider they reference.
	providerIndexKey = "spec.providerRef"
	// waitForProvider is how often a client waiting for its provider looks again (the
	// provider watch usually wakes it sooner).
	waitForProvider = 30 * time.Second
	// secretConflictRecheck is how often a client whose Secret name is taken looks again.
	secretConflictRecheck = 5 * time.Minute
	// featureRecheck is how often a client whose backend lacks a feature looks again.
	featureRecheck = 5 * time.Minute
)

// OAuthClientReconciler makes an OAuthClient's app exist in its backend, keeps the app in
// sync, and publishes its credentials in a Secret.
type OAuthClientReconciler struct {
	client.Client
	// APIReader reads around the cache (Secrets the cache does not hold).
	APIReader client.Reader
	Providers *Providers
	Recorder  events.EventRecorder
	// ResyncPeriod between checks of each app in the backend; jittered ±10%.
	ResyncPeriod time.Duration
	// PropagationGrace: how long newly issued credentials that the token endpoint refuses
	// are retried before they are taken for bad and replaced (DefaultPropagationGrace).
	PropagationGrace time.Duration
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time

	// lastSync is when each client's app was last read from the backend, by UID. In memory
	// on purpose: a restarted manager checks every app once.
	lastSync sync.Map
	// badCreds marks clients whose published credentials the token endpoint refused; the
	// next reconcile issues new ones.
	badCreds sync.Map
	// superseded holds, by UID, resource versions this controller has replaced with its own
	// writes, so a reconcile that reads one from a lagging cache waits instead of acting on
	// a status it already changed (and, say, adopting the app it just created).
	superseded staleVersions
	// denials spaces the retries of clients the access policies deny (External).
	denials denialBackoff
}

// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=oauthclients,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=oauthclients/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=oauthclients/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// reconcileState carries what one reconcile learns from phase to phase.
type reconcileState struct {
	obj         *oauthv1.OAuthClient
	providerObj oauthv1.ProviderObject
	prov        provider.Provider
	endpoints   provider.Endpoints
	// secret is the current output Secret, nil when absent.
	secret *corev1.Secret
	// current are the credentials in the Secret when they are intact and not known bad.
	current *credentials
	// next are the credentials to publish.
	next *credentials
	// issued says why next was issued in this reconcile ("" when next == current).
	issued string
	// retireAt: once next is published, the other client secrets are revoked at this time.
	retireAt time.Time
	// app as read from or written to the backend in this reconcile; nil if not read.
	app *provider.App
	// sync: the app is read from the backend in this reconcile (resync, spec change, ...).
	sync bool
	// needSecret: the app has no usable secret value for us (adopted or recreated without one).
	needSecret bool
}

func (st *reconcileState) providerObject() oauthv1.ProviderObject { return st.providerObj }

// Reconcile is fetch → deletion → finalizer → phases → one status write.
func (r *OAuthClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	obj := &oauthv1.OAuthClient{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.superseded.isStale(obj) {
		return ctrl.Result{RequeueAfter: staleCacheWait}, nil
	}
	st := &reconcileState{obj: obj}
	sp := &statusPatcher{client: r.Client, obj: obj, base: obj.DeepCopy(), written: &r.superseded}
	defer func() {
		if err := sp.patch(ctx); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	if !obj.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, st, sp)
	}
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		before := obj.ResourceVersion
		patch := client.MergeFrom(obj.DeepCopy())
		controllerutil.AddFinalizer(obj, Finalizer)
		if err := r.Patch(ctx, obj, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
		if obj.ResourceVersion != before {
			r.superseded.wrote(obj, before)
		}
		sp.rebase()
	}

	err := r.reconcilePhases(ctx, st, sp)
	return r.finish(ctx, st, err)
}

func (r *OAuthClientReconciler) reconcilePhases(ctx context.Context, st *reconcileState, sp *statusPatcher) error {
	obj := st.obj
	obj.Status.SecretName = obj.SecretName()
	if err := r.resolveProvider(ctx, st); err != nil {
		return err
	}
	if err := r.loadSecret(ctx, st); err != nil {
		return err
	}
	if err := r.prepareKey(st); err != nil {
		return err
	}
	if err := r.reconcileApp(ctx, st, sp); err != nil {
		return err
	}
	if err := r.reconcileCredentials(ctx, st); err != nil {
		return err
	}
	if err := r.reconcileSecret(ctx, st); err != nil {
		return err
	}
	if err := r.reconcileAccessPolicy(ctx, st); err != nil {
		return err
	}
	if err := r.verifyCredentials(ctx, st); err != nil {
		return err
	}
	return r.retireSecrets(ctx, st)
}

// finish turns the outcome of the phases into conditions and a result, and records an
// event when readiness changes.
func (r *OAuthClientReconciler) finish(ctx context.Context, st *reconcileState, err error) (ctrl.Result, error) {
	before := readyState(st.obj)
	res, err := r.conclude(ctx, st, err)
	after := readyState(st.obj)
	// A new client's first Ready is already told by AppCreated; events are cached by the
	// recorder for minutes, so one per create keeps a batch of thousands cheap.
	firstReady := before.status == "" && after.status == metav1.ConditionTrue && st.issued == issuedCreate
	if (after.status != before.status || after.reason != before.reason) && !firstReady {
		typ := corev1.EventTypeWarning
		if after.status == metav1.ConditionTrue {
			typ = corev1.EventTypeNormal
		}
		r.event(st.obj, typ, after.reason, "Reconcile", "%s", after.message)
	}
	return res, err
}

type readiness struct {
	status          metav1.ConditionStatus
	reason, message string
}

func readyState(obj *oauthv1.OAuthClient) readiness {
	c := meta.FindStatusCondition(obj.Status.Conditions, oauthv1.ConditionReady)
	if c == nil {
		return readiness{}
	}
	return readiness{c.Status, c.Reason, c.Message}
}

// conclude maps the phases' outcome to conditions and a result.
func (r *OAuthClientReconciler) conclude(ctx context.Context, st *reconcileState, err error) (ctrl.Result, error) {
	obj := st.obj
	conds := conditions{list: &obj.Status.Conditions, generation: obj.Generation}
	wasReady := isReady(obj.Status.Conditions, obj.Generation)
	if err == nil {
		obj.Status.ObservedGeneration = obj.Generation
		conds.ready(oauthv1.ReasonSucceeded, fmt.Sprintf("Client %s is active and its credentials in Secret %s work", obj.Status.ClientID, obj.SecretName()))
		if st.sync {
			r.lastSync.Store(obj.UID, r.now())
		}
		return ctrl.Result{RequeueAfter: r.nextWake(obj)}, nil
	}
	obj.Status.ObservedGeneration = obj.Generation

	var ce *conditionError
	switch {
	case errors.As(err, &ce):
		switch ce.kind {
		case waitKind:
			conds.notReady(ce.reason, ce.msg)
		case stallKind:
			conds.stalled(ce.reason, ce.msg)
		default:
			conds.progressing(ce.reason, ce.Error(), wasReady)
		}
		if ce.retryAfter > 0 {
			return ctrl.Result{RequeueAfter: ce.retryAfter}, nil
		}
		if ce.kind == stallKind {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	case errors.Is(err, provider.ErrRateLimited):
		rateLimitWaits.Inc()
		conds.progressing(oauthv1.ReasonRateLimited, "Waiting for the backend's rate limit to reset: "+err.Error(), wasReady)
		if at, ok := provider.RetryAt(err); ok {
			return ctrl.Result{RequeueAfter: max(time.Until(at), time.Second)}, nil
		}
		return ctrl.Result{}, err
	case errors.Is(err, provider.ErrUnauthorized):
		conds.notReady(oauthv1.ReasonInvalidAPIToken, "The backend refused the provider's API token: "+err.Error())
		if p := st.providerObject(); p != nil {
			r.Providers.Forget(p)
		}
		return ctrl.Result{RequeueAfter: refusedTokenRecheck}, nil
	case errors.Is(err, provider.ErrForbidden):
		conds.notReady(oauthv1.ReasonForbidden, "The provider's API token may not make a call this client needs: "+err.Error())
		if p := st.providerObject(); p != nil {
			r.Providers.Forget(p) // a new token (or role) is read on the next attempt
		}
		return ctrl.Result{RequeueAfter: refusedTokenRecheck}, nil
	case errors.Is(err, provider.ErrFeatureNotEnabled):
		conds.notReady(oauthv1.ReasonFeatureNotEnabled, "The backend org lacks a feature this client needs: "+err.Error())
		return ctrl.Result{RequeueAfter: featureRecheck}, nil
	case errors.Is(err, provider.ErrTransient):
		conds.progressing(oauthv1.ReasonBackendError, err.Error(), wasReady)
		return ctrl.Result{}, err
	case errors.Is(err, provider.ErrPermanent), errors.Is(err, provider.ErrConflict):
		conds.stalled(oauthv1.ReasonBackendRejected, err.Error())
		log.FromContext(ctx).Error(err, "Backend refused the request")
		return ctrl.Result{RequeueAfter: jitter(r.resyncPeriod())}, nil
	default:
		conds.progressing(oauthv1.ReasonProgressing, err.Error(), wasReady)
		return ctrl.Result{}, err
	}
}

// nextWake is when a healthy client needs looking at again: the resync, a rotation, or
// the end of a grace period, whichever is first.
func (r *OAuthClientReconciler) nextWake(obj *oauthv1.OAuthClient) time.Duration {
	wake := jitter(r.resyncPeriod())
	now := r.now()
	if t := obj.Status.RetireAfter; t != nil {
		wake = min(wake, max(t.Sub(now), time.Second))
	}
	if due, ok := rotationDue(obj); ok {
		wake = min(wake, max(due.Sub(now), time.Second))
	}
	return wake
}

func (r *OAuthClientReconciler) resyncPeriod() time.Duration {
	if r.ResyncPeriod > 0 {
		return r.ResyncPeriod
	}
	return DefaultResyncPeriod
}

func (r *OAuthClientReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// event records a state change on the OAuthClient.
func (r *OAuthClientReconciler) event(obj *oauthv1.OAuthClient, typ, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, typ, reason, action, note, args...)
	}
}

// statusPatcher writes the status once, at the end, and only when it changed. A phase that
// must persist something before an external call (crash safety) calls patch early.
type statusPatcher struct {
	client  client.Client
	obj     *oauthv1.OAuthClient
	base    *oauthv1.OAuthClient
	written *staleVersions
}

func (p *statusPatcher) patch(ctx context.Context) error {
	if equality.Semantic.DeepEqual(p.base.Status, p.obj.Status) {
		return nil
	}
	before := p.obj.ResourceVersion
	if err := p.client.Status().Patch(ctx, p.obj, client.MergeFrom(p.base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patch status: %w", err)
	}
	if p.obj.ResourceVersion != before {
		p.written.wrote(p.obj, before)
	}
	p.rebase()
	return nil
}

// staleCacheWait is how long a reconcile that read a superseded version waits for the
// cache to catch up.
const staleCacheWait = 200 * time.Millisecond

// staleVersions remembers, per object, the resource versions replaced by this controller's
// own writes until the cache shows the newest one. Resource versions are compared for
// equality only, as the API conventions ask.
type staleVersions struct {
	mu     sync.Mutex
	byID   map[types.UID]*versionTrail
	writes int
}

type versionTrail struct {
	latest string
	old    map[string]bool
	since  time.Time
}

// maxCacheLag bounds how long a version is taken for stale: a cache that lags longer is
// broken in some other way, and waiting would stop the object for good.
const maxCacheLag = 10 * time.Second

// wrote records that obj now has a new resource version, replacing before.
func (s *staleVersions) wrote(obj client.Object, before string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[types.UID]*versionTrail{}
	}
	// A trail is only consulted by the object's next reconcile; one that nobody consulted
	// within maxCacheLag is useless. Sweep them now and then so a steady fleet keeps none.
	if s.writes++; s.writes%1024 == 0 {
		for uid, t := range s.byID {
			if time.Since(t.since) > maxCacheLag {
				delete(s.byID, uid)
			}
		}
	}
	t := s.byID[obj.GetUID()]
	if t == nil {
		t = &versionTrail{old: map[string]bool{}}
		s.byID[obj.GetUID()] = t
	}
	t.old[before] = true
	t.latest = obj.GetResourceVersion()
	t.since = time.Now()
}

// isStale reports whether obj is a version this controller has already replaced; once
// the cache shows the latest write, the trail is dropped.
func (s *staleVersions) isStale(obj client.Object) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.byID[obj.GetUID()]
	if t == nil {
		return false
	}
	if t.old[obj.GetResourceVersion()] && time.Since(t.since) < maxCacheLag {
		return true
	}
	delete(s.byID, obj.GetUID())
	return false
}

func (s *staleVersions) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, uid)
}

func (p *statusPatcher) rebase() { p.base = p.obj.DeepCopy() }

// conditionError is a phase's verdict that maps to specific conditions.
type conditionError struct {
	kind       conditionKind
	reason     string
	msg        string
	retryAfter time.Duration
	err        error
}

type conditionKind int

const (
	// progressKind: working on it; retried (with backoff unless retryAfter).
	progressKind conditionKind = iota
	// waitKind: waiting for something outside the object (provider, token Secret).
	waitKind
	// stallKind: needs a human.
	stallKind
)

func (e *conditionError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *conditionError) Unwrap() error { return e.err }

// SetupWithManager registers the controller: OAuthClients (spec and annotation changes),
// their Secrets (owned, from the label-selected cache) and the providers they reference.
func (r *OAuthClientReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts controller.Options) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &oauthv1.OAuthClient{}, providerIndexKey,
		func(o client.Object) []string {
			c := o.(*oauthv1.OAuthClient)
			return []string{providerIndexValue(c.Spec.ProviderRef.Kind, c.Namespace, c.Spec.ProviderRef.Name)}
		}); err != nil {
		return fmt.Errorf("index oauthclients by provider: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&oauthv1.OAuthClient{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		Watches(&oauthv1.ClusterOAuthProvider{}, r.clientsOfProvider(), builder.WithPredicates(providerReadinessChanged{})).
		Watches(&oauthv1.OAuthProvider{}, r.clientsOfProvider(), builder.WithPredicates(providerReadinessChanged{})).
		WithOptions(opts).
		Complete(r)
}

func providerIndexValue(kind, clientNamespace, name string) string {
	if kind == oauthv1.KindClusterOAuthProvider {
		return kind + "//" + name
	}
	return kind + "/" + clientNamespace + "/" + name
}
