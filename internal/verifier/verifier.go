package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"
	"unsafe"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Defaults for Config fields left zero.
const (
	DefaultClockSkew          = 30 * time.Second
	DefaultJWKSRefresh        = 5 * time.Minute
	DefaultUnknownKidCooldown = 30 * time.Second
	DefaultTokenCacheSize     = 10000
	DefaultJWKSMaxStale       = 24 * time.Hour
)

// ErrConfig marks an invalid verifier configuration.
var ErrConfig = errors.New("invalid verifier configuration")

// supportedAlgs are the asymmetric signature algorithms the verifier can be
// told to allow. "none" and the HMAC family are never accepted: the issuer's
// keys are public, so a MAC made with them proves nothing.
var supportedAlgs = map[jwa.SignatureAlgorithm]bool{
	jwa.RS256: true, jwa.RS384: true, jwa.RS512: true,
	jwa.PS256: true, jwa.PS384: true, jwa.PS512: true,
	jwa.ES256: true, jwa.ES384: true, jwa.ES512: true,
	jwa.EdDSA: true,
}

// Config configures a Verifier.
type Config struct {
	// Issuer is compared byte for byte with the iss claim (required).
	Issuer string
	// JWKSURL skips metadata discovery when set.
	JWKSURL string
	// Audience must appear in the aud claim (required).
	Audience string
	// AllowedAlgs is the algorithm allow-list; RS256 when empty.
	AllowedAlgs []string
	// ClockSkew is the leeway for exp, nbf and iat.
	ClockSkew time.Duration
	// JWKSRefreshInterval is how often keys are refetched in the background.
	JWKSRefreshInterval time.Duration
	// UnknownKidCooldown is the least time between fetches triggered by
	// unknown key ids.
	UnknownKidCooldown time.Duration
	// StrictTyp refuses tokens whose typ header is absent or is not JWT or
	// at+jwt. Okta's access tokens carry no typ, so leave it off for Okta.
	StrictTyp bool
	// TokenCacheSize bounds the cache of verified tokens; 0 picks
	// DefaultTokenCacheSize and a negative value disables the cache.
	TokenCacheSize int
	// AllowInsecureIssuer permits an http:// issuer, JWKS URL (configured or
	// learned from metadata) or redirect on a non-loopback host. Off by
	// default: keys fetched over plain HTTP can be swapped by anyone on the
	// path.
	AllowInsecureIssuer bool
	// JWKSMaxStale is how long keys are used without a successful refresh;
	// after that they are dropped and verification fails closed
	// (ErrKeysStale) until a refresh succeeds. 0 picks DefaultJWKSMaxStale.
	JWKSMaxStale time.Duration

	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
	Metrics    *Metrics
}

// Identity is what a verified token says about its caller. Values returned
// by Verify may be shared between requests and must not be modified.
type Identity struct {
	// ClientID is the cid claim (Okta), else client_id (RFC 9068), else sub.
	ClientID string
	Subject  string
	// Scopes are the granted scopes, in token order.
	Scopes []string
	// ScopeString is Scopes joined by single spaces.
	ScopeString string
	Audiences   []string
	ExpiresAt   time.Time
	KeyID       string
}

// HasScope reports whether the token granted scope s.
func (id *Identity) HasScope(s string) bool {
	return slices.Contains(id.Scopes, s)
}

