// Package report renders the benchmark's results as Markdown: the machine, every figure,
// the ratios, and whether each target of issue 6 is met and by how much.
package report

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/operatorbench"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/profile"
	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/verifierbench"
)

// Targets of issue 6.
const (
	TargetVsProxy      = 3.0
	TargetVsNull       = 0.7
	TargetVsCrypto     = 0.8
	TargetHalfLoadP99  = 2 * time.Millisecond
	TargetReadyVsFloor = 1.2
	TargetPeakRSS      = 150 << 20
	// TargetScaleRSS is issue 25's limit on the manager's steady-state RSS at 10,000
	// OAuthClients, with the shipped GOMEMLIMIT (200MiB).
	TargetScaleRSS = 200 << 20
	// TargetRealOrgVsFloor is issue 11's target for the real-org scenario.
	TargetRealOrgVsFloor = 1.1
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPU, Memory, OS, Kernel, Go, Commit string
	NProc                               int
	LoadBefore, LoadAfter               string
}

// Describe reads the machine's description.
func Describe(root string) Machine {
	m := Machine{NProc: runtime.NumCPU(), Go: goVersion(), LoadBefore: loadAvg()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil && strings.Contains(string(data), " hypervisor") {
		m.CPU += " (virtual machine)"
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				var kb float64
				_, _ = fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
				m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

func goVersion() string {
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return runtime.Version()
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Input is everything a report shows.
type Input struct {
	Scale    string
	Started  time.Time
	Elapsed  time.Duration
	Machine  Machine
	Verifier *verifierbench.Results
	// Operator is the rate-limited scenario; Large the one for peak memory at scale.
	Operator, Large *operatorbench.Result
	// RealOrg is the real-org scenario (issue 11): Okta's paid-org buckets, the API token's
	// default 50% share, accessPolicy: Managed in an org whose policies admit no client.
	RealOrg *operatorbench.Result
	// Scale is the scale scenario (issue 25): many clients, no rate limits, the shipped
	// GOMEMLIMIT, a restarted manager watched.
	AtScale *operatorbench.Result
	// Hydra is the hydra part's section (clientcreds and hydra-maester on one Hydra), as
	// package hydrabench renders it; "" when the part did not run.
	Hydra string
}

// Verdict is a target's outcome.
type Verdict struct {
	Name, Value, Target, Outcome string
	Met                          bool
}

// Verdicts evaluates the targets.
func Verdicts(in Input) []Verdict {
	var out []Verdict
	if v := in.Verifier; v != nil {
		med := func(name string) float64 {
			return verifierbench.Median(v.Runs[name], func(r verifierbench.Run) float64 { return r.Result.RPS })
		}
		ratio := func(name, a, b string, target float64) {
			if med(b) == 0 {
				return
			}
			r := med(a) / med(b)
			out = append(out, ratioVerdict(name, r, target))
		}
		ratio("verifier / oauth2-proxy (repeated token)", verifierbench.TargetVerifier, verifierbench.TargetProxy, TargetVsProxy)
		ratio("verifier / null HTTP server (repeated token)", verifierbench.TargetVerifier, verifierbench.TargetNull, TargetVsNull)
		ratio("cold verifier / crypto floor (unique tokens)", verifierbench.TargetVerCold, verifierbench.TargetCrypto, TargetVsCrypto)
		if h, ok := v.Half[verifierbench.HalfVerifier]; ok {
			p99 := h.Result.P99
			vd := Verdict{Name: "p99 at half the verifier's maximum load (repeated token)", Value: fmtDur(p99) + roundsNote(v, verifierbench.HalfVerifier),
				Target: "< " + fmtDur(TargetHalfLoadP99), Met: p99 < TargetHalfLoadP99}
			if vd.Met {
				vd.Outcome = fmt.Sprintf("met (%.0f%% of the limit)", 100*float64(p99)/float64(TargetHalfLoadP99))
			} else {
				vd.Outcome = fmt.Sprintf("missed by %s (%.2f× the limit)", fmtDur(p99-TargetHalfLoadP99), float64(p99)/float64(TargetHalfLoadP99))
			}
			out = append(out, vd)
		}
	}
	if o := in.Operator; o != nil {
		f := Floors(o)
		r := o.TimeToReady.Seconds() / f.Served.Seconds()
		vd := Verdict{Name: fmt.Sprintf("time until %d OAuthClients Ready / floor (app-API calls served ÷ rate)", o.Clients),
			Value: fmt.Sprintf("%.2f× (%s / %s)", r, fmtSecs(o.TimeToReady), fmtSecs(f.Served)), Target: fmt.Sprintf("≤ %.1f×", TargetReadyVsFloor),
			Met: r <= TargetReadyVsFloor}
		if vd.Met {
			vd.Outcome = fmt.Sprintf("met (%.0f%% of the allowed time)", 100*r/TargetReadyVsFloor)
		} else {
			vd.Outcome = fmt.Sprintf("missed by %s (%.0f%% over)", fmtSecs(o.TimeToReady-time.Duration(TargetReadyVsFloor*float64(f.Served))), 100*(r/TargetReadyVsFloor-1))
		}
		out = append(out, vd)
		if o.Steady != nil {
			a := operatorbench.AppAPICalls(*o.Steady)
			mins := o.SteadyWindow.Minutes()
			vd := Verdict{Name: "steady state: app-API writes per minute", Value: fmt.Sprintf("%.1f", float64(a.Writes)/mins),
				Target: "0", Met: a.Writes == 0}
			vd.Outcome = map[bool]string{true: "met", false: fmt.Sprintf("missed: %d writes in %s", a.Writes, fmtSecs(o.SteadyWindow))}[vd.Met]
			out = append(out, vd)
			perPeriod := float64(a.Reads) / (o.SteadyWindow.Seconds() / o.Scenario.ResyncPeriod.Seconds())
			vd = Verdict{Name: fmt.Sprintf("steady state: app-API reads per resync period (%s)", o.Scenario.ResyncPeriod),
				Value: fmt.Sprintf("%.0f", perPeriod), Target: fmt.Sprintf("≤ %d: 1 GET per client (up to %d in a window, as the period is jittered ±10%%)", o.Clients, o.Clients*11/10),
				Met: perPeriod <= float64(o.Clients*11/10)}
			if vd.Met {
				vd.Outcome = fmt.Sprintf("met (%.2f GET per client per period)", perPeriod/float64(o.Clients))
			} else {
				vd.Outcome = fmt.Sprintf("missed: %.2f GET per client per period", perPeriod/float64(o.Clients))
			}
			out = append(out, vd)
		}
	}
	if r := in.RealOrg; r != nil {
		if floor, bucket, ok := operatorbench.RealOrgFloor(r); ok && floor > 0 {
			ratio := r.TimeToReady.Seconds() / floor.Seconds()
			vd := Verdict{Name: fmt.Sprintf("real org (%s, token share %.0f%%, Managed): time until %d OAuthClients Ready / floor (%s bucket)",
				r.Scenario.Preset, 100*shareOr1(r.Scenario.EmulatorShare), r.Clients, bucket),
				Value:  fmt.Sprintf("%.2f× (%s / %s)", ratio, fmtSecs(r.TimeToReady), fmtSecs(floor)),
				Target: fmt.Sprintf("≤ %.1f×", TargetRealOrgVsFloor), Met: ratio <= TargetRealOrgVsFloor}
			vd.Outcome = map[bool]string{true: "met", false: "missed"}[vd.Met]
			out = append(out, vd)
		}
		vd := Verdict{Name: "real org: 429 answers", Value: fmt.Sprint(r.AtReady.RateLimited), Target: "0", Met: r.AtReady.RateLimited == 0}
		vd.Outcome = map[bool]string{true: "met", false: "missed"}[vd.Met]
		out = append(out, vd)
	}
	if l := in.Large; l != nil {
		vd := Verdict{Name: fmt.Sprintf("manager peak RSS (VmHWM) at %d OAuthClients", l.Clients), Value: operatorbench.MiB(l.PeakRSS),
			Target: "≤ " + operatorbench.MiB(TargetPeakRSS), Met: l.PeakRSS <= TargetPeakRSS}
		if vd.Met {
			vd.Outcome = fmt.Sprintf("met (%.0f%% of the limit)", 100*float64(l.PeakRSS)/TargetPeakRSS)
		} else {
			vd.Outcome = fmt.Sprintf("missed by %s", operatorbench.MiB(l.PeakRSS-TargetPeakRSS))
		}
		out = append(out, vd)
	}
	if sc := in.AtScale; sc != nil {
		vd := Verdict{Name: fmt.Sprintf("manager RSS in steady state (VmRSS) at %d OAuthClients, GOMEMLIMIT as shipped", sc.Clients),
			Value: operatorbench.MiB(sc.RSS), Target: "≤ " + operatorbench.MiB(TargetScaleRSS), Met: sc.RSS <= TargetScaleRSS}
		if vd.Met {
			vd.Outcome = fmt.Sprintf("met (%.0f%% of the limit; peak VmHWM %s)", 100*float64(sc.RSS)/TargetScaleRSS, operatorbench.MiB(sc.PeakRSS))
		} else {
			vd.Outcome = fmt.Sprintf("missed by %s", operatorbench.MiB(sc.RSS-TargetScaleRSS))
		}
		out = append(out, vd)
		if rr := sc.Restarted; rr != nil {
			_, writes, _ := operatorbench.ReadsWrites(rr.Calls)
			vd := Verdict{Name: fmt.Sprintf("restarted manager, %d clients in place: app-API writes", sc.Clients), Value: fmt.Sprint(writes),
				Target: "0", Met: writes == 0}
			vd.Outcome = map[bool]string{true: "met", false: "missed"}[vd.Met]
			out = append(out, vd)
		}
	}
	return out
}

func ratioVerdict(name string, r, target float64) Verdict {
	v := Verdict{Name: name, Value: fmt.Sprintf("%.2f×", r), Target: fmt.Sprintf("≥ %.1f×", target), Met: r >= target}
	if v.Met {
		v.Outcome = fmt.Sprintf("met (%.0f%% of the target)", 100*r/target)
	} else {
		v.Outcome = fmt.Sprintf("missed by %.2f (%.0f%% of the target)", target-r, 100*r/target)
	}
	return v
}

// FloorTimes are the lower bounds on the time until all clients are Ready that the rate
// limits imply.
type FloorTimes struct {
	// Served: the app-API calls the emulator actually served, in the busier bucket, ÷ its
	// per-minute rate. Minimum: one create per client ÷ the rate.
	Served, Minimum time.Duration
	// Window: with fixed windows, the calls of the busier bucket need ceil(calls/rate)
	// windows; the last of them opens (windows-1) window lengths after the first, less how
	// far into its window the run started.
	Window time.Duration
	// Bucket names the busier bucket.
	Bucket string
}

// Floors computes the floors of a rate-limited scenario.
func Floors(o *operatorbench.Result) FloorTimes {
	a := operatorbench.AppAPICalls(o.AtReady)
	sc := o.Scenario
	win := sc.WindowLength()
	// per returns how many windows calls need at rate per window.
	per := func(calls int64, rate int) float64 {
		if rate <= 0 {
			return 0
		}
		return float64(calls) / float64(rate)
	}
	apps, app := per(a.AppsBucket, sc.AppsRate), per(a.AppBucket, sc.AppRate)
	f := FloorTimes{Bucket: "/api/v1/apps (create, lifecycle, secrets)"}
	calls, rate := a.AppsBucket, sc.AppsRate
	windows := apps
	if app > apps {
		f.Bucket, calls, rate, windows = "GET/PUT/DELETE /api/v1/apps/{id}", a.AppBucket, sc.AppRate, app
	}
	f.Served = time.Duration(windows * float64(win))
	if sc.AppsRate > 0 {
		f.Minimum = time.Duration(per(int64(o.Clients), sc.AppsRate) * float64(win))
	}
	if rate > 0 {
		needed := math.Ceil(float64(calls) / float64(rate))
		f.Window = max(0, time.Duration(needed-1)*win-o.WindowPhase)
	}
	return f
}

// Markdown renders the report.
func Markdown(in Input) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmark results\n\n")
	w("Written by `make bench` (`hack/bench.sh`, scale **%s**) on %s; the run took %s. ", in.Scale,
		in.Started.UTC().Format("2006-01-02 15:04 UTC"), fmtMinutes(in.Elapsed))
	w("How to rerun and what each figure means: [bench/README.md](README.md).\n\n")
	m := in.Machine
	w("| machine | |\n|---|---|\n")
	w("| CPU | %s |\n| nproc | %d |\n| memory | %s |\n| OS, kernel | %s, Linux %s |\n| Go | %s |\n| commit | %s |\n",
		m.CPU, m.NProc, m.Memory, m.OS, m.Kernel, m.Go, m.Commit)
	w("| load average (1, 5, 15 min) before / after | %s / %s |\n\n", m.LoadBefore, m.LoadAfter)

	w("## Targets\n\n| target | measured | goal | outcome |\n|---|---|---|---|\n")
	for _, v := range Verdicts(in) {
		mark := "✅"
		if !v.Met {
			mark = "❌"
		}
		w("| %s | %s | %s | %s %s |\n", v.Name, v.Value, v.Target, mark, v.Outcome)
	}
	w("\n")
	limitsSection(&b, in)
	if in.Verifier != nil {
		verifierSection(&b, in.Verifier)
	}
	if in.Operator != nil || in.Large != nil || in.RealOrg != nil {
		operatorSection(&b, in)
	}
	if in.AtScale != nil {
		ScaleSection(&b, in.AtScale)
	}
	if in.Hydra != "" {
		w("%s\n", in.Hydra)
	}
	return b.String()
}

// limitsSection says, from the measurements, what bounds each figure.
func limitsSection(b *strings.Builder, in Input) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## What limits each figure\n\n")
	if v := in.Verifier; v != nil {
		med := func(name string) float64 {
			return verifierbench.Median(v.Runs[name], func(r verifierbench.Run) float64 { return r.Result.RPS })
		}
		cat := func(target string, cats ...string) float64 {
			var sum float64
			for _, c := range cats {
				sum += v.Profiles[target].Categories[c]
			}
			return sum
		}
		const (
			crypto  = "RSA/SHA-256 (crypto)"
			libs    = "JWS/JWT libraries"
			parse   = "token parsing and checks (verifier)"
			tcache  = "token cache (verifier)"
			metrics = "metrics"
			jsonB64 = "JSON and base64 decoding"
			httpSrv = "HTTP server (net/http)"
			kernel  = "kernel (loopback TCP, syscalls)"
			rt      = "Go runtime (GC, scheduler, allocation)"
		)
		_, profiled := v.Profiles[verifierbench.TargetVerifier]
		if n, p := med(verifierbench.TargetNull), med(verifierbench.TargetProxy); n > 0 && p > 0 {
			w("- **verifier / oauth2-proxy**: oauth2-proxy checks the RSA signature of every request, even a token it saw a moment "+
				"ago, so its repeated-token and unique-token rates are alike (%.0f and %.0f req/s)", p, med(verifierbench.TargetProxyCold))
			if _, ok := v.Profiles[verifierbench.TargetProxy]; ok {
				w("; its CPU goes to RSA and JWT libraries (%.0f%%), the Go runtime (%.0f%%: it allocates heavily), the kernel (%.0f%%) "+
					"and, among the rest, a regular expression run over every bearer token", cat(verifierbench.TargetProxy, crypto, libs, jsonB64),
					cat(verifierbench.TargetProxy, rt), cat(verifierbench.TargetProxy, kernel))
			}
			w(". The verifier answers a repeated token from its cache. With unique tokens both verify every signature and the "+
				"verifier is %.2f× oauth2-proxy.\n", med(verifierbench.TargetVerCold)/med(verifierbench.TargetProxyCold))
		}
		if n := med(verifierbench.TargetNull); n > 0 {
			w("- **verifier / null server**: a cached token costs the verifier %.1f µs of CPU per request against the null server's "+
				"%.1f µs (one core each)", 1e6/med(verifierbench.TargetVerifier), 1e6/n)
			if profiled {
				w("; in the verifier's profile, the HTTP server, the kernel's loopback TCP and the Go runtime take %.0f%%, its own work "+
					"(hashing the token for the cache lookup, checks, metrics) %.0f%%",
					cat(verifierbench.TargetVerifier, httpSrv, kernel, rt), cat(verifierbench.TargetVerifier, crypto, parse, tcache, metrics))
			}
			w(". Both read the same request; the rest of the gap is what the verifier's handler adds around the cache lookup: " +
				"reading the X-Original-* headers, writing three identity headers, and the allocations that come with them.\n")
		}
		if n, c := med(verifierbench.TargetNull), med(verifierbench.TargetCrypto); n > 0 && c > 0 {
			w("- **cold verifier / crypto floor**: on one core a server that added nothing but the HTTP floor (%.1f µs per request) "+
				"to the crypto floor (%.1f µs per verification) would reach %.2f× the floor. The verifier parses a token with less "+
				"work than jwx does (it reads the header and claims in one pass and hands only the signature check to jwx), "+
				"yet %.1f× means a whole request — HTTP and verification — in %.1f µs, when the null server's HTTP alone takes %.1f µs; "+
				"the verifier spends %.1f µs per unique token", 1e6/n, 1e6/c, n/(n+c), TargetVsCrypto, 1e6/c/TargetVsCrypto, 1e6/n,
				1e6/med(verifierbench.TargetVerCold))
			if _, ok := v.Profiles[verifierbench.TargetVerCold]; ok {
				w(": RSA and SHA-256 %.0f%%, the kernel %.0f%% (loopback TCP with a new 1 KB token in every request), the Go runtime "+
					"%.0f%% (garbage collection and allocation), HTTP %.0f%%, "+
					"token parsing and checks %.0f%%, JSON and base64 decoding %.0f%%, the token cache %.0f%%",
					cat(verifierbench.TargetVerCold, crypto), cat(verifierbench.TargetVerCold, kernel), cat(verifierbench.TargetVerCold, rt),
					cat(verifierbench.TargetVerCold, httpSrv), cat(verifierbench.TargetVerCold, parse),
					cat(verifierbench.TargetVerCold, jsonB64), cat(verifierbench.TargetVerCold, tcache))
			}
			w(".\n")
		}
		if h, ok := v.Half[verifierbench.HalfVerifier]; ok {
			w("- **p99 at half load**: %s for the verifier%s, p50 %s", fmtDur(h.Result.P99),
				roundsNote(v, verifierbench.HalfVerifier), fmtDur(h.Result.P50))
			if nh, ok := v.Half[verifierbench.HalfNull]; ok {
				w("; %s for the null server at the same rate%s, p50 %s. ", fmtDur(nh.Result.P99),
					roundsNote(v, verifierbench.HalfNull), fmtDur(nh.Result.P50))
				if float64(h.Result.P99) <= 1.25*float64(nh.Result.P99) {
					w("The tail is this machine's rather than the verifier's. ")
				} else {
					w("At this rate the verifier keeps its core %.0f%% busy and the null server %.0f%%: the closer a server runs to "+
						"its capacity, the longer the queue any pause of the machine leaves behind. ", 100*h.ServerCPU, 100*nh.ServerCPU)
				}
			} else {
				w(". ")
			}
			if h.Result.LagP99 >= time.Millisecond {
				w("The load generator's own send lag reaches %s at p99 (p50 %s): at times the virtual machine does not run for a "+
					"millisecond or more.\n", fmtDur(h.Result.LagP99), fmtDur(h.Result.LagP50))
			} else {
				w("The load generator's own send lag stays small (p50 %s, p99 %s).\n", fmtDur(h.Result.LagP50), fmtDur(h.Result.LagP99))
			}
		}
	}
	if o := in.Operator; o != nil {
		f := Floors(o)
		a := operatorbench.AppAPICalls(o.AtReady)
		w("- **time until Ready**: %.2f app-API calls per client, %d 429s (the manager's shared budget held %.0f requests back "+
			"until the window reset instead of sending them). ", float64(a.Served)/float64(o.Clients), o.AtReady.RateLimited,
			operatorbench.SumMetric(o.ManagerMetrics, "clientcreds_okta_rate_limited_total", `source="local"`))
		if f.Window > 0 {
			w("The time is the rate limit's: the first %d calls used the first window and the rest waited for the next one to open "+
				"(fixed-window floor %s, measured %s). Okta's fixed per-minute windows let a burst finish sooner than calls ÷ rate (%s).\n",
				o.Scenario.AppsRate, fmtSecs(f.Window), fmtSecs(o.TimeToReady), fmtSecs(f.Served))
		} else {
			w("All calls fit in one rate-limit window; the time is the manager's own pace.\n")
		}
	}
	if l := in.Large; l != nil {
		m := l.EndMetrics
		w("- **peak RSS**: at the end of the %d-client run, VmRSS %s was %s anonymous memory (the Go heap, stacks, runtime) and "+
			"%s of the executable's pages. ", l.Clients, operatorbench.MiB(l.RSS), operatorbench.MiB(l.RSSAnon), operatorbench.MiB(l.RSSFile))
		if live := m["go_gc_heap_live_bytes"]; live > 0 {
			w("The heap that survived the last collection was %s (%.1f KiB per OAuthClient with its Secret, in the informer caches "+
				"(without managed fields) and the controller's state); with GOGC=%.0f the heap may grow by %.0f%% of that before "+
				"the next collection (goal then: %s), and that headroom, the executable and the runtime make up the rest of the peak.",
				operatorbench.MiB(int64(live)), live/1024/float64(l.Clients), m["go_gc_gogc_percent"], m["go_gc_gogc_percent"],
				operatorbench.MiB(int64(m["go_gc_heap_goal_bytes"])))
		} else {
			w("The Go heap held %s of objects (live and not yet collected).", operatorbench.MiB(int64(m["go_memstats_heap_alloc_bytes"])))
		}
		w("\n")
	}
	w("\n")
}

func verifierSection(b *strings.Builder, v *verifierbench.Results) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	cfg := v.Config
	w("## Verifier\n\n")
	w("Each server ran pinned to CPU %s with `GOMAXPROCS=1`; the load came from a separate process pinned to CPU %s "+
		"(%s, one thread, %d keep-alive connections, `GET` with `Authorization: Bearer …`, `X-Original-URI` and `X-Original-Method`), "+
		"so the server under test had a core to itself and the load generator could not take it. "+
		"%d interleaved rounds: each round ran every target once, in a rotated order, for %s after a %s warm-up; each server was "+
		"started fresh for each run (so every cold run began with an empty token cache). The table shows the median over the rounds "+
		"(req/s range: slowest and fastest round). Latencies at full load are those of a closed loop — they mostly reflect "+
		"the %d requests in flight (Little's law); the latency that matters is the one at half load below.\n\n",
		cfg.ServerCPU, cfg.LoadCPU, v.Loader, cfg.Conns, cfg.Rounds, cfg.Duration, cfg.Warmup, cfg.Conns)
	w("- Tokens: RS256 (2048-bit) access tokens of the Okta emulator's default authorization server, as Okta issues them; "+
		"the repeated-token runs send one token, the unique-token runs send %d distinct tokens in order, never one twice.\n", v.Tokens)
	w("- oauth2-proxy: `%s`, built from the Go module proxy in `hack/tools/bench` (a separate module), started with `%s`.\n",
		v.Proxy, strings.Join(verifierbench.ProxyArgs("127.0.0.1:PORT", "ISSUER", "…"), " "))
	w("- verifier: `bin/verifier --issuer ISSUER --audience %s --required-scopes %s --log-level warn` (defaults otherwise: token cache on, 10,000 entries).\n",
		verifierbench.Audience, verifierbench.Scope)
	w("- null HTTP server: Go `net/http` with the verifier's server settings, answering 200 with no body.\n")
	w("- crypto floor: `jws.Verify` (jwx v2.1.7: parse the compact JWS, find the key by `kid`, verify the RS256 signature) over the unique tokens in a loop, one goroutine, same CPU pinning; ops/s and per-operation latency.\n")
	w("- Policy check before measuring (valid token / forged signature / token without `%s`):", verifierbench.Scope)
	for _, name := range []string{verifierbench.TargetVerifier, verifierbench.TargetProxy, verifierbench.TargetNull} {
		if c, ok := v.Checks[name]; ok {
			w(" %s: %s;", strings.SplitN(name, ",", 2)[0], c)
		}
	}
	w(" the null server accepts anything, by design.\n\n")

	w("| target | req/s (median) | range over rounds | p50 | p99 | server CPU (cores) | load generator CPU | other processes' CPU |\n")
	w("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, name := range []string{verifierbench.TargetNull, verifierbench.TargetVerifier, verifierbench.TargetVerCold,
		verifierbench.TargetProxy, verifierbench.TargetProxyCold, verifierbench.TargetCrypto, verifierbench.TargetCryptoJWT} {
		runs := v.Runs[name]
		if len(runs) == 0 {
			continue
		}
		med := func(f func(verifierbench.Run) float64) float64 { return verifierbench.Median(runs, f) }
		lo, hi := math.Inf(1), 0.0
		for _, r := range runs {
			lo, hi = math.Min(lo, r.Result.RPS), math.Max(hi, r.Result.RPS)
		}
		unit := ""
		if runs[0].Crypto != nil {
			unit = " ops/s"
		}
		rng := fmt.Sprintf("%.0f–%.0f", lo, hi)
		if len(runs) == 1 {
			rng = "(one run)"
		}
		load, other := fmt.Sprintf("%.2f", med(func(r verifierbench.Run) float64 { return r.LoadCPU })),
			fmt.Sprintf("%.2f", med(func(r verifierbench.Run) float64 { return r.OtherCPU }))
		if runs[0].Crypto != nil {
			load, other = "—", "—"
		}
		w("| %s | %.0f%s | %s | %s | %s | %.2f | %s | %s |\n", name, med(func(r verifierbench.Run) float64 { return r.Result.RPS }), unit, rng,
			fmtDur(time.Duration(med(func(r verifierbench.Run) float64 { return float64(r.Result.P50) }))),
			fmtDur(time.Duration(med(func(r verifierbench.Run) float64 { return float64(r.Result.P99) }))),
			med(func(r verifierbench.Run) float64 { return r.ServerCPU }), load, other)
	}
	w("\nThe crypto rows are per operation, in one goroutine: p50/p99 are the time of one parse+verify.\n\n")

	med := func(name string) float64 {
		return verifierbench.Median(v.Runs[name], func(r verifierbench.Run) float64 { return r.Result.RPS })
	}
	w("| ratio (medians) | value |\n|---|--:|\n")
	pair := func(label, a, c string) {
		if med(c) > 0 {
			w("| %s | %.2f× |\n", label, med(a)/med(c))
		}
	}
	pair("verifier / oauth2-proxy, repeated token", verifierbench.TargetVerifier, verifierbench.TargetProxy)
	pair("verifier / oauth2-proxy, unique tokens", verifierbench.TargetVerCold, verifierbench.TargetProxyCold)
	pair("verifier / null HTTP server, repeated token", verifierbench.TargetVerifier, verifierbench.TargetNull)
	pair("cold verifier / crypto floor (jws.Verify)", verifierbench.TargetVerCold, verifierbench.TargetCrypto)
	pair("cold verifier / jwx jwt.Parse+validate", verifierbench.TargetVerCold, verifierbench.TargetCryptoJWT)
	if n, c := med(verifierbench.TargetNull), med(verifierbench.TargetCrypto); n > 0 && c > 0 {
		// A server that added nothing to the HTTP floor and the crypto floor would spend
		// 1/n + 1/c seconds per request.
		w("| bound for cold / crypto floor on one core: null ÷ (null + crypto floor) | %.2f× |\n", n/(n+c))
	}
	w("\n")

	w("### Latency at half the maximum load\n\n")
	w("Constant-rate (open-loop) runs of %s with the Go load generator in `hack/tools/bench` (wrk2 is not in Debian): "+
		"requests are due at fixed intervals whatever the server does, and each latency runs from the moment the request was due "+
		"(no coordinated omission). %d connections; the generator is one thread on CPU %s (non-blocking sockets, epoll, "+
		"`epoll_pwait2` nanosecond timeouts: Go's own timers round sub-millisecond sleeps up to 1 ms when idle). "+
		"Each server started fresh for each run, in %d interleaved rounds; the row shows the round with the median p99, "+
		"the last column every round's p99. The send lag (how late the generator sent requests after they fell due, mostly the "+
		"virtual CPU waking up) is part of every latency; the null server at the same rate shows what this machine's loopback "+
		"HTTP alone costs.\n\n", cfg.HalfLoadDuration, cfg.HalfLoadConns, cfg.LoadCPU, len(v.HalfRounds[verifierbench.HalfVerifier]))
	w("| run | rate | p50 | p99 | p99.9 | max | generator's send lag p50 / p99 | server CPU (cores) | other processes' CPU | p99 by round |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, name := range []string{verifierbench.HalfVerifier, verifierbench.HalfNull, verifierbench.HalfVerifierCold} {
		h, ok := v.Half[name]
		if !ok {
			continue
		}
		r := h.Result
		var byRound []string
		for _, rr := range v.HalfRounds[name] {
			byRound = append(byRound, fmtDur(rr.Result.P99))
		}
		w("| %s | %.0f/s | %s | %s | %s | %s | %s / %s | %.2f | %.2f | %s |\n", name, r.TargetRate, fmtDur(r.P50), fmtDur(r.P99), fmtDur(r.P999),
			fmtDur(r.Max), fmtDur(r.LagP50), fmtDur(r.LagP99), h.ServerCPU, h.OtherCPU, strings.Join(byRound, ", "))
	}
	w("\n")

	if len(v.Profiles) > 0 {
		w("### Where the server's CPU time goes\n\n")
		w("`perf record` of each server process under the same closed-loop load (samples of user and kernel code, by the function " +
			"they fell in; a VM's kernel time partly shows up in `_raw_spin_unlock_irqrestore`, where deferred sampling interrupts land). " +
			"Shares in %% of the server's samples.\n\n")
		names := []string{verifierbench.TargetVerifier, verifierbench.TargetVerCold, verifierbench.TargetProxy}
		w("| part |")
		for _, n := range names {
			w(" %s |", n)
		}
		w("\n|---|")
		for range names {
			w("--:|")
		}
		w("\n")
		for _, c := range profile.CategoryOrder {
			w("| %s |", c)
			for _, n := range names {
				w(" %.0f |", v.Profiles[n].Categories[c])
			}
			w("\n")
		}
		w("\nTop functions:\n\n")
		for _, n := range names {
			p, ok := v.Profiles[n]
			if !ok {
				continue
			}
			var parts []string
			for _, s := range p.Top[:min(8, len(p.Top))] {
				parts = append(parts, fmt.Sprintf("`%s` %.1f%%", shortSym(s.Name), s.Percent))
			}
			w("- %s: %s\n", n, strings.Join(parts, ", "))
		}
		w("\n")
	}
}

func operatorSection(b *strings.Builder, in Input) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Operator\n\n")
	if o := in.Operator; o != nil {
		sc := o.Scenario
		a := operatorbench.AppAPICalls(o.AtReady)
		f := Floors(o)
		w("etcd and kube-apiserver (`hack/controlplane`), `bin/okta-emulator` and `bin/manager` as separate processes on loopback, "+
			"nothing pinned. The emulator allowed %s app-API requests per %s window for `/api/v1/apps` and its sub-paths and %s for "+
			"`GET/PUT/DELETE /api/v1/apps/{id}`, in fixed windows aligned to the wall clock as Okta counts them; the token endpoint was "+
			"not the limit (60,000 per window). The manager ran with its defaults except `--resync-period %s`. %d OAuthClients were "+
			"applied at once (server-side apply from 32 goroutines), starting %s into a rate-limit window.\n\n",
			rateText(sc.AppsRate), fmtWindow(sc.WindowLength()), rateText(sc.AppRate), sc.ResyncPeriod, o.Clients, fmtSecs(o.WindowPhase))
		w("| figure | value |\n|---|--:|\n")
		w("| OAuthClients | %d |\n", o.Clients)
		w("| apply time (all %d objects) | %s |\n", o.Clients, fmtSecs(o.ApplyTime))
		w("| time until the first was Ready | %s |\n", fmtSecs(o.FirstReady))
		w("| **time until all were Ready** (from the first apply request) | **%s** |\n", fmtSecs(o.TimeToReady))
		w("| app-API calls served until then (emulator stats) | %d: %s |\n", a.Served, routeList(a.ByRoute))
		w("| … in the `/api/v1/apps` bucket / the `/api/v1/apps/{id}` bucket | %d / %d |\n", a.AppsBucket, a.AppBucket)
		w("| **floor: calls served in the busier bucket ÷ rate** (%s) | **%s** |\n", f.Bucket, fmtSecs(f.Served))
		w("| floor from the theoretical minimum (1 create per client ÷ rate) | %s |\n", fmtSecs(f.Minimum))
		w("| fixed-window floor (the last window the calls need opens after) | %s |\n", fmtSecs(f.Window))
		w("| **time until Ready ÷ floor** (calls served) | **%.2f×** |\n", o.TimeToReady.Seconds()/f.Served.Seconds())
		if f.Window > 0 {
			w("| time until Ready ÷ fixed-window floor | %.2f× |\n", o.TimeToReady.Seconds()/f.Window.Seconds())
		}
		w("| app-API calls per created client | %.2f |\n", float64(a.Served)/float64(o.Clients))
		w("| all Okta calls per created client (incl. token requests and provider checks) | %.2f (%d) |\n",
			float64(o.AtReady.Total-o.AtReady.RateLimited)/float64(o.Clients), o.AtReady.Total-o.AtReady.RateLimited)
		w("| **429s received** (emulator stats) | **%d** |\n", o.AtReady.RateLimited)
		mm := o.ManagerMetrics
		w("| manager: requests held back by its own rate budget (`clientcreds_okta_rate_limited_total{source=\"local\"}`) | %.0f |\n",
			operatorbench.SumMetric(mm, "clientcreds_okta_rate_limited_total", `source="local"`))
		w("| manager: reconciles that waited for a rate-limit reset (`clientcreds_reconcile_rate_limit_waits_total`) | %.0f |\n",
			operatorbench.SumMetric(mm, "clientcreds_reconcile_rate_limit_waits_total"))
		w("| manager peak RSS (VmHWM) when all were Ready | %s |\n", operatorbench.MiB(o.PeakRSSAtReady))
		w("\n")
		if st := o.Steady; st != nil {
			s := operatorbench.AppAPICalls(*st)
			mins := o.SteadyWindow.Minutes()
			periods := o.SteadyWindow.Seconds() / sc.ResyncPeriod.Seconds()
			token := st.Route("POST /oauth2/{as}/v1/token")
			w("**Steady state.** After all were Ready and %s more passed, Okta calls were counted for %s with nothing changing "+
				"(`--resync-period %s`, jittered ±10%%: the budget is one `GET /api/v1/apps/{id}` per client per period).\n\n",
				sc.SteadySettle, fmtSecs(o.SteadyWindow), sc.ResyncPeriod)
			w("| figure | per minute | per resync period (%s) | total |\n|---|--:|--:|--:|\n", sc.ResyncPeriod)
			w("| app-API writes (POST/PUT/DELETE) | %.1f | %.1f | %d |\n", float64(s.Writes)/mins, float64(s.Writes)/periods, s.Writes)
			w("| app-API reads (GET) | %.1f | %.1f | %d |\n", float64(s.Reads)/mins, float64(s.Reads)/periods, s.Reads)
			w("| read budget (1 GET per client per period) | %.1f | %d | |\n", float64(o.Clients)/sc.ResyncPeriod.Minutes(), o.Clients)
			w("| token requests | %.1f | %.1f | %d |\n", float64(token)/mins, float64(token)/periods, token)
			w("| all Okta requests | %.1f | %.1f | %d |\n", float64(st.Total)/mins, float64(st.Total)/periods, st.Total)
			w("| 429s | | | %d |\n", st.RateLimited)
			w("\nBy route: %s.\n\n", routeList(st.ByRoute))
			w("Manager peak RSS (VmHWM) at the end, %d OAuthClients: **%s** (%s).\n\n", o.Clients, operatorbench.MiB(o.PeakRSS), memoryDetail(o))
		}
	}
	if r := in.RealOrg; r != nil {
		realOrgSection(w, r)
	}
	if l := in.Large; l != nil {
		a := operatorbench.AppAPICalls(l.AtReady)
		w("**At %d OAuthClients** (a fresh control plane, emulator and manager; the emulator's app-API rate limits lifted "+
			"to keep the run short; `--resync-period %s`): all Ready after %s (apply %s); %d app-API calls (%.2f per client), %d 429s. "+
			"Manager peak RSS (VmHWM) **%s**, measured %s after all were Ready (%s).\n\n",
			l.Clients, l.Scenario.ResyncPeriod, fmtSecs(l.TimeToReady), fmtSecs(l.ApplyTime), a.Served, float64(a.Served)/float64(l.Clients),
			l.AtReady.RateLimited, operatorbench.MiB(l.PeakRSS), fmtSecs(l.Scenario.SteadySettle), memoryDetail(l))
	}
}

