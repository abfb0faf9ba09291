package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// OAuthAPIReconciler makes an OAuthAPI's scopes exist on its provider's authorization
// server (backends with Capabilities.ServerScopes), reports the audience and issuer of its
// tokens, and lists the OAuthClients it grants scopes to. The grants themselves reach the
// backend through each OAuthClient (oauthclient_apis.go).
//
// One authorization server per provider: every OAuthAPI of a provider puts its scopes on
// the provider's authorization server (the one its spec names), so a client
// of several APIs needs one token issuer; two APIs cannot claim one scope there
// (ScopeConflict, first come first served).
type OAuthAPIReconciler struct {
	client.Client
	// ClientSource gives the backend client of a provider object.
	ClientSource *ClientSource
	// Recorder records the events of state changes.
	Recorder events.EventRecorder
	// ResyncPeriod is the time between comparisons of the scopes with the backend; jittered.
	ResyncPeriod time.Duration
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time

	// lastSync remembers, per OAuthAPI UID, the generation and time its scopes were last
	// compared with the backend, so a change of a client (grantedClients) costs no backend
	// call. A cache: losing it costs one comparison.
	lastSync sync.Map
}

type apiSync struct {
	generation int64
	at         time.Time
}

// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=oauthapis,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=oauthapis/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=oauth.clientcreds.dev,resources=oauthapis/finalizers,verbs=update

// Reconcile is fetch → deletion → finalizer → phases → one status write.
func (r *OAuthAPIReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	api := &oauthv1.OAuthAPI{}
	if err := r.Get(ctx, req.NamespacedName, api); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	st := &apiStatusWriter{client: r.Client, obj: api, base: api.DeepCopy()}
	defer func() {
		if err := st.patch(ctx); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	if !api.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, api, st)
	}
	if !controllerutil.ContainsFinalizer(api, Finalizer) {
		patch := client.MergeFrom(api.DeepCopy())
		controllerutil.AddFinalizer(api, Finalizer)
		if err := r.Patch(ctx, api, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
		st.rebase()
	}
	p, err := r.reconcileAPI(ctx, api, st)
	return r.conclude(ctx, api, p, err)
}

// reconcileAPI runs the phases: provider, admission, conflicts, granted clients, then the
// backend (audience, scopes). It returns the provider object when it was read.
func (r *OAuthAPIReconciler) reconcileAPI(ctx context.Context, api *oauthv1.OAuthAPI, st *apiStatusWriter) (oauthv1.ProviderObject, error) {
	ref := api.Spec.ProviderRef
	p, err := getProvider(ctx, r.Client, ref, api.Namespace)
	if err != nil {
		return nil, err
	}
	if err := r.admit(ctx, api, p); err != nil {
		return p, err
	}
	if err := providerNotReady(p, ref); err != nil {
		return p, err
	}
	api.Status.Issuer = p.ProviderStatus().Issuer
	owners, err := scopeOwners(ctx, r.Client, apiProviderKey(api))
	if err != nil {
		return p, err
	}
	// What the cluster alone says comes first, so status shows it whatever the backend does.
	if api.Status.GrantedClients, err = r.grantedClients(ctx, api, owners); err != nil {
		return p, err
	}
	if c := conflicts(api, owners); len(c) > 0 {
		return p, waitFor(errScopeConflict, 0, fmt.Sprintf("Scopes claimed by another OAuthAPI on the authorization server of %s %q: %s; this OAuthAPI's scopes are not reconciled",
			ref.Kind, ref.Name, strings.Join(c, ", ")))
	}
	if !r.syncDue(api) {
		return p, nil
	}
	prov, err := r.ClientSource.Client(ctx, p)
	if err != nil {
		return p, providerClientError(err, ref, r.now(), r.resyncPeriod())
	}
	sm := provider.ScopesOf(prov)
	if sm == nil {
		// Scopes are not registered server-side; they only bound the clients' grants, and
		// the audience is the API's own.
		api.Status.Audience = api.Spec.Audience
		if api.Status.Audience == "" {
			api.Status.Audience = apiKey(api.Namespace, api.Name)
		}
		api.Status.ManagedScopes = nil
		r.synced(api)
		return p, nil
	}
	info, err := sm.AuthorizationServer(ctx)
	if err != nil {
		return p, err
	}
	if err := r.settleAudience(api, info, ref); err != nil {
		return p, err
	}
	if err := r.reconcileScopes(ctx, api, sm, st); err != nil {
		return p, err
	}
	r.synced(api)
	return p, nil
}

// synced records that api's scopes were compared with the backend now.
func (r *OAuthAPIReconciler) synced(api *oauthv1.OAuthAPI) {
	r.lastSync.Store(api.UID, apiSync{generation: api.Generation, at: r.now()})
}

