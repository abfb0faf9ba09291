package kubectlplugin

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

func serviceApp(id, label string) provider.App {
	return provider.App{ID: id, ClientID: id, Label: label, Active: true, AuthMethod: provider.AuthClientSecretBasic,
		ClientCredentialsOnly: true, GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{"token"}}
}

func TestInferScopes(t *testing.T) {
	grants := []provider.ScopeGrant{
		{Policy: "Default Policy", Rule: "Default Policy Rule", Clients: []string{provider.AllClients}, Scopes: []string{"*"}},
		{Policy: "billing", Rule: "cc", Clients: []string{"0oaB"}, Scopes: []string{"invoices:write", "invoices:read"}},
		{Policy: "shared", Rule: "read", Clients: []string{"0oaB", "0oaR"}, Scopes: []string{"invoices:read", "reports:read", "openid"}},
		{Policy: "wild", Rule: "all", Clients: []string{"0oaW"}, Scopes: []string{"*"}},
	}
	cases := map[string]struct {
		app        provider.App
		grants     []provider.ScopeGrant // default: grants
		appScopes  bool
		want       []string
		noteHas    []string
		notNoteHas []string
	}{
		"two policies name the client": {
			app: serviceApp("0oaB", "Billing"), want: []string{"invoices:read", "invoices:write", "reports:read"},
			noteHas: []string{`policy "billing" rule "cc"`, `policy "shared" rule "read"`, "not mapped", "openid"},
		},
		"only the all-clients policy": {
			app: serviceApp("0oaN", "Nobody"), want: nil, noteHas: []string{"no scopes inferred", "InvalidScope"},
			notNoteHas: []string{"Default Policy"},
		},
		"rules for all clients that list scopes": {
			app: serviceApp("0oaN", "Nobody"), grants: append(slices.Clone(grants),
				provider.ScopeGrant{Policy: "everyone", Rule: "read", Clients: []string{provider.AllClients}, Scopes: []string{"hello:read"}}),
			want: []string{"hello:read"}, noteHas: []string{`from the rules for all clients: policy "everyone" rule "read"`},
			notNoteHas: []string{"no scopes inferred"},
		},
		"a rule naming the client wins over the rules for all clients": {
			app: serviceApp("0oaR", "Reports"), grants: append(slices.Clone(grants),
				provider.ScopeGrant{Policy: "everyone", Rule: "read", Clients: []string{provider.AllClients}, Scopes: []string{"hello:read"}}),
			want: []string{"invoices:read", "reports:read"}, notNoteHas: []string{"everyone"},
		},
		"every scope": {
			app: serviceApp("0oaW", "Wild"), want: nil, noteHas: []string{`policy "wild" rule "all" grants this client every scope`, "no scopes inferred"},
		},
		"app's own scopes (Hydra)": {
			app: func() provider.App {
				a := serviceApp("c1", "Hydra client")
				a.Scopes = []string{"b", "a", "offline_access", "bad\"quote"}
				return a
			}(),
			appScopes: true, want: []string{"a", "b"}, noteHas: []string{"the app's own", "offline_access", `bad"quote`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := tc.grants
			if g == nil {
				g = grants
			}
			got, notes := inferScopes(tc.app, g, tc.appScopes)
			if !slices.Equal(got, tc.want) {
				t.Errorf("scopes %v, want %v", got, tc.want)
			}
			all := strings.Join(notes, "\n")
			for _, s := range tc.noteHas {
				if !strings.Contains(all, s) {
					t.Errorf("notes lack %q:\n%s", s, all)
				}
			}
			for _, s := range tc.notNoteHas {
				if strings.Contains(all, s) {
					t.Errorf("notes should not mention %q:\n%s", s, all)
				}
			}
		})
	}
}

func TestPlanImportSkips(t *testing.T) {
	inactive := serviceApp("0oaI", "Old batch")
	inactive.Active = false
	web := provider.App{ID: "0oaW", ClientID: "0oaW", Label: "Portal", Active: true, AuthMethod: provider.AuthClientSecretBasic,
		OtherType: "web", GrantTypes: []string{"authorization_code", "client_credentials"}, ResponseTypes: []string{"code"}}
	owned := serviceApp("0oaO", "team-a/hello")
	owned.Owner = provider.Owner{UID: "u-1", Namespace: "team-a", Name: "hello"}
	claimed := serviceApp("0oaC", "Claimed")
	jwtApp := serviceApp("0oaJ", "Signed")
	jwtApp.AuthMethod = "client_secret_jwt"
	ok := serviceApp("0oaK", "Keep")
	custom := serviceApp("0oaM", "Custom client id")
	custom.ClientID = "billing-prod-client"

	plan := PlanImport(ImportInput{
		Namespace: "ns", Backend: "okta",
		ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: "okta"},
		Apps:        []provider.App{inactive, web, owned, claimed, jwtApp, ok, custom},
		Claimed:     map[string]string{"0oaC": "other/claimer"},
	})
	if len(plan.Clients) != 2 {
		t.Fatalf("want apps 0oaK and 0oaM imported, got %+v", plan.Clients)
	}
	// Sorted by name: custom-client-id, keep.
	if a := plan.Clients[0].Object.Spec.Adopt; a.AppID != "0oaM" || a.ClientID != "" {
		t.Errorf("an app whose client id is not its id must be adopted by app id: %+v", a)
	}
	if a := plan.Clients[1].Object.Spec.Adopt; a.ClientID != "0oaK" || a.AppID != "" {
		t.Errorf("adopt %+v, want clientID 0oaK", a)
	}
	why := map[string]string{}
	for _, s := range plan.Skipped {
		why[s.AppID] = s.Why
	}
	for id, want := range map[string]string{
		"0oaI": "inactive",
		"0oaW": `application type is "web"`,
		"0oaO": "owned by OAuthClient team-a/hello",
		"0oaC": "other/claimer",
		"0oaJ": `"client_secret_jwt"`,
	} {
		if !strings.Contains(why[id], want) {
			t.Errorf("app %s: reason %q, want it to contain %q", id, why[id], want)
		}
	}
}

