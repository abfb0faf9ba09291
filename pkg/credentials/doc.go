// Package credentials turns the OAuth 2.0 client credentials that the clientcreds operator
// writes into a Kubernetes Secret into access tokens: an oauth2.TokenSource
// (golang.org/x/oauth2) and an *http.Client that sends every request with
// "Authorization: Bearer <token>".
//
// # Where the credentials come from
//
// FromDir reads the Secret as kubelet mounts it: a directory with one file per key —
// CLIENT_ID, TOKEN_URL, SCOPE (space separated), AUTH_METHOD (client_secret_basic,
// client_secret_post or private_key_jwt), CLIENT_SECRET for the first two methods,
// PRIVATE_KEY (PEM) and KEY_ID for private_key_jwt. FromEnv reads the same keys from
// environment variables (a Secret used with envFrom); they cannot change while the process
// runs.
//
// # Rotation
//
// The operator rotates client secrets with an overlap (the old secret keeps working for the
// OAuthClient's gracePeriod) and restores a deleted or edited Secret with new credentials.
// On a backend that keeps one secret per client (Ory Hydra) a rotation is a new client:
// CLIENT_ID changes together with CLIENT_SECRET, and both are read from the same version.
// kubelet publishes a new Secret version by writing a new timestamped directory and swapping
// the directory's "..data" symlink to it in one rename; the key files are symlinks through
// "..data", so readers see the old or the new version, never a mix. A Source re-reads the
// files when "..data" points somewhere new, reading every key through the one resolved
// target so that a swap during the read cannot mix versions.
//
// It polls: every PollInterval (default 1s) it reads the "..data" link — one readlink
// system call, no file read — and re-reads the files only when the link changed (a directory
// without "..data", such as a hand-made one, is re-read and compared instead). Polling was
// chosen over inotify (fsnotify) because it needs no inotify instance (their number is
// limited per user on a node, fs.inotify.max_user_instances, shared by every container
// running as that user), works the same on every volume type and file system, needs no
// special handling of kubelet's symlink swap (an inotify watch on a key file follows the
// symlink to the old version's file and never sees the swap; one must watch the directory
// and filter events), and costs nothing worth measuring. Its delay, at most PollInterval,
// is small next to kubelet's own delay in publishing a Secret change (its sync period, up
// to a minute or more). Should a token request be refused in that window anyway, the Source
// re-reads the files at once and retries the request once (see below).
//
// # Tokens
//
// A token is cached and handed out until shortly before it expires: a new one is fetched in
// the background when half its lifetime or RefreshMargin (default 5 minutes) is left,
// whichever comes first, while callers keep getting the cached one; it is no longer handed
// out in the last tenth of its lifetime (at most 10 seconds). Only when no usable token is
// cached do callers wait, all for the same single request. When the credentials files
// change, a new token is fetched at once with the new credentials (the cached one stays in
// use until then), so a change of the auth method or of the secret is followed within
// moments of kubelet publishing it.
//
// A token request refused as invalid_client (or with 401) is retried once with credentials
// freshly read from their source. Failed fetches back off (1s doubling to 30s; a change of
// the files ends the wait).
//
// # Secrets
//
// Nothing in this package logs or returns a client secret, a private key, a client
// assertion or an access token: log lines name the client id, the auth method and the
// Secret version only, and errors come from the token endpoint's error code and
// (sanitized) description.
package credentials
