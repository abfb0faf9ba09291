// Command promrule wraps a plain Prometheus rules file (the one source of clientcreds'
// alerts, config/prometheus/alerts.yaml) into a Prometheus Operator PrometheusRule. The
// rule groups are copied as written (comments above `groups:` are left out), so the two
// files cannot disagree. `make alerts` runs it; `make verify` checks the output is fresh.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

type rulesFile struct {
	Groups []struct {
		Name  string           `json:"name"`
		Rules []map[string]any `json:"rules"`
	} `json:"groups"`
}

func main() {
	in := flag.String("in", "config/prometheus/alerts.yaml", "the plain rules file")
	out := flag.String("out", "config/prometheus/prometheusrule.yaml", "the PrometheusRule to write")
	name := flag.String("name", "alerts", "metadata.name of the PrometheusRule (kustomize in config/prometheus prefixes it with clientcreds-)")
	runbook := flag.String("runbook", "docs/runbook.md", "the runbook that must hold a section (## <alert>) per alert; empty: not checked")
	flag.Parse()
	if err := run(*in, *out, *name, *runbook); err != nil {
		fmt.Fprintln(os.Stderr, "promrule:", err)
		os.Exit(1)
	}
}

func run(in, out, name, runbook string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var rf rulesFile
	if err := yaml.UnmarshalStrict(src, &rf); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(rf.Groups) == 0 {
		return fmt.Errorf("%s: no rule groups", in)
	}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			return fmt.Errorf("%s: a group without a name or rules", in)
		}
	}
	if runbook != "" {
		doc, err := os.ReadFile(runbook)
		if err != nil {
			return err
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				alert, _ := r["alert"].(string)
				if alert != "" && !bytes.Contains(doc, []byte("\n## "+alert+"\n")) {
					return fmt.Errorf("%s has no section \"## %s\" for the alert of %s", runbook, alert, in)
				}
			}
		}
	}
	// Everything from the `groups:` line on, indented under spec.
	lines := strings.Split(string(src), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "groups:") {
			start = i
			break
		}
	}
	if start < 0 {
		return fmt.Errorf("%s: no top-level groups: line", in)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Generated from %s by hack/tools/promrule (make alerts). Do not edit.\n", in)
	fmt.Fprintf(&b, "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: %s\n", name)
	b.WriteString("  labels:\n    app.kubernetes.io/name: clientcreds\n    app.kubernetes.io/component: alerts\nspec:\n")
	for _, l := range lines[start:] {
		if l == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("  " + l + "\n")
	}
	res := bytes.TrimRight(b.Bytes(), "\n")
	res = append(res, '\n')
	// The result must say the same as the source.
	var check struct {
		Spec rulesFile `json:"spec"`
	}
	if err := yaml.Unmarshal(res, &check); err != nil || len(check.Spec.Groups) != len(rf.Groups) {
		return fmt.Errorf("the PrometheusRule does not parse back to the source's %d groups (%v)", len(rf.Groups), err)
	}
	return os.WriteFile(out, res, 0o644)
}
