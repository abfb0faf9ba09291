// Command trim-openapi copies the parts of Okta's published OpenAPI specs
// that the Okta emulator implements into the emulator's testdata, so tests
// validate against the real contract without needing the full specs.
//
// It keeps the listed operations, every component they reference
// (transitively, including discriminator mappings), the security schemes
// and tags they use, and drops "examples" (which only reference example
// components). Usage, from the repository root:
//
//	go run ./hack/trim-openapi -src ../shared/okta-openapi -out internal/oktaemu/oktaspec/openapi
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// keep lists, per spec file, the paths and methods the emulator serves.
var keep = map[string]map[string][]string{
	"management-minimal.yaml": {
		"/api/v1/apps":                                                                                        {"get", "post"},
		"/api/v1/apps/{appId}":                                                                                {"get", "put", "delete"},
		"/api/v1/apps/{appId}/lifecycle/activate":                                                             {"post"},
		"/api/v1/apps/{appId}/lifecycle/deactivate":                                                           {"post"},
		"/api/v1/apps/{appId}/credentials/secrets":                                                            {"get", "post"},
		"/api/v1/apps/{appId}/credentials/secrets/{secretId}":                                                 {"get", "delete"},
		"/api/v1/apps/{appId}/credentials/secrets/{secretId}/lifecycle/activate":                              {"post"},
		"/api/v1/apps/{appId}/credentials/secrets/{secretId}/lifecycle/deactivate":                            {"post"},
		"/api/v1/apps/{appId}/grants":                                                                         {"get", "post"},
		"/api/v1/apps/{appId}/grants/{grantId}":                                                               {"get", "delete"},
		"/api/v1/authorizationServers":                                                                        {"get", "post"},
		"/api/v1/authorizationServers/{authServerId}":                                                         {"get", "put", "delete"},
		"/api/v1/authorizationServers/{authServerId}/lifecycle/activate":                                      {"post"},
		"/api/v1/authorizationServers/{authServerId}/lifecycle/deactivate":                                    {"post"},
		"/api/v1/authorizationServers/{authServerId}/claims":                                                  {"get", "post"},
		"/api/v1/authorizationServers/{authServerId}/claims/{claimId}":                                        {"get", "put", "delete"},
		"/api/v1/authorizationServers/{authServerId}/credentials/keys":                                        {"get"},
		"/api/v1/authorizationServers/{authServerId}/credentials/keys/{keyId}":                                {"get"},
		"/api/v1/authorizationServers/{authServerId}/credentials/lifecycle/keyRotate":                         {"post"},
		"/api/v1/authorizationServers/{authServerId}/scopes":                                                  {"get", "post"},
		"/api/v1/authorizationServers/{authServerId}/scopes/{scopeId}":                                        {"get", "put", "delete"},
		"/api/v1/authorizationServers/{authServerId}/policies":                                                {"get", "post"},
		"/api/v1/authorizationServers/{authServerId}/policies/{policyId}":                                     {"get", "put", "delete"},
		"/api/v1/authorizationServers/{authServerId}/policies/{policyId}/lifecycle/activate":                  {"post"},
		"/api/v1/authorizationServers/{authServerId}/policies/{policyId}/lifecycle/deactivate":                {"post"},
		"/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules":                               {"get", "post"},
		"/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}":                      {"get", "put", "delete"},
		"/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}/lifecycle/activate":   {"post"},
		"/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}/lifecycle/deactivate": {"post"},
	},
	"oauth-minimal.yaml": {
		"/oauth2/{authorizationServerId}/.well-known/oauth-authorization-server": {"get"},
		"/oauth2/{authorizationServerId}/.well-known/openid-configuration":       {"get"},
		"/oauth2/{authorizationServerId}/v1/keys":                                {"get"},
		"/oauth2/{authorizationServerId}/v1/token":                               {"post"},
		"/.well-known/openid-configuration":                                      {"get"},
		"/oauth2/v1/keys":                                                        {"get"},
		"/oauth2/v1/token":                                                       {"post"},
	},
}

const header = `Trimmed copy of Okta's published OpenAPI specification, generated by
hack/trim-openapi from okta/okta-management-openapi-spec (dist/current/%s,
commit fdda229). Licensed Apache-2.0 by Okta (see info.license). Only the
operations the Okta emulator serves and the components they reference are
kept; examples are dropped. Do not edit by hand: re-run the generator.`

func main() {
	src := flag.String("src", "../shared/okta-openapi", "directory holding Okta's full spec files")
	out := flag.String("out", "internal/oktaemu/oktaspec/openapi", "directory to write the trimmed specs to")
	flag.Parse()
	names := make([]string, 0, len(keep))
	for name := range keep {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := trimFile(filepath.Join(*src, name), filepath.Join(*out, name), name, keep[name]); err != nil {
			fmt.Fprintln(os.Stderr, "trim-openapi:", err)
			os.Exit(1)
		}
	}
}

