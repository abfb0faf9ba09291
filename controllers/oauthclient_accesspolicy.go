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
	"time"

	corev1 "k8s.io/api/core/v1"

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
func policyManager(be backend) provider.AccessPolicyManager {
	mgr, ok := be.client.(provider.AccessPolicyManager)
	if !ok || !mgr.ManagesAccessPolicies() {
		return nil
	}
	return mgr
}

// accessPolicySpec is the one access policy a Managed provider keeps for the client.
func accessPolicySpec(obj *oauthv1.OAuthClient, scopes []string) provider.AccessPolicySpec {
	id := obj.Namespace + "/" + obj.Name
	return provider.AccessPolicySpec{
		// The backend cuts both to its limits, with a short hash.
		Name:          "clientcreds " + id,
		Description:   "Managed by clientcreds for OAuthClient " + id + ": client_credentials for exactly its scopes",
		ClientID:      obj.Status.ClientID,
		Scopes:        scopes,
		TokenLifetime: obj.TokenLifetime(),
	}
}

// policyResult is what reconcileAccessPolicy did.
type policyResult struct {
	// changed says the policy was created or repaired: the token check must run with it.
	changed bool
}

// reconcileAccessPolicy makes the client's access policy exist and match the spec when the
// provider manages access policies: before the first token check, and whenever the app was
// read from the backend (synced: spec change, resync), so a policy edited or deleted in the
// console is repaired. With External it does nothing (a policy created earlier under Managed
// is left in place and no longer tracked).
func (r *OAuthClientReconciler) reconcileAccessPolicy(ctx context.Context, obj *oauthv1.OAuthClient, be backend, synced bool) (policyResult, error) {
	mgr := policyManager(be)
	if mgr == nil {
		obj.Status.AccessPolicyID = ""
		return policyResult{}, nil
	}
	if obj.Status.AccessPolicyID != "" && !synced {
		return policyResult{}, nil
	}
	scopes := be.granted.scopes
	if len(scopes) == 0 {
		if be.granted.refused != nil {
			// Every grant was withdrawn: no rule may grant anything any more.
			return policyResult{changed: obj.Status.AccessPolicyID != ""}, r.deleteAccessPolicy(ctx, obj, be)
		}
		return policyResult{}, &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidSpec,
			msg: "spec.scopes and spec.apis grant no scope: a managed access policy grants exactly the client's scopes, so at least one is needed"}
	}
	res, err := mgr.EnsureAccessPolicy(ctx, obj.Status.AccessPolicyID, accessPolicySpec(obj, scopes))
	if res.ID != "" {
		obj.Status.AccessPolicyID = res.ID
	}
	if errors.Is(err, provider.ErrInvalidScope) {
		return policyResult{}, explain(err, fmt.Sprintf("The authorization server refused the scopes %q for the client's access policy", scopes))
	}
	if err != nil {
		return policyResult{}, err
	}
	switch {
	case res.Created:
		r.event(obj, corev1.EventTypeNormal, EventAccessPolicyCreated, "Create",
			"Created access policy %s for client %s", res.ID, obj.Status.ClientID)
	case res.Repaired:
		r.event(obj, corev1.EventTypeNormal, EventAccessPolicyUpdated, "Update",
			"Updated access policy %s to match the spec", res.ID)
	}
	return policyResult{changed: res.Created || res.Repaired}, nil
}

// deleteAccessPolicy deletes the client's managed access policy (deletionPolicy Delete),
// before its app.
func (r *OAuthClientReconciler) deleteAccessPolicy(ctx context.Context, obj *oauthv1.OAuthClient, be backend) error {
	if obj.Status.AccessPolicyID == "" {
		return nil
	}
	mgr, ok := be.client.(provider.AccessPolicyManager)
	if !ok {
		return nil
	}
	if err := mgr.DeleteAccessPolicy(ctx, obj.Status.AccessPolicyID); err != nil && !errors.Is(err, provider.ErrNotFound) {
		return err
	}
	r.event(obj, corev1.EventTypeNormal, EventAccessPolicyDeleted, "Delete", "Deleted access policy %s", obj.Status.AccessPolicyID)
	obj.Status.AccessPolicyID = ""
	return nil
}

// accessDenied is the verdict on a token request the authorization server's access
// policies refused (access_denied). No credential is replaced because of it.
func (r *OAuthClientReconciler) accessDenied(obj *oauthv1.OAuthClient, be backend, err error) error {
	if policyManager(be) != nil {
		// The policy was just made; the backend may take a moment to apply it.
		return retrying(err, fmt.Sprintf("The authorization server denied client %s a token for scopes %q although its access policy %s grants them; retrying",
			obj.Status.ClientID, be.granted.scopes, obj.Status.AccessPolicyID))
	}
	return waitFor(err, r.memory.denied(obj.UID, denialKey(obj, be.granted), r.now()), deniedMessage(obj, be.granted.scopes))
}

// errDeniedBefore is the access_denied of a token request not made again yet.
var errDeniedBefore = &provider.Error{Class: provider.ErrAccessDenied, Op: "request token",
	Err: errors.New("the last token request was denied; not asked again before its backoff ends")}

// heldDenial returns the verdict of a client whose last token request the access policies
// denied less than its backoff ago, when nothing that could change the answer changed (the
// spec, the object's annotations, the credentials): its own Secret write or a provider
// health check must not turn the slow backoff into a loop.
func (r *OAuthClientReconciler) heldDenial(obj *oauthv1.OAuthClient, be backend, check tokenCheck) error {
	if check.fresh || policyManager(be) != nil {
		return nil
	}
	wait, ok := r.memory.holdingDenial(obj.UID, denialKey(obj, be.granted), r.now())
	if !ok {
		return nil
	}
	return waitFor(errDeniedBefore, wait, deniedMessage(obj, be.granted.scopes))
}

// deniedMessage tells what to do about a client the access policies deny.
func deniedMessage(obj *oauthv1.OAuthClient, scopes []string) string {
	server := serverName(obj.Status.Issuer)
	return fmt.Sprintf("The authorization server %s denied client %s a token for scopes %q: no access policy grants them. "+
		"Add the client to an access policy of the authorization server with a rule allowing client_credentials for these scopes, "+
		"or set accessPolicy: Managed on %s %q",
		server, obj.Status.ClientID, scopes, obj.Spec.ProviderRef.Kind, obj.Spec.ProviderRef.Name)
}

// denialKey is what a denied client's next token request waits for a change of: the spec
// generation, the annotations (an annotation change asks for a check now) and the grants
// (an OAuthAPI's change).
func denialKey(obj *oauthv1.OAuthClient, g grants) string {
	keys := make([]string, 0, len(obj.Annotations))
	for k, v := range obj.Annotations {
		keys = append(keys, k+"="+v)
	}
	slices.Sort(keys)
	return fmt.Sprintf("%d/%s/%s/%s", obj.Generation, obj.Status.ClientID, strings.Join(keys, "\x00"), g.key())
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
