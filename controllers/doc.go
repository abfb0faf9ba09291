// Package controllers holds the reconcilers: OAuthClient (app, Secret, rotation, deletion)
// and the provider health check for ClusterOAuthProvider and OAuthProvider.
//
// A reader follows OAuthClientReconciler.Reconcile (oauthclient_controller.go) one way:
// deletion (oauthclient_delete.go), then the phases, one file each, in the order they run
// (see reconcilePhases), then the status (oauthclient_status.go: conditions, events, the
// one status write). Beside them: verdict.go (the one mapping from errors to conditions
// and results, shared with provider_controller.go), backends.go (backend clients and the
// Secrets their backends may read), stale.go (the stale-cache guard), and
// oauthclient_watches.go (what wakes a reconcile).
package controllers
