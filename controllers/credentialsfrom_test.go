package controllers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
)

// userSecret creates or updates the Secret a user manages (an ExternalSecret's target);
// labelled LabelClient so the manager's Secret cache, and so its watch, sees it.
func (f *fixture) userSecret(name, key, value string) {
	f.t.Helper()
	secretValues.Store(value, true)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns,
		Labels: map[string]string{controllers.LabelClient: "from-vault"}}}
	err := k8s.Get(f.ctx, client.ObjectKeyFromObject(s), s)
	if client.IgnoreNotFound(err) != nil {
		f.t.Fatal(err)
	}
	s.Data = map[string][]byte{key: []byte(value)}
	if err != nil {
		f.create(s)
		return
	}
	if err := k8s.Update(f.ctx, s); err != nil {
		f.t.Fatal(err)
	}
}

// published waits until the output Secret holds want as CLIENT_SECRET and the client is Ready.
func (f *fixture) waitPublished(name, want string) *corev1.Secret {
	f.t.Helper()
	var s *corev1.Secret
	f.eventually(waitTimeout, name+" to publish the Secret's new value", func() (bool, string) {
		o := f.get(name)
		s = f.secret(o.SecretName())
		return s != nil && string(s.Data[controllers.KeyClientSecret]) == want && readyForGeneration(o), describe(o)
	})
	return s
}

// spec.credentialsFrom against the emulator: the client waits for the user's Secret without
// a single call to the org, registers its value (POST credentials/secrets with client_secret,
// "bring your own secret" in Okta's OpenAPI spec), follows its changes with the old value
// working through the grace period, refuses a value Okta refuses with a named reason, and
// never invents a secret meanwhile.
func TestCredentialsFromSecret(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	f := newFixture(t, fixtureOptions{wrap: log.wrap})
	start := log.mark()
	f.newClient("from-vault", func(o *oauthv1.OAuthClient) {
		o.Spec.CredentialsFrom = &oauthv1.CredentialsFrom{
			SecretRef:   oauthv1.CredentialsSecretRef{Name: "vault-billing", Key: "secret"},
			GracePeriod: &metav1.Duration{Duration: 10 * time.Second},
		}
	})

	// Missing: a wait, and no call to the org's apps.
	o := f.waitReason("from-vault", metav1.ConditionFalse, oauthv1.ReasonCredentialsSecretNotFound)
	if msg := readyCondition(o).Message; !strings.Contains(msg, "vault-billing") {
		t.Fatalf("CredentialsSecretNotFound message %q does not name the Secret", msg)
	}
	time.Sleep(time.Second) // a few more reconciles, still no call
	// The provider's health check (GET /api/v1/apps?limit=1) is the provider's, not the
	// client's: no write at all, and no read of any app.
	writes, _ := log.since(start, "/api/v1/")
	if _, reads := log.since(start, "/api/v1/apps/"); len(writes)+reads != 0 {
		t.Fatalf("while the Secret is missing the operator called the org: %d app reads, writes %q", reads, writes)
	}
	if f.secret(o.SecretName()) != nil {
		t.Fatalf("an output Secret was written while the source Secret is missing")
	}

	// Present: the app is created and publishes exactly the user's value.
	v1 := "v1-" + randHex(12)
	f.userSecret("vault-billing", "secret", v1)
	s := f.waitPublished("from-vault", v1)
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the user's value: %d", code)
	}
	appID := f.get("from-vault").Status.AppID
	f.eventually(waitTimeout, "the generated secret of the create revoked at once", func() (bool, string) {
		return f.activeSecrets(appID) == 1, ""
	})

	// Changed: the new value is registered and published; the old one works through the
	// grace period and is revoked after it.
	v2 := "v2-" + randHex(12)
	f.userSecret("vault-billing", "secret", v2)
	s = f.waitPublished("from-vault", v2)
	old := map[string][]byte{}
	for k, v := range s.Data {
		old[k] = v
	}
	old[controllers.KeyClientSecret] = []byte(v1)
	if code, _ := f.tokenWith(old); code != http.StatusOK {
		t.Fatalf("token with the previous value right after the change: %d, want 200 during the grace period", code)
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the new value: %d", code)
	}
	f.eventually(waitTimeout, "the previous value revoked after the grace period", func() (bool, string) {
		code, _ := f.tokenWith(old)
		return code == http.StatusUnauthorized && f.activeSecrets(appID) == 1, describe(f.get("from-vault"))
	})

	// Refused by Okta (shorter than 14 characters: the OpenAPI spec's
	// ErrorClientSecretTooShort): a named reason, the message without the value, and the
	// published value keeps working.
	bad := "short" + randHex(3)
	f.userSecret("vault-billing", "secret", bad)
	o = f.waitReason("from-vault", metav1.ConditionFalse, oauthv1.ReasonCredentialsSecretInvalid)
	if msg := readyCondition(o).Message; strings.Contains(msg, bad) || !strings.Contains(msg, "14") {
		t.Fatalf("CredentialsSecretInvalid message %q: want Okta's rule (14 characters) and never the value", msg)
	}
	t.Logf("CredentialsSecretInvalid: %s", readyCondition(o).Message)
	if s := f.secret(o.Status.SecretName); string(s.Data[controllers.KeyClientSecret]) != v2 {
		t.Fatalf("the refused value replaced the published one")
	}
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the published value after a refused change: %d", code)
	}

	// Deleted: a wait again; nothing is invented, the published value stays.
	if err := k8s.Delete(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-billing", Namespace: f.ns}}); err != nil {
		t.Fatal(err)
	}
	o = f.waitReason("from-vault", metav1.ConditionFalse, oauthv1.ReasonCredentialsSecretNotFound)
	if s := f.secret(o.Status.SecretName); string(s.Data[controllers.KeyClientSecret]) != v2 {
		t.Fatalf("the published value changed while the source Secret is missing")
	}
}

