package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// What an OAuthAPI allows, and which API owns a scope on an authorization server: the rules
// both controllers apply — the OAuthAPI controller to its status (grantedClients,
// ScopeConflict), the OAuthClient controller to the grants it asks for.

// apiKey names an OAuthAPI as "namespace/name".
func apiKey(namespace, name string) string { return namespace + "/" + name }

// apiProviderKey is the provider an OAuthAPI's scopes live on, as the provider index
// spells it: an OAuthProvider is the API's own namespace's.
func apiProviderKey(api *oauthv1.OAuthAPI) string {
	return providerIndexValue(api.Spec.ProviderRef.Kind, api.Namespace, api.Spec.ProviderRef.Name)
}

// apiAllows reports whether api allows the OAuthClient namespace/name: listed in
// allowedClients.clients, or in a namespace allowedClients.namespaceSelector matches. why
// says why not.
func apiAllows(ctx context.Context, c client.Reader, api *oauthv1.OAuthAPI, namespace, name string) (bool, string, error) {
	ac := api.Spec.AllowedClients
	if ac == nil {
		return false, "its spec.allowedClients is empty", nil
	}
	if slices.Contains(ac.Clients, oauthv1.ClientReference{Namespace: namespace, Name: name}) {
		return true, "", nil
	}
	if ac.NamespaceSelector == nil {
		return false, "the client is not in spec.allowedClients.clients and there is no namespaceSelector", nil
	}
	var ns corev1.Namespace
	err := c.Get(ctx, client.ObjectKey{Name: namespace}, &ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, "", fmt.Errorf("read namespace %s: %w", namespace, err)
	}
	if ok, why := namespaceMatches(&ns, err == nil, ac.NamespaceSelector); !ok {
		return false, "the client is not in spec.allowedClients.clients and namespace " + namespace + ": " + why, nil
	}
	return true, "", nil
}

// apiDeclares reports whether api declares scope.
func apiDeclares(api *oauthv1.OAuthAPI, scope string) bool {
	return slices.ContainsFunc(api.Spec.Scopes, func(s oauthv1.APIScope) bool { return s.Name == scope })
}

// scopeOwners maps each scope declared by the OAuthAPIs on the authorization server of
// provider key providerKey to the API that owns it: the first to declare it, by
// creationTimestamp, then namespace/name. Later APIs declaring the same scope are in
// conflict (ScopeConflict).
func scopeOwners(ctx context.Context, c client.Reader, providerKey string) (map[string]*oauthv1.OAuthAPI, error) {
	var list oauthv1.OAuthAPIList
	if err := c.List(ctx, &list, client.MatchingFields{apiProviderIndexKey: providerKey}); err != nil {
		return nil, fmt.Errorf("list oauthapis: %w", err)
	}
	apis := make([]*oauthv1.OAuthAPI, 0, len(list.Items))
	for i := range list.Items {
		apis = append(apis, &list.Items[i])
	}
	slices.SortFunc(apis, func(a, b *oauthv1.OAuthAPI) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(apiKey(a.Namespace, a.Name), apiKey(b.Namespace, b.Name))
	})
	owners := map[string]*oauthv1.OAuthAPI{}
	for _, a := range apis {
		for _, s := range a.Spec.Scopes {
			if _, taken := owners[s.Name]; !taken {
				owners[s.Name] = a
			}
		}
	}
	return owners, nil
}

// conflicts returns, for each scope api declares that an earlier API owns, that API's
// "namespace/name", in the order of spec.scopes.
func conflicts(api *oauthv1.OAuthAPI, owners map[string]*oauthv1.OAuthAPI) []string {
	var out []string
	for _, s := range api.Spec.Scopes {
		if o := owners[s.Name]; o != nil && o.UID != api.UID {
			out = append(out, fmt.Sprintf("%s (declared first by OAuthAPI %s)", s.Name, apiKey(o.Namespace, o.Name)))
		}
	}
	return out
}

// apiAudience is the audience of api's tokens as its controller found it (status), else
// spec.audience; "" until the OAuthAPI controller has looked (its status change wakes the
// clients again).
func apiAudience(api *oauthv1.OAuthAPI) string {
	if api.Status.Audience != "" {
		return api.Status.Audience
	}
	return api.Spec.Audience
}
