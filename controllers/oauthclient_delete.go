package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// reconcileDelete removes the app (deactivate → delete; gone already is fine) unless the
// effective deletion policy is Orphan, handles the Secret, and releases the finalizer. A
// failure to delete the app sets conditions (the outcome says so); the others are only
// returned.
func (r *OAuthClientReconciler) reconcileDelete(ctx context.Context, obj *oauthv1.OAuthClient, sp *statusPatcher) (outcome, error) {
	done := outcome{noConditions: true}
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return done, nil
	}
	if obj.EffectiveDeletionPolicy() == oauthv1.DeletionPolicyOrphan {
		if err := r.releaseSecret(ctx, obj); err != nil {
			return done, err
		}
		// The output Secret stays as it is; the operator's own copy goes, as the garbage
		// collector would take it (keys None, oauthclient_state.go).
		if err := r.deleteState(ctx, obj, nil); err != nil {
			return done, err
		}
		if obj.Status.AppID != "" {
			r.event(obj, corev1.EventTypeNormal, EventAppOrphaned, "Delete",
				"Left app %s in the backend (%s)", obj.Status.AppID, orphanCause(obj))
		}
	} else {
		if p, err := r.deleteApps(ctx, obj, sp); err != nil {
			if errors.Is(err, errProviderNotFound) {
				r.event(obj, corev1.EventTypeWarning, EventAppNotDeleted, "Delete",
					"Provider %s %q no longer exists; app %s could not be deleted from the backend",
					obj.Spec.ProviderRef.Kind, obj.Spec.ProviderRef.Name, obj.Status.AppID)
			} else {
				return outcome{provider: p}, err
			}
		}
		if err := r.deleteSecret(ctx, obj); err != nil {
			return done, err
		}
		if err := r.deleteState(ctx, obj, nil); err != nil {
			return done, err
		}
	}
	// The status write must come before the finalizer goes: afterwards the object is gone.
	if err := sp.patch(ctx); err != nil {
		return done, err
	}
	patch := client.MergeFrom(obj.DeepCopy())
	controllerutil.RemoveFinalizer(obj, Finalizer)
	if err := r.Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return done, fmt.Errorf("remove finalizer: %w", err)
	}
	sp.rebase()
	r.memory.forget(obj.UID)
	return done, nil
}

// deleteApps deletes the recorded app and any app an unrecorded create left behind, and
// returns the provider it resolved (nil if none). Status says which apps, so a guard write
// comes first (errStaleObject on a stale read).
func (r *OAuthClientReconciler) deleteApps(ctx context.Context, obj *oauthv1.OAuthClient, sp *statusPatcher) (oauthv1.ProviderObject, error) {
	if obj.Status.AppID == "" && obj.Status.PendingCreate == nil && obj.Status.AccessPolicyID == "" &&
		obj.Status.PreviousClient == nil && obj.Status.PendingClient == nil {
		return nil, nil
	}
	be, err := r.resolveProvider(ctx, obj, nil)
	if err != nil {
		return be.object, err
	}
	if err := sp.guard(ctx); err != nil {
		return be.object, err
	}
	if err := r.deleteAccessPolicy(ctx, obj, be); err != nil {
		return be.object, err
	}
	ids := []string{}
	if obj.Status.AppID != "" {
		ids = append(ids, obj.Status.AppID)
	}
	if pc := obj.Status.PendingCreate; pc != nil {
		apps, err := be.client.FindApps(ctx, pc.Label)
		if err != nil {
			return be.object, err
		}
		for _, a := range apps {
			if a.Owner.UID == string(obj.UID) && a.ID != obj.Status.AppID {
				ids = append(ids, a.ID)
			}
		}
	}
	others, err := r.generationAppIDs(ctx, obj, be)
	if err != nil {
		return be.object, err
	}
	for _, id := range others {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if err := be.client.DeleteApp(ctx, id); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return be.object, err
		}
		appsDeleted.Inc()
		r.event(obj, corev1.EventTypeNormal, EventAppDeleted, "Delete", "Deactivated and deleted app %s", id)
	}
	obj.Status.PendingCreate, obj.Status.PendingClient, obj.Status.PreviousClient = nil, nil, nil
	forgetApp(obj)
	return be.object, nil
}

// ownedSecret returns the output Secret if this object controls it.
func (r *OAuthClientReconciler) ownedSecret(ctx context.Context, obj *oauthv1.OAuthClient) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: obj.Namespace, Name: obj.SecretName()}, s); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(s, obj) {
		return nil, nil
	}
	return s, nil
}

// deleteSecret deletes the Secret now rather than leaving it to the garbage collector: its
// credentials were revoked with the app.
func (r *OAuthClientReconciler) deleteSecret(ctx context.Context, obj *oauthv1.OAuthClient) error {
	s, err := r.ownedSecret(ctx, obj)
	if err != nil || s == nil {
		return err
	}
	uid := s.UID
	if err := r.Delete(ctx, s, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Secret %s: %w", s.Name, err)
	}
	return nil
}

// releaseSecret drops this object's owner reference from the Secret, so an orphaned app's
// working credentials survive the OAuthClient.
func (r *OAuthClientReconciler) releaseSecret(ctx context.Context, obj *oauthv1.OAuthClient) error {
	s, err := r.ownedSecret(ctx, obj)
	if err != nil || s == nil {
		return err
	}
	patch := client.MergeFrom(s.DeepCopy())
	refs := s.OwnerReferences[:0]
	for _, ref := range s.OwnerReferences {
		if ref.UID != obj.UID {
			refs = append(refs, ref)
		}
	}
	s.OwnerReferences = refs
	delete(s.Labels, LabelClient)
	if err := r.Patch(ctx, s, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release Secret %s: %w", s.Name, err)
	}
	return nil
}

// orphanCause says why an app is left in the backend, for the AppOrphaned event.
func orphanCause(obj *oauthv1.OAuthClient) string {
	switch {
	case obj.Observes():
		return "managementPolicy: Observe"
	case obj.Spec.DeletionPolicy == "":
		return "deletionPolicy: Orphan, the default for an adopted app"
	default:
		return "deletionPolicy: " + string(obj.Spec.DeletionPolicy)
	}
}
