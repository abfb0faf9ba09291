package provider_test

import (
	"context"
	"testing"

	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

// withInventory is a fake backend that can list its apps.
type withInventory struct{ *fake.Client }

func (withInventory) ListApps(context.Context) ([]provider.App, error) {
	return []provider.App{{ID: "listed"}}, nil
}
func (withInventory) ScopeGrants(context.Context) ([]provider.ScopeGrant, error) { return nil, nil }

// withBoth also manages access policies, so Instrument wraps it in its other wrapper.
type withBoth struct{ *withPolicies }

func (withBoth) ListApps(ctx context.Context) ([]provider.App, error) {
	return withInventory{}.ListApps(ctx)
}
func (withBoth) ScopeGrants(context.Context) ([]provider.ScopeGrant, error) { return nil, nil }

// TestInventoryOfLooksThroughInstrument: the import finds the Inventory of a backend client
// as the controllers' Clients hands it out (instrumented), whichever wrapper Instrument
// chose, and none on a backend without one.
func TestInventoryOfLooksThroughInstrument(t *testing.T) {
	base := &fake.Client{}
	cases := map[string]struct {
		p    provider.Client
		want bool
	}{
		"plain":                    {withInventory{base}, true},
		"instrumented":             {provider.Instrument("test", withInventory{base}), true},
		"instrumented, policies":   {provider.Instrument("test", withBoth{&withPolicies{Client: base}}), true},
		"no inventory":             {base, false},
		"no inventory, instrument": {provider.Instrument("test", base), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			inv, ok := provider.InventoryOf(tc.p)
			if ok != tc.want {
				t.Fatalf("InventoryOf: %v, want %v", ok, tc.want)
			}
			if !ok {
				return
			}
			apps, err := inv.ListApps(context.Background())
			if err != nil || len(apps) != 1 || apps[0].ID != "listed" {
				t.Fatalf("ListApps through InventoryOf: %v %v", apps, err)
			}
		})
	}
}
