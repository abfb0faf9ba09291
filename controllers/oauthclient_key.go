package controllers

import (
	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/clientkey"
)

// prepareKey settles the private_key_jwt key pair before the app is created or updated:
// the intact key from the Secret, or a new one.
func (r *OAuthClientReconciler) prepareKey(st *reconcileState) error {
	if st.obj.AuthMethod() != oauthv1.AuthPrivateKeyJWT {
		return nil
	}
	if st.current != nil && st.current.publicKey != nil {
		st.next = st.current
		return nil
	}
	kp, err := clientkey.Generate()
	if err != nil {
		return err
	}
	st.next = &credentials{privateKeyPEM: kp.PrivateKeyPEM, publicKey: &kp.Public}
	st.issued = issuedRestore
	if st.obj.Status.AppID == "" {
		st.issued = issuedCreate
	}
	st.sync = true // the app must learn the new public key
	return nil
}
