package managerconfig

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

func TestParseNamespaces(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []string
		wantErr bool
	}{
		"empty":            {in: "", want: nil},
		"one":              {in: "team-a", want: []string{"team-a"}},
		"two, spaces":      {in: " team-a , team-b ", want: []string{"team-a", "team-b"}},
		"duplicates":       {in: "a,a,b", want: []string{"a", "b"}},
		"trailing comma":   {in: "a,", want: []string{"a"}},
		"upper case":       {in: "Team", wantErr: true},
		"leading dash":     {in: "-a", wantErr: true},
		"dot":              {in: "a.b", wantErr: true},
		"too long":         {in: "a123456789012345678901234567890123456789012345678901234567890123", wantErr: true},
		"one bad of three": {in: "a,B,c", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseNamespaces(tc.in)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("ParseNamespaces(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestTrimForCache(t *testing.T) {
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name:          "x",
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			Annotations:   map[string]string{lastAppliedAnnotation: "{...}", "keep": "me"},
		}
	}
	tests := map[string]struct {
		obj             any
		wantLastApplied bool
	}{
		"oauthclient loses last-applied": {obj: &oauthv1.OAuthClient{ObjectMeta: meta()}, wantLastApplied: false},
		"secret keeps its annotations":   {obj: &corev1.Secret{ObjectMeta: meta()}, wantLastApplied: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := trimForCache(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			o := out.(interface {
				GetManagedFields() []metav1.ManagedFieldsEntry
				GetAnnotations() map[string]string
			})
			if len(o.GetManagedFields()) != 0 {
				t.Error("managedFields kept")
			}
			if _, has := o.GetAnnotations()[lastAppliedAnnotation]; has != tc.wantLastApplied {
				t.Errorf("last-applied present = %v, want %v", has, tc.wantLastApplied)
			}
			if o.GetAnnotations()["keep"] != "me" {
				t.Error("another annotation was dropped")
			}
		})
	}
	if out, err := trimForCache("not an object"); err != nil || out != "not an object" {
		t.Errorf("non-object: %v %v", out, err)
	}
}
