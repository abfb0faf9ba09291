package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

func TestStaleVersions(t *testing.T) {
	obj := func(rv string) *oauthv1.OAuthClient {
		return &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{UID: "u1", ResourceVersion: rv}}
	}
	var s staleVersions
	if s.isStale(obj("1")) {
		t.Fatal("stale with nothing written")
	}
	s.wrote(obj("2"), "1") // 1 → 2
	s.wrote(obj("3"), "2") // 2 → 3
	for rv, want := range map[string]bool{"1": true, "2": true} {
		if got := s.isStale(obj(rv)); got != want {
			t.Errorf("isStale(%s) = %v, want %v", rv, got, want)
		}
	}
	if s.isStale(obj("3")) {
		t.Error("the latest write is not stale")
	}
	// Seeing the latest version drops the trail.
	if s.isStale(obj("1")) {
		t.Error("trail kept after the cache caught up")
	}
	// Someone else's newer write is not stale either.
	s.wrote(obj("5"), "4")
	if s.isStale(obj("6")) {
		t.Error("a version this controller did not supersede is taken for stale")
	}
}
