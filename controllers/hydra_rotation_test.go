package controllers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// describeRotation is describe with the client generations status names.
func describeRotation(o *oauthv1.OAuthClient) string {
	return fmt.Sprintf("%s; app %s generation %d, previous %+v, pending %+v", describe(o), o.Status.AppID, o.Status.ClientGeneration,
		o.Status.PreviousClient, o.Status.PendingClient)
}

func (h *hydraFixture) ownedClients(obj *oauthv1.OAuthClient) []string {
	h.t.Helper()
	apps, err := h.admin.FindApps(h.ctx, obj.Label())
	for try := 0; err != nil && errors.Is(err, provider.ErrTransient) && try < 20; try++ {
		// Hydra's in-memory database refuses a read during a concurrent write.
		time.Sleep(100 * time.Millisecond)
		apps, err = h.admin.FindApps(h.ctx, obj.Label())
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []string
	for _, a := range apps {
		if a.Owner.UID == string(obj.UID) {
			ids = append(ids, a.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// Rotation on Hydra, which keeps one secret per client: a new client per rotation
// generation, published with its client id; the previous client keeps working through the
// grace period and is deleted after it. Deleting the OAuthClient during a grace period
// deletes both clients.
func TestHydraRotationByNewClient(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, false)
	const grace = 6 * time.Second
	rotation := func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: 10 * time.Second},
			GracePeriod: &metav1.Duration{Duration: grace}}
	}
	h.newClient("rotor", rotation)
	obj := h.waitReady("rotor")
	first := h.secret(obj.Status.SecretName).Data
	if obj.Status.ClientGeneration != 0 || obj.Status.PreviousClient != nil {
		t.Fatalf("a new client: generation %d, previous %v", obj.Status.ClientGeneration, obj.Status.PreviousClient)
	}

	var rotated *oauthv1.OAuthClient
	h.eventually(30*time.Second, "a rotation by a new client", func() (bool, string) {
		rotated = h.get("rotor")
		return rotated.Status.ClientGeneration == 1 && rotated.Status.PreviousClient != nil, describeRotation(rotated)
	})
	// The previous client works through the grace period.
	if code, _ := h.tokenWith(first); code != http.StatusOK {
		t.Fatalf("the previous client's credentials during the grace period: %d", code)
	}
	prev := rotated.Status.PreviousClient
	if prev.AppID != obj.Status.AppID || prev.ClientID != obj.Status.ClientID || prev.Generation != 0 || rotated.Status.AppID == obj.Status.AppID {
		t.Fatalf("status after the rotation: current %s, previous %+v; want previous = the first client %s", rotated.Status.AppID, prev, obj.Status.AppID)
	}
	h.eventually(waitTimeout, "the new credentials in the Secret", func() (bool, string) {
		d := h.secret(rotated.Status.SecretName).Data
		return string(d[controllers.KeyClientID]) == rotated.Status.ClientID, string(d[controllers.KeyClientID])
	})
	second := h.secret(rotated.Status.SecretName).Data
	if code, _ := h.tokenWith(second); code != http.StatusOK {
		t.Fatalf("token with the new client's credentials: %d", code)
	}
	c := h.rawClient(rotated.Status.AppID)
	mk, _ := c["metadata"].(map[string]any)["clientcreds"].(map[string]any)
	if c["client_name"] != obj.Label() || c["scope"] != "hello:read" || mk["uid"] != string(obj.UID) || mk["generation"] != float64(1) {
		t.Fatalf("the new hydra client = %v", c)
	}

	// After the grace period the previous client is gone, and its credentials refused.
	h.eventually(waitTimeout+grace, "the previous client retired", func() (bool, string) {
		o := h.get("rotor")
		return o.Status.PreviousClient == nil || o.Status.PreviousClient.AppID != obj.Status.AppID, describeRotation(o)
	})
	if h.rawClient(obj.Status.AppID) != nil {
		t.Fatalf("the first client %s still exists after its grace period", obj.Status.AppID)
	}
	if code, _ := h.tokenWith(first); code == http.StatusOK {
		t.Fatal("the first client's credentials still work after its grace period")
	}

	// Rotation off: once settled, exactly the current client is left.
	h.update("rotor", func(o *oauthv1.OAuthClient) { o.Spec.Rotation = nil })
	var settled *oauthv1.OAuthClient
	h.eventually(waitTimeout+grace, "one client left", func() (bool, string) {
		settled = h.get("rotor")
		ids := h.ownedClients(settled)
		return settled.Status.PreviousClient == nil && settled.Status.PendingClient == nil && len(ids) == 1 && ids[0] == settled.Status.AppID,
			describeRotation(settled)
	})
	if code, _ := h.tokenWith(h.secret(settled.Status.SecretName).Data); code != http.StatusOK {
		t.Fatalf("token after the rotations: %d", code)
	}

	t.Run("deletion during a grace period deletes both clients", func(t *testing.T) {
		h := &hydraFixture{fixture: h.sub(t), hydra: h.hydra, admin: h.admin}
		h.newClient("rotor2", func(o *oauthv1.OAuthClient) {
			o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: 10 * time.Second},
				GracePeriod: &metav1.Duration{Duration: 9 * time.Second}}
		})
		var o *oauthv1.OAuthClient
		h.eventually(30*time.Second, "a rotation", func() (bool, string) {
			o = h.get("rotor2")
			return o.Status.PreviousClient != nil, describeRotation(o)
		})
		if ids := h.ownedClients(o); len(ids) != 2 {
			t.Fatalf("during the grace period: %d clients, want 2 (current and previous)", len(ids))
		}
		if err := k8s.Delete(h.ctx, o); err != nil {
			t.Fatal(err)
		}
		h.eventually(waitTimeout, "the OAuthClient to be gone", func() (bool, string) {
			err := k8s.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "rotor2"}, &oauthv1.OAuthClient{})
			return client.IgnoreNotFound(err) == nil && err != nil, "present"
		})
		if ids := h.ownedClients(o); len(ids) != 0 {
			t.Fatalf("after deletion: clients %v left in hydra", ids)
		}
	})
}

