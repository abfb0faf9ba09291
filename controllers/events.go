package controllers

// Reasons of the events the OAuthClient reconciler records on state changes (the Ready
// condition's own changes are recorded under the condition's reason). Each is one CamelCase
// word, like the condition reasons in api/v1alpha1.
const (
	// EventAppCreated is recorded when the app was created in the backend.
	EventAppCreated = "AppCreated"
	// EventAppAdopted is recorded when an app created by an attempt whose answer was lost
	// is adopted.
	EventAppAdopted = "AppAdopted"
	// EventAppUpdated is recorded when the app was changed to match the spec.
	EventAppUpdated = "AppUpdated"
	// EventAppMissing is recorded when the app status names is gone from the backend; a new
	// one is made.
	EventAppMissing = "AppMissing"
	// EventAppDeleted is recorded when the app was deactivated and deleted (deletionPolicy Delete).
	EventAppDeleted = "AppDeleted"
	// EventAppNotDeleted is recorded when the app could not be deleted because its provider is gone.
	EventAppNotDeleted = "AppNotDeleted"
	// EventAppOrphaned is recorded when the app was left in the backend (deletionPolicy Orphan).
	EventAppOrphaned = "AppOrphaned"
	// EventCredentialsIssued is recorded when new credentials were published in the Secret.
	EventCredentialsIssued = "CredentialsIssued"
	// EventSecretsRevoked is recorded when client secrets no longer published were revoked.
	EventSecretsRevoked = "SecretsRevoked"
	// EventConsumerNotCovered is recorded at a rotation for each workload that reads the
	// Secret through env and is not in spec.rotation.restart.
	EventConsumerNotCovered = "ConsumerNotCovered"
	// EventConsumersNotReady is recorded when the previous secret was retired at
	// maxGracePeriod although restarted workloads had not finished their rollout.
	EventConsumersNotReady = "ConsumersNotReady"
	// EventAccessPolicyCreated is recorded when the client's managed access policy was created.
	EventAccessPolicyCreated = "AccessPolicyCreated"
	// EventAccessPolicyUpdated is recorded when the client's managed access policy was repaired.
	EventAccessPolicyUpdated = "AccessPolicyUpdated"
	// EventAccessPolicyDeleted is recorded when the client's managed access policy was deleted.
	EventAccessPolicyDeleted = "AccessPolicyDeleted"
)

// Reasons of the events an OAuthAPI records.
const (
	// EventScopeCreated: a scope of spec.scopes was created on the authorization server.
	EventScopeCreated = "ScopeCreated"
	// EventScopeUpdated: a scope's description or display name was changed to the spec's.
	EventScopeUpdated = "ScopeUpdated"
	// EventScopeDeleted: a scope was deleted from the authorization server (removed from
	// spec.scopes, or the OAuthAPI was deleted with deletionPolicy Delete).
	EventScopeDeleted = "ScopeDeleted"
	// EventScopesOrphaned: the OAuthAPI was deleted and its scopes left on the server.
	EventScopesOrphaned = "ScopesOrphaned"
)
