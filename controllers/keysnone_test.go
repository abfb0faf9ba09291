package controllers_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
)

// keys None: the output Secret holds exactly the rendered keys; the operator keeps its own
// copy of the credential values in the state Secret and loses none of what it does with
// keys Default.

// envFromTemplate renders the credentials under the variable names an app reads through
// envFrom — none of them a default key.
func envFromTemplate() map[string]string {
	return map[string]string{
		"OAUTH_ID":          "{{.ClientID}}",
		"OAUTH_SECRET":      "{{.ClientSecret}}",
		"OAUTH_TOKEN_URL":   "{{.TokenURL}}",
		"OAUTH_SCOPE":       "{{.Scope}}",
		"OAUTH_AUTH_METHOD": "{{.AuthMethod}}",
	}
}

var envFromKeys = []string{"OAUTH_AUTH_METHOD", "OAUTH_ID", "OAUTH_SCOPE", "OAUTH_SECRET", "OAUTH_TOKEN_URL"}

// asDefaultKeys maps the envFromTemplate keys to the default ones, for tokenWith.
func asDefaultKeys(data map[string][]byte) map[string][]byte {
	secretValues.Store(string(data["OAUTH_SECRET"]), true)
	return map[string][]byte{
		controllers.KeyClientID: data["OAUTH_ID"], controllers.KeyClientSecret: data["OAUTH_SECRET"],
		controllers.KeyTokenURL: data["OAUTH_TOKEN_URL"], controllers.KeyScope: data["OAUTH_SCOPE"],
		controllers.KeyAuthMethod: data["OAUTH_AUTH_METHOD"],
	}
}

// stateSecret returns the state Secret of obj, or nil; its values join the ones no log may
// hold.
func (f *fixture) stateSecret(obj *oauthv1.OAuthClient) *corev1.Secret {
	f.t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: controllers.StateSecretName(obj)}, s); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil
		}
		f.t.Fatalf("get state Secret: %v", err)
	}
	for _, v := range s.Data {
		secretValues.Store(string(v), true)
	}
	return s
}

// checkState says whether the state Secret is the operator's: owned by obj as controller,
// labelled, Opaque, holding exactly one value, want.
func checkState(t *testing.T, obj *oauthv1.OAuthClient, s *corev1.Secret, want []byte) {
	t.Helper()
	if s == nil {
		t.Fatal("no state Secret")
	}
	if !metav1.IsControlledBy(s, obj) || s.Labels[controllers.LabelClient] == "" || s.Labels[controllers.LabelState] != "true" ||
		s.Type != corev1.SecretTypeOpaque {
		t.Errorf("state Secret: owners %v, labels %v, type %s", s.OwnerReferences, s.Labels, s.Type)
	}
	if len(s.Data) != 1 {
		t.Errorf("state Secret holds %d values, want 1", len(s.Data))
	}
	for _, v := range s.Data {
		if string(v) != string(want) {
			t.Error("the state Secret does not hold the published value")
		}
	}
}

func checkExactKeys(t *testing.T, s *corev1.Secret, want []string) {
	t.Helper()
	if got := sorted(keysOf(s.Data)); !slices.Equal(got, sorted(want)) {
		t.Fatalf("Secret keys %v, want exactly %v", got, sorted(want))
	}
}

