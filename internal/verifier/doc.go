// Package verifier checks OAuth 2.0 access tokens (JWTs signed by an
// authorization server such as Okta) locally, against the issuer's published
// JSON Web Key Set, and answers HTTP authorization questions with them.
//
// The pieces:
//
//   - KeySet fetches the issuer's metadata and JWKS, keeps only keys that are
//     safe to verify with, refreshes them in the background and, when a token
//     names an unknown key id, refreshes at most once per cooldown no matter
//     how many requests ask (single flight plus a negative cache).
//   - Verifier checks one token: compact JWS only, algorithm allow-list bound
//     to the key, exact issuer, audience, time claims with a small skew, and a
//     bounded cache of tokens that already passed so that a reused
//     client-credentials token costs a hash and a map lookup.
//   - Policy maps a request (method and path) to the scopes it needs, or marks
//     it public, from a rules file (longest path prefix wins).
//   - Server exposes it all over HTTP: /verify for forward-auth proxies (nginx
//     auth_request, ingress-nginx auth-url, Traefik ForwardAuth, Envoy
//     ext_authz), an optional reverse proxy in front of an upstream,
//     /tokenreview for kube-apiserver's webhook token authenticator,
//     /healthz, /readyz and /metrics.
//   - Reloader owns a Server whose issuer, audience and rules change while
//     it serves (the verifier's --oauthapi; internal/oauthapiwatch feeds it,
//     this package knows nothing of Kubernetes): one atomic swap per change,
//     and 503 for every request while it has no settings, with a fixed body
//     (NotConfiguredBody) that says nothing of why.
//
// Every refusal of a token is a 401 with an RFC 6750 WWW-Authenticate header;
// a token that lacks a scope is a 403. A bad token never causes a 5xx.
package verifier
