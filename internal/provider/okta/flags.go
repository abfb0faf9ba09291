package okta

import (
	"flag"
	"fmt"
)

// Flags are the settings of the Okta backend a binary takes from its command line. The
// backend binds them (BindFlags) and applies them (Apply); the binary only calls both.
type Flags struct {
	// RateLimitShare is --okta-rate-limit-share: the share (0 < F <= 1) of each org-wide
	// Okta rate-limit bucket the process uses per window.
	RateLimitShare float64
}

// BindFlags registers the Okta backend's flags on fs, with their defaults.
func (f *Flags) BindFlags(fs *flag.FlagSet) {
	fs.Float64Var(&f.RateLimitShare, "okta-rate-limit-share", DefaultShare, "Share (0 < F <= 1) of each Okta rate-limit bucket the manager uses per window, as Okta allows one API token by default (0.5). Calls made with the API token are held to the ceiling Okta reports for the token; the share caps the org-wide buckets every workload shares (token endpoint, metadata).")
}

// Validate refuses values no Okta backend can use; the error names the flag.
func (f *Flags) Validate() error {
	if !(f.RateLimitShare > 0 && f.RateLimitShare <= 1) {
		return fmt.Errorf("--okta-rate-limit-share must be greater than 0 and at most 1, got %v", f.RateLimitShare)
	}
	return nil
}

// Apply validates the flags and makes them the settings of every Provider made afterwards
// in this process (the shared rate budgets); it changes nothing when they are invalid.
func (f *Flags) Apply() error {
	if err := f.Validate(); err != nil {
		return err
	}
	SetSharedBudgets(NewBudgets(BudgetOptions{Share: f.RateLimitShare}))
	return nil
}
