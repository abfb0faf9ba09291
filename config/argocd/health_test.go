// Package argocd holds the Argo CD health check of the clientcreds kinds
// (health.lua) and its tests. The tests run the script in gopher-lua, the Lua
// VM Argo CD embeds, with the same libraries Argo CD opens for custom checks.
package argocd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/testutil"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// health is what Argo CD reads from the table a health script returns.
type health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// healthTests is the layout of health_test.yaml.
type healthTests struct {
	Tests []struct {
		InputPath    string `json:"inputPath"`
		HealthStatus health `json:"healthStatus"`
	} `json:"tests"`
}

// validStatuses are the health codes Argo CD accepts from a script; anything
// else becomes Unknown.
var validStatuses = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true,
	"Suspended": true, "Missing": true, "Unknown": true,
}

// runHealth evaluates script against obj the way Argo CD does for a health
// customization from argocd-cm: standard libraries closed except package,
// base and table (Argo CD adds a reduced os library, which the script does not
// use), obj as a global, a one-second deadline, and a table as the result.
func runHealth(t *testing.T, script string, obj map[string]any) health {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage,
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			t.Fatalf("open %q: %v", name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %s, want a table", L.Get(-1).Type())
	}
	var h health
	ret.ForEach(func(k, v lua.LValue) {
		switch k.String() {
		case "status":
			h.Status = v.String()
		case "message":
			h.Message = v.String()
		default:
			t.Errorf("health.lua returned an unexpected key %q", k.String())
		}
	})
	if !validStatuses[h.Status] {
		t.Fatalf("health.lua returned status %q, which Argo CD turns into Unknown", h.Status)
	}
	return h
}

// toLua converts a decoded Kubernetes object into Lua values, as Argo CD
// hands the live object to the script.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		tbl := L.CreateTable(len(v), 0)
		for _, item := range v {
			tbl.Append(toLua(L, item))
		}
		return tbl
	case map[string]any:
		tbl := L.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetString(key, toLua(L, item))
		}
		return tbl
	default:
		panic(fmt.Sprintf("toLua: unexpected %T", v))
	}
}

// readObject decodes a YAML fixture the way the API machinery does (integers
// as int64), like the unstructured objects Argo CD works with.
func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var u unstructured.Unstructured
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return u.Object
}

func readScript(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile("health.lua")
	if err != nil {
		t.Fatal(err)
	}
	return string(script)
}

// TestHealth runs every case of health_test.yaml.
func TestHealth(t *testing.T) {
	script := readScript(t)
	data, err := os.ReadFile("health_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases healthTests
	if err := yaml.UnmarshalStrict(data, &cases); err != nil {
		t.Fatalf("health_test.yaml: %v", err)
	}
	if len(cases.Tests) == 0 {
		t.Fatal("health_test.yaml has no tests")
	}
	seen := map[string]bool{}
	for _, tc := range cases.Tests {
		seen[filepath.Clean(tc.InputPath)] = true
		t.Run(strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
			got := runHealth(t, script, readObject(t, tc.InputPath))
			if got != tc.HealthStatus {
				t.Errorf("health = %+v, want %+v", got, tc.HealthStatus)
			}
		})
	}
	// Every fixture is a case: a fixture nobody checks proves nothing.
	fixtures, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		if !seen[f] {
			t.Errorf("%s is not listed in health_test.yaml", f)
		}
	}
}

// TestHealthStatusWording covers what the fixtures cannot show directly:
// generations that arrive as strings, and that a Stalled condition wins over
// Ready whatever the order of the conditions.
func TestHealthStatusWording(t *testing.T) {
	script := readScript(t)
	cond := func(typ, status, msg string, gen any) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": "R", "message": msg, "observedGeneration": gen}
	}
	cases := map[string]struct {
		obj  map[string]any
		want health
	}{
		"string generations, current": {
			obj: map[string]any{
				"metadata": map[string]any{"generation": "7"},
				"status": map[string]any{"observedGeneration": "7", "conditions": []any{
					cond("Ready", "True", "ok", "7"),
				}},
			},
			want: health{"Healthy", "ok"},
		},
		"string generations, behind": {
			obj: map[string]any{
				"metadata": map[string]any{"generation": "8"},
				"status": map[string]any{"observedGeneration": "7", "conditions": []any{
					cond("Ready", "True", "ok", "7"),
				}},
			},
			want: health{"Progressing", "Waiting for the controller to observe generation 8"},
		},
		"stalled listed after ready": {
			obj: map[string]any{
				"metadata": map[string]any{"generation": int64(2)},
				"status": map[string]any{"observedGeneration": int64(2), "conditions": []any{
					cond("Ready", "False", "not ready", int64(2)),
					cond("Stalled", "True", "stuck", int64(2)),
				}},
			},
			want: health{"Degraded", "stuck"},
		},
		"stalled listed before ready": {
			obj: map[string]any{
				"metadata": map[string]any{"generation": int64(2)},
				"status": map[string]any{"observedGeneration": int64(2), "conditions": []any{
					cond("Stalled", "True", "stuck", int64(2)),
					cond("Ready", "False", "not ready", int64(2)),
				}},
			},
			want: health{"Degraded", "stuck"},
		},
		"no metadata at all": {
			obj:  map[string]any{"status": map[string]any{"conditions": []any{cond("Ready", "True", "ok", nil)}}},
			want: health{"Healthy", "ok"},
		},
		"large generation keeps its digits": {
			obj: map[string]any{
				"metadata": map[string]any{"generation": int64(123456789)},
				"status":   map[string]any{"observedGeneration": int64(123456788), "conditions": []any{cond("Ready", "True", "ok", int64(123456788))}},
			},
			want: health{"Progressing", "Waiting for the controller to observe generation 123456789"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := runHealth(t, script, tc.obj); got != tc.want {
				t.Errorf("health = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestArgoCDConfigMap checks that config/argocd renders argocd-cm with the
// script, unchanged, under the key of each kind.
func TestArgoCDConfigMap(t *testing.T) {
	script := readScript(t)
	// kustomize reads this in another process; reading it here lets go
	// test's result cache notice edits.
	if _, err := os.ReadFile("kustomization.yaml"); err != nil {
		t.Fatal(err)
	}
	cmd := testutil.GoTool("hack/tools/gen/go.mod", "kustomize", "build", "config/argocd")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build config/argocd: %v\n%s", err, stderr.String())
	}
	var cm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(out, &cm); err != nil {
		t.Fatalf("config/argocd renders more or other than one ConfigMap: %v", err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" || cm.Metadata.Namespace != "argocd" {
		t.Fatalf("rendered %s %s/%s, want ConfigMap argocd/argocd-cm", cm.Kind, cm.Metadata.Namespace, cm.Metadata.Name)
	}
	if cm.Metadata.Labels["app.kubernetes.io/part-of"] != "argocd" {
		t.Errorf("argocd-cm lacks the label app.kubernetes.io/part-of=argocd that Argo CD selects on")
	}
	kinds := []string{"OAuthClient", "ClusterOAuthProvider", "OAuthProvider"}
	for _, kind := range kinds {
		key := "resource.customizations.health.oauth.clientcreds.dev_" + kind
		if got, ok := cm.Data[key]; !ok {
			t.Errorf("argocd-cm has no key %s", key)
		} else if got != script {
			t.Errorf("argocd-cm key %s differs from health.lua", key)
		}
	}
	if len(cm.Data) != len(kinds) {
		t.Errorf("argocd-cm has %d keys, want %d", len(cm.Data), len(kinds))
	}
}
