package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretKeyReference points at one key of a Secret.
type SecretKeyReference struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Namespace of the Secret. Required for a ClusterOAuthProvider; not allowed for an
	// OAuthProvider, whose Secret is in its own namespace.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// Key in the Secret's data. Defaults to "token".
	// +optional
	// +kubebuilder:default=token
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// PrivateKeySecretReference points at a PEM private key in a Secret.
type PrivateKeySecretReference struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Namespace of the Secret. Required for a ClusterOAuthProvider; not allowed for an
	// OAuthProvider, whose Secret is in its own namespace.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// Key in the Secret's data that holds the PEM private key (PKCS#1 or PKCS#8 RSA, EC
	// P-256 as SEC 1 or PKCS#8). Defaults to "private.pem".
	// +optional
	// +kubebuilder:default=private.pem
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// DefaultOktaOAuthScope is the management scope the operator asks for when
// spec.okta.oauth.scopes is not set.
const DefaultOktaOAuthScope = "okta.apps.manage"

// OktaOAuth says how the operator authenticates to Okta's management API with OAuth 2.0: as
// an API service app (client credentials grant, private_key_jwt client authentication) whose
// access tokens are bound to a DPoP key (RFC 9449).
type OktaOAuth struct {
	// ClientID of the API service app in Okta.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	ClientID string `json:"clientID"`

	// PrivateKeySecretRef points at the private key whose public key is registered on the
	// app; it signs the client assertions. Replacing the key in the Secret is picked up
	// without a restart.
	// +required
	PrivateKeySecretRef PrivateKeySecretReference `json:"privateKeySecretRef"`

	// KeyID is the kid of the public key registered on the app (the KID the Admin Console
	// shows for it). Optional: without it the client assertion's kid is the key's RFC 7638
	// SHA-256 thumbprint (base64url).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:Pattern=`^[-._~A-Za-z0-9]+$`
	KeyID string `json:"keyID,omitempty"`

	// Scopes the operator requests; each must be granted to the app. Default
	// [okta.apps.manage]; add okta.authorizationServers.manage for accessPolicy: Managed.
	// +optional
	// +kubebuilder:default={"okta.apps.manage"}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[\x21\x23-\x5B\x5D-\x7E]+$`
	// +listType=set
	Scopes []string `json:"scopes,omitempty"`
}

// AccessPolicyMode says who grants the clients their scopes on the authorization server.
// +kubebuilder:validation:Enum=External;Managed
type AccessPolicyMode string

const (
	// AccessPolicyExternal: the org's own access policies decide; the operator creates none.
	AccessPolicyExternal AccessPolicyMode = "External"
	// AccessPolicyManaged: the operator creates one access policy per OAuthClient, naming
	// exactly its client and granting client_credentials for exactly its scopes.
	AccessPolicyManaged AccessPolicyMode = "Managed"
)

// OktaProvider says how to reach an Okta org and which authorization server issues tokens.
// The operator authenticates to the management API with exactly one of apiTokenSecretRef
// (an SSWS API token) and oauth (an API service app with private_key_jwt and DPoP).
// +kubebuilder:validation:XValidation:rule="has(self.apiTokenSecretRef) != has(self.oauth)",message="set exactly one of okta.apiTokenSecretRef (an SSWS API token) and okta.oauth (an API service app with private_key_jwt and DPoP)"
type OktaProvider struct {
	// OrgURL is the Okta org, e.g. https://example.okta.com. http:// is accepted only for
	// loopback hosts (the local Okta emulator).
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="orgURL must be an absolute URL such as https://example.okta.com"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['localhost', '127.0.0.1', '::1'])",message="orgURL must use https (http is allowed only for localhost, 127.0.0.1 and ::1)"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || (url(self).getEscapedPath() in ['', '/'] && url(self).getQuery().size() == 0)",message="orgURL must be the org's base URL, without a path or query"
	OrgURL string `json:"orgURL"`

	// AuthorizationServerID of the custom authorization server that issues the tokens.
	// +optional
	// +kubebuilder:default=default
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	AuthorizationServerID string `json:"authorizationServerID,omitempty"`

	// AccessPolicy: External (default) leaves it to the org's access policies on the
	// authorization server whether a client gets tokens; Managed makes the operator create,
	// keep in sync and delete one access policy per OAuthClient (the API token then needs
	// an admin role that may manage authorization servers).
	// +optional
	// +kubebuilder:default=External
	AccessPolicy AccessPolicyMode `json:"accessPolicy,omitempty"`

	// APITokenSecretRef points at the Okta API token (SSWS). Exactly one of it and oauth.
	// +optional
	APITokenSecretRef *SecretKeyReference `json:"apiTokenSecretRef,omitempty"`

	// OAuth authenticates the operator as an Okta API service app (OAuth 2.0 client
	// credentials with private_key_jwt, DPoP-bound tokens). Exactly one of it and
	// apiTokenSecretRef.
	// +optional
	OAuth *OktaOAuth `json:"oauth,omitempty"`
}

