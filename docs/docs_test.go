// Package docs holds the generated CRD reference (crd-reference.md) and the
// crd-ref-docs configuration and templates it is rendered with. The tests
// check that the committed reference matches the Go types and that it shows
// every field, default and validation rule the CRDs carry.
package docs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

const reference = "crd-reference.md"

// TestReferenceUpToDate regenerates the reference with `make docs` into a
// temporary file and compares it with the committed one.
func TestReferenceUpToDate(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// go test caches on the files a test opens; the generator reads api/ in
	// another process, so open its inputs here.
	for _, glob := range []string{"../api/*/*.go", "templates/*.tpl", "crd-ref-docs.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			if _, err := os.ReadFile(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := filepath.Join(t.TempDir(), "crd-reference.md")
	cmd := exec.Command("make", "--no-print-directory", "-s", "docs", "CRD_REFERENCE="+out)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make docs: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(reference)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/%s is out of date with api/: run `make docs` and commit the result", reference)
	}
}

// fact is something the CRDs define that the reference must show.
type fact struct {
	what, text string
}

// collect walks a CRD schema and lists, for every property, its name,
// default, enum values, pattern, length and item limits, and CEL rules.
func collect(s *apiextv1.JSONSchemaProps, path string, out *[]fact) {
	if s == nil {
		return
	}
	if s.Default != nil {
		var v any
		if err := json.Unmarshal(s.Default.Raw, &v); err == nil {
			*out = append(*out, fact{path + " default", "`" + fmt.Sprint(v) + "`"})
		}
	}
	for _, e := range s.Enum {
		var v any
		if err := json.Unmarshal(e.Raw, &v); err == nil {
			*out = append(*out, fact{path + " enum value", fmt.Sprint(v)})
		}
	}
	if s.Pattern != "" {
		// Inside a table cell a pipe is written \|.
		*out = append(*out, fact{path + " pattern", "`" + strings.ReplaceAll(s.Pattern, "|", `\|`) + "`"})
	}
	for name, v := range map[string]*int64{"MaxLength": s.MaxLength, "MinLength": s.MinLength, "MaxItems": s.MaxItems, "MinItems": s.MinItems} {
		if v != nil {
			prefix := ""
			if strings.HasSuffix(path, "[]") {
				prefix = "items:"
			}
			*out = append(*out, fact{path + " " + name, prefix + name + ": " + strconv.FormatInt(*v, 10)})
		}
	}
	for _, r := range s.XValidations {
		*out = append(*out,
			fact{path + " rule", "`" + r.Rule + "`"},
			fact{path + " rule message", strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(r.Message)})
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if path == "" && name == "metadata" {
			*out = append(*out, fact{"metadata", "| `metadata` |"})
			continue
		}
		prop := s.Properties[name]
		*out = append(*out, fact{path + "." + name + " field", "| `" + name + "` |"})
		if path == ".status" && name == "conditions" {
			// metav1.Condition: documented by Kubernetes, linked from the reference.
			*out = append(*out, fact{"conditions link", "#condition-v1-meta"})
			continue
		}
		if _, ml := prop.Properties["matchLabels"]; ml && len(prop.Properties) == 2 && prop.Properties["matchExpressions"].Type == "array" {
			// metav1.LabelSelector: documented by Kubernetes, linked from the reference.
			*out = append(*out, fact{"label selector link", "#labelselector-v1-meta"})
			continue
		}
		collect(&prop, path+"."+name, out)
	}
	if s.Items != nil {
		collect(s.Items.Schema, path+"[]", out)
	}
}

// TestReferenceCoversCRDs checks the rendered reference against the CRDs
// generated from the same types: a field, default or rule the templates drop
// (crd-ref-docs leaves CEL rules out by default) fails here.
func TestReferenceCoversCRDs(t *testing.T) {
	doc, err := os.ReadFile(reference)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../config/crd/bases/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no CRDs in config/crd/bases")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind := crd.Spec.Names.Kind
		t.Run(kind, func(t *testing.T) {
			facts := []fact{
				{"section", "### " + kind + "\n"},
				{"apiVersion row", "`" + crd.Spec.Group + "/" + crd.Spec.Versions[0].Name + "`"},
			}
			for _, short := range crd.Spec.Names.ShortNames {
				facts = append(facts, fact{"short name", "`" + short + "`"})
			}
			for _, v := range crd.Spec.Versions {
				for _, c := range v.AdditionalPrinterColumns {
					facts = append(facts, fact{"printer column", c.Name})
				}
				collect(v.Schema.OpenAPIV3Schema, "", &facts)
			}
			if len(facts) < 10 {
				t.Fatalf("only %d facts collected from %s", len(facts), f)
			}
			for _, fc := range facts {
				if !bytes.Contains(doc, []byte(fc.text)) {
					t.Errorf("%s: %s %q is not in docs/%s", kind, fc.what, fc.text, reference)
				}
			}
		})
	}
}