// A manager that stops anywhere in a rotation by a new client leaves status.pendingClient;
// the next one settles it without leaking a client: it adopts the generation's client
// (deleting duplicates), records credentials the Secret already holds, or creates the
// client; then retires the previous one after the grace period.
func TestHydraRotationCrashSafe(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, true)
	type crash struct {
		// setup leaves what the crashed manager left, and returns the client ids it made.
		setup func(t *testing.T, obj *oauthv1.OAuthClient) []string
		// wantAdopted: status ends naming one of the clients setup made.
		wantAdopted bool
		// wantSecretKept: the Secret's CLIENT_SECRET is the one setup published.
		wantSecretKept bool
	}
	makeClient := func(t *testing.T, obj *oauthv1.OAuthClient) *provider.App {
		app, err := h.admin.CreateApp(h.ctx, provider.AppSpec{Label: obj.Label(), AuthMethod: provider.AuthClientSecretBasic,
			Owner: provider.Owner{UID: string(obj.UID), Namespace: h.ns, Name: obj.Name}, Scopes: obj.Spec.Scopes, Generation: 1})
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	pending := func(t *testing.T, obj *oauthv1.OAuthClient, app *provider.App) {
		obj.Status.PendingClient = &oauthv1.PendingClient{Generation: 1, Label: obj.Label(), Since: metav1.Now()}
		if app != nil {
			obj.Status.PendingClient.AppID, obj.Status.PendingClient.ClientID = app.ID, app.ClientID
		}
		if err := k8s.Status().Update(h.ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]crash{
		"nothing created yet": {setup: func(t *testing.T, obj *oauthv1.OAuthClient) []string {
			pending(t, obj, nil)
			return nil
		}},
		"create answers lost, twice": {wantAdopted: true, setup: func(t *testing.T, obj *oauthv1.OAuthClient) []string {
			pending(t, obj, nil)
			return []string{makeClient(t, obj).ID, makeClient(t, obj).ID}
		}},
		"ids recorded, Secret not written": {wantAdopted: true, setup: func(t *testing.T, obj *oauthv1.OAuthClient) []string {
			app := makeClient(t, obj)
			pending(t, obj, app)
			return []string{app.ID}
		}},
		"Secret written, status not": {wantAdopted: true, wantSecretKept: true, setup: func(t *testing.T, obj *oauthv1.OAuthClient) []string {
			app := makeClient(t, obj)
			pending(t, obj, app)
			s := h.secret(obj.Status.SecretName)
			s.Data[controllers.KeyClientID] = []byte(app.ClientID)
			s.Data[controllers.KeyClientSecret] = []byte(app.ClientSecret)
			sum := sha256.Sum256([]byte("client_secret\x00" + app.ClientSecret))
			s.Annotations["oauth.clientcreds.dev/credential-sha256"] = hex.EncodeToString(sum[:])
			if err := k8s.Update(h.ctx, s); err != nil {
				t.Fatal(err)
			}
			return []string{app.ID}
		}},
	}
	rotation := func(o *oauthv1.OAuthClient) {
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: time.Hour},
			GracePeriod: &metav1.Duration{Duration: 2 * time.Second}}
	}
	names := map[string]string{}
	i := 0
	for name := range cases {
		names[name] = "crash-" + string(rune('a'+i))
		h.newClient(names[name], rotation)
		i++
	}
	stop := h.startManager()
	before := map[string]*oauthv1.OAuthClient{}
	for name := range cases {
		before[name] = h.waitReady(names[name])
	}
	stop()
	made := map[string][]string{}
	published := map[string]string{}
	for name, tc := range cases {
		obj := h.get(names[name])
		made[name] = tc.setup(t, obj)
		published[name] = string(h.secret(obj.Status.SecretName).Data[controllers.KeyClientSecret])
	}
	h.startManager()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := &hydraFixture{fixture: h.sub(t), hydra: h.hydra, admin: h.admin}
			var got *oauthv1.OAuthClient
			h.eventually(waitTimeout, "the rotation settled", func() (bool, string) {
				got = h.get(names[name])
				ids := h.ownedClients(got)
				return got.Status.PendingClient == nil && got.Status.PreviousClient == nil && len(ids) == 1 && ids[0] == got.Status.AppID &&
					isReadyNow(got), describeRotation(got)
			})
			if got.Status.ClientGeneration != 1 || got.Status.AppID == before[name].Status.AppID {
				t.Fatalf("generation %d, client %s; want generation 1, not the first client %s", got.Status.ClientGeneration, got.Status.AppID, before[name].Status.AppID)
			}
			if tc.wantAdopted && !slices.Contains(made[name], got.Status.AppID) {
				t.Fatalf("status names %s, not one of the clients left by the crash %v", got.Status.AppID, made[name])
			}
			if h.rawClient(before[name].Status.AppID) != nil {
				t.Fatalf("the previous client %s was not retired", before[name].Status.AppID)
			}
			data := h.secret(got.Status.SecretName).Data
			if string(data[controllers.KeyClientID]) != got.Status.ClientID {
				t.Fatalf("Secret CLIENT_ID %s, status %s", data[controllers.KeyClientID], got.Status.ClientID)
			}
			if kept := string(data[controllers.KeyClientSecret]) == published[name]; kept != tc.wantSecretKept {
				t.Fatalf("the Secret kept the published secret: %v, want %v", kept, tc.wantSecretKept)
			}
			if code, _ := h.tokenWith(data); code != http.StatusOK {
				t.Fatalf("token with the Secret: %d", code)
			}
		})
	}
}