// MissingScopes returns the scopes of required the token lacks.
func (id *Identity) MissingScopes(required []string) []string {
	var missing []string
	for _, s := range required {
		if !id.HasScope(s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// Verifier checks access tokens against one issuer's keys.
type Verifier struct {
	issuer    string
	audiences []string
	skew      time.Duration
	skewSecs  float64
	strictTyp bool
	allowed   map[jwa.SignatureAlgorithm]jws.Verifier
	keys      *KeySet
	cache     *tokenCache
	now       func() time.Time
	metrics   *Metrics
	log       *slog.Logger
}

// New checks cfg and returns a Verifier. It fetches nothing: call Start (or
// Keys().Refresh) to load the keys.
func New(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, fmt.Errorf("%w: an issuer is required", ErrConfig)
	}
	if cfg.Audience == "" {
		return nil, fmt.Errorf("%w: an audience is required", ErrConfig)
	}
	if err := checkFetchURL("issuer", cfg.Issuer, cfg.AllowInsecureIssuer); err != nil {
		return nil, err
	}
	if cfg.JWKSURL != "" {
		if err := checkFetchURL("jwks url", cfg.JWKSURL, cfg.AllowInsecureIssuer); err != nil {
			return nil, err
		}
	}
	if cfg.JWKSMaxStale < 0 {
		return nil, fmt.Errorf("%w: jwks max stale must not be negative", ErrConfig)
	}
	if cfg.JWKSMaxStale == 0 {
		cfg.JWKSMaxStale = DefaultJWKSMaxStale
	}
	if cfg.ClockSkew < 0 {
		return nil, fmt.Errorf("%w: clock skew must not be negative", ErrConfig)
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.JWKSRefreshInterval <= 0 {
		cfg.JWKSRefreshInterval = DefaultJWKSRefresh
	}
	if cfg.UnknownKidCooldown < 0 {
		return nil, fmt.Errorf("%w: unknown-kid cooldown must not be negative", ErrConfig)
	}
	if cfg.UnknownKidCooldown == 0 {
		cfg.UnknownKidCooldown = DefaultUnknownKidCooldown
	}
	if len(cfg.AllowedAlgs) == 0 {
		cfg.AllowedAlgs = []string{string(jwa.RS256)}
	}
	if cfg.TokenCacheSize == 0 {
		cfg.TokenCacheSize = DefaultTokenCacheSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}

	allowed := make(map[jwa.SignatureAlgorithm]jws.Verifier, len(cfg.AllowedAlgs))
	algList := make([]jwa.SignatureAlgorithm, 0, len(cfg.AllowedAlgs))
	for _, a := range cfg.AllowedAlgs {
		alg := jwa.SignatureAlgorithm(a)
		if !supportedAlgs[alg] {
			return nil, fmt.Errorf("%w: algorithm %q cannot be allowed (supported: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA)", ErrConfig, a)
		}
		jv, err := jws.NewVerifier(alg)
		if err != nil {
			return nil, fmt.Errorf("%w: algorithm %q: %w", ErrConfig, a, err)
		}
		allowed[alg] = jv
		algList = append(algList, alg)
	}

	v := &Verifier{
		issuer:    cfg.Issuer,
		audiences: []string{cfg.Audience},
		skew:      cfg.ClockSkew,
		skewSecs:  cfg.ClockSkew.Seconds(),
		strictTyp: cfg.StrictTyp,
		allowed:   allowed,
		now:       cfg.Now,
		metrics:   cfg.Metrics,
		log:       cfg.Logger,
		cache:     newTokenCache(cfg.TokenCacheSize),
	}
	v.keys = NewKeySet(KeySetConfig{
		Issuer:             cfg.Issuer,
		JWKSURL:            cfg.JWKSURL,
		AllowedAlgs:        algList,
		RefreshInterval:    cfg.JWKSRefreshInterval,
		UnknownKidCooldown: cfg.UnknownKidCooldown,
		HTTPClient:         cfg.HTTPClient,
		AllowInsecure:      cfg.AllowInsecureIssuer,
		MaxStale:           cfg.JWKSMaxStale,
		Now:                cfg.Now,
		Logger:             cfg.Logger,
		Metrics:            cfg.Metrics,
	})
	return v, nil
}

// checkFetchURL accepts https URLs, and http URLs only for loopback hosts
// unless insecure is set.
func checkFetchURL(what, raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: %s %q is not an absolute URL", ErrConfig, what, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if insecure || isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %s %q uses http on a non-loopback host (allow it explicitly if you must)", ErrConfig, what, raw)
	default:
		return fmt.Errorf("%w: %s %q must be an https URL", ErrConfig, what, raw)
	}
}

// isLoopbackHost reports whether h is a loopback IP address literal. Names
// are never trusted to be loopback: "127.example" or "localhost" resolve
// wherever DNS or /etc/hosts say.
func isLoopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ForAudiences returns a verifier that shares v's keys, issuer and checks
// but accepts tokens whose aud holds one of audiences instead of v's
// audience. It has its own token cache. The TokenReview webhook uses one
// bound to the Kubernetes API's audiences.
func (v *Verifier) ForAudiences(audiences []string) (*Verifier, error) {
	if len(audiences) == 0 {
		return nil, fmt.Errorf("%w: at least one audience is required", ErrConfig)
	}
	for _, a := range audiences {
		if a == "" {
			return nil, fmt.Errorf("%w: an audience must not be empty", ErrConfig)
		}
	}
	c := *v
	c.audiences = slices.Clone(audiences)
	if v.cache != nil {
		c.cache = newTokenCache(v.cache.capacity())
	}
	return &c, nil
}

// Audiences returns the audiences v accepts.
func (v *Verifier) Audiences() []string { return slices.Clone(v.audiences) }

// Keys returns the verifier's key set.
func (v *Verifier) Keys() *KeySet { return v.keys }

// Metrics returns the metrics the verifier records into.
func (v *Verifier) Metrics() *Metrics { return v.metrics }

// Start runs the background key refresh until ctx ends.
func (v *Verifier) Start(ctx context.Context) { go v.keys.Run(ctx) }

// Ready reports whether keys have been fetched at least once.
func (v *Verifier) Ready() bool { return v.keys.Ready() }

// Verify checks token and returns the identity it carries, or one of the
// Err* refusals. A token seen before is answered from the cache while it is
// unexpired and the key that verified it is still in the JWKS.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, ErrMissingToken
	}
	if len(token) > MaxTokenSize {
		return nil, ErrTooLarge
	}
	var sum [32]byte
	if v.cache != nil {
		// The bytes are only hashed, never kept, so viewing the string's
		// memory without a copy is safe and spares an allocation per request.
		sum = sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
		if e, ok := v.cache.get(sum); ok {
			now := unixSeconds(v.now())
			if now < e.notAfter && v.keys.fresh(now).holds(e.key) {
				v.metrics.cacheHit()
				return e.id, nil
			}
			v.cache.remove(sum)
		}
		v.metrics.cacheMiss()
	}
	id, key, notAfter, now, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(sum, cacheEntry{id: id, key: key, notAfter: notAfter}, now)
	}
	return id, nil
}