func trimFile(in, out, name string, paths map[string][]string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	root := doc.Content[0]
	if err := trim(root, paths); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	root.HeadComment = fmt.Sprintf(header, name)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// get returns the value of key in a mapping node.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// filterMap keeps the entries of a mapping node for which ok returns true.
func filterMap(m *yaml.Node, ok func(key string, v *yaml.Node) bool) {
	var kept []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if ok(m.Content[i].Value, m.Content[i+1]) {
			kept = append(kept, m.Content[i], m.Content[i+1])
		}
	}
	m.Content = kept
}

// dropExamples removes every "examples" mapping below n.
func dropExamples(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		filterMap(n, func(k string, v *yaml.Node) bool { return k != "examples" || v.Kind != yaml.MappingNode })
	}
	for _, c := range n.Content {
		dropExamples(c)
	}
}

// refs collects "#/components/..." references below n: $ref values and
// discriminator mappings.
func refs(n *yaml.Node, into map[string]bool) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if k == "$ref" && v.Kind == yaml.ScalarNode {
				into[v.Value] = true
			}
			if k == "mapping" && v.Kind == yaml.MappingNode {
				for j := 1; j < len(v.Content); j += 2 {
					if strings.HasPrefix(v.Content[j].Value, "#/") {
						into[v.Content[j].Value] = true
					}
				}
			}
		}
	}
	for _, c := range n.Content {
		refs(c, into)
	}
}

func trim(root *yaml.Node, paths map[string][]string) error {
	pathsNode := get(root, "paths")
	if pathsNode == nil {
		return fmt.Errorf("no paths")
	}
	found := map[string]bool{}
	filterMap(pathsNode, func(p string, item *yaml.Node) bool {
		methods, ok := paths[p]
		if !ok {
			return false
		}
		found[p] = true
		filterMap(item, func(k string, _ *yaml.Node) bool { return k == "parameters" || slices.Contains(methods, k) })
		return true
	})
	for p, methods := range paths {
		if !found[p] {
			return fmt.Errorf("path %s not in spec", p)
		}
		for _, m := range methods {
			if get(get(pathsNode, p), m) == nil {
				return fmt.Errorf("operation %s %s not in spec", m, p)
			}
		}
	}
	dropExamples(pathsNode)

	// Security schemes and tags used by the kept operations.
	schemes, tags := map[string]bool{}, map[string]bool{}
	for i := 1; i < len(pathsNode.Content); i += 2 {
		item := pathsNode.Content[i]
		for j := 0; j+1 < len(item.Content); j += 2 {
			op := item.Content[j+1]
			if sec := get(op, "security"); sec != nil {
				for _, req := range sec.Content {
					for k := 0; k < len(req.Content); k += 2 {
						schemes[req.Content[k].Value] = true
					}
				}
			}
			if t := get(op, "tags"); t != nil {
				for _, tag := range t.Content {
					tags[tag.Value] = true
				}
			}
		}
	}

	comps := get(root, "components")
	// Transitive closure of references, starting from the paths.
	want := map[string]bool{}
	refs(pathsNode, want)
	done := map[string]bool{}
	for len(want) > 0 {
		var next []string
		for r := range want {
			next = append(next, r)
		}
		want = map[string]bool{}
		for _, r := range next {
			if done[r] {
				continue
			}
			done[r] = true
			parts := strings.Split(strings.TrimPrefix(r, "#/components/"), "/")
			if !strings.HasPrefix(r, "#/components/") || len(parts) != 2 {
				return fmt.Errorf("unsupported reference %q", r)
			}
			target := get(get(comps, parts[0]), parts[1])
			if target == nil {
				return fmt.Errorf("dangling reference %q", r)
			}
			dropExamples(target)
			refs(target, want)
		}
	}
	filterMap(comps, func(section string, v *yaml.Node) bool {
		if section == "securitySchemes" {
			filterMap(v, func(name string, _ *yaml.Node) bool { return schemes[name] })
		} else {
			filterMap(v, func(name string, _ *yaml.Node) bool { return done["#/components/"+section+"/"+name] })
		}
		return len(v.Content) > 0
	})
	filterMap(root, func(k string, v *yaml.Node) bool {
		switch k {
		case "tags":
			filterMap2(v, func(tag *yaml.Node) bool { return tags[get(tag, "name").Value] })
		case "x-tagGroups", "webhooks":
			return false
		}
		return true
	})
	return nil
}

// filterMap2 keeps the items of a sequence node for which ok returns true.
func filterMap2(seq *yaml.Node, ok func(*yaml.Node) bool) {
	var kept []*yaml.Node
	for _, c := range seq.Content {
		if ok(c) {
			kept = append(kept, c)
		}
	}
	seq.Content = kept
}
