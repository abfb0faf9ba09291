package kubectlplugin

import (
	"context"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/provider"
	// The backends the manager knows, registered under their spec fields.
	_ "github.com/clientcreds/clientcreds/internal/provider/hydra"
	_ "github.com/clientcreds/clientcreds/internal/provider/okta"
)

// Errors of the import command, tested with errors.Is.
var (
	// ErrProviderNotFound: no provider of the name (and kind) given.
	ErrProviderNotFound = errors.New("provider not found")
	// ErrProviderAmbiguous: both a ClusterOAuthProvider and an OAuthProvider have the name.
	ErrProviderAmbiguous = errors.New("provider name is ambiguous")
	// ErrNoInventory: the provider's backend cannot list its apps.
	ErrNoInventory = errors.New("backend cannot list its apps")
	// ErrBadFlag: a flag's value is not one the command takes.
	ErrBadFlag = errors.New("invalid flag value")
)

// FindProvider reads the provider name names: of kind when kind is set, else the
// OAuthProvider of that name in namespace or the ClusterOAuthProvider of that name,
// whichever exists (an error when both do).
func FindProvider(ctx context.Context, c client.Reader, name, kind, namespace string) (oauthv1.ProviderObject, error) {
	get := func(k string) (oauthv1.ProviderObject, error) {
		switch k {
		case oauthv1.KindClusterOAuthProvider:
			p := &oauthv1.ClusterOAuthProvider{}
			return p, c.Get(ctx, client.ObjectKey{Name: name}, p)
		case oauthv1.KindOAuthProvider:
			p := &oauthv1.OAuthProvider{}
			return p, c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, p)
		}
		return nil, fmt.Errorf("%w: --provider-kind %q: use %s or %s", ErrBadFlag, k, oauthv1.KindClusterOAuthProvider, oauthv1.KindOAuthProvider)
	}
	if name == "" {
		return nil, fmt.Errorf("%w: --provider is required", ErrBadFlag)
	}
	if kind != "" {
		p, err := get(kind)
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s %q%s", ErrProviderNotFound, kind, name, inNamespace(kind, namespace))
		}
		if err != nil {
			return nil, fmt.Errorf("read %s %q: %w", kind, name, err)
		}
		return p, nil
	}
	var found []oauthv1.ProviderObject
	for _, k := range []string{oauthv1.KindOAuthProvider, oauthv1.KindClusterOAuthProvider} {
		p, err := get(k)
		switch {
		case err == nil:
			found = append(found, p)
		case apierrors.IsNotFound(err), apierrors.IsForbidden(err) && k == oauthv1.KindOAuthProvider:
			// A user who may not read OAuthProviders can still name a ClusterOAuthProvider.
		default:
			return nil, fmt.Errorf("read %s %q: %w", k, name, err)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: no OAuthProvider %q in namespace %q and no ClusterOAuthProvider %q", ErrProviderNotFound, name, namespace, name)
	case 1:
		return found[0], nil
	default:
		return nil, fmt.Errorf("%w: OAuthProvider %q in namespace %q and ClusterOAuthProvider %q both exist; choose with --provider-kind", ErrProviderAmbiguous, name, namespace, name)
	}
}

func inNamespace(kind, ns string) string {
	if kind == oauthv1.KindOAuthProvider {
		return fmt.Sprintf(" in namespace %q", ns)
	}
	return ""
}

// BackendClient builds the provider's backend client exactly as the manager does: through
// the registered backends and a Secret reader that enforces the manager's rules (an
// OAuthProvider reads only labelled Secrets of its own namespace).
func BackendClient(ctx context.Context, c client.Reader, p oauthv1.ProviderObject, allowInsecureLoopbackHTTP bool) (provider.Client, error) {
	reg := provider.NewClients()
	reg.Options = provider.Options{AllowInsecureLoopbackHTTP: allowInsecureLoopbackHTTP}
	b := &controllers.ClientSource{Cache: reg, Reader: c,
		RequiredLabels: map[string]string{controllers.LabelProviderCredentials: "true"}}
	prov, err := b.Client(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", kindOf(p), p.GetName(), err)
	}
	return prov, nil
}

