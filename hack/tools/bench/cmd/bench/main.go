// Command bench runs `make bench`: the verifier against oauth2-proxy, a null HTTP server
// and the crypto floor, and the operator at 1,000 and 5,000 OAuthClients against the Okta
// emulator's rate limits; it writes the Markdown report and prints it. hack/bench.sh
// builds everything and calls it; see bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/hydrabench"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/operatorbench"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/proc"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/profile"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/report"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/verifierbench"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/wrk"
)

func main() {
	root := flag.String("root", ".", "repository root")
	scale := flag.String("scale", envOr("BENCH_SCALE", "full"), "full or small (env BENCH_SCALE)")
	only := flag.String("only", envOr("BENCH_ONLY", "verifier,operator,hydra"),
		"parts to run, comma separated: verifier, operator (all three scenarios), operator-rate, operator-memory, operator-realorg, hydra, "+
			"operator-scale (not in the default: BENCH_SCALE_CLIENTS OAuthClients, 10000 by default, and a manager restart) (env BENCH_ONLY)")
	maester := flag.String("hydra-maester", os.Getenv("HYDRA_MAESTER_DIR"), "directory of hydra-maester's manager and crd.yaml (env HYDRA_MAESTER_DIR; hack/build-hydra-maester.sh prints it)")
	maesterTag := flag.String("hydra-maester-tag", envOr("HYDRA_MAESTER_TAG", "v0.0.42"), "hydra-maester's release tag, for the report")
	out := flag.String("out", "", "report file (default bench/results.md at full scale, bench/out/results-small.md otherwise)")
	k8s := flag.String("k8s-version", os.Getenv("K8S_VERSION"), "version of the control plane binaries in bin/k8s (env K8S_VERSION; default: <root>/hack/k8s-version)")
	flag.Parse()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "\nbench: %s: stopping the processes it started\n", s)
		proc.StopAll()
		os.Exit(130)
	}()

	code := run(*root, *scale, *only, *out, *k8s, *maester, *maesterTag)
	proc.StopAll()
	os.Exit(code)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(root, scale, only, out, k8sVersion, maesterDir, maesterTag string) int {
	root, _ = filepath.Abs(root)
	if k8sVersion == "" {
		v, err := os.ReadFile(filepath.Join(root, "hack", "k8s-version"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: the control plane version: %v\n", err)
			return 2
		}
		k8sVersion = strings.TrimSpace(string(v))
	}
	var full bool
	switch scale {
	case "full":
		full = true
	case "small":
	default:
		fmt.Fprintf(os.Stderr, "bench: scale %q: want full or small\n", scale)
		return 2
	}
	parts := map[string]bool{}
	for _, p := range strings.Split(only, ",") {
		switch p = strings.TrimSpace(p); p {
		case "verifier", "operator-rate", "operator-memory", "operator-realorg", "operator-scale", "hydra":
			parts[p] = true
		case "operator":
			parts["operator-rate"], parts["operator-memory"], parts["operator-realorg"] = true, true, true
		case "":
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown part %q (want verifier, operator, operator-rate, operator-memory, operator-realorg, operator-scale, hydra)\n", p)
			return 2
		}
	}
	if out == "" {
		out = filepath.Join(root, "bench", "results.md")
		if !full || len(parts) < 5 || parts["operator-scale"] {
			out = filepath.Join(root, "bench", "out", "results-"+scale+".md")
		}
	}
	work := filepath.Join(root, "bench", "out")
	bin := filepath.Join(root, "bin")
	logf := func(format string, args ...any) {
		fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}

	started := time.Now()
	in := report.Input{Scale: scale, Started: started, Machine: report.Describe(root)}

	if parts["verifier"] {
		cfg := verifierbench.Config{
			Bin: bin, BenchBin: filepath.Join(bin, "bench"), OutDir: filepath.Join(work, "verifier"),
			Rounds: 3, Duration: 5 * time.Second, Warmup: time.Second, HalfLoadDuration: 10 * time.Second,
			Conns: 32, HalfLoadConns: 64, ServerCPU: "0", LoadCPU: "1",
			UseWrk: wrk.Available(), Profile: profile.Available(), Logf: logf,
		}
		if !full {
			cfg.Duration, cfg.HalfLoadDuration = 2*time.Second, 4*time.Second
		}
		if !cfg.UseWrk {
			logf("wrk is not installed: the closed-loop runs use the Go load generator instead (install wrk for the reference numbers)")
		}
		if !cfg.Profile {
			logf("perf is not installed: no CPU profiles of the servers")
		}
		logf("== verifier: %d rounds of %s per target", cfg.Rounds, cfg.Duration)
		res, err := verifierbench.Bench(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: verifier:", err)
			return 1
		}
		in.Verifier = res
	}

	if parts["operator-rate"] || parts["operator-memory"] || parts["operator-realorg"] {
		env := operatorbench.Env{Root: root, Bin: bin, Assets: filepath.Join(bin, "k8s", k8sVersion), Logf: logf,
			ManagerEnv: strings.Fields(os.Getenv("BENCH_MANAGER_ENV"))}
		limited := operatorbench.Scenario{
			Name: "rate-limited", OutDir: filepath.Join(work, "operator-1000"), Clients: 1000,
			AppsRate: 600, AppRate: 600, AlignToWindow: true,
			ResyncPeriod: 2 * time.Minute, SteadySettle: 30 * time.Second, SteadyWindow: 4 * time.Minute,
			ReadyTimeout: 15 * time.Minute, PollEvery: time.Second,
		}
		large := operatorbench.Scenario{
			Name: "large", OutDir: filepath.Join(work, "operator-5000"), Clients: 5000,
			AppsRate: -1, AppRate: -1, ResyncPeriod: 10 * time.Minute, SteadySettle: 30 * time.Second,
			ReadyTimeout: 30 * time.Minute, PollEvery: 2 * time.Second,
		}
		// Issue 11: Okta's paid-org buckets per minute, the API token's default 50% share
		// (apps: 50 creates a minute), an org whose policies admit no client and the
		// operator managing one access policy per client.
		realOrg := operatorbench.Scenario{
			Name: "real-org", OutDir: filepath.Join(work, "operator-realorg-200"), Clients: 200,
			Preset: "okta-paid", EmulatorShare: 0.5, EmulatorAccessPolicy: "none", AccessPolicy: "Managed",
			AlignToWindow: true, ResyncPeriod: 10 * time.Minute, ReadyTimeout: 15 * time.Minute, PollEvery: time.Second,
		}
		if !full {
			// 120 clients, the same preset per 10-second window: the apps bucket still binds
			// (50 creates per window: three windows).
			realOrg.OutDir, realOrg.Clients, realOrg.Window = filepath.Join(work, "operator-realorg-120"), 120, 10*time.Second
			// 100 clients against 60 creates per 10-second window: the rate limit still binds
			// (two windows), in seconds rather than minutes.
			limited.OutDir, limited.Clients = filepath.Join(work, "operator-100"), 100
			limited.AppsRate, limited.AppRate, limited.Window = 60, 60, 10*time.Second
			limited.ResyncPeriod, limited.SteadySettle, limited.SteadyWindow = 30*time.Second, 10*time.Second, time.Minute
			large.OutDir, large.Clients, large.SteadySettle = filepath.Join(work, "operator-500"), 500, 10*time.Second
		}
		ctx := context.Background()
		if parts["operator-rate"] {
			logf("== operator: %d OAuthClients, app API limited to %d and %d requests per %s window", limited.Clients,
				limited.AppsRate, limited.AppRate, limited.WindowLength())
			res, err := operatorbench.Run(ctx, env, limited)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: operator:", err)
				return 1
			}
			in.Operator = res
		}
		if parts["operator-realorg"] {
			logf("== operator: %d OAuthClients in a real org: preset %s, token share %.0f%%, accessPolicy %s, %s windows",
				realOrg.Clients, realOrg.Preset, 100*realOrg.EmulatorShare, realOrg.AccessPolicy, realOrg.WindowLength())
			res, err := operatorbench.Run(ctx, env, realOrg)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: operator:", err)
				return 1
			}
			in.RealOrg = res
		}
		if parts["operator-memory"] {
			logf("== operator: %d OAuthClients, rate limits lifted (peak memory)", large.Clients)
			res, err := operatorbench.Run(ctx, env, large)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: operator:", err)
				return 1
			}
			in.Large = res
		}
	}

	if parts["operator-scale"] {
		n := 10000
		if v := os.Getenv("BENCH_SCALE_CLIENTS"); v != "" {
			if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "bench: BENCH_SCALE_CLIENTS=%q: want a positive number\n", v)
				return 2
			}
		}
		// The manager as shipped: config/manager and the chart set GOMEMLIMIT=200MiB.
		menv := strings.Fields(os.Getenv("BENCH_MANAGER_ENV"))
		if !strings.Contains(os.Getenv("BENCH_MANAGER_ENV"), "GOMEMLIMIT=") {
			menv = append(menv, "GOMEMLIMIT=200MiB")
		}
		env := operatorbench.Env{Root: root, Bin: bin, Assets: filepath.Join(bin, "k8s", k8sVersion), Logf: logf, ManagerEnv: menv}
		sc := operatorbench.Scenario{
			Name: "scale", OutDir: filepath.Join(work, fmt.Sprintf("operator-scale-%d", n)), Clients: n,
			AppsRate: -1, AppRate: -1, ResyncPeriod: 10 * time.Minute,
			SteadySettle: time.Minute, SteadyWindow: 2 * time.Minute, ReadyTimeout: 45 * time.Minute, PollEvery: 5 * time.Second,
			Restart: 3 * time.Minute, HeapProfile: true,
		}
		if !full {
			sc.SteadySettle, sc.SteadyWindow, sc.Restart = 20*time.Second, time.Minute, time.Minute
		}
		logf("== operator at scale: %d OAuthClients, rate limits lifted, manager env %v", n, menv)
		res, err := operatorbench.Run(context.Background(), env, sc)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: operator-scale:", err)
			return 1
		}
		in.AtScale = res
	}

	if parts["hydra"] {
		cfg := hydrabench.Config{Root: root, Bin: bin, Assets: filepath.Join(bin, "k8s", k8sVersion), MaesterDir: maesterDir,
			MaesterTag: maesterTag, OutDir: filepath.Join(work, "hydra-1000"), Clients: 1000,
			ResyncPeriod: 2 * time.Minute, SteadySettle: 30 * time.Second, SteadyWindow: 10 * time.Minute,
			ReadyTimeout: 20 * time.Minute, Logf: logf, HydraEnv: strings.Fields(os.Getenv("BENCH_HYDRA_ENV")),
			AccessTokenAlg: os.Getenv("BENCH_HYDRA_JWT_ALG")}
		if !full {
			cfg.OutDir, cfg.Clients = filepath.Join(work, "hydra-100"), 100
			cfg.ResyncPeriod, cfg.SteadySettle, cfg.SteadyWindow = 30*time.Second, 10*time.Second, time.Minute
		}
		if n, err := strconv.Atoi(os.Getenv("BENCH_HYDRA_CLIENTS")); err == nil && n > 0 {
			cfg.Clients = n
		}
		// The issue counts the steady state over 10 minutes; BENCH_HYDRA_STEADY shortens it.
		if v := os.Getenv("BENCH_HYDRA_STEADY"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				fmt.Fprintf(os.Stderr, "bench: BENCH_HYDRA_STEADY=%q: want a duration of at least 1s (e.g. 4m)\n", v)
				return 2
			}
			cfg.SteadyWindow = d
		}
		if maesterDir == "" {
			fmt.Fprintln(os.Stderr, "bench: hydra: no hydra-maester (--hydra-maester or HYDRA_MAESTER_DIR; hack/bench.sh builds it)")
			return 1
		}
		logf("== hydra: %d OAuthClients under clientcreds, then %d OAuth2Clients under hydra-maester %s, on one Hydra", cfg.Clients, cfg.Clients, maesterTag)
		res, err := hydrabench.Run(context.Background(), cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: hydra:", err)
			return 1
		}
		in.Hydra = hydrabench.Markdown(res)
	}

	in.Elapsed = time.Since(started)
	in.Machine.LoadAfter = report.LoadAvg()
	md := report.Markdown(in)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Printf("\n%s\n", md)
	rel, _ := filepath.Rel(root, out)
	logf("report written to %s; the whole run took %s", rel, time.Since(started).Round(time.Second))
	return 0
}
