package controllers

import (
	"context"
	"errors"
	"fmt"
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

// managesAccessPolicies reports whether the client's provider has accessPolicy: Managed.
func managesAccessPolicies(st *reconcileState) bool {
	if st.providerObj == nil {
		return false
	}
	o := st.providerObj.ProviderSpec().Okta
	return o != nil && o.ManagesAccessPolicies()
}

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
	if !managesAccessPolicies(st) {
		obj.Status.AccessPolicyID = ""
		return nil
	}
	if obj.Status.AccessPolicyID != "" && !st.sync {
		return nil
	}
	mgr, ok := st.prov.(provider.AccessPolicyManager)
	if !ok {
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: "The provider's backend cannot manage access policies; set accessPolicy: External"}
	}
	if len(obj.Spec.Scopes) == 0 {
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: "spec.scopes is empty: a managed access policy grants exactly spec.scopes, so at least one is needed"}
	}
	res, err := mgr.EnsureAccessPolicy(ctx, obj.Status.AccessPolicyID, accessPolicySpec(obj))
	if res.ID != "" {
		obj.Status.AccessPolicyID = res.ID
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
	server := obj.Status.Issuer
	if o := st.providerObj.ProviderSpec().Okta; o != nil {
		server = fmt.Sprintf("%q (%s)", o.AuthorizationServer(), obj.Status.Issuer)
	}
	return &conditionError{kind: waitKind, reason: oauthv1.ReasonAccessPolicyDenied, err: err,
		retryAfter: r.denials.next(obj.UID),
		msg: fmt.Sprintf("The authorization server %s denied client %s a token for scopes %q: no access policy grants them. "+
			"Add the client to an access policy of the authorization server with a rule allowing client_credentials for these scopes, "+
			"or set accessPolicy: Managed on %s %q",
			server, obj.Status.ClientID, obj.Spec.Scopes, obj.Spec.ProviderRef.Kind, obj.Spec.ProviderRef.Name)}
}

// denialBackoff spaces the retries of clients the access policies deny: 1 min, doubling,
// at most 10 min. In memory: a restarted manager starts again at 1 min.
type denialBackoff struct {
	mu sync.Mutex
	n  map[types.UID]int
}

func (d *denialBackoff) next(uid types.UID) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[types.UID]int{}
	}
	n := d.n[uid]
	d.n[uid] = n + 1
	wait := accessDeniedMinBackoff
	for i := 0; i < n && wait < accessDeniedMaxBackoff; i++ {
		wait *= 2
	}
	return min(wait, accessDeniedMaxBackoff)
}

func (d *denialBackoff) reset(uid types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.n, uid)
}