// keys None from creation to a switch to Default and back: the Secret holds exactly the
// rendered keys; a reconcile or a template edit issues nothing; an edit of the Secret is
// put back; a deleted Secret, or a deleted state Secret, is restored with a new secret as a
// deleted Secret is with Default (same client id; the old value kept for RestoreGracePeriod
// after the Secret was deleted, revoked at once after the state Secret was).
func TestKeysNoneLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("envfrom", func(o *oauthv1.OAuthClient) {
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone, Data: envFromTemplate()}
	})
	obj := f.waitReady("envfrom")
	s := f.secret(obj.SecretName())
	checkExactKeys(t, s, envFromKeys)
	first := asDefaultKeys(s.Data)
	if code, _ := f.tokenWith(first); code != http.StatusOK {
		t.Fatalf("token with the rendered values: %d", code)
	}
	if string(first[controllers.KeyClientID]) != obj.Status.ClientID || s.Annotations[controllers.AnnotationClientID] != obj.Status.ClientID {
		t.Errorf("client id: rendered %q, annotation %q, status %q", first[controllers.KeyClientID],
			s.Annotations[controllers.AnnotationClientID], obj.Status.ClientID)
	}
	checkContentHash(t, obj, s.Data, s.Annotations)
	state := f.stateSecret(obj)
	checkState(t, obj, state, first[controllers.KeyClientSecret])
	rotatedAt := obj.Status.LastRotationTime

	t.Run("a reconcile writes nothing", func(t *testing.T) {
		f := f.sub(t)
		f.update("envfrom", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Env From" })
		obj := f.waitReady("envfrom")
		if again := f.secret(obj.SecretName()); again.ResourceVersion != s.ResourceVersion {
			t.Error("the Secret was written")
		}
		if again := f.stateSecret(obj); again.ResourceVersion != state.ResourceVersion {
			t.Error("the state Secret was written")
		}
		if !obj.Status.LastRotationTime.Equal(rotatedAt) {
			t.Error("new credentials were issued")
		}
	})

	t.Run("a template edit re-renders with the same secret", func(t *testing.T) {
		f := f.sub(t)
		f.update("envfrom", func(o *oauthv1.OAuthClient) {
			o.Spec.SecretTemplate.Data["app.properties"] = "id={{.ClientID}}\nsecret={{.ClientSecret}}\n"
		})
		obj := f.waitReady("envfrom")
		now := f.secret(obj.SecretName())
		checkExactKeys(t, now, append(slices.Clone(envFromKeys), "app.properties"))
		if want := "id=" + obj.Status.ClientID + "\nsecret=" + string(first[controllers.KeyClientSecret]) + "\n"; string(now.Data["app.properties"]) != want {
			t.Error("app.properties is not the new template rendered with the published secret")
		}
		if string(now.Data["OAUTH_SECRET"]) != string(first[controllers.KeyClientSecret]) || !obj.Status.LastRotationTime.Equal(rotatedAt) {
			t.Error("a template edit issued a new secret")
		}
		if checkContentHash(t, obj, now.Data, now.Annotations) == s.Annotations[controllers.AnnotationContentHash] {
			t.Error("the content hash did not follow the data")
		}
	})

	t.Run("an edit of the Secret is put back", func(t *testing.T) {
		f := f.sub(t)
		cur := f.secret(obj.SecretName())
		cur.Data["OAUTH_SECRET"] = []byte("tampered-value-0123456789")
		cur.Data["EXTRA"] = []byte("x")
		if err := k8s.Update(f.ctx, cur); err != nil {
			t.Fatal(err)
		}
		f.eventually(waitTimeout, "the Secret put back", func() (bool, string) {
			now := f.secret(obj.SecretName())
			return string(now.Data["OAUTH_SECRET"]) == string(first[controllers.KeyClientSecret]) && now.Data["EXTRA"] == nil, "not yet"
		})
		if o := f.waitReady("envfrom"); !o.Status.LastRotationTime.Equal(rotatedAt) {
			t.Error("an edit of a rendered key issued a new secret; the operator knows the published one")
		}
	})

	// Deleting the Secret, or the state Secret, restores as with keys Default.
	for _, what := range []string{"Secret", "state Secret"} {
		t.Run(what+" deleted", func(t *testing.T) {
			f := f.sub(t)
			before := asDefaultKeys(f.secret(obj.SecretName()).Data)
			victim := f.secret(obj.SecretName())
			if what == "state Secret" {
				victim = f.stateSecret(obj)
			}
			if err := k8s.Delete(f.ctx, victim); err != nil {
				t.Fatal(err)
			}
			var after map[string][]byte
			f.eventually(waitTimeout, "the Secret restored with a new client secret", func() (bool, string) {
				s := f.secret(obj.SecretName())
				if s == nil {
					return false, "no Secret"
				}
				after = asDefaultKeys(s.Data)
				v := string(after[controllers.KeyClientSecret])
				return v != "" && v != string(before[controllers.KeyClientSecret]), "secret unchanged"
			})
			// Status is written after the Secret: wait for it to name the restored data.
			var o *oauthv1.OAuthClient
			var now *corev1.Secret
			f.eventually(waitTimeout, "status to follow the restored Secret", func() (bool, string) {
				o, now = f.get("envfrom"), f.secret(obj.SecretName())
				return isReadyNow(o) && o.Status.SecretHash == wantContentHash(now.Data), describe(o)
			})
			checkExactKeys(t, now, append(slices.Clone(envFromKeys), "app.properties"))
			if string(after[controllers.KeyClientID]) != obj.Status.ClientID || o.Status.ClientID != obj.Status.ClientID {
				t.Errorf("client id changed: %s → %s", obj.Status.ClientID, after[controllers.KeyClientID])
			}
			if code, _ := f.tokenWith(after); code != http.StatusOK {
				t.Errorf("restored credentials: token status %d", code)
			}
			if what == "Secret" {
				// Pods that mounted the deleted Secret hold its value until kubelet syncs.
				if code, _ := f.tokenWith(before); code != http.StatusOK {
					t.Errorf("the deleted Secret's value stopped working within its grace period: %d", code)
				}
				if ra := o.Status.RetireAfter; ra == nil || ra.Sub(o.Status.LastRotationTime.Time) != controllers.RestoreGracePeriod {
					t.Errorf("retireAfter %v, want lastRotationTime + %v", ra, controllers.RestoreGracePeriod)
				}
			} else {
				f.eventually(waitTimeout, "the old secret to stop working", func() (bool, string) {
					code, _ := f.tokenWith(before)
					return code == http.StatusUnauthorized, http.StatusText(code)
				})
			}
			f.eventually(waitTimeout, "the state Secret to hold only the new value", func() (bool, string) {
				st := f.stateSecret(obj)
				return st != nil && len(st.Data) == 1, fmt.Sprintf("state %v", st != nil)
			})
			checkState(t, o, f.stateSecret(obj), after[controllers.KeyClientSecret])
			checkContentHash(t, o, now.Data, now.Annotations)
		})
	}

	t.Run("to Default and back", func(t *testing.T) {
		f := f.sub(t)
		published := asDefaultKeys(f.secret(obj.SecretName()).Data)[controllers.KeyClientSecret]
		issuedAt := f.get("envfrom").Status.LastRotationTime
		f.update("envfrom", func(o *oauthv1.OAuthClient) { o.Spec.SecretTemplate.Keys = oauthv1.SecretKeysDefault })
		o := f.waitReady("envfrom")
		back := f.secret(obj.SecretName())
		checkExactKeys(t, back, append(slices.Clone(defaultKeys), append(slices.Clone(envFromKeys), "app.properties")...))
		if string(back.Data[controllers.KeyClientSecret]) != string(published) || !o.Status.LastRotationTime.Equal(issuedAt) {
			t.Error("switching to Default issued a new client secret")
		}
		if _, ok := back.Annotations[controllers.AnnotationClientID]; ok {
			t.Error("the client-id annotation stayed with keys Default")
		}
		f.eventually(waitTimeout, "the state Secret to be deleted", func() (bool, string) {
			return f.stateSecret(obj) == nil, "still there"
		})

		// A Secret that holds the values — as every keys None Secret did before the state
		// Secret existed — moves to the state Secret without a new secret.
		f.update("envfrom", func(o *oauthv1.OAuthClient) { o.Spec.SecretTemplate.Keys = oauthv1.SecretKeysNone })
		o = f.waitReady("envfrom")
		again := f.secret(obj.SecretName())
		checkExactKeys(t, again, append(slices.Clone(envFromKeys), "app.properties"))
		if string(again.Data["OAUTH_SECRET"]) != string(published) || !o.Status.LastRotationTime.Equal(issuedAt) {
			t.Error("switching back to None issued a new client secret")
		}
		checkState(t, o, f.stateSecret(obj), published)
		checkContentHash(t, o, again.Data, again.Annotations)
	})

	t.Run("deleted with the OAuthClient", func(t *testing.T) {
		f := f.sub(t)
		if err := k8s.Delete(f.ctx, f.get("envfrom")); err != nil {
			t.Fatal(err)
		}
		f.eventually(waitTimeout, "both Secrets gone", func() (bool, string) {
			return f.secret(obj.SecretName()) == nil && f.stateSecret(obj) == nil, "still there"
		})
	})
}

