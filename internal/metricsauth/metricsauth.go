// Package metricsauth guards the manager's secure metrics endpoint (--metrics-secure): a
// caller's bearer token is authenticated by the API server (an authentication.k8s.io/v1
// TokenReview) and the user it names must be allowed the request's verb on its path (an
// authorization.k8s.io/v1 SubjectAccessReview for a non-resource URL, e.g. get on
// /metrics). It does with client-go alone what controller-runtime's
// metrics/filters.WithAuthenticationAndAuthorization does with k8s.io/apiserver, whose
// delegating authenticator and authorizer bring about 190 packages (CEL, OpenTelemetry,
// gRPC) into the binary for these two calls.
//
// Decisions are cached for a short time, keyed by a SHA-256 of the token (never the token
// itself) with the verb and path, so that a Prometheus scraping every few seconds costs two
// API calls per TTL, not per scrape. Errors of the API server are never cached.
//
// The manager's ClusterRole needs create on tokenreviews and subjectaccessreviews; a
// scraper needs get on the nonResourceURL /metrics.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authzclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Defaults of Options.
const (
	// DefaultAllowTTL is how long an allowed caller is not asked about again.
	DefaultAllowTTL = time.Minute
	// DefaultDenyTTL is how long a refused caller (bad token, or not allowed) is not asked
	// about again: short, so a RoleBinding just created takes effect soon.
	DefaultDenyTTL = 10 * time.Second
	// DefaultTimeout bounds the two API calls of one request together.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxEntries bounds the cache, so that a flood of random tokens cannot grow it.
	DefaultMaxEntries = 1024
)

// Options tune the filter; zero values take the defaults above.
type Options struct {
	AllowTTL, DenyTTL, Timeout time.Duration
	MaxEntries                 int
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// decision is what the API server answered for one token, verb and path.
type decision int

const (
	allowed decision = iota
	unauthenticated
	forbidden
)

type key struct {
	token      [sha256.Size]byte
	verb, path string
}

type entry struct {
	d       decision
	expires time.Time
}

// Authorizer asks the API server about callers and remembers its answers for a while.
type Authorizer struct {
	authn authnclient.TokenReviewInterface
	authz authzclient.SubjectAccessReviewInterface
	opts  Options

	mu    sync.Mutex
	cache map[key]entry
}

// New returns an Authorizer that talks to the API server of config through httpClient.
func New(config *rest.Config, httpClient *http.Client, opts Options) (*Authorizer, error) {
	an, err := authnclient.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	az, err := authzclient.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	return newAuthorizer(an.TokenReviews(), az.SubjectAccessReviews(), opts), nil
}

func newAuthorizer(an authnclient.TokenReviewInterface, az authzclient.SubjectAccessReviewInterface, opts Options) *Authorizer {
	if opts.AllowTTL <= 0 {
		opts.AllowTTL = DefaultAllowTTL
	}
	if opts.DenyTTL <= 0 {
		opts.DenyTTL = DefaultDenyTTL
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Authorizer{authn: an, authz: az, opts: opts, cache: map[key]entry{}}
}

// FilterProvider is a metricsserver.Options.FilterProvider with the default Options.
func FilterProvider(config *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	a, err := New(config, httpClient, Options{})
	if err != nil {
		return nil, err
	}
	return a.Filter, nil
}

// Filter is a metricsserver.Filter: it wraps handler so that only authenticated and
// authorized callers reach it.
func (a *Authorizer) Filter(log logr.Logger, handler http.Handler) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		d, err := a.decide(r.Context(), token, strings.ToLower(r.Method), r.URL.Path)
		switch {
		case err != nil:
			// The error is the API server's answer (or a transport error): it never holds
			// the token, which travels only in the request body.
			log.Error(err, "Metrics caller check failed", "path", r.URL.Path)
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		case d == unauthenticated:
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
		case d == forbidden:
			http.Error(w, "Forbidden", http.StatusForbidden)
		default:
			handler.ServeHTTP(w, r)
		}
	}), nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// decide answers from the cache, or asks the API server and caches its answer.
func (a *Authorizer) decide(ctx context.Context, token, verb, path string) (decision, error) {
	k := key{token: sha256.Sum256([]byte(token)), verb: verb, path: path}
	now := a.opts.Now()
	a.mu.Lock()
	e, ok := a.cache[k]
	a.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	d, err := a.review(ctx, token, verb, path)
	if err != nil {
		return 0, err
	}
	ttl := a.opts.DenyTTL
	if d == allowed {
		ttl = a.opts.AllowTTL
	}
	a.remember(k, entry{d: d, expires: now.Add(ttl)}, now)
	return d, nil
}

// review asks the API server who the token is and whether that user may verb path.
func (a *Authorizer) review(ctx context.Context, token, verb, path string) (decision, error) {
	tr, err := a.authn.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return 0, err
	}
	if !tr.Status.Authenticated {
		return unauthenticated, nil
	}
	u := tr.Status.User
	extra := make(map[string]authzv1.ExtraValue, len(u.Extra))
	for k, v := range u.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar, err := a.authz.Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
		NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return 0, err
	}
	if !sar.Status.Allowed || sar.Status.Denied {
		return forbidden, nil
	}
	return allowed, nil
}

// remember stores e, first dropping expired entries when the cache is full, and then any
// one entry if it is still full.
func (a *Authorizer) remember(k key, e entry, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.cache[k]; !ok && len(a.cache) >= a.opts.MaxEntries {
		for ck, ce := range a.cache {
			if !now.Before(ce.expires) {
				delete(a.cache, ck)
			}
		}
		for ck := range a.cache {
			if len(a.cache) < a.opts.MaxEntries {
				break
			}
			delete(a.cache, ck)
		}
	}
	a.cache[k] = e
}