func shareOr1(f float64) float64 {
	if f <= 0 {
		return 1
	}
	return f
}

// realOrgSection renders the real-org scenario: the floor and the calls per client by bucket.
func realOrgSection(w func(string, ...any), r *operatorbench.Result) {
	sc := r.Scenario
	w("### Real Okta org (issue 11)\n\n")
	w("Emulator `--rate-limit-preset=%s --rate-limit-share=%v --access-policy=%s` (window %s), provider `accessPolicy: %s`, "+
		"manager `--okta-rate-limit-share` %v: %d OAuthClients applied at once, all Ready after **%s** (first after %s); %d 429 answers.\n\n",
		sc.Preset, shareOr1(sc.EmulatorShare), sc.EmulatorAccessPolicy, fmtWindow(sc.WindowLength()), sc.AccessPolicy,
		map[bool]any{true: sc.ManagerShare, false: "0.5 (default)"}[sc.ManagerShare > 0],
		r.Clients, fmtSecs(r.TimeToReady), fmtSecs(r.FirstReady), r.AtReady.RateLimited)
	if floor, bucket, ok := operatorbench.RealOrgFloor(r); ok {
		w("Floor (calls served in the busiest bucket ÷ what the operator may use of it per window): **%s** (%s); "+
			"time until Ready ÷ floor **%.2f×**.\n\n", fmtSecs(floor), bucket, r.TimeToReady.Seconds()/max(floor.Seconds(), 1e-9))
	}
	calls := operatorbench.CallsByBucket(r.AtReady)
	w("| bucket | calls served | per client | 429s |\n|---|---|---|---|\n")
	for _, b := range operatorbench.Buckets {
		w("| %s | %d | %.2f | %d |\n", b, calls.Served[b], float64(calls.Served[b])/float64(r.Clients), calls.Refused[b])
	}
	w("\nBy route: %s.\n\n", routeList(r.AtReady.ByRoute))
}