// HydraProvider says how to reach an Ory Hydra server: its admin API, where the operator
// manages the OAuth 2.0 clients, and its public issuer, whose discovery document names the
// token endpoint. Hydra must issue JWT access tokens (strategies.access_token: jwt) for the
// verifier to validate them locally.
// +kubebuilder:validation:XValidation:rule="!has(self.auth) || !has(self.auth.bearerTokenSecretRef) || !isURL(self.adminURL) || url(self.adminURL).getScheme() == 'https' || url(self.adminURL).getHostname() in ['localhost', '127.0.0.1', '::1']",message="hydra.auth.bearerTokenSecretRef needs an https adminURL (http is allowed only for localhost, 127.0.0.1 and ::1): the token must not travel in clear text"
// +kubebuilder:validation:XValidation:rule="!has(self.auth) || !has(self.auth.clientCertificateSecretRef) || !isURL(self.adminURL) || url(self.adminURL).getScheme() == 'https'",message="hydra.auth.clientCertificateSecretRef needs an https adminURL"
type HydraProvider struct {
	// AdminURL is the base URL of Hydra's admin API (the server's /admin/clients lives
	// under it), e.g. http://hydra-admin.hydra.svc:4445. http:// is accepted for an admin
	// API reachable only inside the cluster (auth none); credentials need https.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="adminURL must be an absolute http or https URL such as https://hydra-admin.example:4445"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getQuery().size() == 0",message="adminURL must not have a query"
	AdminURL string `json:"adminURL"`

	// Issuer is Hydra's public issuer URL (its urls.self.issuer). The token URL and JWKS URL
	// come from its discovery document (/.well-known/openid-configuration). Consumers send
	// their credentials there, so http:// is accepted only for loopback hosts.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['localhost', '127.0.0.1', '::1']))",message="issuer must be an https URL such as https://auth.example.com/ (http is allowed only for localhost, 127.0.0.1 and ::1)"
	Issuer string `json:"issuer"`

	// Auth says how the operator authenticates to the admin API. Absent: no credentials,
	// for an admin API that only the cluster can reach.
	// +optional
	Auth *HydraAuth `json:"auth,omitempty"`
}

// HydraAuth authenticates the operator to Hydra's admin API (usually through a proxy in
// front of it): a bearer token, or a TLS client certificate; at most one. Both Secrets
// follow the rules of Okta's credentials: in the provider's namespace for an
// OAuthProvider (and labelled oauth.clientcreds.dev/provider-credentials: "true"), with a
// namespace for a ClusterOAuthProvider.
// +kubebuilder:validation:XValidation:rule="!(has(self.bearerTokenSecretRef) && has(self.clientCertificateSecretRef))",message="set at most one of hydra.auth.bearerTokenSecretRef and hydra.auth.clientCertificateSecretRef"
type HydraAuth struct {
	// BearerTokenSecretRef points at a token sent as "Authorization: Bearer <token>".
	// The key defaults to "token".
	// +optional
	BearerTokenSecretRef *SecretKeyReference `json:"bearerTokenSecretRef,omitempty"`

	// ClientCertificateSecretRef points at a Secret holding a TLS client certificate for
	// mutual TLS: keys tls.crt and tls.key (PEM), and optionally ca.crt, the CA bundle that
	// verifies the admin API's server certificate (default: the system roots).
	// +optional
	ClientCertificateSecretRef *SecretReference `json:"clientCertificateSecretRef,omitempty"`
}

// SecretReference names a whole Secret.
type SecretReference struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Namespace of the Secret. Required for a ClusterOAuthProvider; not allowed for an
	// OAuthProvider, whose Secret is in its own namespace.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
}

// OAuthProviderSpec describes a backend: exactly one of okta and hydra.
// +kubebuilder:validation:XValidation:rule="has(self.okta) != has(self.hydra)",message="set exactly one backend: okta or hydra"
type OAuthProviderSpec struct {
	// Okta backend. Exactly one of okta and hydra.
	// +optional
	Okta *OktaProvider `json:"okta,omitempty"`

	// Hydra backend (Ory Hydra's admin API). Exactly one of okta and hydra.
	// +optional
	Hydra *HydraProvider `json:"hydra,omitempty"`

	// NamespaceSelector admits the namespaces whose OAuthClients may use a
	// ClusterOAuthProvider, by the namespaces' labels. Absent: every namespace. An
	// OAuthClient in another namespace is not reconciled (reason NamespaceNotAllowed) and
	// causes no backend call. Not allowed in an OAuthProvider, which serves its own
	// namespace only.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// AllowedScopes are the scopes OAuthClients of this provider may request; a trailing
	// "*" matches any scope with that prefix ("orders:*"). Absent: any scope. An empty
	// list allows none. An OAuthClient asking for another scope is not reconciled (reason
	// ScopeNotAllowed) and causes no backend call.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	// An empty list stays empty when written by Go clients too; null is the same as absent.
	AllowedScopes []string `json:"allowedScopes"` // no omitempty: [] must reach the API server
}

