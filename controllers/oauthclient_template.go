package controllers

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/secrettemplate"
)

// AnnotationContentHash is the SHA-256 of the Secret's data (contentHash), on the Secret and
// in status.secretHash: it changes exactly when the data does, so a pod-template annotation
// or a reloader can follow it.
const AnnotationContentHash = "oauth.clientcreds.dev/content-hash"

// parseTemplates parses spec.secretTemplate.data before anything is asked of the backend or
// written: a template that does not parse stalls the client with reason InvalidTemplate.
// It returns nil when there are no templates.
func parseTemplates(obj *oauthv1.OAuthClient) (*secrettemplate.Templates, error) {
	t := obj.Spec.SecretTemplate
	if t == nil || len(t.Data) == 0 {
		return nil, nil
	}
	ts, err := secrettemplate.Parse(t.Data)
	if err != nil {
		return nil, invalidTemplate(err)
	}
	return ts, nil
}

// trialCredentials stand in for the credentials in checkTemplates: of the auth method's
// kind and of a usual length, holding nothing secret.
func trialCredentials(obj *oauthv1.OAuthClient) *credentials {
	if obj.AuthMethod() == oauthv1.AuthPrivateKeyJWT {
		pem := "-----BEGIN PRIVATE KEY-----\n" + strings.Repeat(strings.Repeat("A", 64)+"\n", 25) + "-----END PRIVATE KEY-----\n"
		return &credentials{privateKeyPEM: []byte(pem), publicKey: &provider.PublicKey{KeyID: strings.Repeat("k", 43)}}
	}
	return &credentials{clientSecret: strings.Repeat("s", 64)}
}

// checkTemplates renders the templates once over everything but the credentials, which
// stand-ins of the same kind replace, before the backend is asked for anything: a template
// that fails to render (a field that does not exist, an index beyond a list) then costs no
// app and no issued secret. reconcileSecret renders again with the real credentials.
func checkTemplates(obj *oauthv1.OAuthClient, be backend, tmpl *secrettemplate.Templates) error {
	if tmpl == nil {
		return nil
	}
	if _, err := tmpl.Render(templateData(obj, be, trialCredentials(obj))); err != nil {
		return invalidTemplate(err)
	}
	return nil
}

// invalidTemplate is the stall of a template that does not parse or render. err is one of
// secrettemplate's, which never holds a value of the data.
func invalidTemplate(err error) error {
	return &conditionError{kind: stallKind, reason: oauthv1.ReasonInvalidTemplate,
		msg: "spec.secretTemplate.data: " + err.Error() + "; the Secret was left as it was"}
}

// templateData is what the templates see for the credentials next.
func templateData(obj *oauthv1.OAuthClient, be backend, next *credentials) secrettemplate.Data {
	scopes := append([]string{}, be.granted.scopes...)
	d := secrettemplate.Data{
		ClientID:   clientIDOf(obj, next),
		TokenURL:   be.endpoints.TokenURL,
		Issuer:     be.endpoints.Issuer,
		Scopes:     scopes,
		Scope:      strings.Join(be.granted.scopes, " "),
		Audiences:  append([]string{}, be.granted.audiences...),
		AuthMethod: string(obj.AuthMethod()),
	}
	if next.publicKey != nil {
		d.PrivateKey = string(next.privateKeyPEM)
		d.KeyID = next.keyID()
	} else {
		d.ClientSecret = next.clientSecret
	}
	return d
}

// dropDefaultKeys removes the default keys spec.secretTemplate.keys None leaves out: all of
// them. The operator's own copy of the credential values is then in the state Secret
// (oauthclient_state.go).
func dropDefaultKeys(obj *oauthv1.OAuthClient, data map[string][]byte) {
	if !keysNone(obj) {
		return
	}
	for _, k := range []string{KeyClientID, KeyClientSecret, KeyPrivateKey, KeyKeyID, KeyTokenURL, KeyIssuer, KeyScope, KeyAudience, KeyAuthMethod} {
		delete(data, k)
	}
}

// contentHash is the hex SHA-256 over the data's keys in order, each key and value
// preceded by its length, so that no two different data hash alike by moving bytes between
// keys and values.
func contentHash(data map[string][]byte) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	var n [8]byte
	for _, k := range keys {
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		binary.BigEndian.PutUint64(n[:], uint64(len(data[k])))
		h.Write(n[:])
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}