// admit applies the provider's admission to the API as to a client: a
// ClusterOAuthProvider's namespaceSelector to the API's namespace, and its allowedScopes to
// the scopes the API declares.
func (r *OAuthAPIReconciler) admit(ctx context.Context, api *oauthv1.OAuthAPI, p oauthv1.ProviderObject) error {
	spec := p.ProviderSpec()
	kind := kindOf(p)
	if sel := spec.NamespaceSelector; sel != nil && p.GetNamespace() == "" {
		var ns corev1.Namespace
		err := r.Get(ctx, client.ObjectKey{Name: api.Namespace}, &ns)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("read namespace %s: %w", api.Namespace, err)
		}
		if ok, why := namespaceMatches(&ns, err == nil, sel); !ok {
			return &conditionError{kind: stallKind, reason: oauthv1.ReasonNamespaceNotAllowed,
				msg: fmt.Sprintf("%s %q does not admit namespace %q (%s)", kind, p.GetName(), api.Namespace, why)}
		}
	}
	names := make([]string, 0, len(api.Spec.Scopes))
	for _, s := range api.Spec.Scopes {
		names = append(names, s.Name)
	}
	if denied := deniedScopes(names, spec.AllowedScopes); len(denied) > 0 {
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonScopeNotAllowed,
			msg: fmt.Sprintf("%s %q does not allow the scope(s) %s; allowed: %s",
				kind, p.GetName(), strings.Join(denied, ", "), describeAllowed(spec.AllowedScopes))}
	}
	return nil
}

// settleAudience sets status.audience from the authorization server's audiences: spec.audience
// must be one of them; without it the first is the API's.
func (r *OAuthAPIReconciler) settleAudience(api *oauthv1.OAuthAPI, info provider.ServerInfo, ref oauthv1.ProviderReference) error {
	switch {
	case api.Spec.Audience != "" && !slices.Contains(info.Audiences, api.Spec.Audience):
		api.Status.Audience = ""
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: fmt.Sprintf("spec.audience %q is not an audience of the authorization server of %s %q (it has %q): the audience is set per authorization server; remove spec.audience or change the server's",
				api.Spec.Audience, ref.Kind, ref.Name, info.Audiences)}
	case api.Spec.Audience != "":
		api.Status.Audience = api.Spec.Audience
	case len(info.Audiences) == 0:
		api.Status.Audience = ""
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: fmt.Sprintf("the authorization server of %s %q has no audience", ref.Kind, ref.Name)}
	default:
		api.Status.Audience = info.Audiences[0]
	}
	return nil
}

// reconcileScopes makes the server's scopes match spec.scopes: missing ones are recorded
// in status.managedScopes, then created; existing ones are updated when their description
// or display name differ; managed ones no longer in the spec are deleted. A scope that
// existed before the OAuthAPI declared it (made by hand, say) is used but not managed: it
// is never deleted.
func (r *OAuthAPIReconciler) reconcileScopes(ctx context.Context, api *oauthv1.OAuthAPI, sm provider.ScopeManager, st *apiStatusWriter) error {
	have, err := sm.ListScopes(ctx)
	if err != nil {
		return err
	}
	byName := make(map[string]provider.Scope, len(have))
	for _, s := range have {
		byName[s.Name] = s
	}
	var create []oauthv1.APIScope
	for _, want := range api.Spec.Scopes {
		s, ok := byName[want.Name]
		switch {
		case !ok:
			create = append(create, want)
		case s.System:
			return waitFor(errScopeConflict, 0, fmt.Sprintf("The scope %q is a system scope of the authorization server; it cannot be declared by an OAuthAPI", want.Name))
		default:
			// Ours (in status.managedScopes), or one that was there before: used as it is, its
			// description and display name set to the spec's, and never deleted.
			if s.Description == want.Description && s.DisplayName == want.DisplayName {
				continue
			}
			s.Description, s.DisplayName = want.Description, want.DisplayName
			if _, err := sm.UpdateScope(ctx, s); err != nil {
				return err
			}
			r.event(api, corev1.EventTypeNormal, EventScopeUpdated, "Update", "Updated scope %s to match the spec", s.Name)
		}
	}
	if len(create) > 0 {
		// Intent first: a create whose answer is lost is taken over on the next look.
		for _, s := range create {
			if !slices.Contains(api.Status.ManagedScopes, s.Name) {
				api.Status.ManagedScopes = append(api.Status.ManagedScopes, s.Name)
			}
		}
		if err := st.guard(ctx); err != nil {
			return err
		}
		for _, want := range create {
			s, err := sm.CreateScope(ctx, provider.Scope{Name: want.Name, Description: want.Description, DisplayName: want.DisplayName})
			if err != nil {
				return err
			}
			r.event(api, corev1.EventTypeNormal, EventScopeCreated, "Create", "Created scope %s (%s)", s.Name, s.ID)
		}
	}
	kept := api.Status.ManagedScopes[:0:0]
	for _, name := range api.Status.ManagedScopes {
		if apiDeclares(api, name) {
			kept = append(kept, name)
			continue
		}
		if s, ok := byName[name]; ok && !s.System {
			if err := sm.DeleteScope(ctx, s.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
				return err
			}
			r.event(api, corev1.EventTypeNormal, EventScopeDeleted, "Delete", "Deleted scope %s, no longer in spec.scopes", name)
		}
	}
	api.Status.ManagedScopes = kept
	return nil
}

