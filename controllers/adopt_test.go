package controllers_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
)

// handMadeApp is an app made in the org outside the operator (the console, Terraform), as
// the emulator's management API takes it. grants are the app's grant types; the emulator
// takes implicit beside client_credentials on a service app, as Okta did in the recorded
// TestAccResourceOktaAppOauth_serviceNative.
type handMadeApp struct {
	id, clientID, secret string
}

func (f *fixture) makeApp(label, authMethod string, grants ...string) handMadeApp {
	f.t.Helper()
	if len(grants) == 0 {
		grants = []string{"client_credentials"}
	}
	body := map[string]any{
		"name": "oidc_client", "signOnMode": "OPENID_CONNECT", "label": label,
		"credentials": map[string]any{"oauthClient": map[string]any{"token_endpoint_auth_method": authMethod}},
		"settings": map[string]any{"oauthClient": map[string]any{
			"application_type": "service", "grant_types": grants, "response_types": []string{"token"}}},
	}
	code, app := f.mgmt(http.MethodPost, "/api/v1/apps?activate=true", body)
	if code != http.StatusOK {
		f.t.Fatalf("create app %q in the emulator: %d %v", label, code, app["errorSummary"])
	}
	oc, _ := app["credentials"].(map[string]any)["oauthClient"].(map[string]any)
	a := handMadeApp{id: app["id"].(string)}
	a.clientID, _ = oc["client_id"].(string)
	a.secret, _ = oc["client_secret"].(string)
	if a.clientID == "" || a.secret == "" {
		f.t.Fatalf("created app %s answered without client id or secret", a.id)
	}
	secretValues.Store(a.secret, true)
	return a
}

// tokenWithOld requests a token with the credentials the app had before adoption.
func (f *fixture) tokenWithOld(a handMadeApp, authMethod string) int {
	f.t.Helper()
	code, _ := f.tokenWith(map[string][]byte{
		controllers.KeyClientID: []byte(a.clientID), controllers.KeyClientSecret: []byte(a.secret),
		controllers.KeyTokenURL: []byte(f.tokenURL), controllers.KeyScope: []byte("hello:read"),
		controllers.KeyAuthMethod: []byte(authMethod),
	})
	return code
}

// appOwnerUID is the owner the app's profile names ("" for none).
func (f *fixture) appOwnerUID(id string) string {
	f.t.Helper()
	code, app := f.app(id)
	if code != http.StatusOK {
		f.t.Fatalf("GET app %s: %d", id, code)
	}
	profile, _ := app["profile"].(map[string]any)
	uid, _ := profile["clientcreds.dev/owner-uid"].(string)
	return uid
}

func (f *fixture) activeSecrets(appID string) int {
	f.t.Helper()
	code, list := f.mgmtList("/api/v1/apps/" + appID + "/credentials/secrets")
	if code != http.StatusOK {
		f.t.Fatalf("list secrets of %s: %d", appID, code)
	}
	n := 0
	for _, s := range list {
		if s.(map[string]any)["status"] == "ACTIVE" {
			n++
		}
	}
	return n
}

func (f *fixture) waitDeleted(obj *oauthv1.OAuthClient) {
	f.t.Helper()
	if err := k8s.Delete(f.ctx, obj); err != nil {
		f.t.Fatal(err)
	}
	f.eventually(waitTimeout, obj.Name+" to be deleted", func() (bool, string) {
		cur := &oauthv1.OAuthClient{}
		err := k8s.Get(f.ctx, client.ObjectKeyFromObject(obj), cur)
		return apierrors.IsNotFound(err), describe(cur)
	})
}

