package provider

// Capabilities are what a backend can do beyond the contract every backend meets. A backend
// declares them (Client.Capabilities); the controllers ask instead of assuming one
// backend's shape. Managed access policies are the other optional capability: a backend
// declares it by implementing AccessPolicyManager. ServerScopes is declared here and
// implemented by ScopeManager (ScopesOf gives it).
type Capabilities struct {
	// OverlappingSecrets: an app can hold two active client secrets at once, so a scheduled
	// rotation publishes the new secret and revokes the old one only after a grace period
	// (Okta). Without it, a new secret replaces the old one at once (Hydra keeps one secret
	// per client).
	OverlappingSecrets bool
	// RotationByNewClient: a scheduled rotation creates a new app — same spec, the next
	// AppSpec.Generation, a new client id and secret — publishes its credentials, and
	// deletes the previous app after the grace period (Hydra). The backend stores the
	// generation with the owner and reports it in App.Generation, so that an app whose
	// create answer was lost is found and adopted. A backend with neither this nor
	// OverlappingSecrets cannot rotate without breaking consumers: the controllers refuse
	// spec.rotation.
	RotationByNewClient bool
	// AppScopes: the app itself lists the scopes it may request (Hydra's client "scope"),
	// so AppSpec.Scopes is sent and compared. Without it the authorization server's
	// policies decide and AppSpec.Scopes stays empty (Okta).
	AppScopes bool
	// Audiences: the app lists the audiences its tokens may be issued for (Hydra's client
	// "audience"), so AppSpec.Audiences is sent and compared. Without it the controllers
	// refuse spec.audiences (Okta sets the audience per authorization server).
	Audiences bool
	// AppTokenLifetime: the app carries the lifetime of the access tokens its
	// client-credentials grant issues (Hydra's client_credentials_grant_access_token_lifespan),
	// so AppSpec.AccessTokenLifetime is sent and compared, and zero there means the
	// authorization server's default. Without it the lifetime belongs to the access policy
	// (Okta: AccessPolicyManager's rule) and AppSpec.AccessTokenLifetime stays zero.
	AppTokenLifetime bool
	// ServerScopes: the authorization server registers the scopes it issues, and the
	// backend implements ScopeManager to create, update and delete them (Okta's custom
	// authorization server). Without it any scope a client lists is issued (Hydra), and an
	// OAuthAPI's scopes only bound what its clients are granted.
	ServerScopes bool
}
