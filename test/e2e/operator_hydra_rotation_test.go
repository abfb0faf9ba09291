package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
)

// TestOperatorCrashDuringRotationOnHydra: on Hydra a rotation creates a new client per
// generation. The manager is killed with SIGKILL while Hydra has made such a client and the
// answer has not reached the manager (a proxy holds every create's answer for 400 ms), so
// the OAuthClient's status records a pending generation without its client. A new manager
// settles it: afterwards Hydra holds exactly one client per OAuthClient — none leaked,
// none duplicated — named by status, and every Secret gets a token.
func TestOperatorCrashDuringRotationOnHydra(t *testing.T) {
	const (
		n        = 6
		ns       = "e2e-hydra-rotation-crash"
		provider = "hydra-rotation-crash"
	)
	c := sharedCluster(t)
	hs := hydratest.Start(t, hydratest.Options{})
	slowURL, created := holdCreates(t, hs.AdminURL)

	first, _ := startManager(t, c, "manager-before-kill-hydra-rotation")
	addHydraProvider(t, c, provider, slowURL, hs.Issuer)
	c.kubectl(t, "", "create", "namespace", ns)
	manifest := func(interval string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: rot-%02d, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %s}
  scopes: [%q]
  rotation: {interval: %s, gracePeriod: 2s}
`, i, ns, provider, helloScope, interval)
		}
		return b.String()
	}
	c.kubectl(t, manifest("10s"), "apply", "-f", "-")
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=90s", "oauthclients", "--all", "-n", ns)
	initial := map[string]string{}
	for _, oc := range c.oauthClients(t, ns) {
		initial[oc.Name] = oc.Status.AppID
	}

	// The first rotation's create, answered by Hydra and held by the proxy: kill now.
	deadline := time.Now().Add(60 * time.Second)
	for created.Load() <= n {
		if first.Exited() {
			t.Fatalf("the manager exited before the kill (log: %s)", first.LogPath)
		}
		if time.Now().After(deadline) {
			t.Fatal("no rotation create within 60s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := first.Kill(); err != nil {
		t.Fatal(err)
	}
	pendingUnrecorded := 0
	for _, oc := range c.oauthClients(t, ns) {
		if pc := oc.Status.PendingClient; pc != nil && pc.AppID == "" {
			pendingUnrecorded++
		}
	}
	atKill := len(hydraClients(t, hs.AdminURL))
	t.Logf("killed the manager with %d Hydra clients (%d OAuthClients), %d rotations with a create whose answer was lost", atKill, n, pendingUnrecorded)
	if pendingUnrecorded == 0 {
		t.Fatal("no OAuthClient had a rotation's create in flight at the kill; the test tested no crash")
	}

	// No further rotation, so that the state settles; the one under way is finished.
	c.kubectl(t, manifest("1h"), "apply", "-f", "-")
	startManager(t, c, "manager-after-kill-hydra-rotation")
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "oauthclients", "--all", "-n", ns, "--timeout=90s"); err != nil {
			t.Log(err)
		}
		if _, err := c.run("", "delete", "namespace", ns, "--wait=false"); err != nil {
			t.Log(err)
		}
	})
	restarted := time.Now()
	deadline = time.Now().Add(90 * time.Second)
	for {
		settled := 0
		for _, oc := range c.oauthClients(t, ns) {
			r := readyCondition(oc)
			if oc.Status.PendingClient == nil && oc.Status.PreviousClient == nil && r != nil && r.Status == metav1.ConditionTrue &&
				r.ObservedGeneration == oc.Generation {
				settled++
			}
		}
		if settled == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d OAuthClients settled 90s after the restart", settled, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("all settled %s after the restart", time.Since(restarted).Round(100*time.Millisecond))

	inHydra := hydraClients(t, hs.AdminURL)
	byID := map[string]string{}
	for _, h := range inHydra {
		byID[h.ClientID] = h.Name
	}
	clients := c.oauthClients(t, ns)
	if len(inHydra) != n {
		t.Errorf("%d Hydra clients after settling, want exactly %d (one per OAuthClient)", len(inHydra), n)
	}
	rotated := 0
	for _, oc := range clients {
		if name, ok := byID[oc.Status.AppID]; !ok || name != ns+"/"+oc.Name {
			t.Errorf("%s: status.appID %q names no Hydra client of that name (%q)", oc.Name, oc.Status.AppID, name)
		}
		if oc.Status.AppID != initial[oc.Name] {
			rotated++
		}
	}
	if rotated == 0 {
		t.Error("no OAuthClient rotated")
	}
	var secrets corev1.SecretList
	c.getJSON(t, &secrets, "secrets", "-n", ns, "-l", "oauth.clientcreds.dev/oauthclient")
	if len(secrets.Items) != n {
		t.Fatalf("%d Secrets, want %d", len(secrets.Items), n)
	}
	for _, s := range secrets.Items {
		d := func(k string) string { return string(s.Data[k]) }
		r, err := requestToken(d("TOKEN_URL"), d("CLIENT_ID"), d("CLIENT_SECRET"), d("SCOPE"))
		if err != nil || r.status != http.StatusOK || r.accessToken == "" {
			t.Errorf("%s: token request: %v, %d %q", s.Name, err, r.status, r.errorCode)
		}
	}
}
