package verifier

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

const (
	// maxMetadataBytes and maxJWKSBytes cap what the verifier reads from the
	// issuer; real documents are a few KiB.
	maxMetadataBytes = 256 << 10
	maxJWKSBytes     = 1 << 20
	// maxKeys caps how many keys one JWKS may contribute.
	maxKeys = 100
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
	// maxNegativeKids bounds the negative cache of unknown key ids.
	maxNegativeKids = 4096
	// fetchTimeout bounds one discovery + JWKS fetch.
	fetchTimeout = 15 * time.Second
)

// Errors from fetching keys. They never reach a client.
var (
	errFetch       = errors.New("jwks fetch failed")
	errNoUsableKey = errors.New("jwks holds no usable signing key")
)

// verificationKey is one public key taken from the JWKS, kept only if it is
// safe to verify with.
type verificationKey struct {
	kid string
	// alg is the algorithm the JWKS pinned for this key, or "" when it did
	// not pin one (then any allowed algorithm of the key's type may be used).
	alg jwa.SignatureAlgorithm
	kty jwa.KeyType
	crv jwa.EllipticCurveAlgorithm
	pub any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	// thumbprint (RFC 7638) identifies the key material across refreshes.
	thumbprint string
}

// accepts reports whether a token header's alg may be verified with k. The
// caller has already checked alg against the allow-list.
func (k *verificationKey) accepts(alg jwa.SignatureAlgorithm) bool {
	if k.alg != "" {
		return alg == k.alg
	}
	return algFitsKey(alg, k.kty, k.crv)
}

func algFitsKey(alg jwa.SignatureAlgorithm, kty jwa.KeyType, crv jwa.EllipticCurveAlgorithm) bool {
	switch kty {
	case jwa.RSA:
		switch alg {
		case jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512:
			return true
		}
	case jwa.EC:
		switch alg {
		case jwa.ES256:
			return crv == jwa.P256
		case jwa.ES384:
			return crv == jwa.P384
		case jwa.ES512:
			return crv == jwa.P521
		}
	case jwa.OKP:
		return alg == jwa.EdDSA && crv == jwa.Ed25519
	}
	return false
}

// keySnapshot is an immutable view of the usable keys, swapped atomically.
type keySnapshot struct {
	byKid     map[string][]*verificationKey
	count     int
	fetchedAt time.Time
	// expiresAt is fetchedAt plus the allowed staleness, in unix seconds:
	// from then on the snapshot is dropped.
	expiresAt float64
}

func (s *keySnapshot) holds(k *verificationKey) bool {
	if s == nil {
		return false
	}
	for _, c := range s.byKid[k.kid] {
		if c == k {
			return true
		}
	}
	return false
}

// KeySetConfig configures a KeySet.
type KeySetConfig struct {
	// Issuer is the exact issuer identifier; metadata is discovered below it.
	Issuer string
	// JWKSURL, when set, skips metadata discovery.
	JWKSURL string
	// AllowedAlgs is the signature algorithm allow-list; keys pinned to
	// other algorithms, or fitting none of them, are dropped at fetch.
	AllowedAlgs []jwa.SignatureAlgorithm
	// RefreshInterval is how often the background loop refetches the JWKS.
	RefreshInterval time.Duration
	// UnknownKidCooldown is the least time between two fetches caused by
	// tokens naming a key id the set does not hold.
	UnknownKidCooldown time.Duration
	// HTTPClient fetches metadata and keys; a client with timeouts is used
	// when nil. Its redirect policy is replaced: redirects to http URLs are
	// not followed unless AllowInsecure is set.
	HTTPClient *http.Client
	// AllowInsecure accepts a jwks_uri learned from metadata, or a
	// redirect, that uses http on a non-loopback host.
	AllowInsecure bool
	// MaxStale is how long a successful fetch's keys stay usable without
	// another successful fetch; DefaultJWKSMaxStale when 0.
	MaxStale time.Duration
	// Now returns the current time; time.Now when nil.
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics
}

