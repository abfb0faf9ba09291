package controllers

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
