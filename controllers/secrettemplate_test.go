package controllers_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/magiconair/properties"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/oktaemu"
)

// wantContentHash is the content hash as the README defines it: SHA-256 over the keys in
// order, each key and value preceded by its length as 8 big-endian bytes, in hex.
func wantContentHash(data map[string][]byte) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(k))))
		h.Write([]byte(k))
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(data[k]))))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkContentHash says whether the Secret's annotation and the status both hold the hash
// of the Secret's data.
func checkContentHash(t *testing.T, obj *oauthv1.OAuthClient, data map[string][]byte, annotations map[string]string) string {
	t.Helper()
	want := wantContentHash(data)
	if got := annotations[controllers.AnnotationContentHash]; got != want {
		t.Errorf("content-hash annotation %q, want %q", got, want)
	}
	if obj.Status.SecretHash != want {
		t.Errorf("status.secretHash %q, want %q", obj.Status.SecretHash, want)
	}
	return want
}

var defaultKeys = []string{"AUTH_METHOD", "CLIENT_ID", "CLIENT_SECRET", "ISSUER", "SCOPE", "TOKEN_URL"}

// The Spring Boot example's template, as shipped.
func springTemplate(t *testing.T) map[string]string {
	t.Helper()
	return exampleTemplate(t, "spring-boot.yaml")
}

// exampleTemplate is the secretTemplate.data of a shipped example.
func exampleTemplate(t *testing.T, file string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../config/samples/secret-templates/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var obj oauthv1.OAuthClient
	if err := yaml.UnmarshalStrict(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj.Spec.SecretTemplate.Data
}

// Templates: the rendered keys sit next to the default ones, hold the published values,
// and the content hash follows the data: the same when nothing changed, new when a
// template changes.
func TestSecretTemplateRendered(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{emu: oktaemu.Config{Scopes: []string{"hello:read", "billing:write"}}})
	data := springTemplate(t)
	data["app.env"] = "ID={{.ClientID}}\nSCOPES={{.Scopes | join \",\"}}\nSECRET_B64={{b64enc .ClientSecret}}\n"
	f.newClient("templated", func(o *oauthv1.OAuthClient) {
		o.Spec.Scopes = []string{"hello:read", "billing:write"}
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Data: data}
	})
	obj := f.waitReady("templated")
	s := f.secret(obj.SecretName())
	if got, want := keysOf(s.Data), append(slices.Clone(defaultKeys), "app.env", "application.properties"); !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("Secret keys %v, want %v", got, want)
	}
	p, err := properties.Load(s.Data["application.properties"], properties.UTF8)
	if err != nil {
		t.Fatalf("application.properties does not parse: %v", err)
	}
	const reg = "spring.security.oauth2.client.registration.okta."
	if p.GetString(reg+"client-id", "") != string(s.Data["CLIENT_ID"]) ||
		p.GetString(reg+"client-secret", "") != string(s.Data["CLIENT_SECRET"]) ||
		p.GetString("spring.security.oauth2.client.provider.okta.token-uri", "") != f.tokenURL ||
		p.GetString(reg+"scope", "") != "hello:read,billing:write" {
		t.Errorf("application.properties does not hold the published values (keys %v)", p.Keys())
	}
	wantEnv := "ID=" + string(s.Data["CLIENT_ID"]) + "\nSCOPES=hello:read,billing:write\nSECRET_B64=" +
		base64.StdEncoding.EncodeToString(s.Data["CLIENT_SECRET"]) + "\n"
	if string(s.Data["app.env"]) != wantEnv {
		t.Errorf("app.env is not the rendered template")
	}
	// The Secret's own values work.
	if code, _ := f.tokenWith(s.Data); code != http.StatusOK {
		t.Errorf("token with the Secret's values: %d", code)
	}
	first := checkContentHash(t, obj, s.Data, s.Annotations)

	// A reconcile that changes nothing in the data (a new display name) leaves the Secret
	// and its hash as they were.
	f.update("templated", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Templated Service" })
	obj = f.waitReady("templated")
	again := f.secret(obj.SecretName())
	if again.ResourceVersion != s.ResourceVersion {
		t.Errorf("a reconcile that changed nothing in the data wrote the Secret")
	}
	if checkContentHash(t, obj, again.Data, again.Annotations) != first {
		t.Error("the content hash changed while the data did not")
	}

	// A template change: new data, new hash, same credentials.
	f.update("templated", func(o *oauthv1.OAuthClient) {
		o.Spec.SecretTemplate.Data["app.env"] = "ID={{.ClientID | quote}}\n"
	})
	obj = f.waitReady("templated")
	changed := f.secret(obj.SecretName())
	if string(changed.Data["app.env"]) != "ID=\""+string(s.Data["CLIENT_ID"])+"\"\n" {
		t.Errorf("app.env after the template change: not the new template's rendering")
	}
	if string(changed.Data["CLIENT_SECRET"]) != string(s.Data["CLIENT_SECRET"]) {
		t.Error("a template change issued a new client secret")
	}
	if checkContentHash(t, obj, changed.Data, changed.Annotations) == first {
		t.Error("the content hash did not change with the data")
	}
}

