// Package install tests the two ways users install the operator: the Helm chart
// charts/clientcreds and kustomize's config/default (make deploy). Both are rendered with
// the pinned tools (hack/tools/helm, hack/tools/gen), compared with each other, and sent
// to a real API server as a server-side dry run.
package install

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/clientcreds/clientcreds/internal/testutil"
)

const (
	release   = "clientcreds"
	namespace = "clientcreds-system"
	chart     = "charts/clientcreds"
)

// renders caches rendered output by command line: helm and kustomize run through
// `go tool`, a second or two each once built.
var (
	rendersMu sync.Mutex
	renders   = map[string]renderResult{}
)

type renderResult struct {
	out []byte
	err error
}

// run runs a pinned tool of a tools module from the repository root and returns its
// standard output; the error carries its standard error.
func run(modfile string, args ...string) ([]byte, error) {
	key := modfile + fmt.Sprint(args)
	rendersMu.Lock()
	defer rendersMu.Unlock()
	if r, ok := renders[key]; ok {
		return r.out, r.err
	}
	cmd := testutil.GoTool(modfile, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%v: %w\n%s", args, err, stderr.String())
	}
	renders[key] = renderResult{out, err}
	return out, err
}

// helmTemplate renders the chart as release clientcreds in clientcreds-system, CRDs
// included, with the extra helm arguments given (--set …).
func helmTemplate(extra ...string) ([]byte, error) {
	args := append([]string{"helm", "template", release, chart, "--namespace", namespace, "--include-crds"}, extra...)
	return run("hack/tools/helm/go.mod", args...)
}

func mustHelm(t *testing.T, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplate(extra...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return decode(t, out)
}

// kustomize renders config/<dir>.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := run("hack/tools/gen/go.mod", "kustomize", "build", filepath.Join("config", dir))
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	return decode(t, out)
}

func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
}

// key names an object across renderings.
func key(u *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
}

func index(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}
