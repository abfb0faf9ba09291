package controllers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

func TestDeniedScopes(t *testing.T) {
	tests := map[string]struct {
		scopes, allowed, want []string
	}{
		"absent list allows any":      {scopes: []string{"a", "b"}, allowed: nil, want: nil},
		"empty list allows none":      {scopes: []string{"a"}, allowed: []string{}, want: []string{"a"}},
		"empty list, no scopes":       {scopes: nil, allowed: []string{}, want: nil},
		"exact":                       {scopes: []string{"hello:read"}, allowed: []string{"hello:read"}, want: nil},
		"exact is not a prefix":       {scopes: []string{"hello:readall"}, allowed: []string{"hello:read"}, want: []string{"hello:readall"}},
		"prefix wildcard":             {scopes: []string{"orders:read", "orders:write"}, allowed: []string{"orders:*"}, want: nil},
		"wildcard needs the prefix":   {scopes: []string{"order", "ordersx"}, allowed: []string{"orders:*"}, want: []string{"order", "ordersx"}},
		"lone star allows any":        {scopes: []string{"x", "y:z"}, allowed: []string{"*"}, want: nil},
		"star inside is literal":      {scopes: []string{"a*b", "axb"}, allowed: []string{"a*b"}, want: []string{"axb"}},
		"only the refused, in order":  {scopes: []string{"z", "ok", "a"}, allowed: []string{"ok"}, want: []string{"z", "a"}},
		"wildcard matches the prefix": {scopes: []string{"orders:"}, allowed: []string{"orders:*"}, want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := deniedScopes(tc.scopes, tc.allowed); !slices.Equal(got, tc.want) {
				t.Errorf("deniedScopes(%v, %v) = %v, want %v", tc.scopes, tc.allowed, got, tc.want)
			}
		})
	}
}

func TestParseNamespaces(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []string
		wantErr bool
	}{
		"empty":            {in: "", want: nil},
		"one":              {in: "team-a", want: []string{"team-a"}},
		"two, spaces":      {in: " team-a , team-b ", want: []string{"team-a", "team-b"}},
		"duplicates":       {in: "a,a,b", want: []string{"a", "b"}},
		"trailing comma":   {in: "a,", want: []string{"a"}},
		"upper case":       {in: "Team", wantErr: true},
		"leading dash":     {in: "-a", wantErr: true},
		"dot":              {in: "a.b", wantErr: true},
		"too long":         {in: "a123456789012345678901234567890123456789012345678901234567890123", wantErr: true},
		"one bad of three": {in: "a,B,c", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseNamespaces(tc.in)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("ParseNamespaces(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// The uncached reader of a manager limited by --watch-namespaces refuses every other
// namespace before the request is sent.
func TestGuardedReader(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "s"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "s"}},
	).Build()
	tests := map[string]struct {
		allowed []string
		ns      string
		list    bool
		wantErr bool
	}{
		"unlimited get":        {allowed: nil, ns: "team-b"},
		"unlimited list all":   {allowed: nil, ns: "", list: true},
		"watched get":          {allowed: []string{"team-a"}, ns: "team-a"},
		"other get":            {allowed: []string{"team-a"}, ns: "team-b", wantErr: true},
		"watched list":         {allowed: []string{"team-a"}, ns: "team-a", list: true},
		"other list":           {allowed: []string{"team-a"}, ns: "team-b", list: true, wantErr: true},
		"cluster-wide list":    {allowed: []string{"team-a"}, ns: "", list: true, wantErr: true},
		"cluster-scoped get":   {allowed: []string{"team-a"}, ns: "", wantErr: true},
		"second watched list":  {allowed: []string{"team-a", "team-b"}, ns: "team-b", list: true},
		"second watched get":   {allowed: []string{"team-a", "team-b"}, ns: "team-b"},
		"prefix is not enough": {allowed: []string{"team"}, ns: "team-a", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := guardedReader{Reader: c, allowed: newNamespaceSet(tc.allowed)}
			var err error
			if tc.list {
				err = g.List(context.Background(), &corev1.SecretList{}, client.InNamespace(tc.ns))
			} else {
				err = g.Get(context.Background(), client.ObjectKey{Namespace: tc.ns, Name: "s"}, &corev1.Secret{})
				if tc.ns == "" && err != nil && !errors.Is(err, provider.ErrSecretForbidden) {
					t.Fatalf("error %v is not a refusal", err)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, provider.ErrSecretForbidden) {
				t.Errorf("error %v, want class ErrSecretForbidden", err)
			}
		})
	}
}

