package kubectlplugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// ManifestYAML renders one imported OAuthClient as YAML: its notes as comments, then the
// object without status or empty metadata, with spec.managementPolicy when it observes.
func ManifestYAML(c Imported) ([]byte, error) {
	raw, err := json.Marshal(c.Object)
	if err != nil {
		return nil, fmt.Errorf("encode OAuthClient %s: %w", c.Object.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("encode OAuthClient %s: %w", c.Object.Name, err)
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	if c.Observe {
		spec, _ := m["spec"].(map[string]any)
		spec["managementPolicy"] = ManagementPolicyObserve
	}
	body, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode OAuthClient %s: %w", c.Object.Name, err)
	}
	var b bytes.Buffer
	writeComments(&b, c.Notes)
	b.Write(body)
	return b.Bytes(), nil
}

// writeComments writes each note as YAML comment lines.
func writeComments(w io.Writer, notes []string) {
	for _, n := range notes {
		for _, line := range strings.Split(n, "\n") {
			// A comment cannot end early: every line of a note gets its own "#".
			fmt.Fprintf(w, "# %s\n", strings.TrimRight(line, " \t\r"))
		}
	}
}

// headerNotes are the comments that open an import's output.
func headerNotes(p ImportPlan) []string {
	notes := []string{
		fmt.Sprintf("Imported by kubectl clientcreds import from %s: %d app(s) to adopt, %d not imported.", p.Source, len(p.Clients), len(p.Skipped)),
		"Applying these adopts each app (spec.adopt): the operator marks it as its own and makes it match the spec;",
		"with Manage it publishes a new client secret and revokes the app's earlier secrets after the grace period.",
	}
	return append(notes, p.Notes...)
}

// skippedNotes are the comments that list the apps an import did not write.
func skippedNotes(p ImportPlan) []string {
	if len(p.Skipped) == 0 {
		return nil
	}
	notes := []string{"Not imported:"}
	for _, s := range p.Skipped {
		notes = append(notes, fmt.Sprintf("  app %s %q (client id %s): %s", s.AppID, s.Label, s.ClientID, s.Why))
	}
	return notes
}

// WriteStream writes the whole plan as one multi-document YAML stream: the header, one
// document per OAuthClient, and the skipped apps as trailing comments.
func WriteStream(w io.Writer, p ImportPlan) error {
	var b bytes.Buffer
	writeComments(&b, headerNotes(p))
	for _, c := range p.Clients {
		doc, err := ManifestYAML(c)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(doc)
	}
	writeComments(&b, skippedNotes(p))
	_, err := w.Write(b.Bytes())
	return err
}

// NotesFile is the file WriteDir writes the header and the skipped apps to; kubectl apply -f
// on the directory does not read it (it reads .yaml, .yml and .json files only).
const NotesFile = "import-notes.txt"

// WriteDir writes one file per OAuthClient, <name>.yaml, into dir (created if missing), and
// the header and skipped apps into NotesFile. It returns the paths written.
func WriteDir(dir string, p ImportPlan) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	var written []string
	for _, c := range p.Clients {
		doc, err := ManifestYAML(c)
		if err != nil {
			return written, err
		}
		path := filepath.Join(dir, c.Object.Name+".yaml")
		if err := os.WriteFile(path, doc, 0o644); err != nil { //nolint:gosec // manifests, no secrets
			return written, fmt.Errorf("write %s: %w", path, err)
		}
		written = append(written, path)
	}
	var b bytes.Buffer
	writeComments(&b, append(headerNotes(p), skippedNotes(p)...))
	path := filepath.Join(dir, NotesFile)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil { //nolint:gosec // notes, no secrets
		return written, fmt.Errorf("write %s: %w", path, err)
	}
	return append(written, path), nil
}
