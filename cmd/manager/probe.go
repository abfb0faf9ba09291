package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/clientcreds/clientcreds/internal/healthprobe"
)

// probe is `manager probe --address-file=FILE [--path=/readyz] [--timeout=1s]`: the exec
// probe of a manager started with --health-probe-address-file (its image has no shell or
// HTTP client). It GETs the path on the address in FILE and exits 0 on 200; otherwise it
// prints one line saying why (the kubelet shows it in the pod's events) and exits 1, or 2
// for bad arguments.
func probe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("manager probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("address-file", "", "File the manager wrote its probe address to (its --health-probe-address-file).")
	path := fs.String("path", healthprobe.ReadinessPath, "Path to GET: /readyz or /healthz.")
	timeout := fs.Duration("timeout", time.Second, "Longest wait for the answer.")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "manager probe checks a manager's /healthz or /readyz through the address in its address file; exit 0 on 200.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case *file == "":
		fmt.Fprintln(stderr, "probe: --address-file is required")
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "probe: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *timeout <= 0:
		fmt.Fprintf(stderr, "probe: --timeout must be positive, got %v\n", *timeout)
		return 2
	}
	if err := healthprobe.Check(context.Background(), *file, *path, *timeout); err != nil {
		fmt.Fprintln(stderr, "probe:", err)
		return 1
	}
	return 0
}
