package main

import (
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
		"defaults":                   {4, 10 * time.Minute, 5 * time.Minute, time.Minute, ""},
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
