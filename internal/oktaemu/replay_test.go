package oktaemu_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clientcreds/clientcreds/internal/oktaemu"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaemutest"
	"github.com/clientcreds/clientcreds/internal/oktaemu/oktaspec"
	"github.com/clientcreds/clientcreds/internal/oktaemu/transcript"
)

// The replay test sends the requests real Okta orgs answered (recorded by
// Okta's Terraform provider, see testdata/transcripts/README.md) to the
// emulator in recording order and compares each answer with the recorded
// one: status code, Okta errorCode, JSON shape (the set of keys whose value
// is not null, recursively, ignoring _links and _embedded) and the
// enumerated values below. Recorded ids are mapped to the ids the emulator
// assigns as objects are created.

// recordedOrg is the host of the recordings.
const recordedOrg = "https://oie-00.dne-okta.com"

// enumKeys are the members whose values are compared, not only their
// presence.
var enumKeys = map[string]bool{
	"status": true, "type": true, "application_type": true, "token_endpoint_auth_method": true,
	"grant_types": true, "response_types": true, "system": true, "default": true,
}

// knownDifferences lists the served interactions (cassette#index) whose
// answer differs from the recording, with the reason the difference is
// accepted. Every entry must still differ: a difference that disappears
// fails the test, so the list stays true.
var knownDifferences = func() map[string]string {
	m := map[string]string{
		"TestAccResourceOktaAuthServerDefault_crud#0": "the recorded org's default server had been switched to MANUAL key rotation before the recording " +
			"(so no nextRotation); a new org's default server, and the emulator's, rotates AUTO and announces nextRotation",
		"TestAccResourceOktaAuthServer_fullStack#2": "the recorded org answered 401 E0000015 (feature not enabled) to a well-formed create that the same org " +
			"accepted in other recordings; the emulated org has API Access Management, as the operator needs " +
			"(an org without it is the --disable-feature mode of issue 10 part B)",
	}
	// Recordings from February 2026 answered "universalLogout": null for
	// service apps; the March-April 2026 ones answer an object
	// (TestAccResourceOktaAppOauth_serviceWithJWKS, _serviceWithJWKSURI,
	// _skipAuthenticationPolicyServiceType). The emulator follows the newer.
	const older = "older recording (Feb 2026) answered universalLogout: null; newer ones (Mar-Apr 2026) answer the object the emulator sends"
	for _, k := range []string{
		"TestAccResourceOktaAppOAuthRoleAssignment_basic#0", "TestAccResourceOktaAppOAuthRoleAssignment_basic#2",
		"TestAccResourceOktaAppOAuthRoleAssignment_basic#6", "TestAccResourceOktaAppOAuthRoleAssignment_basic#10",
		"TestAccResourceOktaAppOAuthRoleAssignment_basic#15",
		"TestAccResourceOktaAppOauth_serviceNative#0", "TestAccResourceOktaAppOauth_serviceNative#2",
		"TestAccResourceOktaAppOauth_serviceNative#5", "TestAccResourceOktaAppOauth_serviceNative#7",
	} {
		m[k] = older
	}
	return m
}()

// oktaIDPattern matches the ids Okta assigns: a three-character type
// prefix and 17 more characters (19 in some hand-written fixtures).
var oktaIDPattern = regexp.MustCompile(`^(0oa|aus|scp|00p|0pr|ocl|ocs|pks|00g|00u|rst|cal|oar)[A-Za-z0-9]{17,19}$`)

// isOktaID reports whether s is an Okta id. Ids carry digits; path words
// such as "authorizationServers" have the same length but none.
func isOktaID(s string) bool {
	return oktaIDPattern.MatchString(s) && strings.ContainsAny(s, "0123456789")
}

// placeholders name the path segment that follows a collection.
var placeholders = map[string]string{
	"apps": "{appId}", "authorizationServers": "{authServerId}", "scopes": "{scopeId}",
	"policies": "{policyId}", "rules": "{ruleId}", "claims": "{claimId}", "secrets": "{secretId}",
	"keys": "{keyId}", "clients": "{clientId}", "tokens": "{tokenId}", "roles": "{roleId}",
	"groups": "{groupId}", "inlineHooks": "{hookId}", "authenticators": "{authenticatorId}",
}

// endpoint is "METHOD /path/{placeholders}" for the table.
func endpoint(method, path string) string {
	p, _, _ := strings.Cut(path, "?")
	segs := strings.Split(p, "/")
	for i := 1; i < len(segs); i++ {
		if ph, ok := placeholders[segs[i-1]]; ok && segs[i] != "lifecycle" && segs[i] != "credentials" {
			segs[i] = ph
		}
	}
	return method + " " + strings.Join(segs, "/")
}

type endpointStats struct{ served, matched, skipped int }

