// Package envflag gives every command-line flag an environment-variable
// twin: flag "jwks-url" of a command with prefix "VERIFIER" can also be set
// with VERIFIER_JWKS_URL. A flag given on the command line wins over the
// environment.
package envflag

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Name returns the environment variable for a flag: the prefix, an
// underscore, and the flag name in upper case with dashes as underscores.
func Name(prefix, flagName string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then sets each flag that args did not set from
// its environment variable, read with lookup (os.LookupEnv in commands).
func Parse(fs *flag.FlagSet, prefix string, args []string, lookup func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || explicit[f.Name] {
			return
		}
		name := Name(prefix, f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("environment variable %s: %w", name, serr)
		}
	})
	return err
}

// Usage returns a usage function for fs that lists each flag with its
// environment variable, after intro.
func Usage(fs *flag.FlagSet, prefix, intro string) func() {
	return func() {
		out := fs.Output()
		_, _ = io.WriteString(out, intro)
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			line := "  --" + f.Name
			if name != "" {
				line += " " + name
			}
			line += "  (env " + Name(prefix, f.Name) + ")\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				line += " (default " + f.DefValue + ")"
			}
			_, _ = io.WriteString(out, line+"\n")
		})
	}
}
