package main

import (
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestCheckFlagsNamesTheFlag(t *testing.T) {
	tests := map[string]struct {
		maxConcurrent          int
		resync, health, tokTTL time.Duration
		wantFlag               string
	}{
		"defaults":                   {16, 10 * time.Minute, 5 * time.Minute, time.Minute, ""},
		"token ttl 0 is the default": {4, 10 * time.Minute, 5 * time.Minute, 0, ""},
		"no reconciles":              {0, 10 * time.Minute, 5 * time.Minute, time.Minute, "--max-concurrent-reconciles"},
		"resync too short":           {4, time.Millisecond, 5 * time.Minute, time.Minute, "--resync-period"},
		"health too short":           {4, 10 * time.Minute, 0, time.Minute, "--provider-health-interval"},
		"negative token ttl":         {4, 10 * time.Minute, 5 * time.Minute, -time.Second, "--api-token-cache-ttl"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := checkFlags(tc.maxConcurrent, tc.resync, tc.health, tc.tokTTL)
			if tc.wantFlag == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantFlag) {
				t.Fatalf("error %v, want one naming %s", err, tc.wantFlag)
			}
		})
	}
}

func TestCheckShare(t *testing.T) {
	tests := map[string]struct {
		share   float64
		wantErr bool
	}{
		"default 0.5": {share: 0.5},
		"all":         {share: 1},
		"a little":    {share: 0.05},
		"none":        {share: 0, wantErr: true},
		"negative":    {share: -0.5, wantErr: true},
		"over 1":      {share: 1.5, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := checkShare(tc.share)
			if (err != nil) != tc.wantErr || (err != nil && !strings.Contains(err.Error(), "--okta-rate-limit-share")) {
				t.Fatalf("checkShare(%v) = %v, want error %v naming the flag", tc.share, err, tc.wantErr)
			}
		})
	}
}

// The env twin CLIENTCREDS_OKTA_RATE_LIMIT_SHARE reaches the flag: a bad value stops the
// manager before it starts. (run parses the process-wide flag set: one call per binary.)
func TestRateLimitShareEnvTwin(t *testing.T) {
	t.Setenv("CLIENTCREDS_OKTA_RATE_LIMIT_SHARE", "1.5")
	args := os.Args
	os.Args = []string{"manager"}
	t.Cleanup(func() { os.Args = args })
	err := run()
	if err == nil || !strings.Contains(err.Error(), "--okta-rate-limit-share must be greater than 0 and at most 1, got 1.5") {
		t.Fatalf("run() = %v, want the share refused", err)
	}
}

func TestCheckHealthTimeout(t *testing.T) {
	for d, ok := range map[time.Duration]bool{10 * time.Second: true, time.Second: true, 999 * time.Millisecond: false, 0: false, -time.Second: false} {
		err := checkHealthTimeout(d)
		if (err == nil) != ok {
			t.Errorf("checkHealthTimeout(%v) = %v, want accepted %v", d, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--provider-health-timeout") {
			t.Errorf("error %q does not name the flag", err)
		}
	}
}

// TestGCDefault: without GOGC the manager collects at defaultGCPercent; a GOGC in the
// environment (read by the runtime at start) is left alone.
func TestGCDefault(t *testing.T) {
	t.Cleanup(func() { debug.SetGCPercent(100) })
	t.Setenv("GOGC", "")
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	debug.SetGCPercent(100)
	if got := gcDefault(); got != defaultGCPercent {
		t.Fatalf("gcDefault() = %d without GOGC, want %d", got, defaultGCPercent)
	}
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("GOGC in force %d, want %d", got, defaultGCPercent)
	}
	t.Setenv("GOGC", "80")
	debug.SetGCPercent(80) // as the runtime would have at start
	if got := gcDefault(); got != 80 {
		t.Fatalf("gcDefault() = %d with GOGC=80, want 80", got)
	}
	if got := debug.SetGCPercent(100); got != 80 {
		t.Fatalf("GOGC in force %d with GOGC=80 set, want 80", got)
	}
}