func loadCassettes(t *testing.T) []transcript.Cassette {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "transcripts", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcript fixtures (regenerate with go run ./hack/okta-transcripts): %v", err)
	}
	sort.Strings(files)
	var out []transcript.Cassette
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c transcript.Cassette
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, c)
	}
	return out
}

// replayer carries the state of one replay: the id map and the apps the
// emulator does not serve.
type replayer struct {
	env      *oktaemutest.Env
	client   *http.Client
	ids      map[string]string // recorded id -> emulator id
	skipApps map[string]string // recorded app id -> why its interactions are skipped
}

// skipReason says why an interaction is not sent, or "".
func (r *replayer) skipReason(in transcript.Interaction) string {
	if why := transcript.OutOfScope(in.Method, in.Path); why != "" {
		return why
	}
	p, _, _ := strings.Cut(in.Path, "?")
	for _, seg := range strings.Split(p, "/") {
		if why, ok := r.skipApps[seg]; ok {
			return why
		}
		if isOktaID(seg) && r.ids[seg] == "" {
			return "names an object the recording did not create (it existed in the recorded org)"
		}
	}
	if in.Method == http.MethodGet && p == "/api/v1/apps" {
		var list []struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(in.Resp, &list) == nil && len(list) > 0 && !slices.ContainsFunc(list, func(a struct {
			ID string `json:"id"`
		}) bool {
			return r.skipApps[a.ID] == ""
		}) {
			return "lists only apps of other types, which the emulator refused"
		}
	}
	if in.Method == http.MethodPost && p == "/api/v1/apps" {
		var body struct {
			Settings struct {
				OAuthClient struct {
					ApplicationType string `json:"application_type"`
				} `json:"oauthClient"`
			} `json:"settings"`
		}
		_ = json.Unmarshal(in.Req, &body)
		if t := body.Settings.OAuthClient.ApplicationType; t != "service" {
			why := fmt.Sprintf("%s app: the emulator serves service apps only (others get Okta's 400)", t)
			var resp struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(in.Resp, &resp)
			if resp.ID != "" {
				r.skipApps[resp.ID] = why
			}
			return why
		}
	}
	return ""
}

// mapIDs rewrites recorded ids and the recorded org URL in s.
func (r *replayer) mapIDs(s string) string {
	s = strings.ReplaceAll(s, recordedOrg, r.env.URL)
	for from, to := range r.ids {
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}

func (r *replayer) send(in transcript.Interaction) (int, []byte, error) {
	var body io.Reader
	if len(in.Req) > 0 {
		body = strings.NewReader(r.mapIDs(string(in.Req)))
	}
	req, err := http.NewRequest(in.Method, r.env.URL+r.mapIDs(in.Path), body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "SSWS "+r.env.APIToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// learnIDs walks the recorded and the emulator's answer side by side and
// maps every recorded id to the emulator's id at the same place. Array
// elements pair by name when they have one, else by position.
func (r *replayer) learnIDs(rec, got any) {
	switch rv := rec.(type) {
	case map[string]any:
		gv, ok := got.(map[string]any)
		if !ok {
			return
		}
		for _, k := range []string{"id", "client_id"} {
			rid, _ := rv[k].(string)
			gid, _ := gv[k].(string)
			if rid != "" && gid != "" && r.ids[rid] == "" && isOktaID(rid) {
				r.ids[rid] = gid
			}
		}
		for k, e := range rv {
			r.learnIDs(e, gv[k])
		}
	case []any:
		gv, ok := got.([]any)
		if !ok {
			return
		}
		byName := map[string]any{}
		for _, g := range gv {
			if m, ok := g.(map[string]any); ok {
				if n, ok := m["name"].(string); ok {
					byName[n] = g
				}
			}
		}
		for i, e := range rv {
			if m, ok := e.(map[string]any); ok {
				if n, ok := m["name"].(string); ok {
					if g, ok := byName[n]; ok {
						r.learnIDs(e, g)
					}
					continue
				}
			}
			if i < len(gv) {
				r.learnIDs(e, gv[i])
			}
		}
	}
}

// shape returns the paths of the members whose value is not null,
// ignoring _links and _embedded; array elements share the path "p[]".
func shape(v any, prefix string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil || k == "_links" || k == "_embedded" {
				continue
			}
			p := prefix + "." + k
			out[p] = true
			shape(e, p, out)
		}
	case []any:
		for _, e := range x {
			shape(e, prefix+"[]", out)
		}
	}
}

// enums returns, per path, the sorted distinct values of the enumKeys
// members.
func enums(v any, prefix string, out map[string][]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := prefix + "." + k
			if enumKeys[k] && e != nil {
				var val string
				if arr, ok := e.([]any); ok {
					ss := make([]string, 0, len(arr))
					for _, a := range arr {
						ss = append(ss, fmt.Sprint(a))
					}
					sort.Strings(ss)
					val = "[" + strings.Join(ss, " ") + "]"
				} else {
					val = fmt.Sprint(e)
				}
				if !slices.Contains(out[p], val) {
					out[p] = append(out[p], val)
					sort.Strings(out[p])
				}
			}
			if k != "_links" && k != "_embedded" {
				enums(e, p, out)
			}
		}
	case []any:
		for _, e := range x {
			enums(e, prefix+"[]", out)
		}
	}
}

