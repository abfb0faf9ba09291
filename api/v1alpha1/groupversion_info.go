// Package v1alpha1 holds the oauth.clientcreds.dev/v1alpha1 API: OAuthClient, the desired
// OAuth 2.0 client, and ClusterOAuthProvider / OAuthProvider, how to reach a backend.
//
// +kubebuilder:object:generate=true
// +groupName=oauth.clientcreds.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "oauth.clientcreds.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &schemeBuilder{}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// schemeBuilder collects the kinds of this package (apimachinery's runtime.SchemeBuilder;
// controller-runtime's scheme.Builder is deprecated for api packages).
// +kubebuilder:object:generate=false
type schemeBuilder struct {
	runtime.SchemeBuilder
}

// Register adds objs to the kinds of GroupVersion.
func (b *schemeBuilder) Register(objs ...runtime.Object) {
	b.SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, objs...)
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})
}