// Scheduled rotation with keys None: the rendered secret changes, both work through the
// grace period, the old one is revoked after it, and the state Secret holds only the
// published value.
func TestKeysNoneRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("rotating-none", func(o *oauthv1.OAuthClient) {
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone, Data: envFromTemplate()}
		o.Spec.Rotation = &oauthv1.Rotation{
			Interval: metav1.Duration{Duration: 12 * time.Second}, GracePeriod: &metav1.Duration{Duration: 5 * time.Second},
		}
	})
	obj := f.waitReady("rotating-none")
	s := f.secret(obj.SecretName())
	first := asDefaultKeys(s.Data)
	firstHash := checkContentHash(t, obj, s.Data, s.Annotations)

	var second map[string][]byte
	f.eventually(30*time.Second, "a rotation", func() (bool, string) {
		now := f.secret(obj.SecretName())
		second = asDefaultKeys(now.Data)
		if code, _ := f.tokenWith(second); code != http.StatusOK {
			t.Errorf("token with the published secret failed: %d", code)
		}
		return string(second[controllers.KeyClientSecret]) != string(first[controllers.KeyClientSecret]), "not rotated yet"
	})
	if code, _ := f.tokenWith(first); code != http.StatusOK {
		t.Errorf("old secret refused during the grace period: %d", code)
	}
	if string(second[controllers.KeyClientID]) != string(first[controllers.KeyClientID]) {
		t.Error("rotation changed the client id")
	}
	f.eventually(20*time.Second, "the old secret to be revoked after the grace period", func() (bool, string) {
		code, _ := f.tokenWith(first)
		return code == http.StatusUnauthorized, http.StatusText(code)
	})
	if code, _ := f.tokenWith(second); code != http.StatusOK {
		t.Errorf("new secret refused after the grace period: %d", code)
	}
	if code, body := f.mgmtList("/api/v1/apps/" + obj.Status.AppID + "/credentials/secrets"); code != http.StatusOK || len(body) != 1 {
		t.Errorf("secrets after rotation: %d, %d secrets, want 1", code, len(body))
	}
	f.eventually(10*time.Second, "the rotated Secret settled", func() (bool, string) {
		o := f.get("rotating-none")
		now := f.secret(obj.SecretName())
		st := f.stateSecret(o)
		return string(now.Data["OAUTH_SECRET"]) == string(second[controllers.KeyClientSecret]) && st != nil && len(st.Data) == 1 &&
			o.Status.SecretHash == wantContentHash(now.Data), describe(o)
	})
	o := f.get("rotating-none")
	now := f.secret(o.SecretName())
	checkExactKeys(t, now, envFromKeys)
	checkState(t, o, f.stateSecret(o), second[controllers.KeyClientSecret])
	if checkContentHash(t, o, now.Data, now.Annotations) == firstHash {
		t.Error("the content hash did not change with the rotation")
	}
	if now.Annotations[controllers.AnnotationClientSecretID] != o.Status.SecretID || o.Status.SecretID == "" {
		t.Errorf("client-secret-id annotation %q, status %q", now.Annotations[controllers.AnnotationClientSecretID], o.Status.SecretID)
	}
}