// ServiceAccount tokens are never read, labelled or not; a namespaced provider outside
// --watch-namespaces reads nothing.
func TestSecretReaderRefusals(t *testing.T) {
	const label = LabelProviderCredentials
	sa := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "sa", Labels: map[string]string{label: "true"},
			Annotations: map[string]string{corev1.ServiceAccountNameKey: "robot"}},
		Type: corev1.SecretTypeServiceAccountToken, Data: map[string][]byte{"token": []byte("sa-value")},
	}
	typed := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "system", Name: "typed"},
		Type:       corev1.SecretTypeServiceAccountToken, Data: map[string][]byte{"token": []byte("t-value")},
	}
	ok := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "ok", Labels: map[string]string{label: "true"}},
		Data:       map[string][]byte{"token": []byte("ok-value")},
	}
	c := fake.NewClientBuilder().WithObjects(sa, typed, ok).Build()
	namespaced := &oauthv1.OAuthProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "p"}}
	cluster := &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	labels := map[string]string{label: "true"}
	tests := map[string]struct {
		obj        oauthv1.ProviderObject
		namespaces []string
		ref        provider.SecretRef
		wantClass  error
	}{
		"labelled SA token, namespaced": {obj: namespaced, ref: provider.SecretRef{Name: "sa", Key: "token"}, wantClass: provider.ErrSecretForbidden},
		"SA token type, cluster":        {obj: cluster, ref: provider.SecretRef{Namespace: "system", Name: "typed", Key: "token"}, wantClass: provider.ErrSecretForbidden},
		"outside watched namespaces":    {obj: namespaced, namespaces: []string{"team-b"}, ref: provider.SecretRef{Name: "ok", Key: "token"}, wantClass: provider.ErrSecretForbidden},
		"inside watched namespaces":     {obj: namespaced, namespaces: []string{"team-a"}, ref: provider.SecretRef{Name: "ok", Key: "token"}},
		"cluster credentials namespace is not limited": {obj: cluster, namespaces: []string{"team-b"},
			ref: provider.SecretRef{Namespace: "team-a", Name: "ok", Key: "token"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var read []client.ObjectKey
			r := &secretReader{reader: c, obj: tc.obj, requiredLabels: labels, namespaces: newNamespaceSet(tc.namespaces),
				onRead: func(k client.ObjectKey) { read = append(read, k) }}
			_, err := r.ReadSecretKey(context.Background(), tc.ref)
			if tc.wantClass == nil {
				if err != nil || len(read) != 1 {
					t.Fatalf("error %v, reads %v; want one read", err, read)
				}
				return
			}
			if !errors.Is(err, tc.wantClass) {
				t.Fatalf("error %v, want class %v", err, tc.wantClass)
			}
			if len(read) != 0 {
				t.Errorf("a refused Secret was recorded as read: %v", read)
			}
			for _, v := range []string{"sa-value", "t-value", "ok-value"} {
				if err != nil && strings.Contains(err.Error(), v) {
					t.Errorf("the error %q holds a Secret value", err)
				}
			}
		})
	}
}

func TestNamespaceMatches(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"tenant": "a", "tier": "prod"}}}
	tests := map[string]struct {
		sel   *metav1.LabelSelector
		found bool
		want  bool
	}{
		"empty selector, every namespace": {sel: &metav1.LabelSelector{}, found: true, want: true},
		"match labels":                    {sel: &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "a"}}, found: true, want: true},
		"other value":                     {sel: &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "b"}}, found: true, want: false},
		"expression In": {sel: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "staging"}}}}, found: true, want: true},
		"expression DoesNotExist": {sel: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}}, found: true, want: false},
		"invalid operator admits nothing": {sel: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tenant", Operator: "Near"}}}, found: true, want: false},
		"namespace not found admits nothing": {sel: &metav1.LabelSelector{}, found: false, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, why := namespaceMatches(ns, tc.found, tc.sel)
			if got != tc.want {
				t.Fatalf("namespaceMatches = %v (%s), want %v", got, why, tc.want)
			}
			if !got && why == "" {
				t.Error("a refusal without a reason")
			}
		})
	}
}
