package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// reconcileDelete removes the app (deactivate → delete; gone already is fine) unless the
// deletion policy is Orphan, handles the Secret, and releases the finalizer.
func (r *OAuthClientReconciler) reconcileDelete(ctx context.Context, st *reconcileState, sp *statusPatcher) (ctrl.Result, error) {
	obj := st.obj
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return ctrl.Result{}, nil
	}
	if obj.Orphans() {
		if err := r.releaseSecret(ctx, obj); err != nil {
			return ctrl.Result{}, err
		}
		if obj.Status.AppID != "" {
			r.event(obj, corev1.EventTypeNormal, "AppOrphaned", "Delete",
				"Left app %s in the backend (deletionPolicy: Orphan)", obj.Status.AppID)
		}
	} else {
		if err := r.deleteApps(ctx, st); err != nil {
			if errors.Is(err, errProviderNotFound) {
				r.event(obj, corev1.EventTypeWarning, "AppNotDeleted", "Delete",
					"Provider %s %q no longer exists; app %s could not be deleted from the backend",
					obj.Spec.ProviderRef.Kind, obj.Spec.ProviderRef.Name, obj.Status.AppID)
			} else {
				return r.finish(ctx, st, err)
			}
		}
		if err := r.deleteSecret(ctx, obj); err != nil {
			return ctrl.Result{}, err
		}
	}
	// The status write must come before the finalizer goes: afterwards the object is gone.
	if err := sp.patch(ctx); err != nil {
		return ctrl.Result{}, err
	}
	patch := client.MergeFrom(obj.DeepCopy())
	controllerutil.RemoveFinalizer(obj, Finalizer)
	if err := r.Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	sp.rebase()
	r.lastSync.Delete(obj.UID)
	r.badCreds.Delete(obj.UID)
	r.denials.reset(obj.UID)
	r.superseded.forget(obj.UID)
	return ctrl.Result{}, nil
}

// deleteApps deletes the recorded app and any app an unrecorded create left behind.
func (r *OAuthClientReconciler) deleteApps(ctx context.Context, st *reconcileState) error {
	obj := st.obj
	if obj.Status.AppID == "" && obj.Status.PendingCreate == nil && obj.Status.AccessPolicyID == "" {
		return nil
	}
	if err := r.resolveProvider(ctx, st); err != nil {
		return err
	}
	if err := r.deleteAccessPolicy(ctx, st); err != nil {
		return err
	}
	ids := []string{}
	if obj.Status.AppID != "" {
		ids = append(ids, obj.Status.AppID)
	}
	if pc := obj.Status.PendingCreate; pc != nil {
		apps, err := st.prov.FindApps(ctx, pc.Label)
		if err != nil {
			return err
		}
		for _, a := range apps {
			if a.Owner.UID == string(obj.UID) && a.ID != obj.Status.AppID {
				ids = append(ids, a.ID)
			}
		}
	}
	for _, id := range ids {
		if err := st.prov.DeleteApp(ctx, id); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
		appsDeleted.Inc()
		r.event(obj, corev1.EventTypeNormal, "AppDeleted", "Delete", "Deactivated and deleted app %s", id)
	}
	obj.Status.PendingCreate = nil
	forgetApp(obj)
	return nil
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
