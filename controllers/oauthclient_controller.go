package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

const (
	// Finalizer holds an OAuthClient until its app is removed from the backend.
	Finalizer = "oauth.clientcreds.dev/finalizer"
	// DefaultResyncPeriod between checks of an app in the backend (drift detection).
	DefaultResyncPeriod = 10 * time.Minute
)

// OAuthClientReconciler makes an OAuthClient's app exist in its backend, keeps the app in
// sync, and publishes its credentials in a Secret.
type OAuthClientReconciler struct {
	client.Client
	// APIReader reads around the cache (Secrets the cache does not hold).
	APIReader client.Reader
	// Backends gives the backend client of a provider object.
	Backends *Backends
	Recorder events.EventRecorder
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

// reconcilePhases runs the phases in order; each makes one thing true or says why not.
// Each phase lives in its own file, in this order: oauthclient_provider.go (with
// _admission.go), _readsecret.go, _key.go, _app.go (with _claim.go), _credentials.go,
// _writesecret.go, _accesspolicy.go, _verify.go, _retire.go; then finish
// (oauthclient_status.go) turns the outcome into conditions.
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
