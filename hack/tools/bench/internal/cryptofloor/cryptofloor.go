// Package cryptofloor measures what checking a token costs with nothing around it: jwx
// parsing a compact JWS and verifying its signature with the issuer's key, in a tight
// loop over the same tokens the HTTP targets receive. It is the ceiling for a verifier
// that checks every token (the cache-cold case): no HTTP, no claims policy, no cache.
package cryptofloor

import (
	"fmt"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Modes of checking a token.
const (
	// ModeJWS parses the compact JWS, finds the key by kid in the key set and verifies the
	// signature (jws.Verify): the floor the cold verifier is compared with.
	ModeJWS = "jws"
	// ModeJWT additionally decodes the claims into a jwt.Token and validates exp, iat,
	// nbf, iss and aud (jwt.Parse), for reference.
	ModeJWT = "jwt"
)

// Result is one run.
type Result struct {
	Mode      string        `json:"mode"`
	Ops       int64         `json:"ops"`
	Duration  time.Duration `json:"duration"`
	OpsPerSec float64       `json:"opsPerSec"`
	Mean      time.Duration `json:"mean"`
	P50       time.Duration `json:"p50"`
	P99       time.Duration `json:"p99"`
}

// Config is one run.
type Config struct {
	Mode     string
	Tokens   []string
	Keys     jwk.Set
	Issuer   string
	Audience string
	Duration time.Duration
}

// Run checks cfg.Tokens, round-robin, until cfg.Duration has passed. Every token must
// pass; one that does not is an error (the benchmark would be measuring refusals).
func Run(cfg Config) (Result, error) {
	if len(cfg.Tokens) == 0 {
		return Result{}, fmt.Errorf("no tokens")
	}
	tokens := make([][]byte, len(cfg.Tokens))
	for i, t := range cfg.Tokens {
		tokens[i] = []byte(t)
	}
	var check func(tok []byte) error
	switch cfg.Mode {
	case ModeJWS:
		opt := jws.WithKeySet(cfg.Keys, jws.WithRequireKid(true))
		check = func(tok []byte) error {
			_, err := jws.Verify(tok, opt)
			return err
		}
	case ModeJWT:
		opts := []jwt.ParseOption{
			jwt.WithKeySet(cfg.Keys, jws.WithRequireKid(true)),
			jwt.WithValidate(true), jwt.WithIssuer(cfg.Issuer), jwt.WithAudience(cfg.Audience),
			jwt.WithAcceptableSkew(30 * time.Second),
		}
		check = func(tok []byte) error {
			_, err := jwt.Parse(tok, opts...)
			return err
		}
	default:
		return Result{}, fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	samples := make([]time.Duration, 0, 1<<16)
	start := time.Now()
	end := start.Add(cfg.Duration)
	for i := 0; ; i++ {
		t0 := time.Now()
		if !t0.Before(end) {
			break
		}
		if err := check(tokens[i%len(tokens)]); err != nil {
			return Result{}, fmt.Errorf("token %d does not verify: %w", i%len(tokens), err)
		}
		samples = append(samples, time.Since(t0))
	}
	elapsed := time.Since(start)
	var busy time.Duration
	for _, s := range samples {
		busy += s
	}
	slices.Sort(samples)
	n := int64(len(samples))
	r := Result{Mode: cfg.Mode, Ops: n, Duration: elapsed, OpsPerSec: float64(n) / elapsed.Seconds()}
	if n > 0 {
		r.Mean = busy / time.Duration(n)
		r.P50 = samples[int(float64(n)*0.50)]
		r.P99 = samples[min(int(float64(n)*0.99), len(samples)-1)]
	}
	return r, nil
}