// A rotation re-renders the templates with the new secret, and the content hash changes.
func TestSecretTemplateRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("rotating-tmpl", func(o *oauthv1.OAuthClient) {
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Data: map[string]string{"secret.txt": "{{.ClientSecret}}"}}
		o.Spec.Rotation = &oauthv1.Rotation{
			Interval: metav1.Duration{Duration: 10 * time.Second}, GracePeriod: &metav1.Duration{Duration: 3 * time.Second},
		}
	})
	obj := f.waitReady("rotating-tmpl")
	s := f.secret(obj.SecretName())
	first := checkContentHash(t, obj, s.Data, s.Annotations)
	var rotated map[string][]byte
	f.eventually(30*time.Second, "a rotation", func() (bool, string) {
		now := f.secret(obj.SecretName())
		rotated = now.Data
		return string(now.Data["CLIENT_SECRET"]) != string(s.Data["CLIENT_SECRET"]), "not rotated yet"
	})
	if string(rotated["secret.txt"]) != string(rotated["CLIENT_SECRET"]) {
		t.Error("the rendered key does not hold the new secret")
	}
	f.eventually(10*time.Second, "the new content hash in the annotation and status", func() (bool, string) {
		now := f.secret(obj.SecretName())
		o := f.get("rotating-tmpl")
		want := wantContentHash(now.Data)
		return want != first && now.Annotations[controllers.AnnotationContentHash] == want && o.Status.SecretHash == want,
			"annotation " + now.Annotations[controllers.AnnotationContentHash] + ", status " + o.Status.SecretHash
	})
}

// keys: None leaves out every default key; the credentials stay known to the operator
// (the state Secret), which neither loops nor issues new secrets, and switching to Default
// brings the default keys back with the same secret.
func TestSecretTemplateKeysNone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("only-rendered", func(o *oauthv1.OAuthClient) {
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone,
			Data: map[string]string{"token.url": "{{.TokenURL}}"}}
	})
	obj := f.waitReady("only-rendered")
	s := f.secret(obj.SecretName())
	if got, want := sorted(keysOf(s.Data)), []string{"token.url"}; !slices.Equal(got, want) {
		t.Fatalf("Secret keys %v, want %v", got, want)
	}
	if string(s.Data["token.url"]) != f.tokenURL {
		t.Errorf("token.url = %q, want %q", s.Data["token.url"], f.tokenURL)
	}
	checkContentHash(t, obj, s.Data, s.Annotations)
	rotatedAt := obj.Status.LastRotationTime
	state := f.stateSecret(obj)
	if state == nil || len(state.Data) != 1 {
		t.Fatal("no state Secret with the published value")
	}
	var published []byte
	for _, v := range state.Data {
		published = v
	}

	// Another reconcile keeps the same credentials and leaves the Secret alone.
	f.update("only-rendered", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Only Rendered" })
	obj = f.waitReady("only-rendered")
	again := f.secret(obj.SecretName())
	if again.ResourceVersion != s.ResourceVersion || !obj.Status.LastRotationTime.Equal(rotatedAt) {
		t.Error("a reconcile with keys None rewrote the Secret or issued new credentials")
	}
	// Back to Default: the default keys return, with the same secret.
	f.update("only-rendered", func(o *oauthv1.OAuthClient) { o.Spec.SecretTemplate.Keys = oauthv1.SecretKeysDefault })
	obj = f.waitReady("only-rendered")
	back := f.secret(obj.SecretName())
	if got, want := sorted(keysOf(back.Data)), append(slices.Clone(defaultKeys), "token.url"); !slices.Equal(got, sorted(want)) {
		t.Errorf("Secret keys with keys Default %v, want %v", got, want)
	}
	if string(back.Data["CLIENT_SECRET"]) != string(published) {
		t.Error("switching keys issued a new client secret")
	}
}

