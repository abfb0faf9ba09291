package kubectlplugin

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// maxNameLength keeps an imported OAuthClient's name a DNS-1123 label, so that it is also
// a valid label value (the manager labels the Secret with it) and its default Secret name
// "<name>-oauth-client" stays short.
const maxNameLength = 63

// baseName turns an app label into a DNS-1123 label: lower case, every run of characters
// other than a-z and 0-9 becomes one "-", no "-" at either end, at most limit characters.
// It returns "" when the label has no such character at all.
func baseName(label string, limit int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(label) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	s := b.String()
	if len(s) > limit {
		s = strings.TrimRight(s[:limit], "-")
	}
	return s
}

// nameApp is one app to name: its id and label.
type nameApp struct{ ID, Label string }

// deriveNames gives every app an OAuthClient name derived from its label, unique among the
// apps and distinct from every name in taken (the OAuthClients already in the target
// namespace), and deterministic: the same apps and taken names give the same names, in any
// order. Of the apps whose labels give the same name, the one with the smallest id keeps it
// (if it is not taken); the others, and apps whose label gives no name, get "-" and 6 hex
// digits of the SHA-256 of their id appended ("app-<hex>" for an empty name).
func deriveNames(apps []nameApp, taken map[string]bool) map[string]string {
	sorted := slices.Clone(apps)
	slices.SortFunc(sorted, func(a, b nameApp) int { return strings.Compare(a.ID, b.ID) })
	used := map[string]bool{}
	for n := range taken {
		used[n] = true
	}
	out := make(map[string]string, len(apps))
	for _, a := range sorted {
		base := baseName(a.Label, maxNameLength)
		if base != "" && !used[base] {
			out[a.ID], used[base] = base, true
			continue
		}
		if base == "" {
			base = "app"
		}
		// The suffix is the id's; were it taken too (two ids with the same 24 bits, or a
		// name of the same shape in the namespace), more of the hash is used.
		sum := sha256.Sum256([]byte(a.ID))
		full := hex.EncodeToString(sum[:])
		for n := 6; n <= len(full); n += 2 {
			suffix := "-" + full[:n]
			name := strings.TrimRight(baseName(base, maxNameLength-len(suffix)), "-") + suffix
			if !used[name] {
				out[a.ID], used[name] = name, true
				break
			}
		}
	}
	return out
}
