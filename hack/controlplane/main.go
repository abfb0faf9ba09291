// Command controlplane runs a local Kubernetes control plane for `make demo`: etcd and
// kube-apiserver on 127.0.0.1, started through controller-runtime's envtest from the
// binaries hack/build-control-plane.sh builds. It writes an admin kubeconfig, prints the
// server URL, and runs until SIGINT or SIGTERM, when it stops both processes.
//
//	go build -o bin/controlplane ./hack/controlplane
//	bin/controlplane --kubeconfig bin/demo/kubeconfig --port 16443 --etcd-port 12379
//
// Every flag has a CONTROLPLANE_* environment twin.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/clientcreds/clientcreds/internal/flagenv"
	"github.com/clientcreds/clientcreds/internal/testenv"
)

const envPrefix = "CONTROLPLANE"

// k8sVersion names the default assets directory bin/k8s/<version>.
const k8sVersion = testenv.K8sVersion

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses the flags, starts the control plane and serves until ctx ends. It returns
// the exit code: 0 after a clean stop, 1 when the control plane failed, 2 for bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("controlplane", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defaultAssets := os.Getenv("KUBEBUILDER_ASSETS")
	if defaultAssets == "" {
		defaultAssets = filepath.Join("bin", "k8s", k8sVersion)
	}
	var cfg Config
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "file to write the admin kubeconfig to (required; removed at stop)")
	fs.IntVar(&cfg.Port, "port", 16443, "kube-apiserver's https port on 127.0.0.1 (0 picks a free port)")
	fs.IntVar(&cfg.EtcdPort, "etcd-port", 12379, "etcd's client port on 127.0.0.1 (0 picks a free port)")
	fs.StringVar(&cfg.AssetsDir, "assets", defaultAssets, "`directory` with kube-apiserver and etcd (default $KUBEBUILDER_ASSETS or bin/k8s/"+k8sVersion+")")
	fs.StringVar(&cfg.LogDir, "log-dir", "", "`directory` for kube-apiserver.log and etcd.log (default: output discarded)")
	fs.DurationVar(&cfg.StartTimeout, "start-timeout", 2*time.Minute, "how long each component may take to start")
	fs.DurationVar(&cfg.StopTimeout, "stop-timeout", 30*time.Second, "how long each component may take to stop")
	exitWithParent := fs.Bool("exit-with-parent", false, "stop when the process that started this one exits")
	fs.Usage = flagenv.Usage(fs, envPrefix, "controlplane runs etcd and kube-apiserver on 127.0.0.1 until SIGINT or SIGTERM.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "controlplane: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	if err := flagenv.Apply(fs, envPrefix); err != nil {
		fmt.Fprintf(stderr, "controlplane: %v\n", err)
		return 2
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if *exitWithParent {
		go watchParent(ctx, cancel, 500*time.Millisecond)
	}

	cp, err := Start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "controlplane: %v\n", err)
		if errors.Is(err, ErrInvalidConfig) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stdout, "API server: %s\n", cp.Server)
	fmt.Fprintf(stdout, "etcd: %s\n", cp.EtcdURL)
	fmt.Fprintf(stdout, "Kubeconfig: %s\n", cfg.Kubeconfig)
	<-ctx.Done()
	fmt.Fprintln(stdout, "Stopping kube-apiserver and etcd")
	if err := cp.Stop(); err != nil {
		fmt.Fprintf(stderr, "controlplane: stop: %v\n", err)
		return 1
	}
	return 0
}