// private_key_jwt with the JSON credentials example and keys None: the file is the whole
// Secret and holds the key the app knows, read back (not made anew) on the next reconcile;
// a deleted Secret gets a new key and the old one stops working.
func TestSecretTemplatePrivateKeyJWT(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.newClient("signer-json", func(o *oauthv1.OAuthClient) {
		o.Spec.TokenEndpointAuthMethod = oauthv1.AuthPrivateKeyJWT
		o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Keys: oauthv1.SecretKeysNone, Data: exampleTemplate(t, "json-credentials.yaml")}
	})
	type credentialsFile struct {
		ClientID   string   `json:"client_id"`
		PrivateKey string   `json:"private_key"`
		KeyID      string   `json:"key_id"`
		TokenURL   string   `json:"token_url"`
		Scopes     []string `json:"scopes"`
		AuthMethod string   `json:"auth_method"`
	}
	readFile := func(s *corev1.Secret) (credentialsFile, map[string][]byte) {
		t.Helper()
		var file credentialsFile
		if err := json.Unmarshal(s.Data["credentials.json"], &file); err != nil {
			t.Fatalf("credentials.json does not parse: %v", err)
		}
		secretValues.Store(file.PrivateKey, true)
		return file, map[string][]byte{"CLIENT_ID": []byte(file.ClientID), "PRIVATE_KEY": []byte(file.PrivateKey),
			"KEY_ID": []byte(file.KeyID), "TOKEN_URL": []byte(file.TokenURL), "SCOPE": []byte(strings.Join(file.Scopes, " ")),
			"AUTH_METHOD": []byte(file.AuthMethod)}
	}
	obj := f.waitReady("signer-json")
	s := f.secret(obj.SecretName())
	if got, want := sorted(keysOf(s.Data)), []string{"credentials.json"}; !slices.Equal(got, want) {
		t.Fatalf("Secret keys %v, want %v", got, want)
	}
	file, asKeys := readFile(s)
	if file.ClientID != obj.Status.ClientID || file.KeyID != obj.Status.KeyID || !strings.Contains(file.PrivateKey, "PRIVATE KEY") ||
		file.TokenURL != f.tokenURL || !slices.Equal(file.Scopes, []string{"hello:read"}) || file.AuthMethod != "private_key_jwt" {
		t.Errorf("credentials.json does not hold the published values (key id %q, status %q)", file.KeyID, obj.Status.KeyID)
	}
	if code, _ := f.tokenWith(asKeys); code != http.StatusOK {
		t.Fatalf("token with the file's key: %d", code)
	}
	checkContentHash(t, obj, s.Data, s.Annotations)
	checkState(t, obj, f.stateSecret(obj), []byte(file.PrivateKey))

	f.update("signer-json", func(o *oauthv1.OAuthClient) { o.Spec.DisplayName = "Signer JSON" })
	obj = f.waitReady("signer-json")
	if again := f.secret(obj.SecretName()); again.ResourceVersion != s.ResourceVersion || obj.Status.KeyID != file.KeyID {
		t.Error("a reconcile with keys None made a new key or rewrote the Secret")
	}

	// Deleting the Secret issues a new key and retires the old one, as with keys Default.
	if err := k8s.Delete(f.ctx, s); err != nil {
		t.Fatal(err)
	}
	var next credentialsFile
	var nextKeys map[string][]byte
	f.eventually(waitTimeout, "a new key in the restored Secret and in status", func() (bool, string) {
		now := f.secret(obj.SecretName())
		if now == nil {
			return false, "no Secret"
		}
		next, nextKeys = readFile(now)
		obj = f.get("signer-json")
		return next.KeyID != file.KeyID && obj.Status.KeyID == next.KeyID && isReadyNow(obj), describe(obj)
	})
	if next.ClientID != file.ClientID {
		t.Errorf("restored: client id %q → %q", file.ClientID, next.ClientID)
	}
	if code, _ := f.tokenWith(nextKeys); code != http.StatusOK {
		t.Errorf("token with the restored key: %d", code)
	}
	if code, _ := f.tokenWith(asKeys); code == http.StatusOK {
		t.Error("the old key still works after the restore")
	}
	checkState(t, obj, f.stateSecret(obj), []byte(next.PrivateKey))
}

