package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// Unit tests of single phases against the fake provider: fast, and able to reach answers
// the emulator gives rarely. The envtest suite proves the same behaviour end to end.

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// readyClient is an OAuthClient that was Ready for its generation with a known app.
func readyClient() *oauthv1.OAuthClient {
	obj := &oauthv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: "team-a", UID: "uid-1", Generation: 2},
		Spec: oauthv1.OAuthClientSpec{
			ProviderRef: oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: "p"},
			Scopes:      []string{"hello:read"},
		},
	}
	obj.Status.ObservedGeneration = 2
	obj.Status.AppID, obj.Status.ClientID, obj.Status.SecretID = "app-1", "client-1", "sec-pub"
	conditions{list: &obj.Status.Conditions, generation: 2}.ready(oauthv1.ReasonSucceeded, "fine")
	return obj
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := oauthv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func ptrTo[T any](v T) *T { return &v }