func kindOf(p oauthv1.ProviderObject) string {
	if p.GetNamespace() == "" {
		return oauthv1.KindClusterOAuthProvider
	}
	return oauthv1.KindOAuthProvider
}

// clusterClaims lists the OAuthClients already in the cluster: which apps they manage or
// adopt (by app id and client id), and the names taken in namespace. Without permission to
// list every namespace it lists namespace alone, and says so on warn.
func clusterClaims(ctx context.Context, c client.Reader, namespace string, warn io.Writer) (map[string]string, map[string]bool, error) {
	var list oauthv1.OAuthClientList
	err := c.List(ctx, &list)
	if apierrors.IsForbidden(err) {
		_, _ = fmt.Fprintf(warn, "warning: may not list OAuthClients in every namespace; apps adopted by OAuthClients outside %q are recognised only by the owner the operator records on them\n", namespace)
		err = c.List(ctx, &list, client.InNamespace(namespace))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list OAuthClients: %w", err)
	}
	claimed, taken := map[string]string{}, map[string]bool{}
	for _, o := range list.Items {
		who := o.Namespace + "/" + o.Name
		for _, key := range []string{o.Status.AppID, o.Status.ClientID} {
			if key != "" {
				claimed[key] = who
			}
		}
		if a := o.Spec.Adopt; a != nil {
			for _, key := range []string{a.AppID, a.ClientID} {
				if key != "" {
					claimed[key] = who
				}
			}
		}
		if o.Namespace == namespace {
			taken[o.Name] = true
		}
	}
	return claimed, taken, nil
}

// ImportOptions are the import command's settings.
type ImportOptions struct {
	Namespace    string
	Provider     string
	ProviderKind string
	Observe      bool
	// AllowInsecureLoopbackHTTP: as the manager's flag (an emulator on loopback).
	AllowInsecureLoopbackHTTP bool
}

// Import reads the provider's backend and the cluster and returns the plan.
func Import(ctx context.Context, c client.Reader, o ImportOptions, warn io.Writer) (ImportPlan, error) {
	p, err := FindProvider(ctx, c, o.Provider, o.ProviderKind, o.Namespace)
	if err != nil {
		return ImportPlan{}, err
	}
	prov, err := BackendClient(ctx, c, p, o.AllowInsecureLoopbackHTTP)
	if err != nil {
		return ImportPlan{}, err
	}
	backend := provider.BackendOf(p)
	inv, ok := provider.InventoryOf(prov)
	if !ok {
		return ImportPlan{}, fmt.Errorf("%w: the %s backend of %s %q", ErrNoInventory, backend, kindOf(p), p.GetName())
	}
	apps, err := inv.ListApps(ctx)
	if err != nil {
		return ImportPlan{}, fmt.Errorf("list the apps of %s %q: %w", kindOf(p), p.GetName(), err)
	}
	grants, err := inv.ScopeGrants(ctx)
	var policyNote string
	switch {
	case errors.Is(err, provider.ErrForbidden), errors.Is(err, provider.ErrFeatureNotEnabled):
		// An API token that may manage apps but not authorization servers still imports
		// the apps; only the scopes cannot be inferred.
		policyNote = fmt.Sprintf("the access policies could not be read (%v): no scopes were inferred from them.", err)
		_, _ = fmt.Fprintf(warn, "warning: %s\n", policyNote)
	case err != nil:
		return ImportPlan{}, fmt.Errorf("read the access policies of %s %q: %w", kindOf(p), p.GetName(), err)
	}
	claimed, taken, err := clusterClaims(ctx, c, o.Namespace, warn)
	if err != nil {
		return ImportPlan{}, err
	}
	plan := PlanImport(ImportInput{
		Namespace:    o.Namespace,
		ProviderRef:  oauthv1.ProviderReference{Kind: kindOf(p), Name: p.GetName()},
		Backend:      backend,
		Observe:      o.Observe,
		Capabilities: prov.Capabilities(),
		Apps:         apps,
		Grants:       grants,
		Claimed:      claimed,
		Taken:        taken,
	})
	if policyNote != "" {
		plan.Notes = append(plan.Notes, policyNote)
	}
	return plan, nil
}