// verify is the uncached path. It returns the identity, the key that
// verified the signature, the instant (unix seconds, skew included) after
// which the token is no longer accepted and the time it was checked at.
func (v *Verifier) verify(ctx context.Context, token string) (id *Identity, key *verificationKey, notAfter, now float64, err error) {
	h64, p64, s64, err := compactParts(token)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	// The three decoded segments share one pooled buffer, in the order
	// they are checked.
	bufp := segmentBuffers.Get().(*[]byte)
	defer segmentBuffers.Put(bufp)
	if cap(*bufp) < b64.DecodedLen(len(token)) {
		*bufp = make([]byte, 0, b64.DecodedLen(len(token)))
	}
	buf := (*bufp)[:0]

	rawHeader, err := decodeSegment(buf, h64)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	buf = buf[:len(rawHeader)]
	hdr, err := parseHeader(rawHeader)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	jv, ok := v.allowed[hdr.alg]
	if !ok {
		return nil, nil, 0, 0, ErrUnsupportedAlg
	}
	if v.strictTyp && (!hdr.hasTyp || !acceptableTyp(hdr.typ)) {
		return nil, nil, 0, 0, ErrBadType
	}
	if len(hdr.kid) == 0 {
		return nil, nil, 0, 0, ErrMissingKid
	}
	if len(hdr.kid) > maxKidLength {
		return nil, nil, 0, 0, ErrUnknownKid
	}
	sig, err := decodeSegment(buf, s64)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	buf = buf[:len(buf)+len(sig)]
	if len(sig) == 0 {
		return nil, nil, 0, 0, ErrBadSignature
	}
	candidates, err := v.keys.lookup(ctx, hdr.kid)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	// The signature algorithms only read what they are given, so the
	// signing input is the token's own memory rather than a copy.
	signingInput := stringBytes(token[:len(h64)+1+len(p64)])
	var verified *verificationKey
	fitting := false
	for _, k := range candidates {
		if !k.accepts(hdr.alg) {
			continue
		}
		fitting = true
		if badECDSASignature(k, sig) {
			continue
		}
		if jv.Verify(signingInput, sig, k.pub) == nil {
			verified = k
			break
		}
	}
	if verified == nil {
		if !fitting {
			return nil, nil, 0, 0, ErrUnsupportedAlg
		}
		return nil, nil, 0, 0, ErrBadSignature
	}

	rawClaims, err := decodeSegment(buf, p64)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	var c claims
	if err := parseClaims(rawClaims, &c); err != nil {
		return nil, nil, 0, 0, err
	}
	now = unixSeconds(v.now())
	notAfter, err = v.checkClaims(&c, now)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	clientID := c.clientIdentifier()
	if len(clientID) == 0 {
		return nil, nil, 0, 0, ErrInvalidClaims
	}
	return newIdentity(&c, clientID, verified.kid), verified, notAfter, now, nil
}

