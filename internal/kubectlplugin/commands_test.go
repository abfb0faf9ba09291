package kubectlplugin

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestHelp: every command's --help names itself as kubectl runs it, has an Examples
// section, and lists kubectl's connection flags.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"import", "--help"}, {"status", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			cmd := NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
			cmd.SetArgs(args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			help := out.String()
			for _, want := range []string{"Usage:\n  kubectl clientcreds", "Examples:\n", "--kubeconfig", "--context", "-n, --namespace"} {
				if !strings.Contains(help, want) {
					t.Errorf("help lacks %q:\n%s", want, help)
				}
			}
		})
	}
}

// TestImportNeedsProvider: import without --provider is refused before any connection.
func TestImportNeedsProvider(t *testing.T) {
	var out bytes.Buffer
	cmd := NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	cmd.SetArgs([]string{"import", "--kubeconfig", "/nonexistent"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), `"provider"`) {
		t.Fatalf("error %v, want one naming the provider flag", err)
	}
}
