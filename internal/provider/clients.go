package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// DefaultSecretTTL is how long a Clients cache reuses what a backend read from Secrets.
const DefaultSecretTTL = time.Minute

// Clients builds the client of each provider object with the backend its spec names, and
// keeps it, so every OAuthClient of one provider shares one client (and, through it, one
// rate budget). A client is built again when the provider's spec or a Secret value its
// backend read changed; Secrets are read again at most every SecretTTL.
type Clients struct {
	// SecretTTL is how long what was read from Secrets is reused (DefaultSecretTTL when 0).
	SecretTTL time.Duration
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// Options are passed to every backend that takes them (ConfigurableFactory); set them
	// before the first Client.
	Options Options

	backends map[string]Factory

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	spec    string // the provider spec (JSON) the client was built from
	fetched time.Time
	hash    string // of the spec and every Secret value the backend read
	prov    Client
}

// NewClients returns a Clients cache of the backends registered so far.
func NewClients() *Clients {
	return &Clients{backends: registeredBackends()}
}

// Client returns the client for obj, reading its Secrets through secrets when needed.
// Errors carry the classes of SecretReader, ErrInvalidProvider, or none (a failed read of
// the API server).
func (r *Clients) Client(ctx context.Context, obj oauthv1.ProviderObject, secrets SecretReader) (Client, error) {
	specJSON, err := json.Marshal(obj.ProviderSpec())
	if err != nil {
		return nil, fmt.Errorf("%w: encode spec: %w", ErrInvalidProvider, err)
	}
	spec := string(specJSON)
	now := r.now()
	key := objectKey(obj)

	r.mu.Lock()
	e := r.entries[key]
	if e != nil && e.spec == spec && now.Sub(e.fetched) < r.secretTTL() {
		r.mu.Unlock()
		return e.prov, nil
	}
	r.mu.Unlock()

	backend, err := r.backendFor(specJSON)
	if err != nil {
		return nil, err
	}
	if cb, ok := backend.(ConfigurableFactory); ok {
		backend = cb.WithOptions(r.Options)
	}
	rec := &recordingReader{next: secrets}
	build, err := backend.Load(ctx, obj, rec)
	if err != nil {
		return nil, err
	}
	hash := rec.hash(spec)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries == nil {
		r.entries = map[string]*entry{}
	}
	if e := r.entries[key]; e != nil && e.hash == hash {
		e.fetched, e.spec = now, spec
		return e.prov, nil
	}
	prov, err := build()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProvider, err)
	}
	r.entries[key] = &entry{spec: spec, fetched: now, hash: hash, prov: prov}
	return prov, nil
}

// Forget drops the client of obj, so the next Client reads its Secrets again (after the
// backend refused its credentials, or when the provider is deleted).
func (r *Clients) Forget(obj oauthv1.ProviderObject) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.entries, objectKey(obj))
}

// backendFor finds the one registered backend whose field the spec sets.
func (r *Clients) backendFor(specJSON []byte) (Factory, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(specJSON, &fields); err != nil {
		return nil, fmt.Errorf("%w: decode spec: %w", ErrInvalidProvider, err)
	}
	var set []string
	for field, v := range fields {
		if _, known := r.backends[field]; known && string(v) != "null" {
			set = append(set, field)
		}
	}
	switch len(set) {
	case 1:
		return r.backends[set[0]], nil
	case 0:
		return nil, fmt.Errorf("%w: the spec sets no backend; known: %s", ErrInvalidProvider,
			strings.Join(slices.Sorted(maps.Keys(r.backends)), ", "))
	default:
		slices.Sort(set)
		return nil, fmt.Errorf("%w: the spec sets several backends (%s); set exactly one", ErrInvalidProvider, strings.Join(set, ", "))
	}
}

func objectKey(obj oauthv1.ProviderObject) string {
	return fmt.Sprintf("%T/%s/%s", obj, obj.GetNamespace(), obj.GetName())
}

func (r *Clients) secretTTL() time.Duration {
	if r.SecretTTL > 0 {
		return r.SecretTTL
	}
	return DefaultSecretTTL
}

func (r *Clients) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// recordingReader passes reads on and remembers what they returned, so the Clients cache can
// tell whether a Secret changed without keeping any value.
type recordingReader struct {
	next SecretReader
	mu   sync.Mutex
	read []string // "ref\x00key\x00value"
}

func (r *recordingReader) ReadSecretKey(ctx context.Context, ref SecretRef) ([]byte, error) {
	v, err := r.next.ReadSecretKey(ctx, ref)
	if err == nil {
		r.mu.Lock()
		r.read = append(r.read, ref.Namespace+"\x00"+ref.Name+"\x00"+ref.Key+"\x00"+string(v))
		r.mu.Unlock()
	}
	return v, err
}

// hash is a digest of the spec and the values read.
func (r *recordingReader) hash(spec string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := sha256.New()
	h.Write([]byte(spec))
	for _, s := range slices.Sorted(slices.Values(r.read)) {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}
