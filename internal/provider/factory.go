package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// A Factory turns provider objects whose spec sets its field (spec.okta, ...) into clients.
// Factories register themselves with Register, usually from an init function; the
// controllers reach them through a Clients cache and never name one.
type Factory interface {
	// Load reads what a client for obj needs: the backend's section of obj's spec and,
	// through secrets only, the Secrets that section names. It makes no backend call, and
	// returns a function that builds the client from what it read. The Clients cache calls build
	// only when the spec or a Secret value changed since the client it holds was built.
	//
	// A spec the backend cannot act upon is an error of class ErrInvalidProvider; errors
	// from secrets are returned as they are (they carry their class).
	Load(ctx context.Context, obj oauthv1.ProviderObject, secrets SecretReader) (build func() (Client, error), err error)
}

// Options are the manager-wide settings a Clients cache passes to the backends that take them
// (ConfigurableFactory).
type Options struct {
	// AllowInsecureLoopbackHTTP lets backend URLs use http:// when their host is loopback
	// (localhost, 127.0.0.0/8, ::1: an emulator on the same machine). Without it every backend
	// URL must be https; an http URL is refused with ErrInsecureURL. The manager's
	// --allow-insecure-loopback-http.
	AllowInsecureLoopbackHTTP bool
}

// ConfigurableFactory is a Factory that applies the Clients cache's Options to the clients it
// builds.
type ConfigurableFactory interface {
	Factory
	// WithOptions returns the backend with opts applied.
	WithOptions(opts Options) Factory
}

// SecretRef names one key of a Secret. An empty Namespace means the provider object's own
// namespace.
type SecretRef struct {
	Namespace, Name, Key string
}

func (r SecretRef) String() string { return r.Namespace + "/" + r.Name }

// SecretReader reads the Secrets one provider object may read. The controllers build it
// and enforce who may read what (the namespace a provider may read from, labels a Secret
// must carry). Every refusal wraps a Secret class (ErrSecretNotFound, ErrSecretForbidden,
// ErrSecretNotLabelled; test with errors.Is); backends return it unchanged.
type SecretReader interface {
	// ReadSecretKey returns the value of ref's key; an absent or empty key is
	// ErrSecretNotFound.
	ReadSecretKey(ctx context.Context, ref SecretRef) ([]byte, error)
}

// Classes of the errors a SecretReader returns, and of provider objects that cannot be
// turned into a client. Controllers map each to a condition reason.
var (
	// ErrSecretNotFound: the Secret, or its key, is missing or empty.
	ErrSecretNotFound = errors.New("credentials secret missing")
	// ErrSecretForbidden: the provider may not read the Secret (e.g. a namespaced provider
	// naming a Secret in another namespace).
	ErrSecretForbidden = errors.New("credentials secret not allowed")
	// ErrSecretNotLabelled: the Secret lacks a label the controllers require before they
	// read it.
	ErrSecretNotLabelled = errors.New("credentials secret not labelled")
	// ErrInvalidProvider: the provider object sets no known backend, several, or a
	// configuration its backend refuses.
	ErrInvalidProvider = errors.New("invalid provider")
	// ErrPrivateKeyNotFound: the Secret or key holding the private key of the operator's own
	// OAuth client is missing or empty. It also matches ErrSecretNotFound.
	ErrPrivateKeyNotFound error = &subclass{msg: "private key secret missing", parent: ErrSecretNotFound}
	// ErrPrivateKeyInvalid: the private key of the operator's own OAuth client is not a
	// usable PEM private key.
	ErrPrivateKeyInvalid = errors.New("private key not usable")
)

var (
	registeredMu sync.Mutex
	registered   = map[string]Factory{}
)

// Register makes a backend known under field, the JSON name of its section in the provider
// spec ("okta"). Every Clients cache made afterwards by NewClients knows it. Registering one
// field twice panics: it is a programming error.
func Register(field string, b Factory) {
	registeredMu.Lock()
	defer registeredMu.Unlock()
	if _, dup := registered[field]; dup {
		panic(fmt.Sprintf("provider: backend %q registered twice", field))
	}
	registered[field] = b
}

func registeredBackends() map[string]Factory {
	registeredMu.Lock()
	defer registeredMu.Unlock()
	return maps.Clone(registered)
}