// spec.credentialsFrom with keys None: the rendered keys hold the user's value, a reconcile
// does not register it again, and a new value is registered and published with the old one
// working through the grace period.
func TestKeysNoneCredentialsFrom(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	v1 := "v1-" + randHex(12)
	f.userSecret("vault-none", "secret", v1)
	f.newClient("from-vault-none", func(o *oauthv1.OAuthClient) {
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone, Data: envFromTemplate()}
		o.Spec.CredentialsFrom = &oauthv1.CredentialsFrom{
			SecretRef:   oauthv1.CredentialsSecretRef{Name: "vault-none", Key: "secret"},
			GracePeriod: &metav1.Duration{Duration: 4 * time.Second},
		}
	})
	waitValue := func(want string) (*oauthv1.OAuthClient, *corev1.Secret) {
		t.Helper()
		var o *oauthv1.OAuthClient
		var s *corev1.Secret
		f.eventually(waitTimeout, "the user's value rendered", func() (bool, string) {
			o = f.get("from-vault-none")
			s = f.secret(o.SecretName())
			return s != nil && string(s.Data["OAUTH_SECRET"]) == want && isReadyNow(o) && o.Status.SecretHash == wantContentHash(s.Data), describe(o)
		})
		return o, s
	}
	o, s := waitValue(v1)
	checkExactKeys(t, s, envFromKeys)
	first := asDefaultKeys(s.Data)
	if code, _ := f.tokenWith(first); code != http.StatusOK {
		t.Fatalf("token with the user's value: %d", code)
	}
	checkState(t, o, f.stateSecret(o), []byte(v1))
	f.eventually(waitTimeout, "the generated secret of the create revoked", func() (bool, string) {
		return f.activeSecrets(o.Status.AppID) == 1, ""
	})
	registeredAt := o.Status.LastRotationTime

	// A reconcile reads the published value back from the state Secret: nothing registered.
	f.update("from-vault-none", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "From Vault None" })
	o = f.waitReady("from-vault-none")
	if !o.Status.LastRotationTime.Equal(registeredAt) || f.activeSecrets(o.Status.AppID) != 1 {
		t.Error("a reconcile registered the value again")
	}

	v2 := "v2-" + randHex(12)
	f.userSecret("vault-none", "secret", v2)
	o, s = waitValue(v2)
	checkExactKeys(t, s, envFromKeys)
	if code, _ := f.tokenWith(first); code != http.StatusOK {
		t.Errorf("the previous value during the grace period: %d", code)
	}
	if code, _ := f.tokenWith(asDefaultKeys(s.Data)); code != http.StatusOK {
		t.Errorf("token with the new value: %d", code)
	}
	f.eventually(waitTimeout, "the previous value revoked after the grace period", func() (bool, string) {
		code, _ := f.tokenWith(first)
		return code == http.StatusUnauthorized, http.StatusText(code)
	})
	f.eventually(waitTimeout, "the state Secret to hold only the new value", func() (bool, string) {
		st := f.stateSecret(o)
		return st != nil && len(st.Data) == 1, ""
	})
	checkState(t, o, f.stateSecret(o), []byte(v2))
}