func decode(b []byte) any {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	return v
}

// compare lists how got differs from the recording.
func compare(in transcript.Interaction, status int, got any) []string {
	var diffs []string
	if status != in.Code {
		diffs = append(diffs, fmt.Sprintf("status %d, recorded %d", status, in.Code))
	}
	rec := decode(in.Resp)
	code := func(v any) string {
		if m, ok := v.(map[string]any); ok {
			s, _ := m["errorCode"].(string)
			return s
		}
		return ""
	}
	if code(got) != code(rec) {
		diffs = append(diffs, fmt.Sprintf("errorCode %q, recorded %q", code(got), code(rec)))
	}
	rs, gs := map[string]bool{}, map[string]bool{}
	shape(rec, "", rs)
	shape(got, "", gs)
	var missing, extra []string
	for k := range rs {
		if !gs[k] {
			missing = append(missing, k)
		}
	}
	for k := range gs {
		if !rs[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		diffs = append(diffs, "missing "+strings.Join(missing, " "))
	}
	if len(extra) > 0 {
		diffs = append(diffs, "extra "+strings.Join(extra, " "))
	}
	re, ge := map[string][]string{}, map[string][]string{}
	enums(rec, "", re)
	enums(got, "", ge)
	var keys []string
	for k := range re {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if g, ok := ge[k]; ok && !slices.Equal(g, re[k]) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, recorded %v", k, g, re[k]))
		}
	}
	return diffs
}

// TestTranscriptReplay replays every recorded interaction the emulator
// serves (testdata/transcripts, derived from
// ../shared/okta-transcripts/idaas by hack/okta-transcripts).
func TestTranscriptReplay(t *testing.T) {
	cassettes := loadCassettes(t)
	env := oktaemutest.Start(t, oktaemu.Config{RateLimits: oktaemu.RateLimits{Apps: 1 << 20, App: 1 << 20, Token: 1 << 20, Other: 1 << 20}})
	v, err := oktaspec.Load()
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	var specErrs []string
	tr := &oktaspec.Transport{Validator: v, OnError: func(err error) { specErrs = append(specErrs, err.Error()) }}
	r := &replayer{env: env, client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		ids: map[string]string{}, skipApps: map[string]string{}}

	stats := map[string]*endpointStats{}
	skipped := map[string]int{}
	served, matched := 0, 0
	var unexpected, stale []string
	for _, c := range cassettes {
		for i, in := range c.Interactions {
			key := fmt.Sprintf("%s#%d", c.Name, i)
			ep := endpoint(in.Method, in.Path)
			st := stats[ep]
			if st == nil {
				st = &endpointStats{}
				stats[ep] = st
			}
			if why := r.skipReason(in); why != "" {
				if os.Getenv("REPLAY_DEBUG") != "" {
					t.Logf("skip %s %s %s: %s", key, in.Method, in.Path, why)
				}
				st.skipped++
				skipped[why]++
				continue
			}
			served++
			st.served++
			n := len(specErrs)
			status, body, err := r.send(in)
			if err != nil {
				t.Fatalf("%s %s %s: %v", key, in.Method, in.Path, err)
			}
			got := decode(body)
			if status < 300 {
				r.learnIDs(decode(in.Resp), got)
			} else if in.Code < 300 {
				// The emulator did not create what the org created: later
				// requests naming it are still sent (and answer 404).
				r.learnIDs(decode(in.Resp), decode(in.Resp))
			}
			diffs := compare(in, status, got)
			for _, e := range specErrs[n:] {
				diffs = append(diffs, "spec: "+e)
			}
			reason, known := knownDifferences[key]
			switch {
			case len(diffs) == 0:
				matched++
				st.matched++
				if known {
					stale = append(stale, fmt.Sprintf("%s (%s): matches now; remove it from knownDifferences (%s)", key, ep, reason))
				}
			case !known:
				unexpected = append(unexpected, fmt.Sprintf("%s %s:\n    %s", key, ep, strings.Join(diffs, "\n    ")))
			}
		}
	}

	var b strings.Builder
	eps := make([]string, 0, len(stats))
	for ep := range stats {
		eps = append(eps, ep)
	}
	sort.Slice(eps, func(i, j int) bool {
		pi, pj := strings.SplitN(eps[i], " ", 2)[1], strings.SplitN(eps[j], " ", 2)[1]
		if pi != pj {
			return pi < pj
		}
		return eps[i] < eps[j]
	})
	fmt.Fprintf(&b, "%-92s %6s %7s %7s\n", "endpoint", "served", "match", "skipped")
	for _, ep := range eps {
		st := stats[ep]
		fmt.Fprintf(&b, "%-92s %6d %7d %7d\n", ep, st.served, st.matched, st.skipped)
	}
	total := 0
	var whys []string
	for why, n := range skipped {
		total += n
		whys = append(whys, fmt.Sprintf("  %4d  %s", n, why))
	}
	sort.Strings(whys)
	fmt.Fprintf(&b, "skipped: %d interactions\n%s\n", total, strings.Join(whys, "\n"))
	if len(knownDifferences) > 0 {
		keys := make([]string, 0, len(knownDifferences))
		for k := range knownDifferences {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "known differences: %d\n", len(keys))
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %s\n", k, knownDifferences[k])
		}
	}
	t.Log("\n" + b.String())
	// The summary line goes to stdout as well, so `make test` shows it.
	fmt.Printf("transcripts: %d/%d interactions match\n", matched, served)
	for _, u := range unexpected {
		t.Errorf("differs from the recording: %s", u)
	}
	for _, s := range stale {
		t.Errorf("%s", s)
	}
}

