package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

const (
	// Finalizer holds an OAuthClient until its app is removed from the backend.
	Finalizer = "oauth.clientcreds.dev/finalizer"
	// DefaultResyncPeriod is the time between checks of an app in the backend (drift detection).
	DefaultResyncPeriod = 10 * time.Minute
)

// OAuthClientReconciler makes an OAuthClient's app exist in its backend, keeps the app in
// sync, and publishes its credentials in a Secret.
type OAuthClientReconciler struct {
	client.Client
	// APIReader reads around the cache (Secrets the cache does not hold).
	APIReader client.Reader
	// ClientSource gives the backend client of a provider object.
	ClientSource *ClientSource
	// Recorder records the events of state changes.
	Recorder events.EventRecorder
	// ResyncPeriod is the time between checks of each app in the backend; jittered ±10%.
	ResyncPeriod time.Duration
	// PropagationGrace is how long newly issued credentials that the token endpoint refuses
	// are retried before they are taken for bad and replaced (DefaultPropagationGrace).
	PropagationGrace time.Duration
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time

	// memory is what the reconciler remembers of each client between reconciles: a bounded
	// cache whose loss costs one more backend read, token request or denial backoff step
	// (oauthclient_memory.go). Everything else lives in status.
	memory clientMemory
}

// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=oauthclients,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=oauthclients/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=oauthclients/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is fetch → deletion → finalizer → phases → one status write.
func (r *OAuthClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	obj := &oauthv1.OAuthClient{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sp := &statusPatcher{client: r.Client, obj: obj, base: obj.DeepCopy()}
	defer func() {
		if err := sp.patch(ctx); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	var out outcome
	var err error
	switch {
	case !obj.DeletionTimestamp.IsZero():
		out, err = r.reconcileDelete(ctx, obj, sp)
	default:
		if err := r.ensureFinalizer(ctx, obj, sp); err != nil {
			return ctrl.Result{}, err
		}
		out, err = r.reconcilePhases(ctx, obj, sp)
	}
	if errors.Is(err, errStaleObject) {
		// The object changed since it was read (a lagging cache, or another writer): nothing
		// was done on the backend, and nothing is written; the next read is newer.
		sp.discard()
		return ctrl.Result{RequeueAfter: staleObjectRetry}, nil
	}
	if out.noConditions {
		return ctrl.Result{}, err
	}
	return r.finish(ctx, obj, out, err)
}

// ensureFinalizer adds Finalizer before anything is created in the backend.
func (r *OAuthClientReconciler) ensureFinalizer(ctx context.Context, obj *oauthv1.OAuthClient, sp *statusPatcher) error {
	if controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	patch := client.MergeFrom(obj.DeepCopy())
	controllerutil.AddFinalizer(obj, Finalizer)
	if err := r.Patch(ctx, obj, patch); err != nil {
		return fmt.Errorf("add finalizer: %w", err)
	}
	sp.rebase()
	return nil
}

// outcome is what the end of a reconcile needs from its phases: enough to set conditions,
// record an event and remember the drift check.
type outcome struct {
	// provider is the resolved provider object; nil when the provider was not resolved.
	provider oauthv1.ProviderObject
	// synced says the app was compared with the backend in this reconcile.
	synced bool
	// issued says why credentials were issued in this reconcile; "" when none were.
	issued string
	// grantsKey identifies the grants the phases worked with (grants.key).
	grantsKey string
	// noConditions says the reconcile sets no conditions: a deletion that did not fail at
	// the backend.
	noConditions bool
	// consumers is what reconcileConsumers found (spec.rotation.restart, nudgePods).
	consumers consumerState
}

// reconcilePhases runs the phases. Each phase takes what the earlier ones found as typed
// arguments and returns what it found as a typed result, so the order below is the only
// order that compiles; each makes one thing true or says why not, and lives in its own
// file (named in the comment of each call). finish (oauthclient_status.go) then turns the
// outcome into conditions.
func (r *OAuthClientReconciler) reconcilePhases(ctx context.Context, obj *oauthv1.OAuthClient, sp *statusPatcher) (outcome, error) {
	var out outcome
	obj.Status.SecretName = obj.SecretName()
	// oauthclient_template.go: before any backend call or write.
	tmpl, err := parseTemplates(obj)
	if err != nil {
		return out, err
	}
	// oauthclient_apis.go: before any backend call.
	granted, err := r.resolveAPIs(ctx, obj)
	if err != nil {
		return out, err
	}
	out.grantsKey = granted.key()
	if granted.refused != nil && obj.Status.AppID == "" && obj.Status.PendingCreate == nil {
		// Nothing in the backend to take a grant back from: refused before any call.
		return out, granted.refused
	}
	// oauthclient_provider.go, oauthclient_admission.go
	be, err := r.resolveProvider(ctx, obj, granted.scopes)
	out.provider = be.object
	if err != nil {
		return out, err
	}
	be.granted = granted
	// oauthclient_template.go
	if err := checkTemplates(obj, be, tmpl); err != nil {
		return out, err
	}
	// oauthclient_credentialsfrom.go: before any backend call.
	src, err := r.readCredentialsFrom(ctx, obj)
	if err != nil {
		return out, err
	}
	// oauthclient_readsecret.go
	found, err := r.loadSecret(ctx, obj)
	if err != nil {
		return out, err
	}
	if obj.Observes() {
		// oauthclient_observe.go: reads the backend, never writes to it.
		obs, err := r.reconcileObserved(ctx, obj, be, found, src, tmpl)
		out.synced, out.issued = obs.synced, obs.issued
		return out, err
	}
	meta.RemoveStatusCondition(&obj.Status.Conditions, oauthv1.ConditionDrifted)
	// oauthclient_key.go
	key, err := prepareKey(obj, found)
	if err != nil {
		return out, err
	}
	// oauthclient_app.go, oauthclient_claim.go
	app, err := r.reconcileApp(ctx, obj, be, found, key, sp)
	out.synced = app.synced
	if err != nil {
		return out, err
	}
	if granted.refused != nil {
		// oauthclient_apis.go
		return out, r.withdrawGrants(ctx, obj, be, app, key, src, tmpl, sp)
	}
	// oauthclient_credentials.go
	plan, err := r.reconcileCredentials(ctx, obj, be, app, key, src, sp)
	out.issued = plan.issued
	if err != nil {
		return out, err
	}
	// oauthclient_writesecret.go
	if err := r.reconcileSecret(ctx, obj, be, app.secret, app.state, plan, tmpl); err != nil {
		return out, err
	}
	// oauthclient_accesspolicy.go
	policy, err := r.reconcileAccessPolicy(ctx, obj, be, app.synced)
	out.synced = out.synced || policy.changed
	if err != nil {
		return out, err
	}
	// oauthclient_verify.go
	if err := r.verifyCredentials(ctx, obj, be, plan.next, newTokenCheck(obj, plan.issued, out.synced)); err != nil {
		return out, err
	}
	// oauthclient_consumers.go
	consumers, err := r.reconcileConsumers(ctx, obj)
	out.consumers = consumers
	if err != nil {
		return out, err
	}
	// oauthclient_retire.go
	return out, r.retireSecrets(ctx, obj, be, plan.next, consumers, sp)
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
