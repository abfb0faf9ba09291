package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// APIScope is one scope an OAuthAPI declares.
type APIScope struct {
	// Name of the scope as it appears in access tokens' scp/scope claim. Unique within the
	// API and, per authorization server, across OAuthAPIs (else reason ScopeConflict).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=300
	// +kubebuilder:validation:Pattern=`^[!#-\[\]-~]+$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['openid', 'profile', 'email', 'address', 'phone', 'offline_access', 'device_sso'])",message="scope name must not be a reserved OpenID Connect scope"
	Name string `json:"name"`

	// Description of the scope (Okta: the scope's description).
	// +optional
	// +kubebuilder:validation:MaxLength=1000
	Description string `json:"description,omitempty"`

	// DisplayName shown for the scope (Okta: the scope's displayName).
	// +optional
	// +kubebuilder:validation:MaxLength=255
	DisplayName string `json:"displayName,omitempty"`
}

// ClientReference names one OAuthClient.
type ClientReference struct {
	// Namespace of the OAuthClient.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// Name of the OAuthClient.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// AllowedClients says which OAuthClients may be granted the API's scopes: those in a
// namespace the selector matches, and those listed. Both empty: no client is allowed.
type AllowedClients struct {
	// NamespaceSelector selects namespaces whose OAuthClients are allowed. An empty
	// selector ({}) matches every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Clients lists OAuthClients allowed by namespace and name.
	// +optional
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1000
	Clients []ClientReference `json:"clients,omitempty"`
}

// APIRule is one of the verifier's path rules, in the shape of its --rules file.
// +kubebuilder:validation:XValidation:rule="!(has(self.public) && self.public && has(self.scopes) && size(self.scopes) > 0)",message="a public rule cannot require scopes"
type APIRule struct {
	// PathPrefix the rule matches: the path itself and anything below it on a segment
	// boundary ("/api" matches "/api" and "/api/x", not "/apix"). A clean, decoded path:
	// no "?", "#", "%" or backslash, no empty, "." or ".." segments (the verifier refuses
	// such rules).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^?#%\\]*$`
	// +kubebuilder:validation:XValidation:rule="!self.contains('//') && !self.matches('/[.][.]?(/|$)')",message="pathPrefix must be a clean path: no empty, . or .. segments"
	PathPrefix string `json:"pathPrefix"`

	// Methods the rule applies to (upper case); empty: all methods.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^[A-Z]+$`
	// +kubebuilder:validation:items:MaxLength=32
	Methods []string `json:"methods,omitempty"`

	// Scopes the token must all carry; each must be one of the API's spec.scopes.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=300
	Scopes []string `json:"scopes,omitempty"`

	// Public: no token needed. Cannot be combined with scopes.
	// +optional
	Public bool `json:"public,omitempty"`
}

// OAuthAPISpec is an API (resource server) protected by the verifier: its scopes on the
// provider's authorization server, the clients that may be granted them, and the verifier's
// path rules.
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(r, !has(r.scopes) || r.scopes.all(s, has(self.scopes) && self.scopes.exists(x, x.name == s)))",message="every scope in rules must be one of the API's spec.scopes"
type OAuthAPISpec struct {
	// ProviderRef names the provider whose authorization server issues the API's tokens.
	// Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="providerRef is immutable; create a new OAuthAPI to use another provider"
	ProviderRef ProviderReference `json:"providerRef"`

	// Audience of the API's access tokens. Okta: the custom authorization server's audience;
	// when set it must equal it. Hydra: the audience granted to the API's clients. Default:
	// the provider's audience (Okta) or "<namespace>/<name>" (Hydra).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Audience string `json:"audience,omitempty"`

	// Scopes the API defines. Okta: created, updated and (deletionPolicy Delete) deleted on
	// the custom authorization server. Hydra: scopes are not registered server-side; they
	// bound what the API's clients may be granted.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Scopes []APIScope `json:"scopes,omitempty"`

	// AllowedClients may be granted this API's scopes (OAuthClient spec.apis). Removing a
	// client removes its grant.
	// +optional
	AllowedClients *AllowedClients `json:"allowedClients,omitempty"`

	// Rules for the verifier (--oauthapi namespace/name), in the shape of its --rules file:
	// the longest matching pathPrefix wins; paths no rule matches need a valid token with the
	// verifier's --required-scopes.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Rules []APIRule `json:"rules,omitempty"`

	// DeletionPolicy: Delete (default) removes the API's scopes from the authorization
	// server when this object is deleted; Orphan leaves them.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// GrantedClient is an OAuthClient granted scopes of the API.
type GrantedClient struct {
	// Namespace of the OAuthClient.
	Namespace string `json:"namespace"`
	// Name of the OAuthClient.
	Name string `json:"name"`
	// Scopes granted.
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// OAuthAPIStatus is what the controller has observed.
type OAuthAPIStatus struct {
	// ObservedGeneration is the spec generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready always; Reconciling and Stalled only while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Audience of the API's access tokens (the aud claim the verifier checks).
	// +optional
	Audience string `json:"audience,omitempty"`

	// Issuer of the authorization server that issues the API's tokens.
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// ManagedScopes are the scopes this OAuthAPI created on the provider's authorization
	// server (backends that register scopes: Okta). Each is recorded before it is created,
	// so a lost answer is found again rather than made twice; one removed from spec.scopes
	// is deleted, and all are deleted with the OAuthAPI (deletionPolicy Delete). A declared
	// scope that existed before is used (its description and display name set to the
	// spec's) but not listed here, and never deleted.
	// +optional
	// +listType=set
	ManagedScopes []string `json:"managedScopes,omitempty"`

	// GrantedClients are the OAuthClients currently granted scopes of this API: those whose
	// spec.apis names it and that it allows (the grant's own backend state is in each
	// OAuthClient's conditions).
	// +optional
	// +listType=atomic
	GrantedClients []GrantedClient `json:"grantedClients,omitempty"`
}

// OAuthAPI declares an API (resource server): its scopes on the provider's authorization
// server, which OAuthClients may be granted them, and the verifier's rules.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oapi,categories=clientcreds
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Audience",type=string,JSONPath=`.status.audience`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OAuthAPI struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   OAuthAPISpec   `json:"spec"`
	Status OAuthAPIStatus `json:"status,omitempty"`
}

// OAuthAPIList is a list of OAuthAPIs.
// +kubebuilder:object:root=true
type OAuthAPIList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OAuthAPI `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OAuthAPI{}, &OAuthAPIList{})
}