// grantedClients lists the OAuthClients whose spec.apis names api and that api grants:
// on its provider, allowed, every scope declared and owned by api.
func (r *OAuthAPIReconciler) grantedClients(ctx context.Context, api *oauthv1.OAuthAPI, owners map[string]*oauthv1.OAuthAPI) ([]oauthv1.GrantedClient, error) {
	var list oauthv1.OAuthClientList
	if err := r.List(ctx, &list, client.MatchingFields{apiClientsIndexKey: apiKey(api.Namespace, api.Name)}); err != nil {
		return nil, fmt.Errorf("list oauthclients: %w", err)
	}
	var out []oauthv1.GrantedClient
	for i := range list.Items {
		c := &list.Items[i]
		if !c.DeletionTimestamp.IsZero() ||
			providerIndexValue(c.Spec.ProviderRef.Kind, c.Namespace, c.Spec.ProviderRef.Name) != apiProviderKey(api) {
			continue
		}
		i := slices.IndexFunc(c.Spec.APIs, func(g oauthv1.APIGrant) bool { return g.Namespace == api.Namespace && g.Name == api.Name })
		if i < 0 {
			continue
		}
		scopes := c.Spec.APIs[i].Scopes
		owned := !slices.ContainsFunc(scopes, func(s string) bool {
			o := owners[s]
			return !apiDeclares(api, s) || (o != nil && o.UID != api.UID)
		})
		if !owned {
			continue
		}
		ok, _, err := apiAllows(ctx, r.Client, api, c.Namespace, c.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, oauthv1.GrantedClient{Namespace: c.Namespace, Name: c.Name, Scopes: slices.Clone(scopes)})
		}
	}
	slices.SortFunc(out, func(a, b oauthv1.GrantedClient) int {
		return strings.Compare(apiKey(a.Namespace, a.Name), apiKey(b.Namespace, b.Name))
	})
	return out, nil
}

// reconcileDelete deletes the managed scopes (deletionPolicy Delete) and releases the
// finalizer. A provider that is gone releases it too: there is nothing left to delete
// through; the event says the scopes were left.
func (r *OAuthAPIReconciler) reconcileDelete(ctx context.Context, api *oauthv1.OAuthAPI, st *apiStatusWriter) error {
	if !controllerutil.ContainsFinalizer(api, Finalizer) {
		return nil
	}
	if len(api.Status.ManagedScopes) > 0 {
		if api.Spec.DeletionPolicy == oauthv1.DeletionPolicyOrphan {
			r.event(api, corev1.EventTypeNormal, EventScopesOrphaned, "Delete", "Left the scopes %s on the authorization server (deletionPolicy Orphan)",
				strings.Join(api.Status.ManagedScopes, ", "))
		} else if err := r.deleteScopes(ctx, api); err != nil {
			return err
		}
	}
	patch := client.MergeFrom(api.DeepCopy())
	controllerutil.RemoveFinalizer(api, Finalizer)
	if err := r.Patch(ctx, api, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer: %w", err)
	}
	st.discard()
	r.lastSync.Delete(api.UID)
	return nil
}