// managementPolicy Observe with keys None: the observed app's secret is rendered, the
// state Secret holds it, and the org receives no write.
func TestKeysNoneObserve(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	f := newFixture(t, fixtureOptions{wrap: log.wrap})
	app := f.makeApp("Observed None", "client_secret_basic")
	start := log.mark()
	f.newClient("observed-none", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{ClientID: app.clientID}
		o.Spec.ManagementPolicy = oauthv1.ManagementPolicyObserve
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone, Data: envFromTemplate()}
	})
	o := f.waitReady("observed-none")
	s := f.secret(o.SecretName())
	checkExactKeys(t, s, envFromKeys)
	data := asDefaultKeys(s.Data)
	if string(data[controllers.KeyClientID]) != app.clientID || string(data[controllers.KeyClientSecret]) != app.secret {
		t.Fatal("the rendered keys do not hold the observed app's client id and secret")
	}
	if code, _ := f.tokenWith(data); code != http.StatusOK {
		t.Fatalf("token with the rendered values: %d", code)
	}
	checkState(t, o, f.stateSecret(o), []byte(app.secret))
	checkContentHash(t, o, s.Data, s.Annotations)

	f.update("observed-none", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Observed None" })
	f.waitReady("observed-none")
	if again := f.secret(o.SecretName()); again.ResourceVersion != s.ResourceVersion {
		t.Error("a reconcile that changed nothing in the data rewrote the Secret")
	}
	if writes, _ := log.since(start, "/api/v1/"); len(writes) != 0 {
		t.Fatalf("Observe wrote to the org's management API: %q", writes)
	}
}
