package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/clientcreds/clientcreds/internal/provider/hydra/hydratest"
)

// TestOperatorCrashDuringBatchOnHydra is the crash-safety contract on a real Ory Hydra: 30
// OAuthClients in one apply, the manager killed with SIGKILL while it creates their Hydra
// clients, started again; then exactly 30 clients in Hydra — none duplicated, none lost —
// and 30 Secrets whose credentials all get tokens from Hydra.
func TestOperatorCrashDuringBatchOnHydra(t *testing.T) {
	const (
		n         = 30
		ns        = "e2e-hydra-batch"
		provider  = "hydra-batch"
		killAfter = 10 // clients created in Hydra before the kill
	)
	c := sharedCluster(t)
	hs := hydratest.Start(t, hydratest.Options{})
	slowURL, created := holdCreates(t, hs.AdminURL)

	first, _ := startManager(t, c, "manager-before-kill-hydra")
	addHydraProvider(t, c, provider, slowURL, hs.Issuer)
	c.kubectl(t, "", "create", "namespace", ns)

	var manifest strings.Builder
	for i := range n {
		fmt.Fprintf(&manifest, `---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: batch-%02d, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: %s}
  scopes: [%q]
`, i, ns, provider, helloScope)
	}
	c.kubectl(t, manifest.String(), "apply", "-f", "-")

	deadline := time.Now().Add(60 * time.Second)
	for created.Load() < killAfter {
		if first.Exited() {
			t.Fatalf("the manager exited before the kill (log: %s)", first.LogPath)
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d Hydra clients created within 60s", killAfter)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Kill(); err != nil {
		t.Fatal(err)
	}
	unrecorded := 0
	for _, oc := range c.oauthClients(t, ns) {
		if oc.Status.PendingCreate != nil {
			unrecorded++
		}
	}
	atKill := len(hydraClients(t, hs.AdminURL))
	t.Logf("killed the manager with %d Hydra clients created, %d OAuthClients with a create in flight", atKill, unrecorded)
	if atKill >= n {
		t.Fatal("the kill came after the batch was done; it tested no crash")
	}

	startManager(t, c, "manager-after-kill-hydra")
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

	clients := c.oauthClients(t, ns)
	inHydra := hydraClients(t, hs.AdminURL)
	byID := map[string]string{}
	for _, h := range inHydra {
		byID[h.ClientID] = h.Name
	}
	if len(clients) != n || len(inHydra) != n {
		t.Fatalf("%d OAuthClients and %d Hydra clients; want exactly %d of each", len(clients), len(inHydra), n)
	}
	for _, oc := range clients {
		name, ok := byID[oc.Status.AppID]
		if !ok || name != ns+"/"+oc.Name {
			t.Errorf("%s: status.appID %q names no Hydra client of that name (%q)", oc.Name, oc.Status.AppID, name)
		}
		delete(byID, oc.Status.AppID)
		if r := readyCondition(oc); r == nil || r.Status != metav1.ConditionTrue {
			t.Errorf("%s is not Ready", oc.Name)
		}
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

type hydraClient struct {
	ClientID string `json:"client_id"`
	Name     string `json:"client_name"`
}

// hydraClients lists every client of the Hydra at adminURL (one page of up to 500).
// holdCreates puts the Hydra admin API behind a proxy that holds each create's answer for
// 400 ms after Hydra made the client: the window in which a crash leaves a client its
// OAuthClient's status does not name. It returns the proxy's URL and the count of clients
// Hydra created through it.
func holdCreates(t *testing.T, adminURL string) (string, *atomic.Int64) {
	t.Helper()
	admin, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	created := &atomic.Int64{}
	proxy := httputil.NewSingleHostReverseProxy(admin)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/admin/clients" {
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
			if rec.Code == http.StatusCreated {
				created.Add(1)
			}
			time.Sleep(400 * time.Millisecond)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	return slow.URL, created
}

// addHydraProvider applies a ClusterOAuthProvider for a Hydra (removed when the test ends)
// and waits until it is Ready.
func addHydraProvider(t *testing.T, c *cluster, name, adminURL, issuer string) {
	t.Helper()
	c.kubectl(t, fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: %s}
spec:
  hydra: {adminURL: %q, issuer: %q}
`, name, adminURL, issuer), "apply", "-f", "-")
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "--ignore-not-found", "--wait=false", "clusteroauthprovider/"+name); err != nil {
			t.Log(err)
		}
	})
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=60s", "clusteroauthprovider/"+name)
}

func hydraClients(t *testing.T, adminURL string) []hydraClient {
	t.Helper()
	resp, err := http.Get(adminURL + "/admin/clients?page_size=500")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out []hydraClient
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
