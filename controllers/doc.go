// Package controllers holds the reconcilers: OAuthClient (app, Secret, rotation, deletion)
// and the provider health check for ClusterOAuthProvider and OAuthProvider.
package controllers
