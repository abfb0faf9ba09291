package kubectlplugin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

func fakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(&oauthv1.OAuthClient{}).Build()
}

func TestStatusRows(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	rotation := func(interval time.Duration) *oauthv1.Rotation {
		return &oauthv1.Rotation{Interval: metav1.Duration{Duration: interval}}
	}
	ready := func(status metav1.ConditionStatus, reason string) []metav1.Condition {
		return []metav1.Condition{{Type: oauthv1.ConditionReady, Status: status, Reason: reason, LastTransitionTime: *at(0)}}
	}
	client := func(ns, name string, spec oauthv1.OAuthClientSpec, st oauthv1.OAuthClientStatus) *oauthv1.OAuthClient {
		spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: "okta"}
		return &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec, Status: st}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "keyed-oauth-client",
		CreationTimestamp: *at(-3 * time.Hour)}}
	c := fakeClient(t,
		client("a", "rotating", oauthv1.OAuthClientSpec{Rotation: rotation(720 * time.Hour)},
			oauthv1.OAuthClientStatus{Conditions: ready(metav1.ConditionTrue, "Succeeded"), LastRotationTime: at(-48 * time.Hour)}),
		client("a", "overdue", oauthv1.OAuthClientSpec{Rotation: rotation(time.Hour)},
			oauthv1.OAuthClientStatus{Conditions: ready(metav1.ConditionTrue, "Succeeded"), LastRotationTime: at(-2 * time.Hour)}),
		client("a", "new", oauthv1.OAuthClientSpec{Rotation: rotation(time.Hour)}, oauthv1.OAuthClientStatus{}),
		client("b", "keyed", oauthv1.OAuthClientSpec{TokenEndpointAuthMethod: oauthv1.AuthPrivateKeyJWT},
			oauthv1.OAuthClientStatus{Conditions: ready(metav1.ConditionFalse, "InvalidScope"), SecretName: "keyed-oauth-client"}),
		secret,
	)
	rows, err := StatusRows(context.Background(), c, "", now)
	if err != nil {
		t.Fatal(err)
	}
	want := []StatusRow{
		{"a", "new", "Unknown", "-", "-", "after publish"},
		{"a", "overdue", "True", "Succeeded", "120m", "due"}, // kubectl's HumanDuration,
		{"a", "rotating", "True", "Succeeded", "2d", "in 28d"},
		{"b", "keyed", "False", "InvalidScope", "3h", "-"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}

	only, err := StatusRows(context.Background(), c, "b", now)
	if err != nil || len(only) != 1 || only[0].Name != "keyed" {
		t.Fatalf("namespace b: %+v, %v", only, err)
	}

	var buf bytes.Buffer
	if err := WriteStatus(&buf, rows, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "NAMESPACE") || !strings.Contains(lines[3], "in 28d") {
		t.Errorf("table:\n%s", buf.String())
	}
}

func TestFindProvider(t *testing.T) {
	spec := oauthv1.OAuthProviderSpec{}
	c := fakeClient(t,
		&oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "okta"}, Spec: spec},
		&oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "both"}, Spec: spec},
		&oauthv1.OAuthProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "both"}, Spec: spec},
		&oauthv1.OAuthProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "mine"}, Spec: spec},
	)
	ctx := context.Background()
	cases := map[string]struct {
		name, kind, ns string
		wantKind       string
		wantErr        error
	}{
		"cluster provider by lookup":    {name: "okta", ns: "team-a", wantKind: oauthv1.KindClusterOAuthProvider},
		"namespaced provider by lookup": {name: "mine", ns: "team-a", wantKind: oauthv1.KindOAuthProvider},
		"both exist":                    {name: "both", ns: "team-a", wantErr: ErrProviderAmbiguous},
		"both exist, kind given":        {name: "both", ns: "team-a", kind: oauthv1.KindOAuthProvider, wantKind: oauthv1.KindOAuthProvider},
		"other namespace":               {name: "mine", ns: "team-b", wantErr: ErrProviderNotFound},
		"wrong kind":                    {name: "okta", ns: "team-a", kind: oauthv1.KindOAuthProvider, wantErr: ErrProviderNotFound},
		"unknown kind":                  {name: "okta", kind: "Provider", wantErr: ErrBadFlag},
		"no name":                       {wantErr: ErrBadFlag},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := FindProvider(ctx, c, tc.name, tc.kind, tc.ns)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kindOf(p) != tc.wantKind || p.GetName() != tc.name {
				t.Fatalf("found %s %s", kindOf(p), p.GetName())
			}
		})
	}
}
