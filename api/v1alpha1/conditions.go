package v1alpha1

// Condition types. Ready is always present; Reconciling and Stalled are present only while
// true, following the kstatus conventions that Flux and Argo CD read.
const (
	// ConditionReady is True when the object's whole contract holds (for an OAuthClient: the
	// app is active, the Secret is written and a token request with it succeeded).
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is working towards the desired state.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress without a change by
	// a human (an invalid spec, a Secret name owned by someone else).
	ConditionStalled = "Stalled"
	// ConditionDrifted is True when an observed app (managementPolicy Observe) differs from
	// the spec, False when it matches; absent under Manage, which repairs drift.
	ConditionDrifted = "Drifted"
)

// Condition reasons, one CamelCase word each.
const (
	// ReasonSucceeded: the desired state holds.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing: work is under way (creating, updating, rotating).
	ReasonProgressing = "Progressing"

	// ReasonProviderNotFound: the referenced ClusterOAuthProvider/OAuthProvider does not exist.
	ReasonProviderNotFound = "ProviderNotFound"
	// ReasonProviderNotReady: the referenced provider exists but is not Ready.
	ReasonProviderNotReady = "ProviderNotReady"
	// ReasonAPITokenSecretNotFound: the provider's API-token Secret or its key is missing.
	ReasonAPITokenSecretNotFound = "APITokenSecretNotFound"
	// ReasonInvalidAPIToken: the backend does not know the API token (Okta: 401 E0000011).
	ReasonInvalidAPIToken = "InvalidAPIToken"
	// ReasonPrivateKeySecretNotFound: OAuth mode — the Secret of spec.okta.oauth.privateKeySecretRef
	// or its key is missing or empty.
	ReasonPrivateKeySecretNotFound = "PrivateKeySecretNotFound"
	// ReasonPrivateKeyInvalid: OAuth mode — the private key in the Secret is not a usable PEM
	// private key (RSA of at least 2048 bits, PKCS#1 or PKCS#8; EC P-256, SEC 1 or PKCS#8).
	ReasonPrivateKeyInvalid = "PrivateKeyInvalid"
	// ReasonOAuthClientRejected: OAuth mode — the org authorization server refused the
	// operator's OAuth client (invalid_client: unknown client id, a key not registered on the
	// app, a wrong keyID, an inactive app).
	ReasonOAuthClientRejected = "OAuthClientRejected"
	// ReasonOAuthScopeNotGranted: OAuth mode — the operator's OAuth client asked for a scope
	// (spec.okta.oauth.scopes) that is not granted to the app (invalid_scope).
	ReasonOAuthScopeNotGranted = "OAuthScopeNotGranted"
	// ReasonDPoPRejected: OAuth mode — Okta refused the operator's DPoP proof
	// (invalid_dpop_proof), at the token endpoint or at the management API.
	ReasonDPoPRejected = "DPoPRejected"
	// ReasonForbidden: the API token is valid but its admin role may not make a call the
	// operator needs (Okta: 403 E0000006); the message names the call and the role.
	ReasonForbidden = "Forbidden"
	// ReasonFeatureNotEnabled: the org lacks a feature the operator needs (Okta: 401
	// E0000015, e.g. API Access Management for custom authorization servers).
	ReasonFeatureNotEnabled = "FeatureNotEnabled"
	// ReasonAccessPolicyDenied: the authorization server's access policies grant the client
	// no token for its scopes (the token endpoint answered access_denied).
	ReasonAccessPolicyDenied = "AccessPolicyDenied"
	// ReasonCredentialsSecretNotLabelled: the provider's credentials Secret lacks the label
	// the manager requires before it reads a Secret for a namespaced provider.
	ReasonCredentialsSecretNotLabelled = "CredentialsSecretNotLabelled"
	// ReasonNamespaceNotAllowed: the ClusterOAuthProvider's namespaceSelector does not
	// admit the OAuthClient's namespace; the client is not reconciled.
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	// ReasonScopeNotAllowed: the OAuthClient asks for a scope the provider's allowedScopes
	// do not admit; the client is not reconciled.
	ReasonScopeNotAllowed = "ScopeNotAllowed"
	// ReasonNamespaceTerminating: the OAuthClient's namespace is being deleted; nothing is
	// created or repaired any more, the client waits for its own deletion.
	ReasonNamespaceTerminating = "NamespaceTerminating"
	// ReasonInUse: a provider being deleted waits until no OAuthClient uses it.
	ReasonInUse = "InUse"
	// ReasonUnsupportedByBackend: the OAuthClient asks for something its provider's
	// backend cannot do (e.g. spec.audiences on Okta, rotation with overlap on a backend
	// that keeps one secret per client).
	ReasonUnsupportedByBackend = "UnsupportedByBackend"
	// ReasonInvalidTemplate: a spec.secretTemplate.data template does not parse or does not
	// render; the Secret is left as it was. The message names the key, line and column.
	ReasonInvalidTemplate = "InvalidTemplate"
	// ReasonWaitingForConsumers: Reconciling while the workloads of spec.rotation.restart
	// roll out with the new credentials; the previous secret is retired once they are done
	// (or maxGracePeriod is over). The message names the workloads not done yet.
	ReasonWaitingForConsumers = "WaitingForConsumers"
	// ReasonConsumerAccessDenied: the manager may not read the pods or restart the workloads
	// (the clientcreds-consumers ClusterRole is not bound); the message names the missing
	// permission. The credentials work (Ready stays True); rotation falls back to the plain
	// grace period.
	ReasonConsumerAccessDenied = "ConsumerAccessDenied"
	// ReasonInvalidSpec: the spec cannot be acted upon (caught after admission).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonUnreachable: the backend could not be reached or answered with a server error.
	ReasonUnreachable = "Unreachable"
	// ReasonDiscoveryFailed: the authorization server metadata could not be read.
	ReasonDiscoveryFailed = "DiscoveryFailed"
	// ReasonInsecureURL: a provider URL uses http://, which the manager accepts only for
	// loopback hosts and only with --allow-insecure-loopback-http.
	ReasonInsecureURL = "InsecureURL"
	// ReasonResponseTooLarge: the backend answered with more than the manager reads from one
	// answer; the message names the endpoint and the limit.
	ReasonResponseTooLarge = "ResponseTooLarge"
	// ReasonRedirectRefused: the backend answered with a redirect, which the manager never
	// follows.
	ReasonRedirectRefused = "RedirectRefused"

	// ReasonRateLimited: the backend's rate limit is exhausted; the controller waits for the
	// reset time before calling again.
	ReasonRateLimited = "RateLimited"
	// ReasonBackendError: the backend answered with an error retrying may fix.
	ReasonBackendError = "BackendError"
	// ReasonBackendRejected: the backend refused the request permanently.
	ReasonBackendRejected = "BackendRejected"

	// ReasonSecretConflict: a Secret with the target name exists and is not owned by this
	// OAuthClient; it is left untouched.
	ReasonSecretConflict = "SecretConflict"
	// ReasonInvalidScope: the authorization server refused the requested scopes.
	ReasonInvalidScope = "InvalidScope"
	// ReasonTokenRequestFailed: a token request with the stored credentials was refused.
	ReasonTokenRequestFailed = "TokenRequestFailed"
	// ReasonNotAdoptable: the app spec.adopt names does not exist or is not a service app
	// whose only grant is client_credentials; the message says what differs.
	ReasonNotAdoptable = "NotAdoptable"
	// ReasonAlreadyOwned: the app spec.adopt names belongs to another OAuthClient (named in
	// the message); it is left as it is.
	ReasonAlreadyOwned = "AlreadyOwned"
	// ReasonCredentialsSecretNotFound: the Secret or key spec.credentialsFrom names is missing
	// or empty; the client waits for it and nothing is called in the backend.
	ReasonCredentialsSecretNotFound = "CredentialsSecretNotFound"
	// ReasonCredentialsSecretInvalid: the backend refused the client secret spec.credentialsFrom
	// supplies (e.g. too short); the message says why, never the value.
	ReasonCredentialsSecretInvalid = "CredentialsSecretInvalid"
	// ReasonSecretNotReadable: an observed app's backend does not return client secret
	// values (managementPolicy Observe); set spec.credentialsFrom to a Secret holding it.
	ReasonSecretNotReadable = "SecretNotReadable"
	// ReasonNoDrift: the observed app matches the spec (condition Drifted, status False).
	ReasonNoDrift = "NoDrift"
	// ReasonSpecDiffers: the observed app differs from the spec (condition Drifted, status
	// True); the message lists the fields.
	ReasonSpecDiffers = "SpecDiffers"

	// ReasonAPINotFound: an OAuthAPI named in spec.apis does not exist.
	ReasonAPINotFound = "APINotFound"
	// ReasonAPINotAllowed: an OAuthAPI named in spec.apis does not allow this OAuthClient
	// (its spec.allowedClients); the message names the API.
	ReasonAPINotAllowed = "APINotAllowed"
	// ReasonScopeNotInAPI: spec.apis asks for a scope the named OAuthAPI does not declare.
	ReasonScopeNotInAPI = "ScopeNotInAPI"
	// ReasonScopeConflict: an OAuthAPI declares a scope another OAuthAPI on the same
	// authorization server already declares; the message names the other API.
	ReasonScopeConflict = "ScopeConflict"
)
