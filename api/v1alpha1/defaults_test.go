package v1alpha1_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

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

func TestSecretNameOfLongNames(t *testing.T) {
	tests := map[string]struct {
		name string
		want string
	}{
		"short":        {name: "billing", want: "billing-oauth-client"},
		"at limit":     {name: strings.Repeat("a", 240), want: strings.Repeat("a", 240) + "-oauth-client"},
		"over":         {name: strings.Repeat("a", 241)},
		"253 chars":    {name: strings.Repeat("a", 200) + "." + strings.Repeat("b", 52)},
		"cut at a dot": {name: strings.Repeat("a", 230) + "." + strings.Repeat("b", 22)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: tc.name}}
			got := c.SecretName()
			if tc.want != "" && got != tc.want {
				t.Fatalf("SecretName() = %q, want %q", got, tc.want)
			}
			if errs := validation.IsDNS1123Subdomain(got); len(got) > 253 || len(errs) > 0 {
				t.Fatalf("SecretName() = %q (%d chars) is not a valid Secret name: %v", got, len(got), errs)
			}
		})
	}
}

func TestShortenNameIsALabelValue(t *testing.T) {
	for _, n := range []string{"billing", strings.Repeat("x", 63), strings.Repeat("x", 64), strings.Repeat("a", 61) + ".b-" + strings.Repeat("c", 100)} {
		got := oauthv1.ShortenName(n, 63)
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("ShortenName(%q, 63) = %q: %v", n, got, errs)
		}
	}
}

// EffectiveDeletionPolicy: an explicit value wins; unset, an adopted app is orphaned and a
// created one deleted; an observed app is never deleted, whatever the field says.
func TestEffectiveDeletionPolicy(t *testing.T) {
	adopt := &oauthv1.Adopt{ClientID: "0oa1024tz4g3KGW0a698"}
	tests := map[string]struct {
		policy oauthv1.DeletionPolicy
		adopt  *oauthv1.Adopt
		mgmt   oauthv1.ManagementPolicy
		want   oauthv1.DeletionPolicy
	}{
		"created, unset":            {want: oauthv1.DeletionPolicyDelete},
		"created, Delete":           {policy: oauthv1.DeletionPolicyDelete, want: oauthv1.DeletionPolicyDelete},
		"created, Orphan":           {policy: oauthv1.DeletionPolicyOrphan, want: oauthv1.DeletionPolicyOrphan},
		"adopted, unset":            {adopt: adopt, want: oauthv1.DeletionPolicyOrphan},
		"adopted by app id, unset":  {adopt: &oauthv1.Adopt{AppID: "0oa1"}, want: oauthv1.DeletionPolicyOrphan},
		"adopted, Delete":           {adopt: adopt, policy: oauthv1.DeletionPolicyDelete, want: oauthv1.DeletionPolicyDelete},
		"adopted, Orphan":           {adopt: adopt, policy: oauthv1.DeletionPolicyOrphan, want: oauthv1.DeletionPolicyOrphan},
		"adopted, Manage, unset":    {adopt: adopt, mgmt: oauthv1.ManagementPolicyManage, want: oauthv1.DeletionPolicyOrphan},
		"adopted, Manage, Delete":   {adopt: adopt, mgmt: oauthv1.ManagementPolicyManage, policy: oauthv1.DeletionPolicyDelete, want: oauthv1.DeletionPolicyDelete},
		"observed, unset":           {adopt: adopt, mgmt: oauthv1.ManagementPolicyObserve, want: oauthv1.DeletionPolicyOrphan},
		"observed, explicit Delete": {adopt: adopt, mgmt: oauthv1.ManagementPolicyObserve, policy: oauthv1.DeletionPolicyDelete, want: oauthv1.DeletionPolicyOrphan},
		"created, Manage, unset":    {mgmt: oauthv1.ManagementPolicyManage, want: oauthv1.DeletionPolicyDelete},
		"created, Manage, Orphan":   {mgmt: oauthv1.ManagementPolicyManage, policy: oauthv1.DeletionPolicyOrphan, want: oauthv1.DeletionPolicyOrphan},
		"observed without adopt (refused at admission), Delete": {mgmt: oauthv1.ManagementPolicyObserve, policy: oauthv1.DeletionPolicyDelete, want: oauthv1.DeletionPolicyOrphan},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &oauthv1.OAuthClient{Spec: oauthv1.OAuthClientSpec{DeletionPolicy: tc.policy, Adopt: tc.adopt, ManagementPolicy: tc.mgmt}}
			if got := c.EffectiveDeletionPolicy(); got != tc.want {
				t.Fatalf("EffectiveDeletionPolicy() = %q, want %q", got, tc.want)
			}
			if c.Spec.DeletionPolicy != tc.policy {
				t.Fatalf("EffectiveDeletionPolicy changed spec.deletionPolicy to %q", c.Spec.DeletionPolicy)
			}
		})
	}
}
