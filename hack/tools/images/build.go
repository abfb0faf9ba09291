package main

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// spec is one image: the binary /<name> built from pkg, and the ports it documents.
type spec struct {
	name  string   // image clientcreds/<name>:dev, binary /<name>
	pkg   string   // Go package of the binary, relative to the repository root
	ports []string // EXPOSE, as in the Dockerfile ("8080/tcp")
}

// images is every image `make images` builds. All but pause have a stage of the same
// name in the Dockerfile; pause is the sandbox ("pause") image a node without a registry
// needs, which Docker users take from their registry instead.
var images = []spec{
	{name: "manager", pkg: "./cmd/manager", ports: []string{"8080/tcp", "8081/tcp"}},
	{name: "verifier", pkg: "./cmd/verifier", ports: []string{"8080/tcp"}},
	{name: "hello", pkg: "./cmd/hello", ports: []string{"8081/tcp"}},
	{name: "okta-emulator", pkg: "./cmd/okta-emulator", ports: []string{"8180/tcp"}},
	{name: "token-injector", pkg: "./cmd/token-injector", ports: []string{"8098/tcp"}},
	{name: "hello-client", pkg: "./examples/hello-client"},
	{name: "pause", pkg: "./hack/pause"},
}

func names() []string {
	var n []string
	for _, s := range images {
		n = append(n, s.name)
	}
	return n
}

const (
	nonroot = 65532
	// caFile is where Go's crypto/x509 (and OpenSSL, curl, …) look first on Linux.
	caFile = "etc/ssl/certs/ca-certificates.crt"
)

type options struct {
	root, out, repo, tag, arch string
	only                       []string // image names; empty means all
	created                    time.Time
}

// result is one archive written.
type result struct {
	name, ref, archive string
	digest             v1.Hash // the image manifest's digest (as go-containerregistry writes it)
	id                 v1.Hash // the config's digest: the image ID docker and ctr show after import
	size               int64   // bytes of the archive
}

// build compiles the binaries and writes one archive per image into o.out.
func build(o options) ([]result, error) {
	var todo []spec
	for _, s := range images {
		if len(o.only) == 0 || slices.Contains(o.only, s.name) {
			todo = append(todo, s)
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	bins, err := os.MkdirTemp(o.out, ".bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bins)
	if err := compile(o, bins, todo); err != nil {
		return nil, err
	}

	base, err := baseLayer(o.created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	var out []result
	for _, s := range todo {
		r, err := writeImage(o, s, base, filepath.Join(bins, s.name))
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", s.name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// compile builds every binary in one go build (which links them in parallel) into dir,
// statically and without anything that differs between two builds of one commit.
func compile(o options, dir string, todo []spec) error {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", dir + string(filepath.Separator)}
	for _, s := range todo {
		args = append(args, s.pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = o.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %v: %w", args, err)
	}
	// go build names each binary after the last element of its package path.
	for _, s := range todo {
		if got := path.Base(s.pkg); got != s.name {
			if err := os.Rename(filepath.Join(dir, got), filepath.Join(dir, s.name)); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeImage(o options, s spec, base v1.Layer, binary string) (result, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return result{}, err
	}
	binLayer, err := layer([]entry{{name: s.name, mode: 0o755, data: bin}}, o.created)
	if err != nil {
		return result{}, err
	}
	cfg := &v1.ConfigFile{
		Architecture: o.arch,
		OS:           "linux",
		Created:      v1.Time{Time: o.created},
		Config: v1.Config{
			Entrypoint: []string{"/" + s.name},
			User:       fmt.Sprintf("%d:%d", nonroot, nonroot),
			WorkingDir: "/",
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			Labels: map[string]string{
				"org.opencontainers.image.title": s.name,
			},
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	if len(s.ports) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range s.ports {
			cfg.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return result{}, err
	}
	when := v1.Time{Time: o.created}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: when, CreatedBy: "users, CA certificates, /tmp"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: when, CreatedBy: "go build " + s.pkg}},
	)
	if err != nil {
		return result{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return result{}, err
	}
	id, err := img.ConfigName()
	if err != nil {
		return result{}, err
	}

	ref, err := name.NewTag(fmt.Sprintf("%s/%s:%s", o.repo, s.name, o.tag))
	if err != nil {
		return result{}, err
	}
	archive := filepath.Join(o.out, s.name+".tar")
	tmp := archive + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, map[name.Reference]v1.Image{ref: img}); err != nil {
		os.Remove(tmp)
		return result{}, err
	}
	if err := os.Rename(tmp, archive); err != nil {
		return result{}, err
	}
	fi, err := os.Stat(archive)
	if err != nil {
		return result{}, err
	}
	// ref.Name() spells out the implied registry; the short form is what users type and
	// what ctr and docker list once the archive is imported.
	return result{name: s.name, ref: fmt.Sprintf("%s/%s:%s", o.repo, s.name, o.tag), archive: archive, digest: digest, id: id, size: fi.Size()}, nil
}

// baseLayer is the filesystem every image shares: the users, the CA bundle, /tmp and the
// nonroot user's home, as distroless/static:nonroot has them.
func baseLayer(created time.Time) (v1.Layer, error) {
	ca, err := caBundle()
	if err != nil {
		return nil, err
	}
	return layer([]entry{
		{name: "etc/", dir: true, mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/ssl/", dir: true, mode: 0o755},
		{name: "etc/ssl/certs/", dir: true, mode: 0o755},
		{name: caFile, mode: 0o644, data: ca},
		{name: "home/", dir: true, mode: 0o755},
		{name: "home/nonroot/", dir: true, mode: 0o700, uid: nonroot},
		{name: "tmp/", dir: true, mode: 0o1777},
	}, created)
}

// caBundle is Mozilla's NSS root store as the pinned golang.org/x/crypto/x509roots/fallback
// module carries it, PEM-encoded. Roots that carry a constraint a PEM file cannot express
// (a distrust-after date) are left out rather than trusted without it.
func caBundle() ([]byte, error) {
	var b bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("the x509roots bundle has no unconstrained roots")
	}
	return b.Bytes(), nil
}

// entry is one file or directory of a layer.
type entry struct {
	name string // relative, no leading slash; directories end in "/"
	dir  bool
	mode int64
	uid  int
	data []byte
}

// layer makes an uncompressed tar of entries, in the order given, with fixed times and
// numeric owners only, and hands it to go-containerregistry (which gzips it).
func layer(entries []entry, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: created,
			Format:  tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithCompressedCaching)
}