// Adopt by client id: the hand-made app becomes this OAuthClient's — marked as its owner,
// made to match the spec (label, auth method) — and a new secret is published while the
// app's old secret keeps working for the grace period (default 1h). No deletionPolicy:
// deleting the OAuthClient leaves the adopted app (Orphan, the default for adopted apps).
func TestAdoptByClientID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	old := f.makeApp("Made By Hand", "client_secret_post")
	f.newClient("billing", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{ClientID: old.clientID}
		o.Spec.DisplayName = "Billing"
	})
	obj := f.waitReady("billing")
	if obj.Status.AppID != old.id || obj.Status.ClientID != old.clientID {
		t.Fatalf("status app %s client %s, want the adopted app %s / %s", obj.Status.AppID, obj.Status.ClientID, old.id, old.clientID)
	}
	s := f.secret(obj.Status.SecretName)
	if s == nil || string(s.Data[controllers.KeyClientID]) != old.clientID {
		t.Fatalf("Secret does not hold the adopted client id")
	}
	if string(s.Data[controllers.KeyClientSecret]) == old.secret {
		t.Fatalf("the Secret publishes the app's old secret; a new one was to be issued")
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the Secret: %d", code)
	}
	if uid := f.appOwnerUID(old.id); uid != string(obj.UID) {
		t.Fatalf("app owner = %q, want the OAuthClient's uid %s", uid, obj.UID)
	}
	_, app := f.app(old.id)
	method := app["credentials"].(map[string]any)["oauthClient"].(map[string]any)["token_endpoint_auth_method"]
	if app["label"] != "Billing" || method != "client_secret_basic" || app["status"] != "ACTIVE" {
		t.Fatalf("adopted app: label %v, auth method %v, status %v; want the spec's", app["label"], method, app["status"])
	}
	// Consumers of the old secret keep working through the grace period. The app's auth
	// method is now client_secret_basic, so they are asked as basic.
	if code := f.tokenWithOld(old, "client_secret_basic"); code != http.StatusOK {
		t.Fatalf("token with the app's old secret right after adoption: %d, want 200 until the grace period ends", code)
	}
	if obj.Status.RetireAfter == nil || obj.Status.RetireAfter.Time.Before(obj.Status.LastRotationTime.Add(30*time.Minute)) {
		t.Fatalf("retireAfter = %v, want the default grace period (1h) after the new secret (%v)", obj.Status.RetireAfter, obj.Status.LastRotationTime)
	}
	if n := f.activeSecrets(old.id); n != 2 {
		t.Fatalf("active secrets = %d, want 2 (old and new) during the grace period", n)
	}

	// Drift after adoption is repaired like on a created app, even what would have kept the
	// app from being adopted: the console adds a grant and deactivates the app.
	app["settings"].(map[string]any)["oauthClient"].(map[string]any)["grant_types"] = []string{"client_credentials", "implicit"}
	if code, body := f.mgmt(http.MethodPut, "/api/v1/apps/"+old.id, app); code != http.StatusOK {
		t.Fatalf("PUT app: %d %v", code, body["errorSummary"])
	}
	if code, _ := f.mgmt(http.MethodPost, "/api/v1/apps/"+old.id+"/lifecycle/deactivate", nil); code != http.StatusOK {
		t.Fatalf("deactivate: %d", code)
	}
	f.update("billing", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Billing 2" })
	f.eventually(waitTimeout, "the adopted app to be active again, with only client_credentials and the new label", func() (bool, string) {
		_, app := f.app(old.id)
		grants, _ := app["settings"].(map[string]any)["oauthClient"].(map[string]any)["grant_types"].([]any)
		return app["status"] == "ACTIVE" && app["label"] == "Billing 2" && len(grants) == 1 && grants[0] == "client_credentials",
			describe(f.get("billing"))
	})
	f.waitReady("billing")

	// No deletionPolicy on an adopted app: Orphan. Deleting the OAuthClient leaves the app
	// active with its published secret, and the Secret without its owner reference.
	obj = f.get("billing")
	if obj.Spec.DeletionPolicy != "" {
		t.Fatalf("deletionPolicy stored as %q, want it left unset", obj.Spec.DeletionPolicy)
	}
	f.waitDeleted(obj)
	if code, app := f.app(old.id); code != http.StatusOK || app["status"] != "ACTIVE" {
		t.Fatalf("adopted app after deleting its OAuthClient (no deletionPolicy): GET %d status %v, want it kept and ACTIVE", code, app["status"])
	}
	kept := f.secret(obj.Status.SecretName)
	if kept == nil || len(kept.OwnerReferences) != 0 {
		t.Fatalf("Secret of the orphaned adopted app: %v, want it kept without owner references", kept)
	}
	if code, _ := f.tokenWith(kept.Data); code != http.StatusOK {
		t.Fatalf("token with the orphaned adopted app's Secret: %d", code)
	}
	f.eventually(waitTimeout, "an AppOrphaned event naming the adopted-app default", func() (bool, string) {
		return f.eventNote("billing", controllers.EventAppOrphaned) == "Left app "+old.id+" in the backend (deletionPolicy: Orphan, the default for an adopted app)",
			f.eventNote("billing", controllers.EventAppOrphaned)
	})
}

