// Package verifierbench measures the verifier's /verify against its peers on one machine,
// in one run: the verifier with a repeated token (the normal client-credentials case, a
// cache hit) and with a unique token per request (cache cold), oauth2-proxy in JWT-bearer
// mode on /oauth2/auth with the same issuer and tokens, a null HTTP server (the HTTP
// floor) and jwx parsing and verifying the same tokens in a loop (the crypto floor).
//
// Every server runs pinned to one CPU with GOMAXPROCS=1 and the load generator (wrk, one
// thread) runs pinned to the other, so the server under test owns a whole core and the
// load generator can never steal it. Targets run in interleaved rounds — each round runs
// every target once, in a rotated order — so that drift on a shared machine hits all of
// them alike; each server is started fresh for each run, so every cold run starts with an
// empty token cache.
package verifierbench

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/cryptofloor"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/loadgen"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/proc"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/profile"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/wrk"
	"github.com/clientcreds/clientcreds/internal/procs"
)

// Config configures the verifier benchmark.
type Config struct {
	// Bin is the directory of the project's binaries (verifier); BenchBin holds oauth2-proxy,
	// nullserver, cryptofloor and loadgen.
	Bin, BenchBin string
	// OutDir receives logs, token files and raw results.
	OutDir string
	// Rounds of interleaved runs; Duration of each measured run; Warmup before each.
	Rounds   int
	Duration time.Duration
	Warmup   time.Duration
	// HalfLoadDuration is the length of the constant-rate runs at half the maximum.
	HalfLoadDuration time.Duration
	// Conns is the number of connections of the closed-loop runs (wrk -c); HalfLoadConns
	// of the constant-rate runs.
	Conns, HalfLoadConns int
	// ServerCPU and LoadCPU are the CPUs (taskset lists) of the servers and of the load.
	ServerCPU, LoadCPU string
	// UseWrk selects wrk for the closed-loop runs; otherwise the Go load generator.
	UseWrk bool
	// Profile samples the verifier and oauth2-proxy under load with perf after the rounds.
	Profile bool
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// Target names.
const (
	TargetNull       = "null HTTP server"
	TargetVerifier   = "verifier, repeated token"
	TargetVerCold    = "verifier, unique tokens"
	TargetProxy      = "oauth2-proxy, repeated token"
	TargetProxyCold  = "oauth2-proxy, unique tokens"
	TargetCrypto     = "jwx parse+verify (crypto floor)"
	TargetCryptoJWT  = "jwx jwt.Parse+validate (reference)"
	HalfVerifier     = "verifier, repeated token @ ½ max"
	HalfVerifierCold = "verifier, unique tokens @ ½ max"
	HalfNull         = "null HTTP server @ same rate"
)

// Run is one measured run of a target.
type Run struct {
	Round  int            `json:"round"`
	Result loadgen.Result `json:"result"`
	// ServerCPU is the server's CPU use during the run, in cores (1.0 = the whole core).
	ServerCPU float64 `json:"serverCpu"`
	// LoadCPU is the load generator's CPU use, in cores.
	LoadCPU float64 `json:"loadCpu"`
	// OtherCPU is what everything else on the machine used meanwhile, in cores (noise from
	// other work on a shared machine).
	OtherCPU float64 `json:"otherCpu"`
	// Crypto holds the crypto-floor runs.
	Crypto *cryptofloor.Result `json:"crypto,omitempty"`
}

// Results are the verifier benchmark's figures.
type Results struct {
	Config Config           `json:"-"`
	Loader string           `json:"loader"`
	Runs   map[string][]Run `json:"runs"`
	// Half holds, per half-load run, the round with the median p99; HalfRounds all rounds.
	Half       map[string]Run    `json:"half"`
	HalfRounds map[string][]Run  `json:"halfRounds"`
	Order      []string          `json:"order"`
	Tokens     int               `json:"tokens"`
	Proxy      string            `json:"oauth2Proxy"`
	Checks     map[string]string `json:"checks"`
	// Profiles of servers under closed-loop load, by target.
	Profiles map[string]profile.Report `json:"profiles,omitempty"`
	Elapsed  time.Duration             `json:"elapsed"`
}

type target struct {
	name  string
	start func(name, addr string) (*proc.Process, string, error) // process and request path
	cold  bool
	ok    func(int) bool // success status codes
}

// Bench runs the verifier benchmark.
func Bench(cfg Config) (*Results, error) {
	began := time.Now()
	logf := cfg.Logf
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	logDir := filepath.Join(cfg.OutDir, "logs")

	is, err := startIssuer()
	if err != nil {
		return nil, err
	}
	defer is.close()
	jwks, err := is.jwks()
	if err != nil {
		return nil, err
	}
	jwksPath := filepath.Join(cfg.OutDir, "jwks.json")
	if err := os.WriteFile(jwksPath, jwks, 0o644); err != nil {
		return nil, err
	}

	// How many unique tokens a cold run can use: at most what the crypto floor checks in
	// that time (a server checking tokens over HTTP does strictly more work per token), with
	// a margin; estimated on a small sample first.
	sample, err := is.mint(256, []string{Scope})
	if err != nil {
		return nil, err
	}
	est, err := estimateFloor(sample, jwksPath)
	if err != nil {
		return nil, err
	}
	nCold := int(est*1.15*cfg.Duration.Seconds()) + 1000
	nWarm := int(est*cfg.Warmup.Seconds()) + 500
	logf("minting %d unique tokens (crypto floor here ≈ %.0f verifications/s; signing is the slow part)...", nCold+nWarm, est)
	t0 := time.Now()
	all, err := is.mint(nCold+nWarm, []string{Scope})
	if err != nil {
		return nil, err
	}
	logf("minted in %s", time.Since(t0).Round(time.Second))
	hot := sample[0]
	other, err := is.mint(1, []string{OtherScope})
	if err != nil {
		return nil, err
	}
	coldPath := filepath.Join(cfg.OutDir, "tokens-cold.txt")
	warmPath := filepath.Join(cfg.OutDir, "tokens-warm.txt")
	if err := writeLines(coldPath, all[:nCold]); err != nil {
		return nil, err
	}
	if err := writeLines(warmPath, all[nCold:]); err != nil {
		return nil, err
	}

	headers := [][2]string{{"X-Original-URI", "/hello"}, {"X-Original-Method", "GET"}}
	serverEnv := []string{"GOMAXPROCS=1"}
	startVerifier := func(name, addr string) (*proc.Process, string, error) {
		p, err := proc.Start(proc.Spec{
			Name: name, Path: filepath.Join(cfg.Bin, "verifier"), CPUs: cfg.ServerCPU, LogDir: logDir, Env: serverEnv, StopGrace: 5 * time.Second,
			Args: []string{"--issuer", is.url, "--audience", Audience, "--required-scopes", Scope, "--listen", addr, "--log-level", "warn"},
		})
		if err != nil {
			return nil, "", err
		}
		return p, "/verify", procs.WaitHTTP("http://"+addr+"/readyz", 30*time.Second, procs.Status2xx, p)
	}
	cookieSecret := make([]byte, 16)
	_, _ = rand.Read(cookieSecret)
	startProxy := func(name, addr string) (*proc.Process, string, error) {
		p, err := proc.Start(proc.Spec{
			Name: name, Path: filepath.Join(cfg.BenchBin, "oauth2-proxy"), CPUs: cfg.ServerCPU, LogDir: logDir, Env: serverEnv, StopGrace: 5 * time.Second,
			Args: ProxyArgs(addr, is.url, hex.EncodeToString(cookieSecret)),
		})
		if err != nil {
			return nil, "", err
		}
		return p, "/oauth2/auth", procs.WaitHTTP("http://"+addr+"/ping", 30*time.Second, procs.Status2xx, p)
	}
	startNull := func(name, addr string) (*proc.Process, string, error) {
		p, err := proc.Start(proc.Spec{
			Name: name, Path: filepath.Join(cfg.BenchBin, "nullserver"), CPUs: cfg.ServerCPU, LogDir: logDir, Env: serverEnv, StopGrace: 5 * time.Second,
			Args: []string{"--listen", addr},
		})
		if err != nil {
			return nil, "", err
		}
		return p, "/verify", procs.WaitHTTP("http://"+addr+"/", 30*time.Second, procs.Status2xx, p)
	}
	targets := []target{
		{name: TargetNull, start: startNull, ok: procs.Status2xx},
		{name: TargetVerifier, start: startVerifier, ok: procs.Status2xx},
		{name: TargetVerCold, start: startVerifier, cold: true, ok: procs.Status2xx},
		{name: TargetProxy, start: startProxy, ok: procs.Status2xx},
		{name: TargetProxyCold, start: startProxy, cold: true, ok: procs.Status2xx},
		{name: TargetCrypto},
	}

	res := &Results{Config: cfg, Runs: map[string][]Run{}, Half: map[string]Run{}, HalfRounds: map[string][]Run{}, Tokens: nCold, Checks: map[string]string{}}
	res.Loader = "Go load generator (closed loop, hack/tools/bench/internal/loadgen)"
	if cfg.UseWrk {
		res.Loader = "wrk " + wrkVersion()
	}
	res.Proxy = proxyVersion(filepath.Join(cfg.BenchBin, "oauth2-proxy"))

	// Sanity: each server accepts the token and refuses a forged one and one without the
	// required scope, so every target enforces the same policy.
	for _, t := range targets {
		if t.start == nil || t.cold {
			continue
		}
		addr, err := procs.FreeAddr()
		if err != nil {
			return nil, err
		}
		p, path, err := t.start(sanitize(t.name)+"-check", addr)
		if err != nil {
			stopProc(p)
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		check := checkPolicy("http://"+addr+path, headers, hot, forge(hot), other[0])
		stopProc(p)
		res.Checks[t.name] = check
		logf("check %-32s %s", t.name, check)
	}

	floorRun := func(round int, tokensPath string, mode string, dur time.Duration) (Run, error) {
		cmd := exec.Command("taskset", "-c", cfg.ServerCPU, filepath.Join(cfg.BenchBin, "cryptofloor"),
			"--tokens", tokensPath, "--jwks", jwksPath, "--mode", mode, "--duration", dur.String(),
			"--issuer", is.url, "--audience", Audience)
		cmd.Env = append(os.Environ(), serverEnv...)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return Run{}, fmt.Errorf("cryptofloor: %v: %s", err, stderr.String())
		}
		var cr cryptofloor.Result
		if err := json.Unmarshal(out.Bytes(), &cr); err != nil {
			return Run{}, err
		}
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return Run{
			Round: round, Crypto: &cr, ServerCPU: cpu.Seconds() / cr.Duration.Seconds(),
			Result: loadgen.Result{Requests: cr.Ops, Duration: cr.Duration, RPS: cr.OpsPerSec, P50: cr.P50, P99: cr.P99},
		}, nil
	}

	var load loadFunc = func(addr, path, tokensPath string, dur time.Duration) (loadgen.Result, time.Duration, error) {
		if cfg.UseWrk {
			wc := wrk.Config{URL: "http://" + addr + path, Headers: headers, Conns: cfg.Conns, Duration: dur, CPUs: cfg.LoadCPU, Dir: cfg.OutDir}
			if tokensPath != "" {
				wc.TokenFile = tokensPath
			} else {
				wc.Token = hot
			}
			return wrk.Run(wc)
		}
		return runLoadgen(cfg, addr, path, headers, hot, tokensPath, 0, cfg.Conns, dur)
	}

	for round := range cfg.Rounds {
		order := rotate(targets, round)
		for _, t := range order {
			if t.start == nil {
				r, err := floorRun(round, coldPath, cryptofloor.ModeJWS, cfg.Duration)
				if err != nil {
					return nil, err
				}
				res.Runs[t.name] = append(res.Runs[t.name], r)
				res.Order = append(res.Order, t.name)
				logf("round %d  %-36s %8.0f ops/s  p50 %-8s p99 %s", round+1, t.name, r.Result.RPS, r.Result.P50, r.Result.P99)
				continue
			}
			addr, err := procs.FreeAddr()
			if err != nil {
				return nil, err
			}
			p, path, err := t.start(sanitize(t.name), addr)
			if err != nil {
				stopProc(p)
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			warmTokens, runTokens := "", ""
			if t.cold {
				warmTokens, runTokens = warmPath, coldPath
			}
			if _, _, err := load(addr, path, warmTokens, cfg.Warmup); err != nil {
				stopProc(p)
				return nil, fmt.Errorf("%s warm-up: %w", t.name, err)
			}
			cpu0, _ := proc.CPUTime(p.Pid())
			busy0, _ := proc.CPUBusy()
			r, loadCPU, err := load(addr, path, runTokens, cfg.Duration)
			busy1, _ := proc.CPUBusy()
			cpu1, _ := proc.CPUTime(p.Pid())
			stopProc(p)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			run := Run{Round: round, Result: r}
			if r.Duration > 0 {
				run.ServerCPU = (cpu1 - cpu0).Seconds() / r.Duration.Seconds()
				run.LoadCPU = loadCPU.Seconds() / r.Duration.Seconds()
				run.OtherCPU = max(0, ((busy1-busy0)-(cpu1-cpu0)-loadCPU).Seconds()/r.Duration.Seconds())
			}
			if r.Errors > 0 || r.BadStatus > 0 {
				return nil, fmt.Errorf("%s: %d transport errors and %d unexpected status codes in %d requests (log: %s)",
					t.name, r.Errors, r.BadStatus, r.Requests, p.LogPath)
			}
			res.Runs[t.name] = append(res.Runs[t.name], run)
			res.Order = append(res.Order, t.name)
			note := ""
			if r.Exhausted {
				note = "  (token list exhausted: stopped early)"
			}
			logf("round %d  %-36s %8.0f req/s  p50 %-8s p99 %-8s server %.2f cores, load %.2f, other %.2f%s",
				round+1, t.name, r.RPS, r.P50, r.P99, run.ServerCPU, run.LoadCPU, run.OtherCPU, note)
		}
	}

	// The reference: jwx's full jwt.Parse with claim validation, once.
	if r, err := floorRun(0, coldPath, cryptofloor.ModeJWT, cfg.Duration); err == nil {
		res.Runs[TargetCryptoJWT] = []Run{r}
		logf("         %-36s %8.0f ops/s  p50 %-8s p99 %s", TargetCryptoJWT, r.Result.RPS, r.Result.P50, r.Result.P99)
	} else {
		logf("%s: %v", TargetCryptoJWT, err)
	}

	// Latency at half the maximum: constant-rate (open-loop) runs at half the median
	// throughput of the closed-loop runs, each on a fresh server, in interleaved rounds
	// like the closed-loop runs: a tail latency is the figure a pause of the machine moves
	// most, so one run alone says little.
	half := []struct {
		name, of string
		start    func(string, string) (*proc.Process, string, error)
		cold     bool
	}{
		{HalfVerifier, TargetVerifier, startVerifier, false},
		{HalfNull, TargetVerifier, startNull, false},
		{HalfVerifierCold, TargetVerCold, startVerifier, true},
	}
	for i := range cfg.Rounds * len(half) {
		round := i / len(half)
		h := half[(i+round)%len(half)]
		rate := Median(res.Runs[h.of], func(r Run) float64 { return r.Result.RPS }) / 2
		addr, err := procs.FreeAddr()
		if err != nil {
			return nil, err
		}
		p, path, err := h.start(sanitize(h.name), addr)
		if err != nil {
			stopProc(p)
			return nil, fmt.Errorf("%s: %w", h.name, err)
		}
		warm, tokens := "", ""
		if h.cold {
			warm, tokens = warmPath, coldPath
		}
		if _, _, err := runLoadgen(cfg, addr, path, headers, hot, warm, rate, cfg.HalfLoadConns, cfg.Warmup); err != nil {
			stopProc(p)
			return nil, fmt.Errorf("%s warm-up: %w", h.name, err)
		}
		cpu0, _ := proc.CPUTime(p.Pid())
		busy0, _ := proc.CPUBusy()
		r, loadCPU, err := runLoadgen(cfg, addr, path, headers, hot, tokens, rate, cfg.HalfLoadConns, cfg.HalfLoadDuration)
		busy1, _ := proc.CPUBusy()
		cpu1, _ := proc.CPUTime(p.Pid())
		stopProc(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.name, err)
		}
		if r.Errors > 0 || r.BadStatus > 0 {
			return nil, fmt.Errorf("%s: %d transport errors and %d unexpected status codes", h.name, r.Errors, r.BadStatus)
		}
		secs := r.Duration.Seconds()
		run := Run{Round: round, Result: r, ServerCPU: (cpu1 - cpu0).Seconds() / secs, LoadCPU: loadCPU.Seconds() / secs,
			OtherCPU: max(0, ((busy1-busy0)-(cpu1-cpu0)-loadCPU).Seconds()/secs)}
		res.HalfRounds[h.name] = append(res.HalfRounds[h.name], run)
		logf("round %d  %-36s %8.0f req/s (target %.0f)  p50 %-8s p99 %-8s p99.9 %-8s server %.2f cores, other %.2f",
			round+1, h.name, r.RPS, rate, r.P50, r.P99, r.P999, run.ServerCPU, run.OtherCPU)
	}
	for name, runs := range res.HalfRounds {
		res.Half[name] = MedianP99(runs)
	}
	if cfg.Profile {
		profile.Warm(cfg.OutDir)
		res.Profiles = map[string]profile.Report{}
		for _, t := range targets {
			if t.start == nil || t.name == TargetNull || t.name == TargetProxyCold {
				continue
			}
			tokens := ""
			if t.cold {
				tokens = coldPath
			}
			rep, err := profileTarget(cfg, t, tokens, warmPath, load)
			if err != nil {
				logf("profile %s: %v; trying once more", t.name, err)
				rep, err = profileTarget(cfg, t, tokens, warmPath, load)
			}
			if err != nil {
				logf("profile %s: %v", t.name, err)
				continue
			}
			res.Profiles[t.name] = rep
			logf("profile  %-36s %s", t.name, summarize(rep))
		}
	}
	res.Elapsed = time.Since(began)
	raw, _ := json.MarshalIndent(res, "", "  ")
	_ = os.WriteFile(filepath.Join(cfg.OutDir, "verifier-results.json"), raw, 0o644)
	return res, nil
}

type loadFunc func(addr, path, tokensPath string, dur time.Duration) (loadgen.Result, time.Duration, error)

// profileTarget runs t under the same closed-loop load as a measured run and samples the
// server with perf meanwhile.
func profileTarget(cfg Config, t target, tokens, warm string, load loadFunc) (profile.Report, error) {
	addr, err := procs.FreeAddr()
	if err != nil {
		return profile.Report{}, err
	}
	p, path, err := t.start(sanitize(t.name)+"-profile", addr)
	defer stopProc(p)
	if err != nil {
		return profile.Report{}, err
	}
	warmTokens := ""
	if tokens != "" {
		warmTokens = warm
	}
	if _, _, err := load(addr, path, warmTokens, cfg.Warmup); err != nil {
		return profile.Report{}, err
	}
	file := filepath.Join(cfg.OutDir, sanitize(t.name)+".perf.data")
	// perf can take a moment to attach (the first time on a machine, seconds), and it
	// samples the server only while the server runs: so it starts first and records a
	// little longer than the load, and the idle time around the load adds next to nothing.
	lead := 1500 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- profile.Record(p.Pid(), lead+cfg.Duration+500*time.Millisecond, file) }()
	time.Sleep(lead)
	r, _, err := load(addr, path, tokens, cfg.Duration)
	if perr := <-done; perr != nil {
		return profile.Report{}, perr
	}
	if err != nil {
		return profile.Report{}, err
	}
	if r.Requests == 0 || r.Errors > 0 || r.BadStatus > 0 {
		return profile.Report{}, fmt.Errorf("load during the profile: %s", r)
	}
	rep, err := profile.Analyze(file, 12)
	if err != nil {
		return profile.Report{}, err
	}
	// A busy server yields about one sample per period on its core.
	if want := int(cfg.Duration.Seconds() * 1999 / 2); rep.Samples < want {
		return rep, fmt.Errorf("%d samples, expected at least %d: the server was not busy while sampled (load: %s)", rep.Samples, want, r)
	}
	return rep, nil
}

