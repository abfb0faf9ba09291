package controllers

import (
	"fmt"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// checkCapabilities refuses, before any backend call, what the client's backend declares it
// cannot do: audiences on a backend whose audience belongs to the authorization server,
// and a scheduled rotation on a backend that neither holds two secrets at once nor rotates
// by a new client (a new secret would break every consumer still holding the old one). A refusal is a stall with reason
// UnsupportedByBackend; nothing the client already has is touched.
func checkCapabilities(obj *oauthv1.OAuthClient, prov provider.Client) error {
	caps := prov.Capabilities()
	kind, name := obj.Spec.ProviderRef.Kind, obj.Spec.ProviderRef.Name
	if len(obj.Spec.Audiences) > 0 && !caps.Audiences {
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonUnsupportedByBackend,
			msg: fmt.Sprintf("The backend of %s %q sets the audience per authorization server, not per client: remove spec.audiences (or configure the audience on the authorization server)", kind, name)}
	}
	if obj.Spec.Rotation != nil && !caps.OverlappingSecrets && !caps.RotationByNewClient {
		return &conditionError{kind: stallKind, reason: oauthv1.ReasonUnsupportedByBackend,
			msg: fmt.Sprintf("The backend of %s %q keeps one client secret per client and cannot rotate by a new client, so a scheduled rotation cannot overlap old and new credentials: remove spec.rotation", kind, name)}
	}
	return nil
}
