package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const rules = `# a comment that stays out
groups:
- name: g
  rules:
  - alert: A
    expr: up == 0
`

func TestRun(t *testing.T) {
	tests := map[string]struct {
		rules, runbook string
		wantErr        string
	}{
		"wrapped":               {rules: rules, runbook: "# Runbook\n\n## A\n\ntext\n"},
		"no runbook section":    {rules: rules, runbook: "# Runbook\n\n## B\n", wantErr: `no section "## A"`},
		"not a rules file":      {rules: "groups: {}\n", runbook: "", wantErr: "alerts.yaml"},
		"no groups":             {rules: "groups: []\n", runbook: "", wantErr: "no rule groups"},
		"unknown top-level key": {rules: rules + "extra: 1\n", runbook: "", wantErr: "unknown field"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			in, out, rb := filepath.Join(dir, "alerts.yaml"), filepath.Join(dir, "rule.yaml"), ""
			if err := os.WriteFile(in, []byte(tc.rules), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.runbook != "" {
				rb = filepath.Join(dir, "runbook.md")
				if err := os.WriteFile(rb, []byte(tc.runbook), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := run(in, out, "alerts", rb)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if _, statErr := os.Stat(out); statErr == nil {
					t.Error("an output was written for bad input")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var pr struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Spec struct {
					Groups []struct {
						Name  string `json:"name"`
						Rules []struct {
							Alert, Expr string
						} `json:"rules"`
					} `json:"groups"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal(got, &pr); err != nil {
				t.Fatal(err)
			}
			if pr.Kind != "PrometheusRule" || pr.Metadata.Name != "alerts" || len(pr.Spec.Groups) != 1 ||
				pr.Spec.Groups[0].Rules[0].Alert != "A" || pr.Spec.Groups[0].Rules[0].Expr != "up == 0" {
				t.Errorf("PrometheusRule %+v from\n%s", pr, got)
			}
			if strings.Contains(string(got), "a comment that stays out") {
				t.Error("the source's header comment was copied")
			}
		})
	}
}
