package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const repoRoot = "../../.."

// dockerImage is what one final stage of the Dockerfile says about its image.
type dockerImage struct {
	base       string
	entrypoint []string
	user       string
	ports      []string
	copies     []string // destination paths of COPY
}

// parseDockerfile reads the Dockerfile's final stages (those with an ENTRYPOINT), by
// stage name. It understands what the repository's Dockerfile uses: comments, line
// continuations, FROM … AS, and the JSON form of ENTRYPOINT.
func parseDockerfile(t *testing.T, path string) map[string]*dockerImage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]*dockerImage{}
	var cur *dockerImage
	var line strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(l, `\`); ok {
			line.WriteString(cont + " ")
			continue
		}
		line.WriteString(l)
		f := strings.Fields(line.String())
		line.Reset()
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			args := slices.DeleteFunc(f[1:], func(s string) bool { return strings.HasPrefix(s, "--") })
			cur = &dockerImage{base: args[0]}
			if len(args) == 3 && strings.EqualFold(args[1], "AS") {
				stages[args[2]] = cur
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(strings.Join(f[1:], " ")), &cur.entrypoint); err != nil {
				t.Fatalf("Dockerfile: %q: want the JSON form: %v", strings.Join(f, " "), err)
			}
		case "USER":
			cur.user = f[1]
		case "EXPOSE":
			for _, p := range f[1:] {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cur.ports = append(cur.ports, p)
			}
		case "COPY":
			cur.copies = append(cur.copies, f[len(f)-1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for n, s := range stages {
		if s.entrypoint == nil {
			delete(stages, n)
		}
	}
	return stages
}

// file is one regular file or directory of an image's flattened filesystem.
type file struct {
	mode     int64
	typeflag byte
	uid      int
	data     []byte
}

// readArchive loads the image tagged ref from a docker-archive tarball and flattens its
// layers.
func readArchive(t *testing.T, path, ref string) (v1.Image, *v1.ConfigFile, map[string]file) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]file{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.Trim(h.Name, "/")] = file{mode: h.Mode, typeflag: h.Typeflag, uid: h.Uid, data: data}
	}
	return img, cfg, files
}

// TestImagesMatchDockerfile builds every image and checks that each one the Dockerfile
// also describes has the same entrypoint, user, ports and files, and that every image is
// what the package comment promises: a static binary, no shell, CA certificates, the
// nonroot user, fixed timestamps.
func TestImagesMatchDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary of the repository")
	}
	docker := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	var want []string
	for n := range docker {
		want = append(want, n)
	}
	want = append(want, "pause") // the node's sandbox image; Docker users pull theirs
	slices.Sort(want)
	got := names()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("make images builds %v; the Dockerfile's images plus pause are %v", got, want)
	}

	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(1700000000, 0).UTC()
	built, err := build(options{root: root, out: t.TempDir(), repo: "clientcreds", tag: "dev", arch: "amd64", created: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != len(images) {
		t.Fatalf("built %d images, want %d", len(built), len(images))
	}
	for _, b := range built {
		t.Run(b.name, func(t *testing.T) {
			img, cfg, files := readArchive(t, b.archive, "clientcreds/"+b.name+":dev")
			if d, err := img.Digest(); err != nil || d != b.digest {
				t.Errorf("archive holds image %v (%v), build reported %v", d, err, b.digest)
			}
			bin := "/" + b.name

			if d, ok := docker[b.name]; ok {
				if !strings.Contains(d.base, "/distroless/static") || !strings.HasSuffix(d.base, ":nonroot") {
					t.Errorf("the Dockerfile's %s is based on %s; this test knows what distroless/static:nonroot holds", b.name, d.base)
				}
				if !slices.Equal(cfg.Config.Entrypoint, d.entrypoint) {
					t.Errorf("entrypoint %q, the Dockerfile says %q", cfg.Config.Entrypoint, d.entrypoint)
				}
				if cfg.Config.User != d.user {
					t.Errorf("user %q, the Dockerfile says %q", cfg.Config.User, d.user)
				}
				var ports []string
				for p := range cfg.Config.ExposedPorts {
					ports = append(ports, p)
				}
				slices.Sort(ports)
				wantPorts := slices.Sorted(slices.Values(d.ports))
				if !slices.Equal(ports, wantPorts) {
					t.Errorf("exposed ports %v, the Dockerfile says %v", ports, wantPorts)
				}
				for _, c := range d.copies {
					if _, ok := files[c]; !ok {
						t.Errorf("the Dockerfile copies %s into the image; this image has no such file", c)
					}
				}
			} else {
				if !slices.Equal(cfg.Config.Entrypoint, []string{bin}) || cfg.Config.User != "65532:65532" {
					t.Errorf("entrypoint %q user %q, want [%s] 65532:65532", cfg.Config.Entrypoint, cfg.Config.User, bin)
				}
			}

			f, ok := files[bin]
			if !ok || f.typeflag != tar.TypeReg || f.mode&0o111 == 0 {
				t.Fatalf("%s is not an executable file in the image (%+v)", bin, f.mode)
			}
			e, err := elf.NewFile(bytes.NewReader(f.data))
			if err != nil {
				t.Fatalf("%s: %v", bin, err)
			}
			for _, p := range e.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked (has an ELF interpreter)", bin)
				}
			}
			if e.Machine != elf.EM_X86_64 {
				t.Errorf("%s is for %v, the image says amd64", bin, e.Machine)
			}
			for _, sh := range []string{"/bin/sh", "/bin/bash", "/bin/busybox", "/usr/bin/env"} {
				if _, ok := files[sh]; ok {
					t.Errorf("the image has %s; it must have no shell", sh)
				}
			}
			ca := files["/etc/ssl/certs/ca-certificates.crt"]
			if n := bytes.Count(ca.data, []byte("-----BEGIN CERTIFICATE-----")); n < 100 {
				t.Errorf("/etc/ssl/certs/ca-certificates.crt holds %d certificates, want Mozilla's roots (over 100)", n)
			}
			if !bytes.Contains(files["/etc/passwd"].data, []byte("nonroot:x:65532:65532:")) {
				t.Errorf("/etc/passwd has no nonroot user 65532: %q", files["/etc/passwd"].data)
			}
			if tmp := files["/tmp"]; tmp.typeflag != tar.TypeDir || tmp.mode != 0o1777 {
				t.Errorf("/tmp is %c %o, want a directory 1777", tmp.typeflag, tmp.mode)
			}
			if !cfg.Created.Time.Equal(epoch) {
				t.Errorf("created %v, want SOURCE_DATE_EPOCH %v", cfg.Created.Time, epoch)
			}
			for _, h := range cfg.History {
				if !h.Created.Time.Equal(epoch) {
					t.Errorf("history %q created %v, want %v", h.CreatedBy, h.Created.Time, epoch)
				}
			}
		})
	}
}

// TestReproducible builds one image twice into two directories: the archives, and so the
// digests, must be byte for byte the same.
func TestReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary twice")
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	var archives [][]byte
	var ids []v1.Hash
	for range 2 {
		built, err := build(options{root: root, out: t.TempDir(), repo: "clientcreds", tag: "dev", arch: "amd64",
			only: []string{"hello"}, created: time.Unix(0, 0).UTC()})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(built[0].archive)
		if err != nil {
			t.Fatal(err)
		}
		archives = append(archives, b)
		ids = append(ids, built[0].digest)
	}
	if ids[0] != ids[1] {
		t.Errorf("two builds gave image digests %v and %v", ids[0], ids[1])
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Errorf("two builds gave different archives (%d and %d bytes)", len(archives[0]), len(archives[1]))
	}
}

func TestSourceDateEpoch(t *testing.T) {
	for in, want := range map[string]string{
		"":           "1970-01-01T00:00:00Z",
		"1700000000": "2023-11-14T22:13:20Z",
		"-1":         "error",
		"yesterday":  "error",
	} {
		got, err := sourceDateEpoch(in)
		switch {
		case want == "error" && err == nil:
			t.Errorf("SOURCE_DATE_EPOCH=%q: no error", in)
		case want == "error" && !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH"):
			t.Errorf("SOURCE_DATE_EPOCH=%q: error %q does not name the variable", in, err)
		case want != "error" && (err != nil || got.Format(time.RFC3339) != want):
			t.Errorf("SOURCE_DATE_EPOCH=%q: %v, %v; want %s", in, got, err, want)
		}
	}
}
