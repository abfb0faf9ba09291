// Command manager runs the clientcreds operator: the OAuthClient controller and the
// provider health checks, on controller-runtime.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/controllers"
	"github.com/clientcreds/clientcreds/internal/flagenv"
	"github.com/clientcreds/clientcreds/internal/healthprobe"
	"github.com/clientcreds/clientcreds/internal/logreason"
	"github.com/clientcreds/clientcreds/internal/managerconfig"
	"github.com/clientcreds/clientcreds/internal/metricsauth"
	// Factories register themselves with package provider under their spec field, and
	// bind their own flags.
	_ "github.com/clientcreds/clientcreds/internal/provider/hydra"
	"github.com/clientcreds/clientcreds/internal/provider/okta"
)

const envPrefix = "CLIENTCREDS"

func main() {
	// `manager probe …`: the exec probe of a manager whose health server bound port 0.
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		os.Exit(probe(os.Args[2:], os.Stderr))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

// defaultGCPercent is the manager's GOGC unless the environment sets one: the heap may grow
// by half its live size between collections instead of Go's default of all of it. The
// manager spends little CPU (about 7 ms per OAuthClient created, bench/results.md), so a
// collection twice as often costs little, and the peak heap is what sizes the Pod.
const defaultGCPercent = 50

// gcDefault sets defaultGCPercent unless GOGC is in the environment (the runtime then read
// it at start), and returns the GOGC in force.
func gcDefault() int {
	if _, set := os.LookupEnv("GOGC"); set {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}

func run() error {
	gcDefault()
	fs := flag.CommandLine
	metricsAddr := fs.String("metrics-bind-address", ":8080", "Address of the Prometheus /metrics endpoint; 0 disables it.")
	metricsSecure := fs.Bool("metrics-secure", false, "Serve /metrics over HTTPS, allowing only callers the API server authenticates and authorizes for get on /metrics (a self-signed certificate unless --metrics-cert-dir is set).")
	metricsCertDir := fs.String("metrics-cert-dir", "", "Directory with tls.crt and tls.key for the secure metrics endpoint.")
	pprofAddr := fs.String("pprof-bind-address", "0", "Address of a net/http/pprof endpoint for profiling; 0 disables it (the default).")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes; 0 disables them (port 0 with --health-probe-address-file: any free port).")
	probeFile := fs.String("health-probe-address-file", "", "Write the address the probe server actually bound (host:port) to this file, atomically, once it listens: for a port 0 bind address and exec probes (`manager probe --address-file=FILE`) when replicas share one network namespace.")
	metricsLeaderOnly := fs.Bool("metrics-leader-only", false, "Serve the metrics endpoint only while this replica holds the leader-election lease, so replicas sharing one network namespace (hostNetwork pods on one node) can share the fixed metrics port.")
	leaderElect := fs.Bool("leader-elect", false, "Elect a leader so only one replica reconciles at a time.")
	leaderID := fs.String("leader-election-id", "clientcreds-manager.oauth.clientcreds.dev", "Name of the leader-election Lease.")
	leaderNS := fs.String("leader-election-namespace", "", "Namespace of the leader-election Lease (default: the Pod's namespace).")
	maxConcurrent := fs.Int("max-concurrent-reconciles", 16, "OAuthClients reconciled in parallel. A reconcile mostly waits on the backend (a create, then a token request to prove the credentials); backend call rates are bounded by the backend's own limits (Okta: the --okta-rate-limit-share budget), not by this number.")
	resync := fs.Duration("resync-period", controllers.DefaultResyncPeriod, "How often each app is compared with the backend (drift detection), jittered ±10%.")
	health := fs.Duration("provider-health-interval", controllers.DefaultHealthInterval, "How often each provider's API token and metadata are checked.")
	secretTTL := fs.Duration("api-token-cache-ttl", time.Minute, "How long what a provider's backend read from its Secrets (the API token) is reused before it is read again; 0 means 1m.")
	healthTimeout := fs.Duration("provider-health-timeout", controllers.DefaultHealthTimeout, "Longest time one provider health check (all its backend calls) may take; a slower backend is reported Unreachable.")
	allowHTTP := fs.Bool("allow-insecure-loopback-http", false, "Accept http:// provider URLs (Okta org URLs) whose host is loopback (localhost, 127.0.0.0/8, ::1), for an emulator on the same machine. Off: every provider URL must be https, and an http one is refused with the reason InsecureURL.")
	var oktaFlags okta.Flags
	oktaFlags.BindFlags(fs)
	watchNS := fs.String("watch-namespaces", "", "Comma-separated namespaces the manager watches and reads Secrets in (plus the namespace of each ClusterOAuthProvider's credentials); empty: every namespace.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	fs.Usage = flagenv.Usage(fs, envPrefix, "manager runs the clientcreds operator. `manager probe --help`: the exec probe of its health server.")
	flag.Parse()
	if err := flagenv.Apply(fs, envPrefix); err != nil {
		return err
	}
	if err := checkFlags(*maxConcurrent, *resync, *health, *secretTTL); err != nil {
		return err
	}
	if err := checkHealthTimeout(*healthTimeout); err != nil {
		return err
	}
	if err := checkProbeFile(*probeAddr, *probeFile); err != nil {
		return err
	}
	if err := oktaFlags.Apply(); err != nil {
		return err
	}
	namespaces, err := managerconfig.ParseNamespaces(*watchNS)
	if err != nil {
		return fmt.Errorf("--watch-namespaces: %w", err)
	}
	// Error lines get the condition reason of their error, the framework's included.
	ctrl.SetLogger(logreason.Logger(zap.New(zap.UseFlagOptions(&zapOpts))))

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := oauthv1.AddToScheme(scheme); err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	metricsOpts := metricsserver.Options{BindAddress: *metricsAddr}
	if *metricsSecure {
		metricsOpts.SecureServing = true
		metricsOpts.CertDir = *metricsCertDir
		metricsOpts.FilterProvider = metricsauth.FilterProvider
	}
	mgrMetrics, probeBind := metricsOpts, *probeAddr
	if *metricsLeaderOnly {
		mgrMetrics = metricsserver.Options{BindAddress: "0"} // served below, leader only
	}
	if *probeFile != "" {
		probeBind = "0" // served below, on our own listener
	}
	cacheOpts := managerconfig.CacheOptions(controllers.LabelClient)
	managerconfig.LimitCache(&cacheOpts, namespaces)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 mgrMetrics,
		HealthProbeBindAddress:  probeBind,
		PprofBindAddress:        *pprofAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        *leaderID,
		LeaderElectionNamespace: *leaderNS,
		Cache:                   cacheOpts,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := controllers.Setup(ctx, mgr, controllers.Options{
		MaxConcurrentReconciles:   *maxConcurrent,
		ResyncPeriod:              *resync,
		HealthInterval:            *health,
		SecretTTL:                 *secretTTL,
		HealthTimeout:             *healthTimeout,
		AllowInsecureLoopbackHTTP: *allowHTTP,
		WatchNamespaces:           namespaces,
	}); err != nil {
		return err
	}
	if *metricsLeaderOnly {
		srv, err := metricsserver.NewServer(metricsOpts, mgr.GetConfig(), mgr.GetHTTPClient())
		if err != nil {
			return fmt.Errorf("metrics server: %w", err)
		}
		if srv != nil {
			if err := mgr.Add(leaderOnly{srv}); err != nil {
				return err
			}
		}
	}
	if err := addProbes(mgr, *probeAddr, *probeFile, healthprobe.Checks{
		Liveness:  map[string]healthz.Checker{"healthz": healthz.Ping},
		Readiness: map[string]healthz.Checker{"readyz": healthz.Ping},
	}); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("Starting manager")
	return mgr.Start(ctx)
}

// addProbes registers the probe checks with the manager's own probe server, or, with an
// address file, serves them on a listener of ours whose bound address goes to the file.
func addProbes(mgr ctrl.Manager, addr, file string, c healthprobe.Checks) error {
	if file == "" {
		for name, check := range c.Liveness {
			if err := mgr.AddHealthzCheck(name, check); err != nil {
				return err
			}
		}
		for name, check := range c.Readiness {
			if err := mgr.AddReadyzCheck(name, check); err != nil {
				return err
			}
		}
		return nil
	}
	srv, err := healthprobe.Server(addr, file, c)
	if err != nil {
		return fmt.Errorf("--health-probe-address-file: %w", err)
	}
	return mgr.Add(srv)
}

// checkProbeFile refuses an address file without a probe server to publish.
func checkProbeFile(addr, file string) error {
	if file != "" && (addr == "" || addr == "0") {
		return fmt.Errorf("--health-probe-address-file needs a --health-probe-bind-address (127.0.0.1:0 for any free port), got %q", addr)
	}
	return nil
}

// leaderOnly runs a runnable only while this replica is the leader.
type leaderOnly struct{ manager.Runnable }

func (leaderOnly) NeedLeaderElection() bool { return true }

// checkFlags refuses values the controllers cannot work with, naming the flag.
func checkFlags(maxConcurrent int, resync, health, secretTTL time.Duration) error {
	switch {
	case maxConcurrent < 1:
		return fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", maxConcurrent)
	case resync < time.Second:
		return fmt.Errorf("--resync-period must be at least 1s, got %v", resync)
	case health < time.Second:
		return fmt.Errorf("--provider-health-interval must be at least 1s, got %v", health)
	case secretTTL < 0:
		return fmt.Errorf("--api-token-cache-ttl must not be negative, got %v", secretTTL)
	}
	return nil
}

// checkShare refuses an --okta-rate-limit-share outside (0, 1]: the Okta backend's check.
func checkShare(f float64) error { return (&okta.Flags{RateLimitShare: f}).Validate() }

// checkHealthTimeout refuses a --provider-health-timeout under 1s: no real backend answers
// a health check (two or three calls) faster with any margin.
func checkHealthTimeout(d time.Duration) error {
	if d < time.Second {
		return fmt.Errorf("--provider-health-timeout must be at least 1s, got %v", d)
	}
	return nil
}