func summarize(r profile.Report) string {
	var parts []string
	for _, c := range profile.CategoryOrder {
		if v := r.Categories[c]; v >= 1 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", c, v))
		}
	}
	return strings.Join(parts, ", ")
}

// ProxyArgs is oauth2-proxy's command line for the benchmark: an OIDC provider whose
// issuer is the benchmark's authorization server, bearer JWTs accepted
// (--skip-jwt-bearer-tokens) with the audience and the required scope (as a group, from
// the scp claim) checked like the verifier checks them, identity headers on the /oauth2/auth
// answer like the verifier's, invalid JWTs refused rather than sent to a login page, and
// per-request logging off (the verifier does not log each request either). Cookies are
// not used; their secret is a required dummy.
func ProxyArgs(addr, issuerURL, cookieSecret string) []string {
	return []string{
		"--http-address=" + addr,
		"--provider=oidc",
		"--oidc-issuer-url=" + issuerURL,
		"--client-id=clientcreds-bench",
		"--client-secret=unused",
		"--oidc-extra-audience=" + Audience,
		"--skip-jwt-bearer-tokens=true",
		"--bearer-token-login-fallback=false",
		"--oidc-groups-claim=scp",
		"--allowed-group=" + Scope,
		"--email-domain=*",
		"--set-xauthrequest=true",
		"--cookie-secret=" + cookieSecret,
		"--cookie-secure=false",
		"--redirect-url=http://" + addr + "/oauth2/callback",
		"--request-logging=false",
		"--silence-ping-logging=true",
		"--skip-provider-button=true",
	}
}

