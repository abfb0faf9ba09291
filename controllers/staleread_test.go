package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
)

// A reconcile that reads an OAuthClient older than the API server's (a lagging cache) must
// not act on it. Here the manager reads the client as it was just before its app was
// created — a create pending, no app recorded — after a newer version exists. Acting on
// that read would adopt the app once more and issue it a new secret. The guard write before
// the adoption carries the read's resource version (optimistic locking), the API server
// refuses it, and nothing changes: one app, the same published secret, no adoption.
func TestStaleReadTakesNoAction(t *testing.T) {
	t.Parallel()
	const staleReadsWanted = 3
	var stale atomic.Pointer[oauthv1.OAuthClient]
	var staleReads atomic.Int32
	funcs := &interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if o, ok := obj.(*oauthv1.OAuthClient); ok {
			if s := stale.Load(); s != nil && key == client.ObjectKeyFromObject(s) && staleReads.Add(1) <= staleReadsWanted {
				s.DeepCopyInto(o)
				return nil
			}
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	f := newFixture(t, fixtureOptions{intercept: funcs})
	f.newClient("lagged")
	ready := f.waitReady("lagged")
	published := f.secret(ready.SecretName())

	// The version the manager will keep reading: the one before the app was recorded.
	old := ready.DeepCopy()
	old.Status.AppID, old.Status.ClientID, old.Status.SecretID = "", "", ""
	old.Status.PendingCreate = &oauthv1.PendingCreate{Label: old.Label(), Since: metav1.Now()}
	old.Status.Conditions = nil
	stale.Store(old)
	// A newer version (which also wakes the reconciler).
	f.update("lagged", func(o *oauthv1.OAuthClient) {
		o.Annotations = map[string]string{"example.com/touched": "yes"}
	})
	f.eventually(waitTimeout, "the manager to read past the stale version", func() (bool, string) {
		n := staleReads.Load()
		return n > staleReadsWanted, fmt.Sprintf("%d reads of the OAuthClient", n)
	})

	obj := f.waitReady("lagged")
	if obj.Status.AppID != ready.Status.AppID || obj.Status.ClientID != ready.Status.ClientID {
		t.Errorf("status app %s / client %s, want %s / %s", obj.Status.AppID, obj.Status.ClientID,
			ready.Status.AppID, ready.Status.ClientID)
	}
	if n := len(f.appsOwnedBy(string(obj.UID))); n != 1 {
		t.Errorf("%d apps exist for the client, want 1", n)
	}
	now := f.secret(obj.SecretName())
	if string(now.Data[controllers.KeyClientSecret]) != string(published.Data[controllers.KeyClientSecret]) ||
		now.Annotations[controllers.AnnotationClientSecretID] != published.Annotations[controllers.AnnotationClientSecretID] {
		t.Error("the published client secret was replaced after a stale read")
	}
	reasons := f.eventReasons("lagged")
	for _, bad := range []string{normalEvent(controllers.EventAppAdopted), normalEvent(controllers.EventCredentialsIssued)} {
		if slices.Contains(reasons, bad) {
			t.Errorf("event %s after a stale read (events: %v)", bad, reasons)
		}
	}
}

// normalEvent is how eventReasons lists a Normal event.
func normalEvent(reason string) string { return "Normal/" + reason }

// The guard relies on the API server refusing a status patch that carries a stale
// resource version even when it changes nothing else (a reconcile that has nothing to
// record before its side effect).
func TestStaleNoOpPatchConflicts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{noManager: true})
	f.newClient("noop")
	read := f.get("noop")
	f.update("noop", func(o *oauthv1.OAuthClient) { o.Annotations = map[string]string{"example.com/newer": "yes"} })

	patch := client.MergeFromWithOptions(read.DeepCopy(), client.MergeFromWithOptimisticLock{})
	err := k8s.Status().Patch(f.ctx, read, patch)
	if !apierrors.IsConflict(err) {
		t.Fatalf("no-op status patch with a stale resource version: %v, want a conflict", err)
	}
	fresh := f.get("noop")
	if err := k8s.Status().Patch(f.ctx, fresh, client.MergeFromWithOptions(fresh.DeepCopy(), client.MergeFromWithOptimisticLock{})); err != nil {
		t.Fatalf("no-op status patch with the current resource version: %v", err)
	}
}
