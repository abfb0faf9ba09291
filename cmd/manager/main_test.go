package main

import (
	"os"
	"strings"
	"testing"
)

// --okta-rate-limit-share and its env twin CLIENTCREDS_OKTA_RATE_LIMIT_SHARE: a share
// outside (0, 1] is refused before the manager starts. (run parses the process-wide flag
// set, so one case per test binary.)
func TestRateLimitShareValidated(t *testing.T) {
	t.Setenv("CLIENTCREDS_OKTA_RATE_LIMIT_SHARE", "1.5")
	args := os.Args
	os.Args = []string{"manager"}
	t.Cleanup(func() { os.Args = args })
	err := run()
	if err == nil || !strings.Contains(err.Error(), "--okta-rate-limit-share must be greater than 0 and at most 1, got 1.5") {
		t.Fatalf("run() = %v, want the share refused", err)
	}
}
