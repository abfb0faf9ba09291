package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/clientcreds/clientcreds/internal/kubeletvolume"
	"github.com/clientcreds/clientcreds/pkg/credentials"
	"github.com/clientcreds/clientcreds/test/e2e/harness"
)

// TestConsumersRideThroughRotation is issue 15's proof: two clients send requests at 60/s to
// hello behind the verifier — one through bin/token-injector, one with pkg/credentials in
// this process — with the credentials of one OAuthClient, mounted from its Secret by a
// simulated kubelet (a new version directory and an atomic ..data swap, kubeletDelay after
// the Secret changed in the API server). Meanwhile the operator rotates the secret every
// 25s (grace 10s), the Secret is deleted and restored by the operator, and finally the
// client switches to private_key_jwt. No request may fail; every retired client secret must
// be refused by the token endpoint once its grace period is over (after a restore too: pods
// still hold a deleted Secret's value until kubelet syncs; at once after a change of method).
//
// The emulator issues 20s access tokens (--token-lifetime 20s, an emulator-only cap below
// Okta's 5-minute minimum), so that the clients renew their tokens every ~10s, several
// times across each change, and a token that was not renewed really expires.
func TestConsumersRideThroughRotation(t *testing.T) {
	const (
		interval     = 25 * time.Second
		grace        = 10 * time.Second
		kubeletDelay = 3 * time.Second
		tokenLife    = 20 * time.Second
		rate         = 60 // requests per second and client
		name         = "rider"
	)
	c := sharedCluster(t)
	org := startOrg(t, "--scopes", helloScope, "--token-lifetime", tokenLife.String())
	startManager(t, c, "manager-consumers")
	c.addProvider(t, "consumers", org)
	ns := "consumers-" + randomHex(t, 3)
	c.kubectl(t, "", "create", "namespace", ns)
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "namespace", ns, "--wait=false"); err != nil {
			t.Log(err)
		}
	})
	c.kubectl(t, fmt.Sprintf(`apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: %s, namespace: %s}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: consumers}
  scopes: [%q]
  rotation: {interval: %s, gracePeriod: %s}
`, name, ns, helloScope, interval, grace), "apply", "-f", "-")
	// Registered after the manager started, so it runs while the manager still does.
	t.Cleanup(func() {
		if _, err := c.run("", "delete", "--ignore-not-found", "--timeout=60s", "-n", ns, "oauthclient/"+name); err != nil {
			t.Log(err)
		}
	})
	c.kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=90s", "-n", ns, "oauthclient/"+name)
	secretName := c.oauthClient(t, ns, name).Status.SecretName

	hello := startHello(t)
	front := startVerifier(t, "verifier-consumers", oktaClient{org: org.url}, "--upstream", hello)

	// kubelet, mounting the Secret at vol.
	vol := filepath.Join(t.TempDir(), "oauth")
	kc, err := kubernetes.NewForConfig(c.env.Config)
	if err != nil {
		t.Fatal(err)
	}
	kl := startKubelet(t, kc, ns, secretName, vol, kubeletDelay)
	rc := checkRefusals(kl, grace)

	listen, admin := harness.FreeAddr(t), harness.FreeAddr(t)
	inj := harness.Start(t, "token-injector", harness.Binary(t, "token-injector"), []string{
		"--listen", listen, "--admin-listen", admin, "--upstream", front,
	}, harness.Options{Env: []string{"TOKEN_INJECTOR_CREDENTIALS_DIR=" + vol}})
	harness.WaitHTTP(t, "http://"+admin+"/readyz", startWait, inj)

	var fetchMu sync.Mutex
	var goFetches []fetchRecord
	goLog := &lockedBuffer{}
	src, err := credentials.FromDir(vol,
		credentials.WithLogger(slog.New(slog.NewJSONHandler(goLog, nil))),
		credentials.WithFetchObserver(func(f credentials.Fetch) {
			fetchMu.Lock()
			goFetches = append(goFetches, fetchRecord{at: time.Now(), took: f.Duration, method: f.AuthMethod, ok: f.Err == nil, retried: f.Retried})
			fetchMu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close() }()

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	loads := []*load{
		runLoad(ctx, "token-injector", &http.Client{Timeout: 15 * time.Second}, "http://"+listen+"/", rate),
		runLoad(ctx, "pkg/credentials", withTimeout(src.Client(), 15*time.Second), front+"/", rate),
	}
	loadStart := time.Now()

	// The Secret deleted; the operator restores it with new credentials.
	time.Sleep(12 * time.Second)
	deletedAt := time.Now()
	c.kubectl(t, "", "delete", "-n", ns, "secret/"+secretName)

	// After a scheduled rotation and its grace period (so that the retired secret's
	// refusal below is the operator's doing, not the switch's): private_key_jwt (rotation is
	// for secrets only).
	var rotatedAt time.Time
	for rotatedAt.IsZero() {
		for _, v := range kl.history() {
			if v.cause == "rotation" && v.seen.After(deletedAt) {
				rotatedAt = v.seen
			}
		}
		if rotatedAt.IsZero() && time.Since(loadStart) > 60*time.Second {
			t.Fatal("no scheduled rotation within 60s of load")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Until(rotatedAt.Add(grace + time.Second)))
	switchedAt := time.Now()
	c.kubectl(t, "", "patch", "-n", ns, "oauthclient/"+name, "--type=merge",
		"-p", `{"spec":{"tokenEndpointAuthMethod":"private_key_jwt","rotation":null}}`)
	// Run on until both clients have used the new method for a while.
	time.Sleep(time.Until(switchedAt.Add(tokenLife)))
	stopLoad()
	for _, l := range loads {
		l.wait()
	}
	loadTime := time.Since(loadStart)
	kl.stop()
	rc.stop()

	// Zero failed requests, at the rate asked for.
	for _, l := range loads {
		sent, failed := l.sent.Load(), l.failed.Load()
		t.Logf("%s: %d requests in %s (%.0f/s), %d failed, longest %s", l.name, sent, loadTime.Round(time.Millisecond),
			float64(sent)/loadTime.Seconds(), failed, l.longest().Round(time.Millisecond))
		if failed != 0 {
			t.Errorf("%s: %d of %d requests failed; first: %s", l.name, failed, sent, strings.Join(l.failures(), "; "))
		}
		if float64(sent)/loadTime.Seconds() < 50 {
			t.Errorf("%s: %.1f requests/s, want at least 50", l.name, float64(sent)/loadTime.Seconds())
		}
	}

	// The injector's own count agrees.
	m := call(t, http.MethodGet, "http://"+admin+"/metrics", "", nil)
	for metric, want := range map[string]int64{
		"clientcreds_token_injector_injected_requests_total": loads[0].sent.Load(),
		"clientcreds_token_injector_rejected_requests_total": 0,
	} {
		var got int64 = -1
		for _, line := range strings.Split(m.body, "\n") {
			if v, ok := strings.CutPrefix(line, metric+" "); ok {
				_, _ = fmt.Sscan(v, &got)
			}
		}
		if got != want {
			t.Errorf("%s = %d, want %d", metric, got, want)
		}
	}

	// What happened to the Secret, as kubelet saw it.
	versions := kl.history()
	var rotations, restores int
	for _, v := range versions {
		t.Logf("Secret version at +%s (%s): auth %s, published %s later", v.seen.Sub(loadStart).Round(100*time.Millisecond), v.cause, v.method, v.published.Sub(v.seen).Round(100*time.Millisecond))
		switch v.cause {
		case "rotation":
			rotations++
		case "restore":
			restores++
		}
	}
	if rotations == 0 || restores == 0 || versions[len(versions)-1].method != "private_key_jwt" {
		t.Errorf("the run saw %d rotations, %d restores, last method %s: it did not test what it claims", rotations, restores, versions[len(versions)-1].method)
	}
	if !slices.ContainsFunc(versions, func(v secretVersion) bool { return v.cause == "restore" && v.seen.After(deletedAt) }) {
		t.Error("no restore after the deletion")
	}

	// Every retired client secret was refused once its grace period was over.
	refusals := rc.results()
	for i, v := range versions[:len(versions)-1] {
		if len(v.data["CLIENT_SECRET"]) == 0 {
			continue
		}
		r, ok := refusals[i]
		switch {
		case !ok:
			t.Errorf("the secret of the version seen at +%s was never checked", v.seen.Sub(loadStart).Round(100*time.Millisecond))
		case r.err != "":
			t.Errorf("the secret of the version seen at +%s (retired by a %s): %s", v.seen.Sub(loadStart).Round(100*time.Millisecond), versions[i+1].cause, r.err)
		default:
			t.Logf("the secret of the version seen at +%s (retired by a %s) was refused %s after its grace ended",
				v.seen.Sub(loadStart).Round(100*time.Millisecond), versions[i+1].cause, r.after.Round(100*time.Millisecond))
		}
	}

	// Token fetches: how long the longest took, and when each client first used
	// private_key_jwt after the switch.
	injFetches := injectorFetches(t, inj.LogPath)
	fetchMu.Lock()
	defer fetchMu.Unlock()
	for _, side := range []struct {
		name    string
		fetches []fetchRecord
	}{{"token-injector", injFetches}, {"pkg/credentials", goFetches}} {
		var longest time.Duration
		var failedFetches, retried int
		firstJWT := time.Duration(-1)
		for _, f := range side.fetches {
			longest = max(longest, f.took)
			if !f.ok {
				failedFetches++
			}
			if f.retried {
				retried++
			}
			if f.ok && f.method == "private_key_jwt" && firstJWT < 0 {
				firstJWT = f.at.Sub(switchedAt)
			}
		}
		t.Logf("%s: %d token fetches (%d failed, %d retried with re-read files), longest %s; first private_key_jwt token %s after the switch",
			side.name, len(side.fetches), failedFetches, retried, longest.Round(time.Millisecond), firstJWT.Round(time.Millisecond))
		if len(side.fetches) < 6 {
			t.Errorf("%s: only %d token fetches; the test wants many across each change", side.name, len(side.fetches))
		}
		if firstJWT < 0 || firstJWT > tokenLife {
			t.Errorf("%s: the switch to private_key_jwt was followed after %s, want within one token lifetime (%s)", side.name, firstJWT, tokenLife)
		}
	}

	// No secret in either client's log.
	injLog, _ := os.ReadFile(inj.LogPath)
	for _, v := range versions {
		for _, k := range []string{"CLIENT_SECRET", "PRIVATE_KEY"} {
			val := strings.TrimSpace(string(v.data[k]))
			if len(val) < 8 {
				continue
			}
			if bytes.Contains(injLog, []byte(val)) || strings.Contains(goLog.String(), val) {
				t.Errorf("a %s value appears in a client's log", k)
			}
		}
	}
}

type fetchRecord struct {
	at      time.Time
	took    time.Duration
	method  string
	ok      bool
	retried bool
}

// injectorFetches reads the token fetches from the injector's JSON log.
func injectorFetches(t *testing.T, path string) []fetchRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []fetchRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct {
			Time       time.Time `json:"time"`
			Msg        string    `json:"msg"`
			Took       string    `json:"took"`
			AuthMethod string    `json:"authMethod"`
			Retried    bool      `json:"retried"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || (l.Msg != "Fetched an access token" && l.Msg != "Token request failed") {
			continue
		}
		took, _ := time.ParseDuration(l.Took)
		out = append(out, fetchRecord{at: l.Time, took: took, method: l.AuthMethod, ok: l.Msg == "Fetched an access token", retried: l.Retried})
	}
	return out
}

// load sends GETs at a fixed rate (open loop) and counts what failed.
type load struct {
	name         string
	sent, failed atomic.Int64
	mu           sync.Mutex
	firstFails   []string
	maxLatency   time.Duration
	wg           sync.WaitGroup
}

func runLoad(ctx context.Context, name string, client *http.Client, target string, rate int) *load {
	l := &load{name: name}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		interval := time.Second / time.Duration(rate)
		next := time.Now()
		for ctx.Err() == nil {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.one(client, target)
			}()
		}
	}()
	return l
}

func (l *load) one(client *http.Client, target string) {
	start := time.Now()
	l.sent.Add(1)
	var problem string
	resp, err := client.Get(target)
	if err != nil {
		problem = err.Error()
	} else {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("Hello World!")) {
			problem = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		}
	}
	took := time.Since(start)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxLatency = max(l.maxLatency, took)
	if problem != "" {
		l.failed.Add(1)
		if len(l.firstFails) < 5 {
			l.firstFails = append(l.firstFails, start.Format("15:04:05.000")+" "+problem)
		}
	}
}

func (l *load) wait() { l.wg.Wait() }

func (l *load) failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.firstFails)
}

func (l *load) longest() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxLatency
}

func withTimeout(c *http.Client, d time.Duration) *http.Client { c.Timeout = d; return c }

// secretVersion is one content of the Secret as the API server had it.
type secretVersion struct {
	data      map[string][]byte
	uid       string
	seen      time.Time // when the API server first had it
	published time.Time // when kubelet swapped it into the volume
	cause     string    // "initial", "rotation" (same method, new secret), "restore" (after a deletion), "change"
	method    string
}

// kubelet plays kubelet for one Secret volume: it polls the Secret and publishes each new
// content into dir with kubeletvolume.Write, delay after the API server had it. A deleted
// Secret leaves the volume as it is, as kubelet does.
type kubelet struct {
	mu       sync.Mutex
	versions []secretVersion
	cancel   context.CancelFunc
	done     chan struct{}
	pending  sync.WaitGroup
}

func startKubelet(t *testing.T, kc kubernetes.Interface, ns, name, dir string, delay time.Duration) *kubelet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &kubelet{cancel: cancel, done: make(chan struct{})}
	get := func() (map[string][]byte, string, bool, error) {
		s, err := kc.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, "", false, nil
		}
		if err != nil {
			return nil, "", false, err
		}
		return s.Data, string(s.UID), true, nil
	}
	data, uid, found, err := get()
	if err != nil || !found {
		t.Fatalf("kubelet: Secret %s/%s: found %v, %v", ns, name, found, err)
	}
	if err := kubeletvolume.Write(dir, data); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	k.versions = append(k.versions, secretVersion{data: data, uid: uid, seen: now, published: now, cause: "initial", method: string(data["AUTH_METHOD"])})
	t.Cleanup(k.stop)
	go func() {
		defer close(k.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			data, uid, found, err := get()
			if err != nil || !found {
				continue
			}
			k.mu.Lock()
			last := k.versions[len(k.versions)-1]
			if last.uid == uid && mapsEqualBytes(last.data, data) {
				k.mu.Unlock()
				continue
			}
			cause := "change"
			switch {
			case uid != last.uid:
				// A new object: the operator restored a deleted Secret (often faster than
				// this poll sees the deletion).
				cause = "restore"
			case string(data["AUTH_METHOD"]) == last.method && !bytes.Equal(data["CLIENT_SECRET"], last.data["CLIENT_SECRET"]):
				cause = "rotation"
			}
			i := len(k.versions)
			k.versions = append(k.versions, secretVersion{data: data, uid: uid, seen: time.Now(), cause: cause, method: string(data["AUTH_METHOD"])})
			k.mu.Unlock()
			k.pending.Add(1)
			time.AfterFunc(delay, func() {
				defer k.pending.Done()
				if err := kubeletvolume.Write(dir, data); err != nil {
					t.Errorf("kubelet: publishing a Secret version: %v", err)
					return
				}
				k.mu.Lock()
				k.versions[i].published = time.Now()
				k.mu.Unlock()
			})
		}
	}()
	return k
}

func (k *kubelet) stop() {
	k.cancel()
	<-k.done
	k.pending.Wait()
}

func (k *kubelet) history() []secretVersion {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.versions)
}

func mapsEqualBytes(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// refusalChecker asks the token endpoint, for every client secret the Secret stops carrying,
// until it refuses the secret: from the end of the grace period after a rotation or a
// restore (the grace period is shorter than controllers.RestoreGracePeriod), at once after
// a change of method.
type refusalChecker struct {
	mu     sync.Mutex
	res    map[int]refusal // by index of the retired version
	done   chan struct{}
	cancel context.CancelFunc
	checks sync.WaitGroup
}

type refusal struct {
	after time.Duration // from the end of the grace period to the first refusal seen
	err   string
}

func checkRefusals(kl *kubelet, grace time.Duration) *refusalChecker {
	ctx, cancel := context.WithCancel(context.Background())
	rc := &refusalChecker{res: map[int]refusal{}, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(rc.done)
		checked := 0 // versions whose successor was handled
		for ctx.Err() == nil {
			vs := kl.history()
			for ; checked < len(vs)-1; checked++ {
				old, next := vs[checked], vs[checked+1]
				secret := string(old.data["CLIENT_SECRET"])
				if secret == "" {
					continue
				}
				from := next.seen
				overlap := next.cause == "rotation" || next.cause == "restore"
				if overlap {
					from = next.seen.Add(grace)
				}
				rc.checks.Add(1)
				go func(i int) {
					defer rc.checks.Done()
					tokenURL, clientID := string(old.data["TOKEN_URL"]), string(old.data["CLIENT_ID"])
					if overlap {
						// The overlap: half-way through the grace period the old secret still works.
						time.Sleep(time.Until(next.seen.Add(grace / 2)))
						if r, err := requestToken(tokenURL, clientID, secret, helloScope); err != nil || r.status != http.StatusOK {
							rc.set(i, refusal{err: fmt.Sprintf("refused half-way through its grace period: %d %q %v", r.status, r.errorCode, err)})
							return
						}
					}
					rc.set(i, waitRefused(tokenURL, clientID, secret, from))
				}(checked)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return rc
}

// waitRefused polls the token endpoint with the secret from the time from until it answers
// 401 invalid_client, for at most 20s.
func waitRefused(tokenURL, clientID, secret string, from time.Time) refusal {
	time.Sleep(time.Until(from))
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := requestToken(tokenURL, clientID, secret, helloScope)
		if err == nil && r.status == http.StatusUnauthorized && r.errorCode == "invalid_client" {
			return refusal{after: time.Since(from)}
		}
		if time.Now().After(deadline) {
			return refusal{err: fmt.Sprintf("still not refused %s after its grace ended: %d %q %v", time.Since(from).Round(time.Second), r.status, r.errorCode, err)}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (rc *refusalChecker) set(i int, r refusal) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.res[i] = r
}

// stop waits for the running checks and ends the checker.
func (rc *refusalChecker) stop() {
	rc.cancel()
	<-rc.done
	rc.checks.Wait()
}

func (rc *refusalChecker) results() map[int]refusal {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return maps.Clone(rc.res)
}
