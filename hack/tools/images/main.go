// Command images builds the project's container images without a container engine
// (`make images`): one OCI image per binary, each written as a docker-archive tarball
// bin/images/<name>.tar holding the image clientcreds/<name>:dev, which
// `ctr -n k8s.io images import` and `docker load` both read.
//
// Each image has two layers and nothing else:
//
//	base:   /etc/passwd and /etc/group (root and nonroot 65532), the CA bundle
//	        /etc/ssl/certs/ca-certificates.crt, /tmp (1777) and /home/nonroot
//	binary: /<name>, a static Go build (CGO_ENABLED=0, -trimpath, no build id, no VCS stamp)
//
// and runs /<name> as 65532:65532 — what the Dockerfile's distroless stages describe
// (a test in this directory checks the two agree). There is no shell.
//
// The same commit gives the same archives, byte for byte, so the same image digests: every timestamp is SOURCE_DATE_EPOCH
// (0 when unset), tar headers carry no owner names, files are written in a fixed order,
// and the CA bundle comes from a pinned Go module (golang.org/x/crypto/x509roots/fallback,
// Mozilla's NSS roots) rather than from the build machine's /etc/ssl.
//
// The image and archive formats are go-containerregistry's (mutate, tarball); this program
// only chooses what goes into the layers.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	var o options
	var only string
	flag.StringVar(&o.root, "root", ".", "the repository's top directory (where go.mod is)")
	flag.StringVar(&o.out, "out", "bin/images", "directory for the <name>.tar archives")
	flag.StringVar(&o.repo, "repo", "clientcreds", "image repository prefix: <repo>/<name>:<tag>")
	flag.StringVar(&o.tag, "tag", "dev", "image tag")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "GOARCH of the binaries and the image")
	flag.StringVar(&only, "only", "", "comma-separated image names to build (default: all of "+strings.Join(names(), ",")+")")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q (flags only; see -h)", flag.Args()))
	}

	epoch, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		fail(err)
	}
	o.created = epoch
	if only != "" {
		for n := range strings.SplitSeq(only, ",") {
			if !slices.Contains(names(), n) {
				fail(fmt.Errorf("-only: no image named %q (known: %s)", n, strings.Join(names(), ", ")))
			}
			o.only = append(o.only, n)
		}
	}

	for _, d := range []*string{&o.root, &o.out} {
		abs, err := filepath.Abs(*d)
		if err != nil {
			fail(err)
		}
		*d = abs
	}
	start := time.Now()
	built, err := build(o)
	if err != nil {
		fail(err)
	}
	for _, b := range built {
		rel, err := filepath.Rel(o.root, b.archive)
		if err != nil {
			rel = b.archive
		}
		fmt.Printf("%-31s id %s  %5.1f MiB  %s\n", b.ref, b.id, float64(b.size)/(1<<20), rel)
	}
	fmt.Printf("images: %d archives in %s\n", len(built), time.Since(start).Round(100*time.Millisecond))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "images:", err)
	os.Exit(1)
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (reproducible-builds.org): seconds since the
// Unix epoch, the time written into every timestamp of the images; unset means 0.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", v)
	}
	return time.Unix(s, 0).UTC(), nil
}
