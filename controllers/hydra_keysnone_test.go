package controllers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Rotation by a new client on Hydra with keys None: the Secret holds only the rendered keys,
// the client id it publishes is in its client-id annotation, and the previous client is
// deleted only after the grace period and once that annotation names the new one.
func TestHydraRotationKeysNone(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, false)
	const grace = 6 * time.Second
	h.newClient("rotor-none", func(o *oauthv1.OAuthClient) {
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone, Data: envFromTemplate()}
		o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: 10 * time.Second},
			GracePeriod: &metav1.Duration{Duration: grace}}
	})
	obj := h.waitReady("rotor-none")
	s := h.secret(obj.Status.SecretName)
	checkExactKeys(t, s, envFromKeys)
	first := asDefaultKeys(s.Data)
	if string(first[controllers.KeyClientID]) != obj.Status.ClientID || s.Annotations[controllers.AnnotationClientID] != obj.Status.ClientID {
		t.Fatalf("client id: rendered %q, annotation %q, status %q", first[controllers.KeyClientID],
			s.Annotations[controllers.AnnotationClientID], obj.Status.ClientID)
	}
	if code, _ := h.tokenWith(first); code != http.StatusOK {
		t.Fatalf("token with the rendered values: %d", code)
	}

	var rotated *oauthv1.OAuthClient
	h.eventually(30*time.Second, "a rotation by a new client", func() (bool, string) {
		rotated = h.get("rotor-none")
		return rotated.Status.ClientGeneration == 1 && rotated.Status.PreviousClient != nil, describeRotation(rotated)
	})
	if code, _ := h.tokenWith(first); code != http.StatusOK {
		t.Fatalf("the previous client's credentials during the grace period: %d", code)
	}
	if prev := rotated.Status.PreviousClient; prev.ClientID != obj.Status.ClientID || rotated.Status.ClientID == obj.Status.ClientID {
		t.Fatalf("status after the rotation: current %s, previous %+v", rotated.Status.ClientID, prev)
	}
	now := h.secret(rotated.Status.SecretName)
	checkExactKeys(t, now, envFromKeys)
	second := asDefaultKeys(now.Data)
	if string(second[controllers.KeyClientID]) != rotated.Status.ClientID || now.Annotations[controllers.AnnotationClientID] != rotated.Status.ClientID {
		t.Fatalf("after the rotation: rendered client id %q, annotation %q, status %q", second[controllers.KeyClientID],
			now.Annotations[controllers.AnnotationClientID], rotated.Status.ClientID)
	}
	if code, _ := h.tokenWith(second); code != http.StatusOK {
		t.Fatalf("token with the new client's credentials: %d", code)
	}
	checkContentHash(t, rotated, now.Data, now.Annotations)

	h.eventually(waitTimeout+grace, "the previous client retired", func() (bool, string) {
		o := h.get("rotor-none")
		return o.Status.PreviousClient == nil || o.Status.PreviousClient.AppID != obj.Status.AppID, describeRotation(o)
	})
	if h.rawClient(obj.Status.AppID) != nil {
		t.Fatalf("the first client %s still exists after its grace period", obj.Status.AppID)
	}
	if code, _ := h.tokenWith(first); code == http.StatusOK {
		t.Fatal("the first client's credentials still work after its grace period")
	}
	o := h.get("rotor-none")
	data := asDefaultKeys(h.secret(o.Status.SecretName).Data)
	if code, _ := h.tokenWith(data); code != http.StatusOK {
		t.Fatalf("token with the Secret after the retirement: %d", code)
	}
	if st := h.stateSecret(o); st == nil || len(st.Data) != 1 {
		t.Fatal("the state Secret does not hold exactly the published value")
	}
}

