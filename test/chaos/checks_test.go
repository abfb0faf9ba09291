//go:build chaos

package chaos

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

type sharedInformer = cache.SharedIndexInformer

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// revokedWindow is how long a Secret of a live OAuthClient may hold a
// client secret the org no longer accepts before it counts as a
// violation: the checker compares every checkEvery, so a value retired
// between a Secret read and the org read shows for at most one round. The
// operator itself allows no such window: it retires a secret only after
// the Secret holds its successor (and the grace period is over).
const (
	checkEvery    = 5 * time.Second
	revokedWindow = 2 * checkEvery
)

// secretSet is every secret value seen during the run (Secrets, the org's
// state, the API token), for the log scan at the end.
type secretSet struct {
	mu   sync.Mutex
	vals map[string]struct{}
	lens map[int]struct{}
}

func newSecretSet() *secretSet {
	return &secretSet{vals: map[string]struct{}{}, lens: map[int]struct{}{}}
}

func (s *secretSet) addValue(v string) {
	if len(v) < 16 {
		return
	}
	s.mu.Lock()
	s.vals[v] = struct{}{}
	s.lens[len(v)] = struct{}{}
	s.mu.Unlock()
}

func (s *secretSet) add(data map[string][]byte) {
	for _, k := range []string{"CLIENT_SECRET", "PRIVATE_KEY"} {
		if v := strings.TrimSpace(string(data[k])); v != "" {
			s.addValue(v)
		}
	}
}

var tokenRE = regexp.MustCompile(`[A-Za-z0-9_\-+/=]{16,}`)

// scan returns how many secret values appear in the file.
func (s *secretSet) scan(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	found := map[string]bool{}
	for _, tok := range tokenRE.FindAll(data, -1) {
		for l := range s.lens {
			for off := 0; off+l <= len(tok); off++ {
				if _, ok := s.vals[string(tok[off:off+l])]; ok {
					found[string(tok[off:off+l])] = true
				}
			}
		}
	}
	return len(found), nil
}

// orgState is the part of the emulator's state file the checks read: the
// org as the emulator holds it, written on every change.
type orgState struct {
	Apps []struct {
		ID       string `json:"id"`
		Label    string `json:"label"`
		Status   string `json:"status"`
		ClientID string `json:"clientId"`
		Secrets  []struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
			Status string `json:"status"`
		} `json:"secrets"`
	} `json:"apps"`
}

func readOrg(path string) (*orgState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st orgState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// checker runs the invariants during the run and at its end.
type checker struct {
	r *run

	mu               sync.Mutex
	rounds           int
	revokedRounds    int // rounds that could compare Secrets with the org
	maxSecrets       int
	tooManySecrets   []string
	duplicates       []string
	badSince         map[string]time.Time
	longestBad       time.Duration
	revokedTooLong   []string
	deletedUIDs      map[types.UID]bool
	leftover         []string
	finalApps        int
	finalClients     int
	leftoverSettled  bool
	maxAppsPerClient int
}

func newChecker(r *run) *checker {
	return &checker{r: r, badSince: map[string]time.Time{}, deletedUIDs: map[types.UID]bool{}}
}

func (c *checker) deleted(uid types.UID) {
	c.mu.Lock()
	c.deletedUIDs[uid] = true
	c.mu.Unlock()
}

func (c *checker) loop(ctx context.Context) {
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.once(ctx, false)
	}
}

func appendCapped(l []string, s string) []string {
	if len(l) < 20 {
		return append(l, s)
	}
	return l
}