// eventNote is the note of the newest event with the given reason about an OAuthClient.
func (f *fixture) eventNote(name, reason string) string {
	f.t.Helper()
	var evs eventsv1.EventList
	if err := k8s.List(f.ctx, &evs, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	note := ""
	for _, e := range evs.Items {
		if e.Regarding.Kind == "OAuthClient" && e.Regarding.Name == name && e.Reason == reason {
			note = e.Note
		}
	}
	return note
}

// Adopt by app id, with a short grace period: the app's old secret is revoked once it ends;
// an explicit deletionPolicy Delete deletes the adopted app (and the Secret) with its
// OAuthClient.
func TestAdoptByAppID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	old := f.makeApp("orders", "client_secret_basic")
	f.newClient("orders", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{AppID: old.id}
		o.Spec.DeletionPolicy = oauthv1.DeletionPolicyDelete
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: time.Hour}, GracePeriod: &metav1.Duration{Duration: 2 * time.Second}}
	})
	obj := f.waitReady("orders")
	s := f.secret(obj.Status.SecretName)
	if obj.Status.AppID != old.id || s == nil || string(s.Data[controllers.KeyClientID]) != old.clientID {
		t.Fatalf("status app %s; Secret client id %q; want app %s client %s", obj.Status.AppID, s.Data[controllers.KeyClientID], old.id, old.clientID)
	}
	if f.appOwnerUID(old.id) != string(obj.UID) {
		t.Fatalf("the adopted app is not marked as the OAuthClient's")
	}
	f.eventually(waitTimeout, "the app's old secret to be revoked after the grace period", func() (bool, string) {
		n := f.activeSecrets(old.id)
		return n == 1 && f.tokenWithOld(old, "client_secret_basic") == http.StatusUnauthorized, describe(f.get("orders"))
	})
	if code, _ := f.tokenWith(f.secret(obj.Status.SecretName).Data); code != http.StatusOK {
		t.Fatalf("token with the published secret after the old one was revoked: %d", code)
	}
	if obj.Spec.DeletionPolicy != oauthv1.DeletionPolicyDelete {
		t.Fatalf("deletionPolicy stored as %q, want the explicit Delete", obj.Spec.DeletionPolicy)
	}
	f.waitDeleted(obj)
	if code, _ := f.app(old.id); code != http.StatusNotFound {
		t.Fatalf("adopted app after deleting its OAuthClient (deletionPolicy Delete): GET %d, want 404", code)
	}
	if s := f.secret(obj.Status.SecretName); s != nil {
		t.Fatal("Secret of the deleted adopted app still exists")
	}
}

