package kubectlplugin

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestBaseName(t *testing.T) {
	cases := map[string]struct{ label, want string }{
		"plain":           {"billing", "billing"},
		"upper and space": {"Billing Service", "billing-service"},
		"runs collapse":   {"  Billing -- API  (prod) ", "billing-api-prod"},
		"slash":           {"team-a/billing", "team-a-billing"},
		"digits kept":     {"svc 42", "svc-42"},
		"non-ascii":       {"Zahlungsdienst Ü", "zahlungsdienst"},
		"nothing usable":  {"计费服务", ""},
		"dots":            {"api.example.com", "api-example-com"},
		"too long":        {strings.Repeat("a", 70), strings.Repeat("a", 63)},
		"cut at dash":     {strings.Repeat("a", 62) + " b", strings.Repeat("a", 62)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := baseName(tc.label, maxNameLength); got != tc.want {
				t.Fatalf("baseName(%q) = %q, want %q", tc.label, got, tc.want)
			}
		})
	}
}

func TestDeriveNames(t *testing.T) {
	apps := []nameApp{
		{ID: "0oa3", Label: "Billing Service"},
		{ID: "0oa1", Label: "billing service"}, // same name; smallest id keeps it
		{ID: "0oa2", Label: "BILLING-SERVICE"},
		{ID: "0oa4", Label: "计费"},
		{ID: "0oa5", Label: "Reports"},
		{ID: "0oa6", Label: strings.Repeat("long label ", 10)},
		{ID: "0oa7", Label: strings.Repeat("long label ", 10)},
	}
	taken := map[string]bool{"reports": true}
	got := deriveNames(apps, taken)

	if got["0oa1"] != "billing-service" {
		t.Errorf("the smallest id of a shared name should keep it: got %q", got["0oa1"])
	}
	for _, id := range []string{"0oa2", "0oa3"} {
		if !strings.HasPrefix(got[id], "billing-service-") || len(got[id]) != len("billing-service-")+6 {
			t.Errorf("app %s: got %q, want billing-service-<6 hex>", id, got[id])
		}
	}
	if !strings.HasPrefix(got["0oa4"], "app-") {
		t.Errorf("a label without usable characters: got %q, want app-<hex>", got["0oa4"])
	}
	if got["0oa5"] == "reports" || !strings.HasPrefix(got["0oa5"], "reports-") {
		t.Errorf("a name taken in the namespace must not be reused: got %q", got["0oa5"])
	}
	seen := map[string]string{}
	for id, n := range got {
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Errorf("app %s: %q is not a DNS-1123 label: %v", id, n, errs)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("apps %s and %s both named %q", id, other, n)
		}
		seen[n] = id
	}
	if len(got) != len(apps) {
		t.Fatalf("%d names for %d apps", len(got), len(apps))
	}

	// Deterministic: the same apps in another order give the same names.
	reversed := make([]nameApp, len(apps))
	for i, a := range apps {
		reversed[len(apps)-1-i] = a
	}
	again := deriveNames(reversed, taken)
	for id, n := range got {
		if again[id] != n {
			t.Errorf("app %s: %q, then %q in another order", id, n, again[id])
		}
	}
}