// memoryDetail splits the manager's memory at the end of a scenario.
func memoryDetail(o *operatorbench.Result) string {
	m := o.EndMetrics
	mib := func(v float64) string { return operatorbench.MiB(int64(v)) }
	return fmt.Sprintf("then: VmRSS %s = %s anonymous (Go heap and stacks) + %s file-backed (the executable); Go heap: %s of objects, "+
		"%s of spans in use, next GC at %s",
		operatorbench.MiB(o.RSS), operatorbench.MiB(o.RSSAnon), operatorbench.MiB(o.RSSFile),
		mib(m["go_memstats_heap_alloc_bytes"]), mib(m["go_memstats_heap_inuse_bytes"]), mib(m["go_memstats_next_gc_bytes"]))
}

func fmtWindow(d time.Duration) string {
	if d == time.Minute {
		return "1-minute"
	}
	return d.String()
}

func rateText(n int) string {
	if n < 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func routeList(m map[string]int64) string {
	var parts []string
	for _, r := range operatorbench.Routes(m) {
		parts = append(parts, fmt.Sprintf("`%s` %d", r, m[r]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func shortSym(s string) string {
	s = strings.TrimSuffix(s, ".abi0")
	s = strings.ReplaceAll(s, "github.com/clientcreds/clientcreds/internal/", "")
	s = strings.ReplaceAll(s, "crypto/internal/fips140/", "crypto/…/")
	return s
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
}

func fmtSecs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func fmtMinutes(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// LoadAvg returns the current load average (1, 5, 15 minutes).
func LoadAvg() string { return loadAvg() }

// roundsNote names the rounds a half-load figure is the median of, when there were several.
func roundsNote(v *verifierbench.Results, name string) string {
	runs := v.HalfRounds[name]
	if len(runs) < 2 {
		return ""
	}
	var p99s []string
	for _, r := range runs {
		p99s = append(p99s, fmtDur(r.Result.P99))
	}
	return fmt.Sprintf(" (median of %d rounds: %s)", len(runs), strings.Join(p99s, ", "))
}

// ScaleSection describes the scale scenario: time to Ready, steady-state memory and
// API-server traffic, and what a restarted manager did.
func ScaleSection(b *strings.Builder, r *operatorbench.Result) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	sc := r.Scenario
	w("## Operator at scale: %d OAuthClients\n\n", r.Clients)
	w("A fresh control plane, emulator and manager (`--resync-period %s`, GOMEMLIMIT as shipped in config/manager and the chart: 200MiB, "+
		"unless BENCH_MANAGER_ENV says otherwise); the emulator's rate limits lifted. %d OAuthClients applied at once.\n\n", sc.ResyncPeriod, r.Clients)
	reads, writes, tokens := operatorbench.ReadsWrites(r.AtReady)
	w("| figure | value |\n|---|--:|\n")
	w("| OAuthClients | %d |\n", r.Clients)
	w("| apply (server-side, 32 goroutines) | %s |\n", fmtSecs(r.ApplyTime))
	w("| time until all Ready (from the first apply) | %s |\n", fmtSecs(r.TimeToReady))
	w("| backend calls until all Ready: app-API reads / writes / token requests | %d / %d / %d |\n", reads, writes, tokens)
	w("| manager VmHWM when all were Ready | %s |\n", operatorbench.MiB(r.PeakRSSAtReady))
	w("| **manager RSS in steady state (VmRSS)** | **%s** (anonymous %s, executable %s) |\n", operatorbench.MiB(r.RSS), operatorbench.MiB(r.RSSAnon), operatorbench.MiB(r.RSSFile))
	w("| manager peak RSS (VmHWM) over the run | %s |\n", operatorbench.MiB(r.PeakRSS))
	m := r.EndMetrics
	if live := m["go_gc_heap_live_bytes"]; live > 0 {
		w("| Go heap live after the last GC / goal / GOMEMLIMIT | %s / %s / %s |\n", operatorbench.MiB(int64(live)),
			operatorbench.MiB(int64(m["go_gc_heap_goal_bytes"])), operatorbench.MiB(int64(m["go_gc_gomemlimit_bytes"])))
		w("| live heap per OAuthClient (with its Secret) | %.1f KiB |\n", live/1024/float64(r.Clients))
	}
	if r.Steady != nil && r.SteadyWindow > 0 {
		hours := r.SteadyWindow.Hours()
		sr, sw, st := operatorbench.ReadsWrites(*r.Steady)
		w("| steady state (%s window): API-server requests per client per hour | %.2f (%.0f requests) |\n", r.SteadyWindow.Round(time.Second),
			r.SteadyAPIRequests/float64(r.Clients)/hours, r.SteadyAPIRequests)
		w("| steady state: app-API reads / writes / token requests per client per hour | %.2f / %.2f / %.2f |\n",
			float64(sr)/float64(r.Clients)/hours, float64(sw)/float64(r.Clients)/hours, float64(st)/float64(r.Clients)/hours)
	}
	if rr := r.Restarted; rr != nil {
		rd, wr, tk := operatorbench.ReadsWrites(rr.Calls)
		settled := "not within the watch"
		if rr.Settled > 0 {
			settled = fmtSecs(rr.Settled)
		}
		w("| restarted manager: time to settle (every client reconciled once, queue empty) | %s |\n", settled)
		w("| restarted manager, first %s: app-API reads / writes / token requests | %d / %d / %d |\n", rr.Watch, rd, wr, tk)
		var peak int64
		for _, p := range rr.Timeline {
			peak = max(peak, p.Reads)
		}
		w("| restarted manager: most app-API reads in one %s | %d (a read of every client spread evenly over the %s resync period would be %.0f) |\n",
			rr.Bucket, peak, sc.ResyncPeriod, float64(r.Clients)*rr.Bucket.Seconds()/sc.ResyncPeriod.Seconds())
		w("| restarted manager: API-server requests in its first %s | %.0f |\n", rr.Watch, rr.APIRequests)
		w("| restarted manager: VmRSS / VmHWM at the end of the watch | %s / %s |\n", operatorbench.MiB(rr.RSS), operatorbench.MiB(rr.PeakRSS))
	}
	if r.HeapProfile != "" {
		w("\nHeap profile of the manager at the end: `%s` (`go tool pprof -sample_index=inuse_space -top`).\n", r.HeapProfile)
	}
	w("\n")
}