// once checks the invariants one time; final adds the settled-state ones.
func (c *checker) once(ctx context.Context, final bool) {
	r := c.r
	// Kubernetes first, the org second (see revokedWindow).
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var ocs oauthv1.OAuthClientList
	var secrets corev1.SecretList
	kerr := r.k8s.List(cctx, &ocs, client.InNamespace(r.ns))
	if kerr == nil {
		kerr = r.k8s.List(cctx, &secrets, client.InNamespace(r.ns))
	}
	cancel()
	org, oerr := readOrg(r.state)
	if oerr != nil {
		r.eventf("check", "org state unreadable this round: %v", oerr)
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rounds++

	byClientID := map[string]int{}
	labels := map[string]int{}
	for i, a := range org.Apps {
		byClientID[a.ClientID] = i
		labels[a.Label]++
		for _, s := range a.Secrets {
			r.secrets.addValue(s.Secret)
		}
		if n := len(a.Secrets); n > c.maxSecrets {
			c.maxSecrets = n
		}
		if len(a.Secrets) > 2 {
			c.tooManySecrets = appendCapped(c.tooManySecrets, fmt.Sprintf("%s: app %s (%s) holds %d secrets", now.UTC().Format(time.TimeOnly), a.ID, a.Label, len(a.Secrets)))
			r.eventf("violation", "app %s (%s) holds %d secrets", a.ID, a.Label, len(a.Secrets))
		}
	}
	for l, n := range labels {
		if n > c.maxAppsPerClient {
			c.maxAppsPerClient = n
		}
		if n > 1 {
			c.duplicates = appendCapped(c.duplicates, fmt.Sprintf("%s: %d apps labelled %s", now.UTC().Format(time.TimeOnly), n, l))
			if !final {
				r.eventf("check", "%d apps labelled %s (a duplicate unless one is a deleted client's, still being removed)", n, l)
			}
		}
	}
	if kerr != nil {
		return // the API server is away: the Secret comparison waits
	}
	c.revokedRounds++
	live := map[types.UID]*oauthv1.OAuthClient{}
	for i := range ocs.Items {
		if ocs.Items[i].DeletionTimestamp == nil {
			live[ocs.Items[i].UID] = &ocs.Items[i]
		}
	}
	seen := map[string]bool{}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		if live[ownerUID(s)] == nil || len(s.Data["CLIENT_SECRET"]) == 0 {
			continue
		}
		r.secrets.add(s.Data)
		key := string(s.UID) + "/" + s.ResourceVersion
		ok := false
		if ai, found := byClientID[string(s.Data["CLIENT_ID"])]; found {
			for _, sec := range org.Apps[ai].Secrets {
				if sec.Status == "ACTIVE" && sec.Secret == string(s.Data["CLIENT_SECRET"]) {
					ok = true
				}
			}
		}
		if ok {
			continue
		}
		seen[key] = true
		since, was := c.badSince[key]
		if !was {
			c.badSince[key] = now
			continue
		}
		if d := now.Sub(since); d > c.longestBad {
			c.longestBad = d
		}
		if now.Sub(since) > revokedWindow {
			c.revokedTooLong = appendCapped(c.revokedTooLong, fmt.Sprintf("%s: Secret %s holds a secret the org does not accept, for %s", now.UTC().Format(time.TimeOnly), s.Name, now.Sub(since).Round(time.Second)))
			r.eventf("violation", "Secret %s has held a secret the org does not accept for %s", s.Name, now.Sub(since).Round(time.Second))
		}
	}
	for k := range c.badSince {
		if !seen[k] {
			delete(c.badSince, k)
		}
	}

	if final {
		appIDs := map[string]bool{}
		for _, oc := range live {
			appIDs[oc.Status.AppID] = true
		}
		c.leftover = nil
		for _, a := range org.Apps {
			if !appIDs[a.ID] {
				c.leftover = append(c.leftover, fmt.Sprintf("%s (%s, %s)", a.ID, a.Label, a.Status))
			}
		}
		c.finalApps, c.finalClients, c.leftoverSettled = len(org.Apps), len(live), true
		c.duplicates = nil
		for l, n := range labels {
			if n > 1 {
				c.duplicates = append(c.duplicates, fmt.Sprintf("final: %d apps labelled %s", n, l))
			}
		}
	}
}