func (r *OAuthAPIReconciler) deleteScopes(ctx context.Context, api *oauthv1.OAuthAPI) error {
	ref := api.Spec.ProviderRef
	p, err := getProvider(ctx, r.Client, ref, api.Namespace)
	if errors.Is(err, errProviderNotFound) {
		r.event(api, corev1.EventTypeWarning, EventScopesOrphaned, "Delete", "%s %q is gone: the scopes %s were left on its authorization server",
			ref.Kind, ref.Name, strings.Join(api.Status.ManagedScopes, ", "))
		return nil
	}
	if err != nil {
		return err
	}
	prov, err := r.ClientSource.Client(ctx, p)
	if err != nil {
		return err
	}
	sm := provider.ScopesOf(prov)
	if sm == nil {
		return nil
	}
	have, err := sm.ListScopes(ctx)
	if err != nil {
		return err
	}
	for _, s := range have {
		if s.System || !slices.Contains(api.Status.ManagedScopes, s.Name) {
			continue
		}
		if err := sm.DeleteScope(ctx, s.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
		r.event(api, corev1.EventTypeNormal, EventScopeDeleted, "Delete", "Deleted scope %s", s.Name)
	}
	return nil
}

// conclude turns the phases' outcome into conditions and a result.
func (r *OAuthAPIReconciler) conclude(ctx context.Context, api *oauthv1.OAuthAPI, p oauthv1.ProviderObject, err error) (ctrl.Result, error) {
	before := meta.FindStatusCondition(api.Status.Conditions, oauthv1.ConditionReady)
	var beforeReason string
	if before != nil {
		beforeReason = before.Reason
	}
	wasReady := isReady(api.Status.Conditions, api.Generation)
	api.Status.ObservedGeneration = api.Generation
	conds := conditions{list: &api.Status.Conditions, generation: api.Generation}
	var res ctrl.Result
	if err == nil {
		conds.ready(oauthv1.ReasonSucceeded, fmt.Sprintf("Scopes %s on the authorization server of %s %q (audience %q); %d client(s) granted",
			describeAllowed(apiScopeNames(api)), api.Spec.ProviderRef.Kind, api.Spec.ProviderRef.Name, api.Status.Audience, len(api.Status.GrantedClients)))
		res = ctrl.Result{RequeueAfter: jitter(r.resyncPeriod())}
	} else {
		if !isRefusal(err) {
			r.lastSync.Delete(api.UID)
		}
		v := judge(err, r.now(), r.resyncPeriod())
		if v.credentialsRefused && p != nil {
			r.ClientSource.Forget(p)
		}
		if v.logged {
			log.FromContext(ctx).Error(err, "Backend refused the request", "reason", v.reason)
		}
		res, err = v.apply(conds, wasReady, err)
	}
	after := meta.FindStatusCondition(api.Status.Conditions, oauthv1.ConditionReady)
	if after != nil && (before == nil || before.Status != after.Status || beforeReason != after.Reason) {
		typ := corev1.EventTypeWarning
		if after.Status == metav1.ConditionTrue {
			typ = corev1.EventTypeNormal
		}
		r.event(api, typ, after.Reason, "Reconcile", "%s", after.Message)
	}
	return res, err
}

// syncDue says whether the scopes must be compared with the backend: a new generation, not
// Ready, never compared by this manager, or the resync period passed.
func (r *OAuthAPIReconciler) syncDue(api *oauthv1.OAuthAPI) bool {
	if !isReady(api.Status.Conditions, api.Generation) || api.Status.ObservedGeneration != api.Generation {
		return true
	}
	v, ok := r.lastSync.Load(api.UID)
	if !ok {
		return true
	}
	last := v.(apiSync)
	return last.generation != api.Generation || r.now().Sub(last.at) >= r.resyncPeriod()*85/100
}

func apiScopeNames(api *oauthv1.OAuthAPI) []string {
	names := make([]string, 0, len(api.Spec.Scopes))
	for _, s := range api.Spec.Scopes {
		names = append(names, s.Name)
	}
	return names
}

func (r *OAuthAPIReconciler) resyncPeriod() time.Duration {
	if r.ResyncPeriod > 0 {
		return r.ResyncPeriod
	}
	return DefaultResyncPeriod
}

func (r *OAuthAPIReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *OAuthAPIReconciler) event(api *oauthv1.OAuthAPI, typ, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(api, nil, typ, reason, action, note, args...)
	}
}

// apiStatusWriter writes an OAuthAPI's status once, at the end, when it changed; guard
// writes it earlier with optimistic locking, before a side effect status records (a scope
// about to be created).
type apiStatusWriter struct {
	client    client.Client
	obj       *oauthv1.OAuthAPI
	base      *oauthv1.OAuthAPI
	discarded bool
}

func (w *apiStatusWriter) patch(ctx context.Context) error {
	if w.discarded || equality.Semantic.DeepEqual(w.base.Status, w.obj.Status) {
		return nil
	}
	if err := w.client.Status().Patch(ctx, w.obj, client.MergeFrom(w.base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patch status: %w", err)
	}
	w.rebase()
	return nil
}

func (w *apiStatusWriter) guard(ctx context.Context) error {
	if err := w.client.Status().Patch(ctx, w.obj, client.MergeFromWithOptions(w.base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("record scopes before creating them: %w", err)
	}
	w.rebase()
	return nil
}

func (w *apiStatusWriter) rebase()  { w.base = w.obj.DeepCopy() }
func (w *apiStatusWriter) discard() { w.discarded = true }

// apiRequest is the reconcile request of an OAuthAPI.
func apiRequest(namespace, name string) ctrl.Request {
	return ctrl.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}
}