// A template that does not parse is refused before the backend is called; one that does
// not render leaves the Secret as it was; neither error holds the secret.
func TestSecretTemplateInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{emu: oktaemu.Config{Scopes: []string{"hello:read", "billing:write"}}})

	t.Run("does not parse on create", func(t *testing.T) {
		f := f.sub(t)
		obj := f.newClient("bad-parse", func(o *oauthv1.OAuthClient) {
			o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Data: map[string]string{"app.properties": "a=1\nb={{.ClientID"}}
		})
		got := f.waitReason("bad-parse", metav1.ConditionFalse, oauthv1.ReasonInvalidTemplate)
		msg := readyCondition(got).Message
		for _, w := range []string{"app.properties", "app.properties:2", "unclosed action"} {
			if !strings.Contains(msg, w) {
				t.Errorf("message %q lacks %q", msg, w)
			}
		}
		if !stalled(got) {
			t.Errorf("not Stalled: %s", describe(got))
		}
		if s := f.secret(obj.SecretName()); s != nil {
			t.Error("a Secret was written for a template that does not parse")
		}
		if apps := f.appsOwnedBy(string(got.UID)); len(apps) != 0 {
			t.Errorf("%d apps created for a client whose template does not parse", len(apps))
		}
	})

	t.Run("does not render on create", func(t *testing.T) {
		f := f.sub(t)
		obj := f.newClient("bad-render", func(o *oauthv1.OAuthClient) {
			o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Data: map[string]string{"second-scope": "{{index .Scopes 1}}"}}
		})
		got := f.waitReason("bad-render", metav1.ConditionFalse, oauthv1.ReasonInvalidTemplate)
		msg := readyCondition(got).Message
		for _, w := range []string{"key second-scope", "line 1", "<index .Scopes 1>", "index out of range"} {
			if !strings.Contains(msg, w) {
				t.Errorf("message %q lacks %q", msg, w)
			}
		}
		if s := f.secret(obj.SecretName()); s != nil {
			t.Error("a Secret was written for a template that does not render")
		}
		if apps := f.appsOwnedBy(string(got.UID)); len(apps) != 0 {
			t.Errorf("%d apps created for a client whose template does not render", len(apps))
		}
		// A second scope makes it render.
		f.update("bad-render", func(o *oauthv1.OAuthClient) { o.Spec.Scopes = []string{"hello:read", "billing:write"} })
		obj = f.waitReady("bad-render")
		if s := f.secret(obj.SecretName()); s == nil || string(s.Data["second-scope"]) != "billing:write" {
			t.Error("after the fix the rendered key is missing or wrong")
		}
	})

	t.Run("breaks a working client", func(t *testing.T) {
		f := f.sub(t)
		f.newClient("good", func(o *oauthv1.OAuthClient) {
			o.Spec.SecretTemplate = &oauthv1.SecretTemplate{Data: map[string]string{"id": "{{.ClientID}}"}}
		})
		obj := f.waitReady("good")
		before := f.secret(obj.SecretName())
		secret := string(before.Data["CLIENT_SECRET"])

		// text/template's own error for this would quote the secret: "range can't iterate
		// over <secret>".
		f.update("good", func(o *oauthv1.OAuthClient) {
			o.Spec.SecretTemplate.Data["leak"] = "x\n{{range .ClientSecret}}{{end}}"
		})
		got := f.waitReason("good", metav1.ConditionFalse, oauthv1.ReasonInvalidTemplate)
		msg := readyCondition(got).Message
		if strings.Contains(msg, secret) || strings.Contains(describe(got), secret) {
			t.Fatal("the InvalidTemplate condition holds the client secret")
		}
		for _, w := range []string{"key leak", "line 2", "range can't iterate over this value", "the Secret was left as it was"} {
			if !strings.Contains(msg, w) {
				t.Errorf("message %q lacks %q", msg, w)
			}
		}
		if after := f.secret(obj.SecretName()); after.ResourceVersion != before.ResourceVersion {
			t.Error("the Secret was written although a template did not render")
		}
		if got.Status.SecretHash != before.Annotations[controllers.AnnotationContentHash] {
			t.Error("status.secretHash moved although the Secret did not")
		}

		// Fixed: rendered, Ready again, same credentials.
		f.update("good", func(o *oauthv1.OAuthClient) { o.Spec.SecretTemplate.Data["leak"] = "{{len .ClientSecret}}" })
		obj = f.waitReady("good")
		fixed := f.secret(obj.SecretName())
		if string(fixed.Data["CLIENT_SECRET"]) != secret || string(fixed.Data["leak"]) == "" {
			t.Error("after the fix: a new secret, or the key not rendered")
		}
		checkContentHash(t, obj, fixed.Data, fixed.Annotations)
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
