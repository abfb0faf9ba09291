package okta

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// TestFlags: the backend binds --okta-rate-limit-share with its default, applies a valid
// value to the shared budgets, and refuses a bad one naming the flag, changing nothing.
func TestFlags(t *testing.T) {
	before := SharedBudgets()
	t.Cleanup(func() { SetSharedBudgets(before) })
	tests := map[string]struct {
		args      []string
		wantShare float64
		wantErr   bool
	}{
		"default":     {wantShare: DefaultShare},
		"a quarter":   {args: []string{"--okta-rate-limit-share=0.25"}, wantShare: 0.25},
		"all":         {args: []string{"--okta-rate-limit-share=1"}, wantShare: 1},
		"none":        {args: []string{"--okta-rate-limit-share=0"}, wantErr: true},
		"more than 1": {args: []string{"--okta-rate-limit-share=1.5"}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sentinel := NewBudgets(BudgetOptions{Share: 0.125})
			SetSharedBudgets(sentinel)
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var f Flags
			f.BindFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := f.Apply()
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "--okta-rate-limit-share") {
					t.Fatalf("Apply() = %v, want an error naming the flag", err)
				}
				if SharedBudgets() != sentinel {
					t.Error("a refused value replaced the shared budgets")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := SharedBudgets(); got == sentinel || got.share != tc.wantShare {
				t.Errorf("shared budgets share %v, want %v", got.share, tc.wantShare)
			}
		})
	}
}