// KeySet holds the issuer's usable signing keys.
type KeySet struct {
	issuer          string
	configuredJWKS  string
	allowed         map[jwa.SignatureAlgorithm]bool
	refreshInterval time.Duration
	cooldown        time.Duration
	maxStale        time.Duration
	insecure        bool
	client          *http.Client
	now             func() time.Time
	log             *slog.Logger
	metrics         *Metrics

	snap atomic.Pointer[keySnapshot]
	// stale is set when the keys were dropped for staleness, until the next
	// successful fetch.
	stale atomic.Bool

	mu        sync.Mutex
	jwksURL   string // discovered or configured
	inflight  *fetchCall
	lastFetch time.Time // start of the last fetch attempt, whatever its trigger
	negative  map[string]time.Time
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// NewKeySet returns a KeySet that has not fetched anything yet; call Run (or
// Refresh) to fill it.
func NewKeySet(cfg KeySetConfig) *KeySet {
	ks := &KeySet{
		issuer:          cfg.Issuer,
		configuredJWKS:  cfg.JWKSURL,
		jwksURL:         cfg.JWKSURL,
		allowed:         make(map[jwa.SignatureAlgorithm]bool, len(cfg.AllowedAlgs)),
		refreshInterval: cfg.RefreshInterval,
		cooldown:        cfg.UnknownKidCooldown,
		maxStale:        cfg.MaxStale,
		insecure:        cfg.AllowInsecure,
		now:             cfg.Now,
		log:             cfg.Logger,
		metrics:         cfg.Metrics,
		negative:        make(map[string]time.Time),
	}
	for _, a := range cfg.AllowedAlgs {
		ks.allowed[a] = true
	}
	if ks.refreshInterval <= 0 {
		ks.refreshInterval = 5 * time.Minute
	}
	if ks.maxStale <= 0 {
		ks.maxStale = DefaultJWKSMaxStale
	}
	client := &http.Client{Timeout: fetchTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
	}
	client.CheckRedirect = ks.checkRedirect
	ks.client = client
	if ks.now == nil {
		ks.now = time.Now
	}
	if ks.log == nil {
		ks.log = slog.New(slog.DiscardHandler)
	}
	return ks
}

// Ready reports whether the set holds keys: a JWKS was fetched and has not
// gone stale since.
func (ks *KeySet) Ready() bool { return ks.fresh(unixSeconds(ks.now())) != nil }

// Stale reports whether the keys were dropped because no refresh succeeded
// within the allowed staleness.
func (ks *KeySet) Stale() bool { return ks.stale.Load() }

// checkRedirect follows at most five redirects, and none to an http URL
// unless insecure fetches are allowed.
func (ks *KeySet) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return fmt.Errorf("%w: too many redirects", errFetch)
	}
	if req.URL.Scheme != "https" && !ks.insecure {
		return fmt.Errorf("%w: refusing a redirect to the non-https URL %s", errFetch, req.URL.Redacted())
	}
	return nil
}

// fresh returns the snapshot in use, or nil. A snapshot past its allowed
// staleness (now in unix seconds) is dropped here, so every caller fails
// closed from that instant on.
func (ks *KeySet) fresh(now float64) *keySnapshot {
	s := ks.snap.Load()
	if s == nil || now < s.expiresAt {
		return s
	}
	// Rare: drop it under the lock a successful fetch stores under, so a
	// fetch finishing meanwhile is neither lost nor reported stale.
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if s = ks.snap.Load(); s == nil || now < s.expiresAt {
		return s
	}
	ks.snap.Store(nil)
	ks.stale.Store(true)
	ks.metrics.jwksStale(true)
	ks.log.Error("Dropped the JWKS keys: no refresh succeeded within the allowed staleness; refusing tokens until one does",
		"fetchedAt", s.fetchedAt, "maxStale", ks.maxStale)
	return nil
}

