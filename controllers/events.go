package controllers

// Reasons of the events the OAuthClient reconciler records on state changes (the Ready
// condition's own changes are recorded under the condition's reason). Each is one CamelCase
// word, like the condition reasons in api/v1alpha1.
const (
	// EventAppCreated: the app was created in the backend.
	EventAppCreated = "AppCreated"
	// EventAppAdopted: an app created by an attempt whose answer was lost was adopted.
	EventAppAdopted = "AppAdopted"
	// EventAppUpdated: the app was changed to match the spec.
	EventAppUpdated = "AppUpdated"
	// EventAppMissing: the app recorded in status is gone from the backend; a new one is made.
	EventAppMissing = "AppMissing"
	// EventAppDeleted: the app was deactivated and deleted (deletionPolicy Delete).
	EventAppDeleted = "AppDeleted"
	// EventAppNotDeleted: the app could not be deleted because its provider is gone.
	EventAppNotDeleted = "AppNotDeleted"
	// EventAppOrphaned: the app was left in the backend (deletionPolicy Orphan).
	EventAppOrphaned = "AppOrphaned"
	// EventCredentialsIssued: new credentials were published in the Secret.
	EventCredentialsIssued = "CredentialsIssued"
	// EventSecretsRevoked: client secrets no longer published were revoked.
	EventSecretsRevoked = "SecretsRevoked"
	// EventAccessPolicyCreated: the client's managed access policy was created.
	EventAccessPolicyCreated = "AccessPolicyCreated"
	// EventAccessPolicyUpdated: the client's managed access policy was repaired.
	EventAccessPolicyUpdated = "AccessPolicyUpdated"
	// EventAccessPolicyDeleted: the client's managed access policy was deleted.
	EventAccessPolicyDeleted = "AccessPolicyDeleted"
)