// report prints the run's figures and writes them to report.md in the log
// directory (and CHAOS_OUT).
func (r *run) report(ready int, readyErr error, readyAfter time.Duration) {
	c := r.checks
	f := r.fleet
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	failed := false
	inv := func(ok bool, format string, args ...any) {
		mark := "PASS"
		if !ok {
			mark, failed = "FAIL", true
		}
		add("- %s %s", mark, fmt.Sprintf(format, args...))
	}

	r.evMu.Lock()
	counts := map[string]int{}
	for k, v := range r.counts {
		counts[k] = v
	}
	r.evMu.Unlock()
	tally := r.tally()

	add("# chaos run, seed %d", r.cfg.seed)
	add("")
	add("%d OAuthClients (rotation every %s, grace %s), faults for %s, kubelet delay %s, token lifetime %s; run took %s.",
		r.cfg.clients, r.cfg.interval, r.cfg.grace, r.cfg.duration, r.cfg.kubeletDelay, r.cfg.tokenLife, time.Since(r.start).Round(time.Second))
	add("")
	add("Faults: %d kill -9 of a manager (%d of them the leader of two), %d kube-apiserver stops, %d emulator bursts (500/503/slow), %d emulator restarts; %d OAuthClients deleted and created again. Managers that exited by themselves (restarted as kubelet would): %d.",
		tally["kill"], tally["leaderkill"], tally["apiserver"], tally["burst"], tally["emurestart"], tally["churn"], tally["selfexit"])
	add("")
	add("Consumers: %d token fetches, %d failed; %d requests to hello through the verifier, %d failed. New client secrets published into running consumers' volumes (rotations): %d.",
		f.fetches.Load(), f.fetchFailures.Load(), f.requests.Load(), f.requestFailures.Load(), f.secretChanges.Load())

	f.mu.Lock()
	excused := map[string]int{}
	var unexcused []failure
	for _, x := range f.failures {
		if x.excuse != "" {
			excused[x.kind+", "+x.excuse]++
		} else {
			unexcused = append(unexcused, x)
		}
	}
	f.mu.Unlock()
	var ex []string
	for k, v := range excused {
		ex = append(ex, fmt.Sprintf("%d (%s)", v, k))
	}
	sort.Strings(ex)
	if len(ex) > 0 {
		add("Excused failures: %s.", strings.Join(ex, ", "))
	}
	add("")
	add("Invariants:")
	var fetchFails, reqFails int
	for _, x := range unexcused {
		if x.kind == "fetch" {
			fetchFails++
		} else {
			reqFails++
		}
	}
	inv(fetchFails == 0, "failed token fetches by a consumer whose OAuthClient exists, outside the kubelet-delay window (%s + 2s) and the emulator's own restarts: %d", r.cfg.kubeletDelay, fetchFails)
	inv(reqFails == 0, "failed requests to hello by such a consumer: %d", reqFails)
	for i, x := range unexcused {
		if i == 10 {
			break
		}
		add("    %s %s %s: %s", x.at.UTC().Format("15:04:05.000"), f.slots[x.slot].name, x.kind, x.err)
	}
	c.mu.Lock()
	inv(c.leftoverSettled && len(c.leftover) == 0, "apps in the org for deleted clients (Delete policy) once settled: %d (org holds %d apps for %d OAuthClients)", len(c.leftover), c.finalApps, c.finalClients)
	for _, l := range c.leftover[:min(len(c.leftover), 10)] {
		add("    %s", l)
	}
	inv(len(c.tooManySecrets) == 0, "never more than 2 secrets per app: most seen %d, over %d checks", c.maxSecrets, c.rounds)
	for _, l := range c.tooManySecrets[:min(len(c.tooManySecrets), 5)] {
		add("    %s", l)
	}
	inv(len(c.duplicates) == 0, "no duplicate apps (two apps with one OAuthClient's label) at the end: %d; most apps under one label during the run %d (a deleted client's app is removed before the client, so 1 expected)", len(c.duplicates), c.maxAppsPerClient)
	for _, l := range c.duplicates[:min(len(c.duplicates), 5)] {
		add("    %s", l)
	}
	inv(readyErr == nil, "every remaining OAuthClient Ready within 2m after the last fault: %d of %d, after %s", ready, r.cfg.clients, readyAfter.Round(time.Second))
	if readyErr != nil {
		add("    %v", readyErr)
	}
	inv(len(c.revokedTooLong) == 0, "no Secret holds a secret the org does not accept for longer than %s (checked every %s, %d rounds with the API server up): longest seen %s",
		revokedWindow, checkEvery, c.revokedRounds, c.longestBad.Round(time.Second))
	for _, l := range c.revokedTooLong[:min(len(c.revokedTooLong), 5)] {
		add("    %s", l)
	}
	c.mu.Unlock()

	// No secret value in any log.
	files, _ := filepath.Glob(filepath.Join(r.logDir, "*.log"))
	leaks := 0
	var leakFiles []string
	for _, p := range files {
		n, err := r.secrets.scan(p)
		if err != nil {
			continue
		}
		if n > 0 {
			leaks += n
			leakFiles = append(leakFiles, filepath.Base(p))
		}
	}
	r.secrets.mu.Lock()
	nvals := len(r.secrets.vals)
	r.secrets.mu.Unlock()
	inv(leaks == 0, "no secret value in any log: %d of %d values found, in %d log files scanned %v", leaks, nvals, len(files), leakFiles)
	add("")
	add("Events by kind: %v. Logs: %s", counts, r.logDir)

	text := strings.Join(lines, "\n") + "\n"
	_ = os.WriteFile(filepath.Join(r.logDir, "report.md"), []byte(text), 0o644)
	if r.cfg.out != "" {
		_ = os.MkdirAll(r.cfg.out, 0o755)
		_ = os.WriteFile(filepath.Join(r.cfg.out, fmt.Sprintf("chaos-%d.md", r.cfg.seed)), []byte(text), 0o644)
		_ = copyFile(filepath.Join(r.logDir, "events.log"), filepath.Join(r.cfg.out, fmt.Sprintf("chaos-%d-events.log", r.cfg.seed)))
	}
	fmt.Print("\n" + text)
	if failed {
		r.t.Errorf("chaos: an invariant failed (seed %d); see above and %s", r.cfg.seed, r.logDir)
	}
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}
