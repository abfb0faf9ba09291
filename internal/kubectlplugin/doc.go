// Package kubectlplugin is `kubectl clientcreds` (cmd/kubectl-clientcreds): import writes
// OAuthClient manifests that adopt the client-credentials apps a provider's backend already
// has, reading the backend with the provider's own credentials through the same backends
// and Secret rules as the manager (provider.Inventory lists what the backend holds); status
// lists the OAuthClients with Ready, reason, secret age and next rotation. The planning,
// naming and rendering are pure functions, tested without a cluster.
package kubectlplugin