// An app that is not a client-credentials-only service app, or that does not exist, is
// not adopted, and nothing in the org changes.
func TestAdoptNotAdoptable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	mixed := f.makeApp("Mixed Grants", "client_secret_basic", "client_credentials", "implicit")
	_, before := f.app(mixed.id)
	f.newClient("mixed", func(o *oauthv1.OAuthClient) { o.Spec.Adopt = &oauthv1.Adopt{ClientID: mixed.clientID} })
	f.newClient("missing", func(o *oauthv1.OAuthClient) { o.Spec.Adopt = &oauthv1.Adopt{AppID: "0oaDoesNotExist0000"} })

	obj := f.waitReason("mixed", metav1.ConditionFalse, oauthv1.ReasonNotAdoptable)
	c := readyCondition(obj)
	if !strings.Contains(c.Message, "implicit") || !strings.Contains(c.Message, mixed.id) || strings.Contains(c.Message, "application type") {
		t.Fatalf("message %q does not say what differs", c.Message)
	}
	if !meta.IsStatusConditionTrue(obj.Status.Conditions, oauthv1.ConditionStalled) {
		t.Fatalf("Stalled is not True: %s", describe(obj))
	}
	missing := f.waitReason("missing", metav1.ConditionFalse, oauthv1.ReasonNotAdoptable)
	if m := readyCondition(missing).Message; !strings.Contains(m, "0oaDoesNotExist0000") {
		t.Fatalf("message %q does not name the app", m)
	}
	if obj.Status.AppID != "" || missing.Status.AppID != "" {
		t.Fatalf("status records an app: %q %q", obj.Status.AppID, missing.Status.AppID)
	}
	_, after := f.app(mixed.id)
	if after["lastUpdated"] != before["lastUpdated"] || after["label"] != "Mixed Grants" || f.appOwnerUID(mixed.id) != "" {
		t.Fatalf("the refused app changed: label %v, lastUpdated %v → %v", after["label"], before["lastUpdated"], after["lastUpdated"])
	}
	if n := f.activeSecrets(mixed.id); n != 1 {
		t.Fatalf("the refused app has %d active secrets, want its 1", n)
	}
	if code := f.tokenWithOld(mixed, "client_secret_basic"); code != http.StatusOK {
		t.Fatalf("the refused app's own secret: %d", code)
	}
}

// Two OAuthClients adopting one app: the second is refused (AlreadyOwned, naming the
// first) and changes nothing; an app the operator created for another OAuthClient is
// refused the same way.
func TestAdoptAlreadyOwned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	shared := f.makeApp("Shared", "client_secret_basic")
	f.newClient("first", func(o *oauthv1.OAuthClient) { o.Spec.Adopt = &oauthv1.Adopt{ClientID: shared.clientID} })
	first := f.waitReady("first")
	_, before := f.app(shared.id)
	secretsBefore := f.activeSecrets(shared.id)

	f.newClient("second", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{AppID: shared.id}
		o.Spec.DisplayName = "Stolen"
	})
	second := f.waitReason("second", metav1.ConditionFalse, oauthv1.ReasonAlreadyOwned)
	if m := readyCondition(second).Message; !strings.Contains(m, f.ns+"/first") {
		t.Fatalf("message %q does not name the owner %s/first", m, f.ns)
	}
	if !meta.IsStatusConditionTrue(second.Status.Conditions, oauthv1.ConditionStalled) || second.Status.AppID != "" {
		t.Fatalf("second: %s, appID %q", describe(second), second.Status.AppID)
	}
	_, after := f.app(shared.id)
	if after["lastUpdated"] != before["lastUpdated"] || after["label"] != before["label"] || f.appOwnerUID(shared.id) != string(first.UID) {
		t.Fatalf("the owned app changed: label %v → %v", before["label"], after["label"])
	}
	if n := f.activeSecrets(shared.id); n != secretsBefore {
		t.Fatalf("active secrets %d → %d", secretsBefore, n)
	}
	if code, _ := f.tokenWith(f.secret(first.Status.SecretName).Data); code != http.StatusOK {
		t.Fatalf("the owner's Secret after the refused adoption: %d", code)
	}

	// An app the operator created for another OAuthClient.
	f.newClient("made")
	made := f.waitReady("made")
	f.newClient("taker", func(o *oauthv1.OAuthClient) { o.Spec.Adopt = &oauthv1.Adopt{ClientID: made.Status.ClientID} })
	taker := f.waitReason("taker", metav1.ConditionFalse, oauthv1.ReasonAlreadyOwned)
	if m := readyCondition(taker).Message; !strings.Contains(m, f.ns+"/made") {
		t.Fatalf("message %q does not name the owner", m)
	}
	if f.appOwnerUID(made.Status.AppID) != string(made.UID) {
		t.Fatalf("the created app changed owner")
	}
}