// Run fetches the keys now and then every refresh interval until ctx ends.
// Failed fetches are retried with a growing delay; keys already held keep
// serving meanwhile.
func (ks *KeySet) Run(ctx context.Context) {
	const minRetry = time.Second
	retry := minRetry
	for {
		wait := ks.refreshInterval
		if err := ks.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			ks.fresh(unixSeconds(ks.now()))
			ks.log.Warn("Fetching the JWKS failed; keeping the keys already held until they go stale", "error", err, "retryIn", retry)
			wait = retry
			retry = min(retry*2, ks.refreshInterval, time.Minute)
		} else {
			retry = minRetry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Refresh fetches the JWKS now, or joins a fetch already under way, and
// waits for it (or for ctx).
func (ks *KeySet) Refresh(ctx context.Context) error {
	ks.mu.Lock()
	c := ks.inflight
	if c == nil {
		c = ks.startFetchLocked()
	}
	ks.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startFetchLocked starts one fetch in its own goroutine, detached from any
// request so that a client going away does not cancel it for the others.
func (ks *KeySet) startFetchLocked() *fetchCall {
	c := &fetchCall{done: make(chan struct{})}
	ks.inflight = c
	ks.lastFetch = ks.now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		err := ks.fetch(ctx)
		ks.mu.Lock()
		ks.inflight = nil
		ks.mu.Unlock()
		c.err = err
		close(c.done)
	}()
	return c
}

// lookup returns the keys for kid. An unknown kid may trigger one fetch, at
// most once per cooldown across all callers; callers asking while a fetch
// is under way wait for it. kid is only read during the call (it may point
// into a buffer the caller reuses).
func (ks *KeySet) lookup(ctx context.Context, kid []byte) ([]*verificationKey, error) {
	if s := ks.fresh(unixSeconds(ks.now())); s != nil {
		if keys := s.byKid[string(kid)]; len(keys) > 0 {
			return keys, nil
		}
	}

	ks.mu.Lock()
	now := ks.now()
	if until, ok := ks.negative[string(kid)]; ok && now.Before(until) {
		ks.mu.Unlock()
		return nil, ks.unknown()
	}
	c := ks.inflight
	if c == nil && (ks.lastFetch.IsZero() || now.Sub(ks.lastFetch) >= ks.cooldown) {
		c = ks.startFetchLocked()
	}
	ks.mu.Unlock()

	if c != nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ks.unknown()
		}
		if s := ks.fresh(unixSeconds(ks.now())); s != nil {
			if keys := s.byKid[string(kid)]; len(keys) > 0 {
				return keys, nil
			}
		}
	}

	ks.mu.Lock()
	// The negative cache keeps its own copy of the key id.
	ks.rememberUnknownLocked(string(kid), ks.now())
	ks.mu.Unlock()
	return nil, ks.unknown()
}

func (ks *KeySet) unknown() error {
	if ks.snap.Load() == nil {
		if ks.stale.Load() {
			return ErrKeysStale
		}
		return ErrNoKeys
	}
	return ErrUnknownKid
}

func (ks *KeySet) rememberUnknownLocked(kid string, now time.Time) {
	if ks.cooldown <= 0 {
		return
	}
	if len(ks.negative) >= maxNegativeKids {
		for k, until := range ks.negative {
			if !now.Before(until) {
				delete(ks.negative, k)
			}
		}
		if len(ks.negative) >= maxNegativeKids {
			clear(ks.negative)
		}
	}
	ks.negative[kid] = now.Add(ks.cooldown)
}

func (ks *KeySet) fetch(ctx context.Context) (err error) {
	defer func() {
		ks.metrics.jwksFetch(err == nil)
	}()
	ks.mu.Lock()
	jwksURL := ks.jwksURL
	ks.mu.Unlock()
	if jwksURL == "" {
		jwksURL, err = ks.discover(ctx)
		if err != nil {
			return err
		}
		ks.mu.Lock()
		ks.jwksURL = jwksURL
		ks.mu.Unlock()
	}

	body, err := ks.get(ctx, jwksURL, maxJWKSBytes)
	if err != nil {
		if ks.configuredJWKS == "" {
			// The metadata may have moved the JWKS: discover again next time.
			ks.mu.Lock()
			ks.jwksURL = ""
			ks.mu.Unlock()
		}
		return err
	}
	prev := ks.snap.Load()
	snap, dropped, err := ks.parseJWKS(body, prev)
	if err != nil {
		return err
	}
	ks.mu.Lock()
	ks.snap.Store(snap)
	if ks.stale.Swap(false) {
		ks.metrics.jwksStale(false)
		ks.log.Info("JWKS refreshed after the keys had gone stale")
	}
	ks.mu.Unlock()
	ks.metrics.jwksLoaded(snap.count, snap.fetchedAt)
	if dropped > 0 {
		ks.log.Info("Dropped JWKS keys that are not usable for verification", "dropped", dropped, "kept", snap.count)
	}
	return nil
}

// discover reads the issuer's authorization-server metadata (RFC 8414),
// falling back to OpenID Connect discovery, and returns its jwks_uri.
func (ks *KeySet) discover(ctx context.Context) (string, error) {
	base := strings.TrimSuffix(ks.issuer, "/")
	var errs []error
	for _, suffix := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		body, err := ks.get(ctx, base+suffix, maxMetadataBytes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var md struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(body, &md); err != nil {
			errs = append(errs, fmt.Errorf("%w: metadata at %s is not JSON", errFetch, suffix))
			continue
		}
		if md.Issuer != ks.issuer {
			errs = append(errs, fmt.Errorf("%w: metadata at %s names issuer %q, want %q", errFetch, suffix, md.Issuer, ks.issuer))
			continue
		}
		if err := checkFetchURL("jwks_uri", md.JWKSURI, ks.insecure); err != nil {
			errs = append(errs, fmt.Errorf("%w: metadata at %s has no usable jwks_uri: %w", errFetch, suffix, err))
			continue
		}
		return md.JWKSURI, nil
	}
	return "", errors.Join(errs...)
}