// decodeStream splits a multi-document YAML stream as kubectl does and decodes each
// document strictly into an OAuthClient (an unknown field is an error).
func decodeStream(t *testing.T, stream []byte) []oauthv1.OAuthClient {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var out []oauthv1.OAuthClient
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			t.Fatalf("document does not parse: %v\n%s", err, doc)
		}
		if len(probe) == 0 {
			continue // comments only
		}
		var oc oauthv1.OAuthClient
		if err := yaml.UnmarshalStrict(doc, &oc); err != nil {
			t.Fatalf("document is not an OAuthClient: %v\n%s", err, doc)
		}
		out = append(out, oc)
	}
	return out
}

func TestWriteStreamParsesBack(t *testing.T) {
	a := serviceApp("0oaA", "Billing Service")
	a.AuthMethod = provider.AuthClientSecretPost
	b := serviceApp("0oaB", "reports\nwith a newline")
	plan := PlanImport(ImportInput{
		Namespace: "team-a", Backend: "okta",
		ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: "okta"},
		Apps:        []provider.App{a, b, {ID: "0oaX", ClientID: "0oaX", Label: "Web", OtherType: "web", GrantTypes: []string{"authorization_code"}}},
		Grants:      []provider.ScopeGrant{{Policy: "p", Rule: "r", Clients: []string{"0oaA"}, Scopes: []string{"billing:write"}}},
	})
	var buf bytes.Buffer
	if err := WriteStream(&buf, plan); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	got := decodeStream(t, buf.Bytes())
	if len(got) != 2 {
		t.Fatalf("%d OAuthClients in the stream, want 2:\n%s", len(got), out)
	}
	billing := got[0]
	if billing.Name != "billing-service" || billing.Namespace != "team-a" || billing.Kind != "OAuthClient" ||
		billing.APIVersion != oauthv1.GroupVersion.String() {
		t.Errorf("object meta: %+v %+v", billing.TypeMeta, billing.ObjectMeta)
	}
	s := billing.Spec
	if s.Adopt == nil || s.Adopt.ClientID != "0oaA" || s.DisplayName != "Billing Service" ||
		s.TokenEndpointAuthMethod != oauthv1.AuthClientSecretPost || s.DeletionPolicy != oauthv1.DeletionPolicyOrphan ||
		s.ProviderRef.Name != "okta" || !slices.Equal(s.Scopes, []string{"billing:write"}) {
		t.Errorf("spec: %+v", s)
	}
	if got[1].Spec.DisplayName != "reports\nwith a newline" {
		t.Errorf("a label with a newline must survive: %q", got[1].Spec.DisplayName)
	}
	for _, want := range []string{"# okta app 0oaA", `# scopes: from policy "p" rule "r".`, "# Not imported:", "0oaX", "# Imported by kubectl clientcreds import"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "status:") || strings.Contains(out, "creationTimestamp") || strings.Contains(out, "managementPolicy") {
		t.Errorf("output has status, creationTimestamp or managementPolicy:\n%s", out)
	}
	// Every comment line of a note starts with "#": a newline in a label cannot end one.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "with a newline") {
			t.Errorf("a note's second line escaped its comment:\n%s", out)
		}
	}
}

func TestWriteStreamObserve(t *testing.T) {
	plan := PlanImport(ImportInput{Namespace: "ns", Backend: "okta", Observe: true,
		ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: "okta"},
		Apps:        []provider.App{serviceApp("0oaA", "A")}})
	var buf bytes.Buffer
	if err := WriteStream(&buf, plan); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(buf.String(), "---\n")
	var m map[string]any
	if err := yaml.Unmarshal([]byte(docs[len(docs)-1]), &m); err != nil {
		t.Fatal(err)
	}
	spec, _ := m["spec"].(map[string]any)
	if spec["managementPolicy"] != ManagementPolicyObserve {
		t.Fatalf("spec.managementPolicy = %v, want Observe:\n%s", spec["managementPolicy"], buf.String())
	}
}

func TestWriteDir(t *testing.T) {
	inactive := serviceApp("0oaI", "Old")
	inactive.Active = false
	plan := PlanImport(ImportInput{Namespace: "ns", Backend: "okta",
		ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: "okta"},
		Apps:        []provider.App{serviceApp("0oaA", "Alpha"), serviceApp("0oaB", "Beta"), inactive}})
	dir := filepath.Join(t.TempDir(), "out")
	written, err := WriteDir(dir, plan)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "alpha.yaml"), filepath.Join(dir, "beta.yaml"), filepath.Join(dir, NotesFile)}
	if !slices.Equal(written, want) {
		t.Fatalf("wrote %v, want %v", written, want)
	}
	for _, p := range want[:2] {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeStream(t, b); len(got) != 1 || got[0].Name+".yaml" != filepath.Base(p) {
			t.Errorf("%s holds %+v", p, got)
		}
	}
	notes, err := os.ReadFile(want[2])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(notes), "0oaI") || !strings.Contains(string(notes), "inactive") {
		t.Errorf("%s does not list the skipped app:\n%s", NotesFile, notes)
	}
}