// A failure during adoption: the app is marked, but the status write before the new secret
// is issued fails (the app id still reaches status at the end of the attempt). The next
// attempt still treats the first publish as a take-over and gives the app's old secret
// its grace period.
func TestAdoptStatusLost(t *testing.T) {
	t.Parallel()
	var failed atomic.Bool
	funcs := &interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if o, ok := obj.(*oauthv1.OAuthClient); ok && sub == "status" && o.Status.AppID != "" && failed.CompareAndSwap(false, true) {
				return apierrors.NewInternalError(errors.New("injected status write failure"))
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}
	f := newFixture(t, fixtureOptions{intercept: funcs})
	old := f.makeApp("crashy", "client_secret_basic")
	f.newClient("crashy", func(o *oauthv1.OAuthClient) { o.Spec.Adopt = &oauthv1.Adopt{ClientID: old.clientID} })
	obj := f.waitReady("crashy")
	if !failed.Load() {
		t.Fatal("the status write was never failed")
	}
	s := f.secret(obj.Status.SecretName)
	if obj.Status.AppID != old.id || s.Annotations[controllers.AnnotationClientSecretID] != obj.Status.SecretID || obj.Status.SecretID == "" {
		t.Fatalf("status app %s secret %q; Secret holds %q", obj.Status.AppID, obj.Status.SecretID, s.Annotations[controllers.AnnotationClientSecretID])
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the Secret: %d", code)
	}
	if code := f.tokenWithOld(old, "client_secret_basic"); code != http.StatusOK {
		t.Fatalf("the app's old secret after the lost status write: %d, want it kept for the grace period", code)
	}
	if n := f.activeSecrets(old.id); n != 2 {
		t.Fatalf("active secrets = %d, want 2: the old one and the one published before the failure", n)
	}
	if f.appOwnerUID(old.id) != string(obj.UID) {
		t.Fatal("the app is not marked as the OAuthClient's")
	}
}

// The manager dies right after publishing the adopted app's new secret, before status
// records it: the next manager takes over the secret the Secret holds (no second one is
// issued) and gives the app's old secret its grace period.
func TestAdoptManagerKilled(t *testing.T) {
	t.Parallel()
	var dead atomic.Bool
	killed := make(chan struct{})
	fail := func() error {
		if dead.Load() {
			return errKilled
		}
		return nil
	}
	funcs := &interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if err := fail(); err != nil {
				return err
			}
			if err := c.Update(ctx, obj, opts...); err != nil {
				return err
			}
			if s, ok := obj.(*corev1.Secret); ok && len(s.Data[controllers.KeyClientSecret]) > 0 && dead.CompareAndSwap(false, true) {
				close(killed)
			}
			return nil
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if err := fail(); err != nil {
				return err
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := fail(); err != nil {
				return err
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := fail(); err != nil {
				return err
			}
			return c.Create(ctx, obj, opts...)
		},
	}
	f := newFixture(t, fixtureOptions{intercept: funcs})
	old := f.makeApp("killed", "client_secret_basic")
	f.newClient("killed", func(o *oauthv1.OAuthClient) { o.Spec.Adopt = &oauthv1.Adopt{AppID: old.id} })
	select {
	case <-killed:
	case <-time.After(waitTimeout):
		t.Fatal("the new secret was never published")
	}
	f.mgrStop()
	// Status names the app (recorded before the secret was issued) but not the publish.
	if st := f.get("killed").Status; st.AppID != old.id || st.SecretID != "" || st.LastRotationTime != nil {
		t.Fatalf("status before the restart: app %q secret %q lastRotation %v", st.AppID, st.SecretID, st.LastRotationTime)
	}
	published := f.secret("killed-oauth-client").Annotations[controllers.AnnotationClientSecretID]
	f.intercept = nil // the new process has no failures
	f.startManager()
	obj := f.waitReady("killed")
	if published == "" || obj.Status.SecretID != published {
		t.Fatalf("status secret %q, want the one published before the crash %q", obj.Status.SecretID, published)
	}
	if n := f.activeSecrets(old.id); n != 2 {
		t.Fatalf("active secrets = %d, want 2: the old one and the one published before the crash", n)
	}
	if code := f.tokenWithOld(old, "client_secret_basic"); code != http.StatusOK {
		t.Fatalf("the app's old secret after the crash: %d, want it kept for the grace period", code)
	}
	if code, _ := f.tokenWith(f.secret(obj.Status.SecretName).Data); code != http.StatusOK {
		t.Fatalf("token with the Secret: %d", code)
	}
}