// OAuthProviderStatus reports the provider's health and what was discovered from the
// authorization server's metadata.
type OAuthProviderStatus struct {
	// ObservedGeneration is the spec generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready always; Reconciling and Stalled only while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Issuer of the authorization server.
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// TokenURL is the authorization server's token endpoint.
	// +optional
	TokenURL string `json:"tokenURL,omitempty"`

	// JWKSURL is where the authorization server publishes its signing keys.
	// +optional
	JWKSURL string `json:"jwksURL,omitempty"`

	// LastCheckTime is when the health check last ran.
	// +optional
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`
}

// ClusterOAuthProvider is a cluster-wide backend (e.g. an Okta org) that OAuthClients in any
// namespace can reference.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=coap,categories=clientcreds
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Issuer",type=string,JSONPath=`.status.issuer`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterOAuthProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	// +kubebuilder:validation:XValidation:rule="!has(self.okta) || !has(self.okta.apiTokenSecretRef) || has(self.okta.apiTokenSecretRef.__namespace__)",message="okta.apiTokenSecretRef.namespace is required for a ClusterOAuthProvider"
	// +kubebuilder:validation:XValidation:rule="!has(self.okta) || !has(self.okta.oauth) || has(self.okta.oauth.privateKeySecretRef.__namespace__)",message="okta.oauth.privateKeySecretRef.namespace is required for a ClusterOAuthProvider"
	// +kubebuilder:validation:XValidation:rule="!has(self.hydra) || !has(self.hydra.auth) || !has(self.hydra.auth.bearerTokenSecretRef) || has(self.hydra.auth.bearerTokenSecretRef.__namespace__)",message="hydra.auth.bearerTokenSecretRef.namespace is required for a ClusterOAuthProvider"
	// +kubebuilder:validation:XValidation:rule="!has(self.hydra) || !has(self.hydra.auth) || !has(self.hydra.auth.clientCertificateSecretRef) || has(self.hydra.auth.clientCertificateSecretRef.__namespace__)",message="hydra.auth.clientCertificateSecretRef.namespace is required for a ClusterOAuthProvider"
	Spec   OAuthProviderSpec   `json:"spec"`
	Status OAuthProviderStatus `json:"status,omitempty"`
}

// ClusterOAuthProviderList is a list of ClusterOAuthProviders.
// +kubebuilder:object:root=true
type ClusterOAuthProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterOAuthProvider `json:"items"`
}

// OAuthProvider is a backend usable by OAuthClients in its own namespace; its API-token
// Secret lives in that namespace too.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oap,categories=clientcreds
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Issuer",type=string,JSONPath=`.status.issuer`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OAuthProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	// +kubebuilder:validation:XValidation:rule="!has(self.namespaceSelector)",message="namespaceSelector applies to ClusterOAuthProviders only: an OAuthProvider serves its own namespace"
	// +kubebuilder:validation:XValidation:rule="!has(self.okta) || !has(self.okta.apiTokenSecretRef) || !has(self.okta.apiTokenSecretRef.__namespace__)",message="okta.apiTokenSecretRef.namespace is not allowed in an OAuthProvider: the Secret must be in the provider's namespace"
	// +kubebuilder:validation:XValidation:rule="!has(self.okta) || !has(self.okta.oauth) || !has(self.okta.oauth.privateKeySecretRef.__namespace__)",message="okta.oauth.privateKeySecretRef.namespace is not allowed in an OAuthProvider: the Secret must be in the provider's namespace"
	// +kubebuilder:validation:XValidation:rule="!has(self.hydra) || !has(self.hydra.auth) || !has(self.hydra.auth.bearerTokenSecretRef) || !has(self.hydra.auth.bearerTokenSecretRef.__namespace__)",message="hydra.auth.bearerTokenSecretRef.namespace is not allowed in an OAuthProvider: the Secret must be in the provider's namespace"
	// +kubebuilder:validation:XValidation:rule="!has(self.hydra) || !has(self.hydra.auth) || !has(self.hydra.auth.clientCertificateSecretRef) || !has(self.hydra.auth.clientCertificateSecretRef.__namespace__)",message="hydra.auth.clientCertificateSecretRef.namespace is not allowed in an OAuthProvider: the Secret must be in the provider's namespace"
	Spec   OAuthProviderSpec   `json:"spec"`
	Status OAuthProviderStatus `json:"status,omitempty"`
}

// OAuthProviderList is a list of OAuthProviders.
// +kubebuilder:object:root=true
type OAuthProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OAuthProvider `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ClusterOAuthProvider{}, &ClusterOAuthProviderList{},
		&OAuthProvider{}, &OAuthProviderList{})
}