// A manager killed between the writes of a rotation by a new client with keys None: after
// the state Secret gained the new client's secret but before the Secret named it, or after
// the Secret named it but before status did. The next manager settles both as with keys
// Default: the first adopts the pending client with a new secret (nobody holds its first
// one), the second records the published credentials and keeps them.
func TestHydraRotationKeysNoneCrashSafe(t *testing.T) {
	t.Parallel()
	h := newHydraFixture(t, 0, true)
	hashOf := func(secret string) string {
		sum := sha256.Sum256([]byte("client_secret\x00" + secret))
		return hex.EncodeToString(sum[:])
	}
	cases := map[string]struct {
		secretWritten bool // the Secret names the new client too
	}{
		"state Secret written, Secret not": {},
		"Secret written, status not":       {secretWritten: true},
	}
	names := map[string]string{"state Secret written, Secret not": "crash-state", "Secret written, status not": "crash-secret"}
	for name := range cases {
		h.newClient(names[name], func(o *oauthv1.OAuthClient) {
			o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone, Data: envFromTemplate()}
			o.Spec.Rotation = &oauthv1.Rotation{Interval: metav1.Duration{Duration: time.Hour}, GracePeriod: &metav1.Duration{Duration: 2 * time.Second}}
		})
	}
	stop := h.startManager()
	before := map[string]*oauthv1.OAuthClient{}
	for name := range cases {
		before[name] = h.waitReady(names[name])
	}
	stop()
	made := map[string]*provider.App{}
	for name, tc := range cases {
		obj := h.get(names[name])
		app, err := h.admin.CreateApp(h.ctx, provider.AppSpec{Label: obj.Label(), AuthMethod: provider.AuthClientSecretBasic,
			Owner: provider.Owner{UID: string(obj.UID), Namespace: h.ns, Name: obj.Name}, Scopes: obj.Spec.Scopes, Generation: 1})
		if err != nil {
			t.Fatal(err)
		}
		secretValues.Store(app.ClientSecret, true)
		made[name] = app
		obj.Status.PendingClient = &oauthv1.PendingClient{Generation: 1, Label: obj.Label(), Since: metav1.Now(),
			AppID: app.ID, ClientID: app.ClientID}
		if err := k8s.Status().Update(h.ctx, obj); err != nil {
			t.Fatal(err)
		}
		// The state Secret holds both values, as the first write of a publish leaves it.
		st := h.stateSecret(obj)
		st.Data["CLIENT_SECRET."+hashOf(app.ClientSecret)] = []byte(app.ClientSecret)
		if err := k8s.Update(h.ctx, st); err != nil {
			t.Fatal(err)
		}
		if tc.secretWritten {
			s := h.secret(obj.Status.SecretName)
			s.Annotations[controllers.AnnotationClientID] = app.ClientID
			s.Annotations["oauth.clientcreds.dev/credential-sha256"] = hashOf(app.ClientSecret)
			s.Data["OAUTH_ID"], s.Data["OAUTH_SECRET"] = []byte(app.ClientID), []byte(app.ClientSecret)
			if err := k8s.Update(h.ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.startManager()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := &hydraFixture{fixture: h.sub(t), hydra: h.hydra, admin: h.admin}
			var got *oauthv1.OAuthClient
			h.eventually(waitTimeout, "the rotation settled", func() (bool, string) {
				got = h.get(names[name])
				ids := h.ownedClients(got)
				st := h.stateSecret(got)
				return got.Status.PendingClient == nil && got.Status.PreviousClient == nil && len(ids) == 1 && ids[0] == got.Status.AppID &&
					st != nil && len(st.Data) == 1 && isReadyNow(got), describeRotation(got)
			})
			if got.Status.ClientGeneration != 1 || got.Status.AppID != made[name].ID {
				t.Fatalf("generation %d, client %s; want generation 1, the client left by the crash %s", got.Status.ClientGeneration,
					got.Status.AppID, made[name].ID)
			}
			if h.rawClient(before[name].Status.AppID) != nil {
				t.Fatalf("the previous client %s was not retired", before[name].Status.AppID)
			}
			s := h.secret(got.Status.SecretName)
			checkExactKeys(t, s, envFromKeys)
			data := asDefaultKeys(s.Data)
			if string(data[controllers.KeyClientID]) != got.Status.ClientID || s.Annotations[controllers.AnnotationClientID] != got.Status.ClientID {
				t.Fatalf("Secret names client %q (annotation %q), status %s", data[controllers.KeyClientID],
					s.Annotations[controllers.AnnotationClientID], got.Status.ClientID)
			}
			if kept := string(data[controllers.KeyClientSecret]) == made[name].ClientSecret; kept != tc.secretWritten {
				t.Fatalf("the Secret kept the new client's first secret: %v, want %v", kept, tc.secretWritten)
			}
			if code, _ := h.tokenWith(data); code != http.StatusOK {
				t.Fatalf("token with the Secret: %d", code)
			}
			checkState(t, got, h.stateSecret(got), data[controllers.KeyClientSecret])
			if !slices.Contains(h.ownedClients(got), made[name].ID) {
				t.Fatal("the adopted client is gone")
			}
		})
	}
}
