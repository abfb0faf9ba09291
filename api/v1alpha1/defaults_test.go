package v1alpha1_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

func TestLabel(t *testing.T) {
	long := strings.Repeat("n", 253)
	tests := map[string]struct {
		ns, name, display string
		wantLen           int
		wantPrefix        string
		wantExact         string
	}{
		"short default":  {ns: "team-a", name: "billing", wantExact: "team-a/billing"},
		"display name":   {ns: "team-a", name: long, display: "Billing", wantExact: "Billing"},
		"253-char name":  {ns: strings.Repeat("s", 63), name: long, wantLen: 255, wantPrefix: strings.Repeat("s", 63) + "/nnn"},
		"exactly at 255": {ns: strings.Repeat("s", 63), name: long[:191], wantExact: strings.Repeat("s", 63) + "/" + long[:191]},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: tc.ns, Name: tc.name}}
			c.Spec.DisplayName = tc.display
			got := c.Label()
			if tc.wantExact != "" && got != tc.wantExact {
				t.Fatalf("Label() = %q, want %q", got, tc.wantExact)
			}
			if tc.wantLen != 0 && len(got) != tc.wantLen {
				t.Fatalf("len(Label()) = %d, want %d", len(got), tc.wantLen)
			}
			if !strings.HasPrefix(got, tc.wantPrefix) || len(got) > oauthv1.MaxLabelLength {
				t.Fatalf("Label() = %q", got)
			}
		})
	}
	// Two long names that differ only at the end get different labels.
	a := &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: strings.Repeat("s", 63), Name: long[:252] + "a"}}
	b := &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: strings.Repeat("s", 63), Name: long[:252] + "b"}}
	if a.Label() == b.Label() {
		t.Fatalf("two different long names share the label %q", a.Label())
	}
}

func TestTruncateWithHash(t *testing.T) {
	tests := map[string]struct {
		in    string
		limit int
		want  string
	}{
		"fits":     {in: "abc", limit: 3, want: "abc"},
		"too long": {in: "abcdefghijklmnop", limit: 12, want: "abc~"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := oauthv1.TruncateWithHash(tc.in, tc.limit)
			if !strings.HasPrefix(got, tc.want) || len(got) > tc.limit {
				t.Fatalf("TruncateWithHash(%q, %d) = %q, want prefix %q within the limit", tc.in, tc.limit, got, tc.want)
			}
		})
	}
}
