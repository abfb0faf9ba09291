package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TokenEndpointAuthMethod is how the client authenticates at the token endpoint.
// +kubebuilder:validation:Enum=client_secret_basic;client_secret_post;private_key_jwt
type TokenEndpointAuthMethod string

const (
	// AuthClientSecretBasic sends the client id and secret in an HTTP Basic header.
	AuthClientSecretBasic TokenEndpointAuthMethod = "client_secret_basic"
	// AuthClientSecretPost sends the client id and secret in the form body.
	AuthClientSecretPost TokenEndpointAuthMethod = "client_secret_post"
	// AuthPrivateKeyJWT signs a client assertion with a private key; no secret exists.
	AuthPrivateKeyJWT TokenEndpointAuthMethod = "private_key_jwt"
)

// DeletionPolicy says what happens to the backend app when the OAuthClient is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deactivates and deletes the backend app.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the backend app as it is.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// Provider kinds an OAuthClient can reference.
const (
	KindClusterOAuthProvider = "ClusterOAuthProvider"
	KindOAuthProvider        = "OAuthProvider"
)

// ProviderReference names the provider that manages an OAuthClient's app.
type ProviderReference struct {
	// Kind of the provider: ClusterOAuthProvider (cluster-scoped) or OAuthProvider (in the
	// OAuthClient's namespace).
	// +required
	// +kubebuilder:validation:Enum=ClusterOAuthProvider;OAuthProvider
	Kind string `json:"kind"`

	// Name of the provider.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// SecretTemplate shapes the Secret the credentials are written to.
// +kubebuilder:validation:XValidation:rule="!has(self.keys) || self.keys != 'None' || (has(self.data) && size(self.data) > 0)",message="secretTemplate.keys None requires secretTemplate.data"
type SecretTemplate struct {
	// Name of the Secret, in the OAuthClient's namespace. Defaults to "<name>-oauth-client".
	// Immutable once set: apps mount the Secret by name.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="secretTemplate.name must be a valid Secret name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="secretTemplate.name is immutable; create a new OAuthClient to use another Secret name"
	Name string `json:"name,omitempty"`

	// Labels added to the Secret.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations added to the Secret.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Data adds Secret keys rendered from Go text/template templates, so that the Secret
	// holds the credentials in the shape an app already reads (application.properties,
	// appsettings.json, a .env file). The templates see .ClientID, .ClientSecret, .TokenURL,
	// .Issuer, .Scopes (a list), .Scope (space separated), .Audiences (a list), .AuthMethod,
	// .PrivateKey and .KeyID (private_key_jwt), and the functions join, quote, squote,
	// b64enc, toJson, default, upper, lower, trim, replace and indent besides text/template's
	// own. define, template and block are not allowed, nor range nested deeper than two or
	// ranges that could make more than 65536 iterations; the output is at most 256 KiB.
	// A template that does not parse or render leaves the Secret as it was and sets Ready
	// False with reason InvalidTemplate. Keys are Secret keys (letters, digits, '-', '_',
	// '.') other than the default keys (CLIENT_ID, CLIENT_SECRET, PRIVATE_KEY, KEY_ID,
	// TOKEN_URL, ISSUER, SCOPE, AUDIENCE, AUTH_METHOD).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && k.matches('^[-._a-zA-Z0-9]+$') && k != '.' && k != '..')",message="secretTemplate.data keys must be valid Secret keys: at most 253 of letters, digits, '-', '_' and '.', and not '.' or '..'"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['CLIENT_ID', 'CLIENT_SECRET', 'PRIVATE_KEY', 'KEY_ID', 'TOKEN_URL', 'ISSUER', 'SCOPE', 'AUDIENCE', 'AUTH_METHOD']))",message="secretTemplate.data keys must not be a default key (CLIENT_ID, CLIENT_SECRET, PRIVATE_KEY, KEY_ID, TOKEN_URL, ISSUER, SCOPE, AUDIENCE, AUTH_METHOD)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].size() <= 65536)",message="a secretTemplate.data template must be at most 65536 bytes"
	Data map[string]string `json:"data,omitempty"`

	// Keys says which default keys the Secret holds besides the rendered ones. Default
	// (the default): all of them. None: none — the Secret's data is exactly the keys of
	// data. With None the operator keeps its own copy of the credential values in a second
	// Secret, "<Secret name>-clientcreds-state" (type Opaque, owned by this OAuthClient,
	// labelled oauth.clientcreds.dev/state, deleted with it or on a switch to Default), and
	// the Secret carries the client id in the annotation oauth.clientcreds.dev/client-id.
	// Deleting the Secret restores it as with Default: new credentials, the old ones kept
	// for the restore's grace period. Deleting or editing the state Secret issues new
	// credentials and revokes the old ones at once. An edit of the Secret's rendered keys is
	// put back with the same credentials. None requires data.
	// +optional
	Keys SecretKeys `json:"keys,omitempty"`

	// NudgePods, when true, makes the operator set the annotation
	// oauth.clientcreds.dev/secret-hash (the Secret's content hash) on the pods in the
	// namespace that mount the Secret (volume or projected volume) each time it publishes
	// new credentials. Only that annotation changes — pods are never restarted — and the
	// change makes kubelet sync the pod at once, so the mounted files hold the new
	// credentials within a second instead of up to about 90 s (kubelet's sync period).
	// Needs the clientcreds-consumers ClusterRole (patch pods).
	// +optional
	NudgePods bool `json:"nudgePods,omitempty"`
}

// SecretKeys says which default keys the Secret holds next to the rendered ones.
// +kubebuilder:validation:Enum=Default;None
type SecretKeys string

const (
	// SecretKeysDefault keeps every default key.
	SecretKeysDefault SecretKeys = "Default"
	// SecretKeysNone keeps no default key: the Secret holds only the rendered keys, and the
	// operator keeps the credential values in the state Secret "<Secret name>-clientcreds-state".
	SecretKeysNone SecretKeys = "None"
)

// Rotation schedules credential rotation with an overlap: new credentials are created and
// published, and the previous ones keep working for the grace period, then are revoked.
// How depends on the backend. Okta holds two client secrets per app: a second secret is
// added to the same app and the old one deactivated and deleted after the grace period;
// CLIENT_ID stays the same. Hydra holds one secret per client: each rotation creates a new
// client (same name, scopes and audiences; a new client id and secret), publishes both in
// the Secret, and deletes the previous client after the grace period — so CLIENT_ID changes
// at every rotation, tokens carry the new client id (client_id, sub), and an API that
// authorizes by client id must accept both during the grace period.
// +kubebuilder:validation:XValidation:rule="!has(self.gracePeriod) || duration(self.gracePeriod) < duration(self.interval)",message="rotation.gracePeriod must be shorter than rotation.interval"
// +kubebuilder:validation:XValidation:rule="!has(self.maxGracePeriod) || !has(self.gracePeriod) || duration(self.maxGracePeriod) >= duration(self.gracePeriod)",message="rotation.maxGracePeriod must not be shorter than rotation.gracePeriod"
// +kubebuilder:validation:XValidation:rule="!has(self.maxGracePeriod) || duration(self.maxGracePeriod) < duration(self.interval)",message="rotation.maxGracePeriod must be shorter than rotation.interval"
type Rotation struct {
	// Interval between rotations, as a Go duration (e.g. "720h"). At least 10s.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="rotation.interval must be at least 10s"
	Interval metav1.Duration `json:"interval"`

	// GracePeriod during which the previous secret keeps working after the new one is
	// published, so that every consumer can pick the new one up. Defaults to 1h; must be
	// shorter than interval.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`

	// Restart names the workloads in the OAuthClient's namespace that read the Secret
	// through environment variables (env or envFrom) and so see new credentials only when
	// their pods restart. Each time the operator publishes new credentials (a scheduled
	// rotation, a restore, an auth-method change) it restarts them as `kubectl rollout
	// restart` does, waits until each rollout is complete, and only then retires the
	// previous secret: gracePeriod becomes the least time the previous secret lives and
	// maxGracePeriod the most. Needs the clientcreds-consumers ClusterRole.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Restart []WorkloadSelector `json:"restart,omitempty"`

	// MaxGracePeriod bounds the wait for the restarted workloads: past it the previous
	// secret is retired whether their rollouts are complete or not, with a Warning event
	// naming those that are not. Defaults to gracePeriod plus 1h, at most the interval; must
	// not be shorter than gracePeriod and must be shorter than interval. Used only with
	// restart and spec.secretTemplate.nudgePods.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	MaxGracePeriod *metav1.Duration `json:"maxGracePeriod,omitempty"`
}

// WorkloadSelector names workloads of one kind in the OAuthClient's namespace: exactly one
// of name and selector.
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.selector)",message="a restart entry needs exactly one of name and selector"
type WorkloadSelector struct {
	// Kind of the workloads: Deployment, StatefulSet or DaemonSet (group apps).
	// +required
	// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
	Kind string `json:"kind"`

	// Name of one workload.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="restart name must be a valid object name"
	Name string `json:"name,omitempty"`

	// Selector picks the workloads of the kind by their labels.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// OAuthClientSpec is the desired OAuth 2.0 client (client-credentials grant).
// +kubebuilder:validation:XValidation:rule="!has(self.rotation) || !has(self.tokenEndpointAuthMethod) || self.tokenEndpointAuthMethod != 'private_key_jwt'",message="rotation applies to client secrets; it cannot be used with private_key_jwt"
// +kubebuilder:validation:XValidation:rule="(has(self.secretTemplate) && has(self.secretTemplate.name)) == (has(oldSelf.secretTemplate) && has(oldSelf.secretTemplate.name))",message="secretTemplate.name cannot be added or removed after creation; create a new OAuthClient to use another Secret name"
// +kubebuilder:validation:XValidation:rule="has(self.adopt) == has(oldSelf.adopt)",message="adopt cannot be added or removed after creation; create a new OAuthClient to adopt an app"
// +kubebuilder:validation:XValidation:rule="!has(self.managementPolicy) || self.managementPolicy != 'Observe' || has(self.adopt)",message="managementPolicy Observe needs spec.adopt: only an existing app can be observed; name it with adopt.clientID or adopt.appID"
// +kubebuilder:validation:XValidation:rule="!has(self.credentialsFrom) || !has(self.rotation)",message="credentialsFrom cannot be combined with rotation: the client secret changes when the referenced Secret changes"
// +kubebuilder:validation:XValidation:rule="!has(self.credentialsFrom) || !has(self.tokenEndpointAuthMethod) || self.tokenEndpointAuthMethod != 'private_key_jwt'",message="credentialsFrom supplies a client secret; it cannot be used with private_key_jwt"
type OAuthClientSpec struct {
	// ProviderRef names the provider that manages the app. Immutable: moving a client to
	// another provider means creating a new OAuthClient.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="providerRef is immutable; create a new OAuthClient to use another provider"
	ProviderRef ProviderReference `json:"providerRef"`

	// DisplayName is the app's label in the backend. Defaults to "<namespace>/<name>".
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	DisplayName string `json:"displayName,omitempty"`

	// Scopes the client will request; written to the Secret's SCOPE key, space separated.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	// +kubebuilder:validation:XValidation:rule="self.all(s, !(s in ['openid', 'profile', 'email', 'address', 'phone', 'offline_access']))",message="scopes must not include openid, profile, email, address, phone or offline_access: OpenID Connect scopes cannot be requested with the client-credentials grant"
	Scopes []string `json:"scopes,omitempty"`

	// APIs whose scopes the client asks for, by reference to their OAuthAPI. A grant needs
	// the API to allow this client (spec.allowedClients; else reason APINotAllowed) and
	// every scope to be one of the API's (else ScopeNotInAPI); both are checked before any
	// backend call. The granted scopes join spec.scopes in the Secret's SCOPE key and the
	// APIs' audiences are written to its AUDIENCE key.
	// +optional
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	APIs []APIGrant `json:"apis,omitempty"`

	// Audiences the client's access tokens may be issued for, backend-neutral. What each
	// backend does with them:
	//   - Hydra: registered as the client's allowed audiences (the client's "audience"); a
	//     consumer asks for them with the token request's audience parameter.
	//   - Okta: not supported — Okta sets the audience per authorization server, not per
	//     client; an OAuthClient on Okta that sets audiences is not reconciled (reason
	//     UnsupportedByBackend) and causes no backend call.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	Audiences []string `json:"audiences,omitempty"`

	// AccessTokenLifetime of the tokens the client gets, from 5m to 24h in whole minutes.
	// What each backend does with it:
	//   - Okta: the token lifetime of the rule of the client's access policy when the
	//     provider manages it (spec.okta.accessPolicy: Managed; unset: 1h); with External
	//     the org's own policies decide and the field is not used.
	//   - Hydra: the client's client_credentials_grant_access_token_lifespan, on every
	//     client of the OAuthClient (a rotation's previous and pending clients too); unset,
	//     it is cleared and Hydra's own ttl.access_token applies (1h unless configured). A
	//     lifespan changed or cleared in Hydra is put back at the next resync; under
	//     managementPolicy Observe a difference is reported in the Drifted condition. Every
	//     value this field accepts is a valid Hydra lifespan.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5m') && duration(self) <= duration('24h')",message="accessTokenLifetime must be between 5m and 24h"
	// +kubebuilder:validation:XValidation:rule="duration(self).getSeconds() % 60 == 0",message="accessTokenLifetime must be a whole number of minutes"
	AccessTokenLifetime *metav1.Duration `json:"accessTokenLifetime,omitempty"`

	// TokenEndpointAuthMethod is how the client authenticates at the token endpoint. With
	// private_key_jwt the operator generates the key pair, registers the public key on the
	// app and stores the private key in the Secret; no client secret exists.
	// +optional
	// +kubebuilder:default=client_secret_basic
	TokenEndpointAuthMethod TokenEndpointAuthMethod `json:"tokenEndpointAuthMethod,omitempty"`

	// SecretTemplate shapes the output Secret.
	// +optional
	SecretTemplate *SecretTemplate `json:"secretTemplate,omitempty"`

	// Rotation schedules credential rotation with an overlap. Absent: the credentials are
	// not rotated on a schedule. On Okta a second client secret is added to the app
	// (CLIENT_ID stays); on Hydra, which keeps one secret per client, each rotation creates
	// a new client and deletes the previous one after the grace period, so CLIENT_ID changes
	// at every rotation and APIs authorizing by client id must accept both during the grace
	// period.
	// +optional
	Rotation *Rotation `json:"rotation,omitempty"`

	// DeletionPolicy says what deleting this object does to the app. Delete deactivates and
	// deletes the app and the output Secret; Orphan leaves the app as it is and keeps the
	// Secret (without its owner reference, so it survives). An explicit value always wins.
	// Unset, the default depends on where the app came from: Delete for an app the operator
	// created, Orphan for an adopted app (spec.adopt), which existed before this object —
	// set Delete to have an adopted app deleted with it. The default is not written into the
	// stored object. With managementPolicy Observe the app is never deleted, whatever this
	// says.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Adopt takes over an existing client-credentials app instead of creating one: exactly
	// one of clientID and appID. The app must be a service app whose only grant is
	// client_credentials (else Ready=False, reason NotAdoptable) and must not belong to
	// another OAuthClient (reason AlreadyOwned). Once adopted the app is marked as this
	// object's, the rest of the spec is its desired state (drift is repaired), and a new
	// client secret is issued and published; the secrets the app had keep working for the
	// rotation grace period (spec.rotation.gracePeriod, default 1h) and are then revoked.
	// Deleting the OAuthClient leaves an adopted app in the backend unless deletionPolicy is
	// Delete. Immutable, and cannot be added to or removed from an existing OAuthClient.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="adopt is immutable; create a new OAuthClient to adopt another app"
	Adopt *Adopt `json:"adopt,omitempty"`

	// ManagementPolicy: Manage (default) makes the app match this spec and publishes
	// credentials the operator issues. Observe (needs spec.adopt) never writes to the
	// backend: no app update, no client secret, no access policy, no ownership mark. It
	// publishes what it can read — client id, token URL, issuer, and the app's current client
	// secret where the backend returns its value (Okta does; Hydra does not: use
	// spec.credentialsFrom there, else Ready=False, reason SecretNotReadable) — reports what
	// differs from this spec in the Drifted condition, and is Ready once a token request with
	// the published credentials succeeds. An observed app is never deleted: deletion leaves it
	// as it is, whatever spec.deletionPolicy says. Observe does not claim the app, so an app
	// another OAuthClient manages or observes may be observed too. Switching to Manage
	// repairs the drift (and marks the app as this object's, refused with AlreadyOwned when
	// another OAuthClient manages it); switching to Observe stops every write.
	// +optional
	// +kubebuilder:default=Manage
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// CredentialsFrom takes the client secret from a Secret the user manages (for example
	// one an ExternalSecret fills), in this OAuthClient's namespace, instead of one the
	// backend generates. The operator registers that value on the app and publishes it in
	// the output Secret; while the Secret or its key is missing the client waits (Ready=False,
	// reason CredentialsSecretNotFound) and nothing is called in the backend. When the value
	// changes the new value is registered and published, and the previous one is revoked
	// after credentialsFrom.gracePeriod (default 1h). A value the backend refuses (Okta: 14 to 100 printable
	// ASCII characters) is reason CredentialsSecretInvalid. The value is never written
	// anywhere but the backend and the output Secret. Changes are noticed at once when the
	// Secret carries the label oauth.clientcreds.dev/oauthclient (any value), else within a
	// minute. Cannot be combined with rotation or private_key_jwt. With Observe the value is
	// only published and checked with a token request, not registered.
	// +optional
	CredentialsFrom *CredentialsFrom `json:"credentialsFrom,omitempty"`
}

// ManagementPolicy says whether the operator writes to the backend app.
// +kubebuilder:validation:Enum=Manage;Observe
type ManagementPolicy string

const (
	// ManagementPolicyManage makes the app match the spec (the default).
	ManagementPolicyManage ManagementPolicy = "Manage"
	// ManagementPolicyObserve reads the app and never writes to the backend.
	ManagementPolicyObserve ManagementPolicy = "Observe"
)

// CredentialsFrom names where the client secret comes from.
type CredentialsFrom struct {
	// SecretRef is the Secret (in the OAuthClient's namespace) and key holding the client
	// secret.
	// +required
	SecretRef CredentialsSecretRef `json:"secretRef"`
	// GracePeriod during which the previous value keeps working after the Secret's value
	// changed and the new one is published (on backends that hold two secrets at once).
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('720h')",message="credentialsFrom.gracePeriod must be between 1s and 720h"
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`
}

// CredentialsSecretRef names one key of a Secret in the OAuthClient's namespace.
type CredentialsSecretRef struct {
	// Name of the Secret; it must not be the output Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="credentialsFrom.secretRef.name must be a valid Secret name"
	Name string `json:"name"`
	// Key of the Secret holding the client secret.
	// +optional
	// +kubebuilder:default=CLIENT_SECRET
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// APIGrant asks for scopes of one OAuthAPI.
type APIGrant struct {
	// Namespace of the OAuthAPI.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// Name of the OAuthAPI.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Scopes of the API the client asks for; each must be one of the API's spec.scopes.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=300
	Scopes []string `json:"scopes"`
}

// Adopt names the existing app to take over: exactly one of ClientID and AppID.
// +kubebuilder:validation:XValidation:rule="has(self.clientID) != has(self.appID)",message="adopt needs exactly one of clientID and appID"
type Adopt struct {
	// ClientID is the OAuth 2.0 client id of the app.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[!#-\[\]-~]+$`
	ClientID string `json:"clientID,omitempty"`
	// AppID is the backend's id of the app (Okta: the app id; Hydra: the client id).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[!#-\[\]-~]+$`
	AppID string `json:"appID,omitempty"`
}

// PendingCreate records, before the backend call, that an app is being created, so that a
// crash between the call and the status write leads to adoption instead of a duplicate.
type PendingCreate struct {
	// Label the app was created with.
	Label string `json:"label"`
	// Since is when the create was first attempted.
	Since metav1.Time `json:"since"`
}

// ClientGeneration names one backend client of an OAuthClient whose backend rotates by
// creating a new client (Hydra): the client of a rotation generation.
type ClientGeneration struct {
	// Generation numbers the client: 0 for the first, one more per rotation.
	Generation int64 `json:"generation"`
	// AppID is the backend id of the client.
	AppID string `json:"appID"`
	// ClientID is its OAuth 2.0 client id.
	ClientID string `json:"clientID"`
}

// PendingClient records, before the backend call, that the client of a new rotation
// generation is being created, so that a crash before its credentials are published leads
// to adopting that client (found by the marker naming this OAuthClient and the generation)
// rather than to a second one.
type PendingClient struct {
	// Generation of the client being created.
	Generation int64 `json:"generation"`
	// Label the client is created with.
	Label string `json:"label"`
	// Since is when the create was first attempted.
	Since metav1.Time `json:"since"`
	// AppID and ClientID of the client, once the backend answered the create; empty
	// before.
	// +optional
	AppID string `json:"appID,omitempty"`
	// +optional
	ClientID string `json:"clientID,omitempty"`
}

// OAuthClientStatus is what the controller has observed. Secret values are never in it.
type OAuthClientStatus struct {
	// ObservedGeneration is the spec generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready always; Reconciling and Stalled only while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// AppID is the backend app's id.
	// +optional
	AppID string `json:"appID,omitempty"`

	// ClientID is the OAuth 2.0 client id.
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// Issuer of the authorization server the client gets tokens from.
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// TokenURL is the token endpoint.
	// +optional
	TokenURL string `json:"tokenURL,omitempty"`

	// SecretName is the Secret holding the credentials.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// LastRotationTime is when the credentials in the Secret were last replaced.
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`

	// SecretID is the backend id of the client secret currently published in the Secret
	// (an identifier, not the secret).
	// +optional
	SecretID string `json:"secretID,omitempty"`

	// RetireAfter is when the client secrets other than the published one are deactivated
	// and deleted: after a rotation's grace period; after a deleted Secret was restored, 5
	// minutes (or the grace period when shorter) where the backend holds two secrets at once,
	// since pods keep a deleted Secret's files until kubelet syncs; at once after an edited
	// Secret was restored.
	// +optional
	RetireAfter *metav1.Time `json:"retireAfter,omitempty"`

	// SecretHash is the content hash of the Secret's data, as in the Secret's
	// oauth.clientcreds.dev/content-hash annotation: it changes exactly when the data does.
	// +optional
	SecretHash string `json:"secretHash,omitempty"`

	// KeyID of the public key registered for private_key_jwt.
	// +optional
	KeyID string `json:"keyID,omitempty"`

	// AccessPolicyID is the authorization-server access policy the operator manages for
	// this client (provider accessPolicy: Managed); empty otherwise.
	// +optional
	AccessPolicyID string `json:"accessPolicyID,omitempty"`

	// PendingCreate is set while an app create is in flight (crash safety).
	// +optional
	PendingCreate *PendingCreate `json:"pendingCreate,omitempty"`

	// ClientGeneration numbers the backend client appID names, on backends that rotate by
	// creating a new client (Hydra): 0 for the first, one more per rotation.
	// +optional
	ClientGeneration int64 `json:"clientGeneration,omitempty"`

	// PreviousClient is the client of the previous rotation generation on backends that
	// rotate by creating a new client (Hydra): its credentials keep working until
	// retireAfter, then it is deleted.
	// +optional
	PreviousClient *ClientGeneration `json:"previousClient,omitempty"`

	// PendingClient is set while the client of a new rotation generation is created and
	// its credentials are not yet published (crash safety).
	// +optional
	PendingClient *PendingClient `json:"pendingClient,omitempty"`
	// Consumers are the pods in the namespace that read the Secret, grouped by the
	// workload that owns them (at most 32 groups). Observed only when spec.rotation.restart
	// or spec.secretTemplate.nudgePods is set.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Consumers []SecretConsumer `json:"consumers,omitempty"`

	// ConsumersOmitted counts the consumer groups left out of consumers (its bound).
	// +optional
	ConsumersOmitted int32 `json:"consumersOmitted,omitempty"`

	// Rollout is the restart of spec.rotation.restart's workloads (and the nudge of the pods
	// that mount the Secret) for the credentials published last; the previous secret is
	// retired only once it is done or maxGracePeriod is over. Kept in status so that a
	// restarted manager carries on.
	// +optional
	Rollout *ConsumerRollout `json:"rollout,omitempty"`
}

// ConsumerCoverage says how a consumer of the Secret gets new credentials.
// +kubebuilder:validation:Enum=RestartedOnRotation;ReadsFiles;NotCovered
type ConsumerCoverage string

const (
	// ConsumerRestartedOnRotation: the workload is listed in spec.rotation.restart.
	ConsumerRestartedOnRotation ConsumerCoverage = "RestartedOnRotation"
	// ConsumerReadsFiles: the pods read the Secret only from a volume; kubelet updates the
	// files, no restart is needed.
	ConsumerReadsFiles ConsumerCoverage = "ReadsFiles"
	// ConsumerNotCovered: the pods read the Secret through env but their workload is not
	// in spec.rotation.restart: they keep the previous secret until something restarts them.
	ConsumerNotCovered ConsumerCoverage = "NotCovered"
)

// SecretConsumer is a group of pods that read the Secret, by the workload that owns them.
type SecretConsumer struct {
	// Kind of the owner: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, … or Pod for a
	// pod without a controller.
	Kind string `json:"kind"`
	// Name of the owner.
	Name string `json:"name"`
	// Pods of the owner that read the Secret.
	Pods int32 `json:"pods"`
	// Env says the pods read the Secret through env or envFrom.
	// +optional
	Env bool `json:"env,omitempty"`
	// Files says the pods mount the Secret (volume or projected volume).
	// +optional
	Files bool `json:"files,omitempty"`
	// Coverage: RestartedOnRotation, ReadsFiles or NotCovered.
	Coverage ConsumerCoverage `json:"coverage"`
}

// ConsumerRollout is the restart and the wait that follow one publication of credentials.
type ConsumerRollout struct {
	// SecretHash is the content hash of the Secret the rollout is for.
	SecretHash string `json:"secretHash"`
	// PublishedAt is when those credentials were published; maxGracePeriod counts from it.
	PublishedAt metav1.Time `json:"publishedAt"`
	// RestartedAt is the value set in the pod template annotation
	// kubectl.kubernetes.io/restartedAt of each restarted workload; empty until the
	// workloads are restarted (after the new credentials were verified).
	// +optional
	RestartedAt string `json:"restartedAt,omitempty"`
	// NudgedAt is when the pods that mount the Secret were nudged (spec.secretTemplate.nudgePods).
	// +optional
	NudgedAt *metav1.Time `json:"nudgedAt,omitempty"`
	// Workloads restarted, with whether their rollout is complete.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Workloads []WorkloadRollout `json:"workloads,omitempty"`
}

// WorkloadRollout is the rollout of one restarted workload.
type WorkloadRollout struct {
	// Kind: Deployment, StatefulSet or DaemonSet.
	Kind string `json:"kind"`
	// Name of the workload.
	Name string `json:"name"`
	// Done says the rollout is complete (as kubectl rollout status decides).
	// +optional
	Done bool `json:"done,omitempty"`
	// Message says what the rollout waits for while it is not done.
	// +optional
	Message string `json:"message,omitempty"`
}

// OAuthClient is an OAuth 2.0 client (client-credentials grant) managed in a backend such as
// Okta, with its credentials published in a Secret.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oac;oauthc,categories=clientcreds
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Client ID",type=string,JSONPath=`.status.clientID`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.secretName`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OAuthClient struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   OAuthClientSpec   `json:"spec"`
	Status OAuthClientStatus `json:"status,omitempty"`
}

// OAuthClientList is a list of OAuthClients.
// +kubebuilder:object:root=true
type OAuthClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OAuthClient `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OAuthClient{}, &OAuthClientList{})
}
