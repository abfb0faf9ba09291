package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Backoff of a client whose token requests the org's access policies deny (External).
const (
	accessDeniedMinBackoff = time.Minute
	accessDeniedMaxBackoff = 10 * time.Minute
)

// policyManager returns the client's backend as an access-policy manager when its provider
// asked for managed access policies; nil otherwise (the org's own policies decide). A
// backend that cannot manage policies refuses such a provider when it loads it.
func policyManager(st *reconcileState) provider.AccessPolicyManager {
	mgr, ok := st.prov.(provider.AccessPolicyManager)
	if !ok || !mgr.ManagesAccessPolicies() {
		return nil
	}
	return mgr
}

// managesAccessPolicies reports whether the client's provider has managed access policies.
func managesAccessPolicies(st *reconcileState) bool { return policyManager(st) != nil }

// accessPolicySpec is the one access policy a Managed provider keeps for the client.
func accessPolicySpec(obj *oauthv1.OAuthClient) provider.AccessPolicySpec {
	id := obj.Namespace + "/" + obj.Name
	return provider.AccessPolicySpec{
		// The backend cuts both to its limits, with a short hash.
		Name:          "clientcreds " + id,
		Description:   "Managed by clientcreds for OAuthClient " + id + ": client_credentials for exactly its scopes",
		ClientID:      obj.Status.ClientID,
		Scopes:        obj.Spec.Scopes,
		TokenLifetime: obj.TokenLifetime(),
	}
}

// reconcileAccessPolicy makes the client's access policy exist and match the spec when the
// provider manages access policies: before the first token check, and whenever the app is
// read from the backend (spec change, resync), so a policy edited or deleted in the console
// is repaired. With External it does nothing (a policy created earlier under Managed is left
// in place and no longer tracked).
func (r *OAuthClientReconciler) reconcileAccessPolicy(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	mgr := policyManager(st)
	if mgr == nil {
		obj.Status.AccessPolicyID = ""
		return nil
	}
	if obj.Status.AccessPolicyID != "" && !st.sync {
		return nil
	}
	if len(obj.Spec.Scopes) == 0 {
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: "spec.scopes is empty: a managed access policy grants exactly spec.scopes, so at least one is needed"}
	}
	res, err := mgr.EnsureAccessPolicy(ctx, obj.Status.AccessPolicyID, accessPolicySpec(obj))
	if res.ID != "" {
		obj.Status.AccessPolicyID = res.ID
	}
	if errors.Is(err, provider.ErrInvalidScope) {
		return &conditionError{kind: progressKind, reason: oauthv1.ReasonInvalidScope, err: err,
			msg: fmt.Sprintf("The authorization server refused the scopes %q for the client's access policy", obj.Spec.Scopes)}
	}
	if err != nil {
		return err
	}
	switch {
	case res.Created:
		st.sync = true // the token check must run with the new policy
		r.event(obj, corev1.EventTypeNormal, "AccessPolicyCreated", "Create",
			"Created access policy %s for client %s", res.ID, obj.Status.ClientID)
	case res.Repaired:
		st.sync = true
		r.event(obj, corev1.EventTypeNormal, "AccessPolicyUpdated", "Update",
			"Updated access policy %s to match the spec", res.ID)
	}
	return nil
}

// deleteAccessPolicy deletes the client's managed access policy (deletionPolicy Delete),
// before its app. The provider must be resolved.
func (r *OAuthClientReconciler) deleteAccessPolicy(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	if obj.Status.AccessPolicyID == "" {
		return nil
	}
	mgr, ok := st.prov.(provider.AccessPolicyManager)
	if !ok {
		return nil
	}
	if err := mgr.DeleteAccessPolicy(ctx, obj.Status.AccessPolicyID); err != nil && !errors.Is(err, provider.ErrNotFound) {
		return err
	}
	r.event(obj, corev1.EventTypeNormal, "AccessPolicyDeleted", "Delete", "Deleted access policy %s", obj.Status.AccessPolicyID)
	obj.Status.AccessPolicyID = ""
	return nil
}

