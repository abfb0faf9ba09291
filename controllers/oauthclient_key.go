package controllers

import (
	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/oauth2client"
)

// keyPlan is what prepareKey settled for a private_key_jwt client; empty for the other
// methods.
type keyPlan struct {
	// next is the key pair to register with the app and publish; nil for the other methods.
	next *credentials
	// issued says why a new key pair was made (issuedCreate, issuedRestore); "" when the
	// Secret's intact key is kept. A new key must reach the app: the app is read and updated.
	issued string
}

// prepareKey settles the private_key_jwt key pair before the app is created or updated:
// the intact key from the Secret, or a new one.
func prepareKey(obj *oauthv1.OAuthClient, found secretObservation) (keyPlan, error) {
	if obj.AuthMethod() != oauthv1.AuthPrivateKeyJWT {
		return keyPlan{}, nil
	}
	if found.current != nil && found.current.publicKey != nil {
		return keyPlan{next: found.current}, nil
	}
	kp, err := oauth2client.GenerateKey()
	if err != nil {
		return keyPlan{}, err
	}
	plan := keyPlan{next: &credentials{privateKeyPEM: kp.PrivateKeyPEM, publicKey: &kp.Public}, issued: issuedRestore}
	if obj.Status.AppID == "" {
		plan.issued = issuedCreate
	}
	return plan, nil
}