// specNullables are the members the recorded orgs answered as null where
// Okta's spec says they are not nullable: the only places the recordings and
// the spec disagree. The emulator leaves such members out, which both the
// spec and the replay's shape comparison (null = absent) accept, so the
// response validator needs no exception.
var specNullables = []string{
	"/accessibility/errorRedirectUrl", "/accessibility/loginRedirectUrl", // POST /api/v1/apps (every service-app recording)
	"/universalLogout", // POST /api/v1/apps (TestAccResourceOktaAppOAuthRoleAssignment_basic, _serviceNative)
	"/description",     // POST /api/v1/authorizationServers without a description (TestAccResourceOktaAuthServer_gh299)
}

// TestRecordedAnswersAgainstSpec validates the recorded answers the
// emulator serves against the trimmed spec and fails on any disagreement
// other than specNullables.
func TestRecordedAnswersAgainstSpec(t *testing.T) {
	v, err := oktaspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	r := &replayer{ids: map[string]string{}, skipApps: map[string]string{}}
	notNullable := regexp.MustCompile(`at (\S+): Value is not nullable`)
	checked, nullOnly := 0, 0
	for _, c := range loadCassettes(t) {
		for i, in := range c.Interactions {
			if r.skipReason(in) != "" || len(in.Resp) == 0 {
				continue
			}
			// Ids are not known here; "names an object the recording did not
			// create" only needs the ids the recording created.
			r.learnIDs(decode(in.Resp), decode(in.Resp))
			req, err := http.NewRequest(in.Method, recordedOrg+in.Path, nil)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			err = v.ValidateResponse(req, in.Code, http.Header{"Content-Type": {"application/json"}}, in.Resp)
			if err == nil {
				continue
			}
			rest := err.Error()
			for _, m := range notNullable.FindAllStringSubmatch(rest, -1) {
				if slices.Contains(specNullables, m[1]) {
					rest = strings.ReplaceAll(rest, m[0], "")
				}
			}
			if strings.Contains(rest, " at ") || !strings.Contains(err.Error(), "not nullable") {
				t.Errorf("%s#%d: recorded answer and spec disagree beyond the known nulls: %v", c.Name, i, err)
				continue
			}
			nullOnly++
		}
	}
	if checked == 0 {
		t.Fatal("no recorded answers checked")
	}
	t.Logf("%d recorded answers checked against the spec; %d differ only by null members (%v)", checked, nullOnly, specNullables)
}

// TestFixturesCarryNoSecrets: every secret member in the fixtures holds
// the redaction marker (or is empty), never a recorded value.
func TestFixturesCarryNoSecrets(t *testing.T) {
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "client_secret" || strings.HasSuffix(k, "_token") || k == "password") && s != "" && s != transcript.RedactedSecret {
					t.Errorf("%s: %s holds a value that is not redacted", where, k)
				}
				walk(e, where)
			}
		case []any:
			for _, e := range x {
				walk(e, where)
			}
		}
	}
	n := 0
	for _, c := range loadCassettes(t) {
		for i, in := range c.Interactions {
			walk(decode(in.Req), fmt.Sprintf("%s#%d request", c.Name, i))
			walk(decode(in.Resp), fmt.Sprintf("%s#%d response", c.Name, i))
			n++
		}
	}
	if n == 0 {
		t.Fatal("no interactions")
	}
}
