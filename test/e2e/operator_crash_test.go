package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestOperatorCrashDuringBatch applies 50 OAuthClients in one kubectl apply,
// kills the manager with SIGKILL while it is creating their apps, starts it
// again, and checks the crash-safety contract: exactly 50 apps in the org —
// none duplicated, none lost — and 50 Secrets whose credentials all get tokens.
func TestOperatorCrashDuringBatch(t *testing.T) {
	const (
		n         = 50
		ns        = "e2e-batch"
		provider  = "okta-batch"
		killAfter = 15 // apps created before the kill
	)
	c := sharedCluster(t)
	// A slow token endpoint keeps each reconcile busy between creating its app
	// and recording it (Ready needs a token request), so the kill lands while
	// several creates are unrecorded.
	org := startOrg(t, "--scopes", helloScope, "--fault", "/oauth2/default/v1/token:latency=400ms,method=POST")
	first, _ := startManager(t, c, "manager-before-kill")
	c.addProvider(t, provider, org)
	c.kubectl(t, "", "create", "namespace", ns)

	var manifest strings.Builder
	names := map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("batch-%02d", i)
		names[name] = true
		fmt.Fprintf(&manifest, `---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: %s, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %s}
  scopes: [%q]
`, name, ns, provider, helloScope)
	}
	c.kubectl(t, manifest.String(), "apply", "-f", "-")

	deadline := time.Now().Add(60 * time.Second)
	for org.stats(t).appsCreated() < killAfter {
		if first.Exited() {
			t.Fatalf("the manager exited before the kill (log: %s)", first.LogPath)
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d apps created within 60s", killAfter)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Kill(); err != nil {
		t.Fatal(err)
	}
	createdAtKill := len(org.apps(t, 200))
	readyAtKill := 0
	for _, oc := range c.oauthClients(t, ns) {
		if r := readyCondition(oc); r != nil && r.Status == metav1.ConditionTrue {
			readyAtKill++
		}
	}
	t.Logf("killed the manager with %d apps created and %d of %d OAuthClients Ready", createdAtKill, readyAtKill, n)
	if createdAtKill >= n || readyAtKill >= n {
		t.Fatal("the kill came after the batch was done; it tested no crash")
	}

	startManager(t, c, "manager-after-kill")
	// Runs before the second manager is stopped, so the finalizers are honoured.
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "oauthclients", "--all", "-n", ns, "--timeout=90s"); err != nil {
			t.Log(err)
		}
		if _, err := c.run("", "delete", "namespace", ns, "--wait=false"); err != nil {
			t.Log(err)
		}
	})
	restarted := time.Now()
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=120s", "oauthclients", "--all", "-n", ns)
	t.Logf("all Ready %s after the restart", time.Since(restarted).Round(100*time.Millisecond))
	var events eventsv1.EventList
	c.getJSON(t, &events, "events.v1.events.k8s.io", "-n", ns)
	reasons := map[string]int{}
	for _, e := range events.Items {
		reasons[e.Reason]++
	}
	t.Logf("events by reason: %v", reasons)

	clients := c.oauthClients(t, ns)
	apps := org.apps(t, 20) // three pages
	t.Run("exactly one app per OAuthClient", func(t *testing.T) {
		if len(clients) != n {
			t.Fatalf("%d OAuthClients, want %d", len(clients), n)
		}
		if len(apps) != n {
			t.Fatalf("%d apps in the org, want exactly %d", len(apps), n)
		}
		byID := map[string]emulatedApp{}
		labels := map[string]bool{}
		for _, a := range apps {
			byID[a.ID] = a
			if labels[a.Label] {
				t.Errorf("two apps labelled %q", a.Label)
			}
			labels[a.Label] = true
			if a.Status != "ACTIVE" {
				t.Errorf("app %s (%s) is %s", a.ID, a.Label, a.Status)
			}
		}
		for _, oc := range clients {
			if !names[oc.Name] {
				t.Errorf("unexpected OAuthClient %s", oc.Name)
			}
			a, ok := byID[oc.Status.AppID]
			if !ok {
				t.Errorf("%s: status.appID %q is not an app in the org", oc.Name, oc.Status.AppID)
				continue
			}
			if a.Label != ns+"/"+oc.Name || a.Credentials.OAuthClient.ClientID != oc.Status.ClientID {
				t.Errorf("%s: app %s has label %q and client id %q; status says client id %q",
					oc.Name, a.ID, a.Label, a.Credentials.OAuthClient.ClientID, oc.Status.ClientID)
			}
			delete(byID, oc.Status.AppID) // two clients claiming one app would fail here
		}
	})

	t.Run("every Secret's credentials get a token", func(t *testing.T) {
		var secrets corev1.SecretList
		c.getJSON(t, &secrets, "secrets", "-n", ns, "-l", "oauth.clientcreds.dev/oauthclient")
		if len(secrets.Items) != n {
			t.Fatalf("%d Secrets, want %d", len(secrets.Items), n)
		}
		clientIDs := map[string]string{} // Secret name → status.clientID
		for _, oc := range clients {
			clientIDs[oc.Status.SecretName] = oc.Status.ClientID
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			failures []string
		)
		work := make(chan corev1.Secret)
		for range 10 {
			wg.Go(func() {
				for s := range work {
					d := func(k string) string { return string(s.Data[k]) }
					msg := ""
					if want, ok := clientIDs[s.Name]; !ok || d("CLIENT_ID") != want {
						msg = fmt.Sprintf("%s: CLIENT_ID does not match its OAuthClient's status", s.Name)
					} else if r, err := requestToken(d("TOKEN_URL"), d("CLIENT_ID"), d("CLIENT_SECRET"), d("SCOPE")); err != nil {
						msg = fmt.Sprintf("%s: %v", s.Name, err)
					} else if r.status != http.StatusOK || r.accessToken == "" {
						msg = fmt.Sprintf("%s: token request answered %d %q", s.Name, r.status, r.errorCode)
					}
					if msg != "" {
						mu.Lock()
						failures = append(failures, msg)
						mu.Unlock()
					}
				}
			})
		}
		for _, s := range secrets.Items {
			work <- s
		}
		close(work)
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("%d of %d Secrets do not work:\n%s", len(failures), n, strings.Join(failures, "\n"))
		}
	})
}