// An adopted app observed with credentialsFrom: the user's value is published and proved
// with a token, and not registered — Observe writes nothing to the org.
func TestCredentialsFromObserve(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	f := newFixture(t, fixtureOptions{wrap: log.wrap})
	a := f.makeApp("Vault Held", "client_secret_basic")
	start := log.mark()
	f.userSecret("vault-app", "CLIENT_SECRET", a.secret)
	f.newClient("observed", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{AppID: a.id}
		o.Spec.DisplayName = "Vault Held"
		o.Spec.ManagementPolicy = oauthv1.ManagementPolicyObserve
		o.Spec.CredentialsFrom = &oauthv1.CredentialsFrom{SecretRef: oauthv1.CredentialsSecretRef{Name: "vault-app"}}
	})
	s := f.waitPublished("observed", a.secret)
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token: %d", code)
	}
	if writes, _ := log.since(start, "/api/v1/"); len(writes) != 0 {
		t.Fatalf("Observe with credentialsFrom wrote to the org: %q", writes)
	}
}

// Adopt (Manage) with credentialsFrom: the user's value is registered on the adopted app and
// published; the app's own secret keeps working through the grace period, as with any
// adoption, and is revoked after it.
func TestCredentialsFromAdopt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	old := f.makeApp("Terraform Made", "client_secret_basic")
	v := "adopted-" + randHex(10)
	f.userSecret("vault-adopted", "CLIENT_SECRET", v)
	f.newClient("adopted", func(o *oauthv1.OAuthClient) {
		o.Spec.Adopt = &oauthv1.Adopt{ClientID: old.clientID}
		o.Spec.DisplayName = "Terraform Made"
		o.Spec.DeletionPolicy = oauthv1.DeletionPolicyOrphan
		o.Spec.CredentialsFrom = &oauthv1.CredentialsFrom{SecretRef: oauthv1.CredentialsSecretRef{Name: "vault-adopted"},
			GracePeriod: &metav1.Duration{Duration: 10 * time.Second}}
	})
	s := f.waitPublished("adopted", v)
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Fatalf("token with the user's value: %d", code)
	}
	if code := f.tokenWithOld(old, "client_secret_basic"); code != http.StatusOK {
		t.Fatalf("token with the app's own secret right after adoption: %d, want 200 during the grace period", code)
	}
	if uid := f.appOwnerUID(old.id); uid != string(f.get("adopted").UID) {
		t.Fatalf("adopted app owner %q, want this OAuthClient", uid)
	}
	f.eventually(waitTimeout, "the app's own secret revoked after the grace period", func() (bool, string) {
		return f.tokenWithOld(old, "client_secret_basic") == http.StatusUnauthorized && f.activeSecrets(old.id) == 1, describe(f.get("adopted"))
	})
}