func (ks *KeySet) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errFetch, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errFetch, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("%w: GET %s answered %d", errFetch, u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", errFetch, u, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", errFetch, u, limit)
	}
	return body, nil
}

// parseJWKS keeps the keys that are safe to verify with and returns a new
// snapshot. Key entries whose material did not change are carried over from
// prev, so that tokens cached against them stay cached.
func (ks *KeySet) parseJWKS(body []byte, prev *keySnapshot) (*keySnapshot, int, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, fmt.Errorf("%w: jwks is not a JSON key set", errFetch)
	}
	now := ks.now()
	snap := &keySnapshot{byKid: make(map[string][]*verificationKey), fetchedAt: now, expiresAt: unixSeconds(now.Add(ks.maxStale))}
	dropped := 0
	for _, raw := range doc.Keys {
		if snap.count >= maxKeys {
			dropped++
			continue
		}
		k, ok := ks.usableKey(raw)
		if !ok {
			dropped++
			continue
		}
		if old := prev.find(k); old != nil {
			k = old
		}
		snap.byKid[k.kid] = append(snap.byKid[k.kid], k)
		snap.count++
	}
	if snap.count == 0 {
		return nil, dropped, errNoUsableKey
	}
	return snap, dropped, nil
}

func (s *keySnapshot) find(k *verificationKey) *verificationKey {
	if s == nil {
		return nil
	}
	for _, c := range s.byKid[k.kid] {
		if c.thumbprint == k.thumbprint && c.alg == k.alg {
			return c
		}
	}
	return nil
}

// usableKey turns one JWK into a verification key, or says no: keys for
// encryption, symmetric keys, RSA keys under 2048 bits, keys without a kid,
// and keys pinned to (or fitting only) algorithms outside the allow-list
// are all dropped.
func (ks *KeySet) usableKey(raw json.RawMessage) (*verificationKey, bool) {
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, false
	}
	kid := key.KeyID()
	if kid == "" {
		return nil, false
	}
	if use := key.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return nil, false
	}
	if ops := key.KeyOps(); len(ops) > 0 && !hasOp(ops, jwk.KeyOpVerify) {
		return nil, false
	}
	var alg jwa.SignatureAlgorithm
	if a := key.Algorithm(); a != nil && a.String() != "" {
		alg = jwa.SignatureAlgorithm(a.String())
		if !ks.allowed[alg] {
			return nil, false
		}
	}
	vk := &verificationKey{kid: kid, alg: alg, kty: key.KeyType()}

	// Private keys published by mistake are reduced to their public half.
	var rawKey any
	if err := key.Raw(&rawKey); err != nil {
		return nil, false
	}
	switch pk := rawKey.(type) {
	case *rsa.PrivateKey:
		rawKey = &pk.PublicKey
	case *ecdsa.PrivateKey:
		rawKey = &pk.PublicKey
	case ed25519.PrivateKey:
		rawKey = pk.Public()
	}
	switch pk := rawKey.(type) {
	case *rsa.PublicKey:
		if pk.N == nil || pk.N.BitLen() < minRSABits {
			return nil, false
		}
	case *ecdsa.PublicKey:
		ecKey, ok := key.(jwk.ECDSAPublicKey)
		if !ok {
			if priv, isPriv := key.(jwk.ECDSAPrivateKey); isPriv {
				vk.crv = priv.Crv()
			} else {
				return nil, false
			}
		} else {
			vk.crv = ecKey.Crv()
		}
	case ed25519.PublicKey:
		vk.crv = jwa.Ed25519
	default:
		// Symmetric keys, X25519 and anything else cannot verify a signature
		// from the issuer.
		return nil, false
	}
	vk.pub = rawKey

	fits := false
	for a := range ks.allowed {
		if vk.accepts(a) {
			fits = true
			break
		}
	}
	if !fits {
		return nil, false
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, false
	}
	vk.thumbprint = base64.RawURLEncoding.EncodeToString(tp)
	return vk, true
}

func hasOp(ops jwk.KeyOperationList, want jwk.KeyOperation) bool {
	for _, o := range ops {
		if o == want {
			return true
		}
	}
	return false
}