// identityBlock is an Identity and room for its scope and audience lists,
// allocated together.
type identityBlock struct {
	id    Identity
	lists [4]string
}

// newIdentity copies what the identity needs out of the claims (which point
// into a reused buffer): all its strings share one allocation, and the
// Identity shares another with its lists.
func newIdentity(c *claims, clientID []byte, kid string) *Identity {
	audCount, audBytes := 0, 0
	it := stringsOf(c.aud)
	for s, ok := it.next(); ok; s, ok = it.next() {
		audCount++
		audBytes += len(s)
	}
	size := len(clientID) + c.scopeBytes + audBytes
	sameSubject := string(c.sub) == string(clientID)
	if !sameSubject {
		size += len(c.sub)
	}
	arena := make([]byte, 0, size)
	// take appends b to the arena and returns it as a string. The arena
	// never grows (its capacity is the exact total) and is never written
	// again, so the strings may share its memory.
	take := func(b []byte) string {
		if len(b) == 0 {
			return ""
		}
		start := len(arena)
		arena = append(arena, b...)
		return unsafe.String(unsafe.SliceData(arena[start:]), len(b))
	}

	blk := &identityBlock{}
	id := &blk.id
	id.ClientID = take(clientID)
	id.Subject = id.ClientID
	if !sameSubject {
		id.Subject = take(c.sub)
	}
	lists := blk.lists[:]
	if n := c.scopeCount + audCount; n > len(lists) {
		lists = make([]string, n)
	}
	if c.hasScopes {
		scopes := lists[:c.scopeCount:c.scopeCount]
		start := len(arena)
		it := scopesOf(c.scopes)
		for i := range scopes {
			s, _ := it.next()
			if i > 0 {
				arena = append(arena, ' ')
			}
			scopes[i] = take(s)
		}
		if len(arena) > start {
			id.ScopeString = unsafe.String(unsafe.SliceData(arena[start:]), len(arena)-start)
		}
		id.Scopes = scopes
	}
	auds := lists[c.scopeCount : c.scopeCount+audCount : c.scopeCount+audCount]
	it = stringsOf(c.aud)
	for i := range auds {
		s, _ := it.next()
		auds[i] = take(s)
	}
	id.Audiences = auds
	id.ExpiresAt = numericTime(c.exp)
	id.KeyID = kid
	return id
}

// badECDSASignature catches ECDSA signatures of the wrong length or with a
// zero half before they reach the math.
func badECDSASignature(k *verificationKey, sig []byte) bool {
	pub, ok := k.pub.(*ecdsa.PublicKey)
	if !ok {
		return false
	}
	size := (pub.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*size {
		return true
	}
	return allZero(sig[:size]) || allZero(sig[size:])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (v *Verifier) checkClaims(c *claims, now float64) (float64, error) {
	if !c.hasIss || string(c.iss) != v.issuer {
		return 0, ErrBadIssuer
	}
	if !c.hasAud {
		return 0, ErrBadAudience
	}
	ours := false
	it := stringsOf(c.aud)
	for s, ok := it.next(); ok && !ours; s, ok = it.next() {
		for _, a := range v.audiences {
			if string(s) == a {
				ours = true
				break
			}
		}
	}
	if !ours {
		return 0, ErrBadAudience
	}
	if !c.hasExp {
		return 0, ErrInvalidClaims
	}
	notAfter := c.exp + v.skewSecs
	if now >= notAfter {
		return 0, ErrExpired
	}
	if c.hasNbf && c.nbf > now+v.skewSecs {
		return 0, ErrNotYetValid
	}
	if c.hasIat && c.iat > now+v.skewSecs {
		return 0, ErrNotYetValid
	}
	return notAfter, nil
}

// numericTime converts a checked NumericDate (0 to year 9999) to a time.
func numericTime(secs float64) time.Time {
	whole := math.Floor(secs)
	return time.Unix(int64(whole), int64((secs-whole)*1e9)).UTC()
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