// checkPolicy asks url with a good token, a forged one and one without the required
// scope, and describes the answers.
func checkPolicy(url string, headers [][2]string, good, forged, noScope string) string {
	ask := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for _, h := range headers {
			req.Header.Set(h[0], h[1])
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	return fmt.Sprintf("valid %d, forged signature %d, missing scope %d", ask(good), ask(forged), ask(noScope))
}

// forge flips a character of the signature.
func forge(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 5
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func runLoadgen(cfg Config, addr, path string, headers [][2]string, hot, tokensPath string, rate float64, conns int, dur time.Duration) (loadgen.Result, time.Duration, error) {
	args := []string{"-c", cfg.LoadCPU, filepath.Join(cfg.BenchBin, "loadgen"), "--addr", addr, "--path", path,
		"-c", fmt.Sprint(conns), "-d", dur.String(), "--rate", fmt.Sprintf("%.0f", rate)}
	for _, h := range headers {
		args = append(args, "-H", h[0]+": "+h[1])
	}
	if tokensPath != "" {
		args = append(args, "--tokens", tokensPath)
	} else {
		args = append(args, "--token", hot)
	}
	cmd := exec.Command("taskset", args...)
	procs := "GOMAXPROCS=1"
	cmd.Env = append(os.Environ(), procs)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return loadgen.Result{}, 0, fmt.Errorf("loadgen: %v: %s", err, stderr.String())
	}
	var r loadgen.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return loadgen.Result{}, 0, err
	}
	return r, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func estimateFloor(tokens []string, jwksPath string) (float64, error) {
	keys, err := readJWKS(jwksPath)
	if err != nil {
		return 0, err
	}
	r, err := cryptofloor.Run(cryptofloor.Config{Mode: cryptofloor.ModeJWS, Tokens: tokens, Keys: keys, Duration: 700 * time.Millisecond})
	if err != nil {
		return 0, err
	}
	return r.OpsPerSec, nil
}

func readJWKS(path string) (jwk.Set, error) { return jwk.ReadFile(path) }

func rotate(ts []target, n int) []target {
	n %= len(ts)
	return append(slices.Clone(ts[n:]), ts[:n]...)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

func stopProc(p *proc.Process) {
	if p != nil {
		_ = p.Stop()
	}
}

// Median returns the median of f over runs (the mean of the middle two for an even count).
func Median(runs []Run, f func(Run) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func wrkVersion() string {
	out, _ := exec.Command("wrk", "--version").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(line); len(f) >= 2 {
		return f[1]
	}
	return ""
}

func proxyVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// MedianP99 returns the run whose p99 is the median of the runs' (the upper one of the
// middle two for an even count).
func MedianP99(runs []Run) Run {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b Run) int { return cmp.Compare(a.Result.P99, b.Result.P99) })
	return sorted[len(sorted)/2]
}