// accessDenied is the verdict on a token request the authorization server's access
// policies refused (access_denied). No credential is replaced because of it.
func (r *OAuthClientReconciler) accessDenied(st *reconcileState, err error) error {
	obj := st.obj
	if managesAccessPolicies(st) {
		// The policy was just made; the backend may take a moment to apply it.
		return &conditionError{kind: progressKind, reason: oauthv1.ReasonAccessPolicyDenied, err: err,
			msg: fmt.Sprintf("The authorization server denied client %s a token for scopes %q although its access policy %s grants them; retrying",
				obj.Status.ClientID, obj.Spec.Scopes, obj.Status.AccessPolicyID)}
	}
	return r.deniedVerdict(st, r.denials.next(obj.UID, denialKey(obj), r.now()))
}

// heldDenial returns the verdict of a client whose last token request the access policies
// denied less than its backoff ago, when nothing that could change the answer changed (the
// spec, the object's annotations, the credentials): its own Secret write or a provider
// health check must not turn the slow backoff into a loop.
func (r *OAuthClientReconciler) heldDenial(st *reconcileState) error {
	if st.issued != "" || managesAccessPolicies(st) {
		return nil
	}
	wait, ok := r.denials.holding(st.obj.UID, denialKey(st.obj), r.now())
	if !ok {
		return nil
	}
	return r.deniedVerdict(st, wait)
}

func (r *OAuthClientReconciler) deniedVerdict(st *reconcileState, retryAfter time.Duration) error {
	obj := st.obj
	server := serverName(obj.Status.Issuer)
	return &conditionError{kind: waitKind, reason: oauthv1.ReasonAccessPolicyDenied, retryAfter: retryAfter,
		msg: fmt.Sprintf("The authorization server %s denied client %s a token for scopes %q: no access policy grants them. "+
			"Add the client to an access policy of the authorization server with a rule allowing client_credentials for these scopes, "+
			"or set accessPolicy: Managed on %s %q",
			server, obj.Status.ClientID, obj.Spec.Scopes, obj.Spec.ProviderRef.Kind, obj.Spec.ProviderRef.Name)}
}

// denialKey is what a denied client's next token request waits for a change of: the spec
// generation and the annotations (an annotation change asks for a check now).
func denialKey(obj *oauthv1.OAuthClient) string {
	keys := make([]string, 0, len(obj.Annotations))
	for k, v := range obj.Annotations {
		keys = append(keys, k+"="+v)
	}
	slices.Sort(keys)
	return fmt.Sprintf("%d/%s/%s", obj.Generation, obj.Status.ClientID, strings.Join(keys, "\x00"))
}

// denialBackoff spaces the token requests of clients the access policies deny: 1 min,
// doubling, at most 10 min. In memory: a restarted manager starts again at 1 min.
type denialBackoff struct {
	mu sync.Mutex
	m  map[types.UID]*denial
}

type denial struct {
	n     int
	key   string
	until time.Time
}

// next records a denial and returns how long to wait before the next token request.
func (d *denialBackoff) next(uid types.UID, key string, now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[types.UID]*denial{}
	}
	e := d.m[uid]
	if e == nil {
		e = &denial{}
		d.m[uid] = e
	}
	wait := accessDeniedMinBackoff
	for i := 0; i < e.n && wait < accessDeniedMaxBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, accessDeniedMaxBackoff)
	e.n++
	e.key, e.until = key, now.Add(wait)
	return wait
}

// holding reports whether the client waits out a denial, and for how long still.
func (d *denialBackoff) holding(uid types.UID, key string, now time.Time) (time.Duration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.m[uid]
	if e == nil || e.key != key || !now.Before(e.until) {
		return 0, false
	}
	return e.until.Sub(now), true
}

func (d *denialBackoff) reset(uid types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, uid)
}

// serverName names an authorization server by its issuer URL for humans: the issuer's last
// path segment quoted (the server's id in many backends, e.g. "default"), then the issuer.
func serverName(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || issuer == "" {
		return strconv.Quote(issuer)
	}
	if seg := path.Base(strings.TrimSuffix(u.Path, "/")); seg != "" && seg != "." && seg != "/" {
		return fmt.Sprintf("%q (%s)", seg, issuer)
	}
	return issuer
}
