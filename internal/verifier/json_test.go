package verifier

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// jsonEdgeCases are headers and claim sets on the edges of JSON syntax and
// of the verifier's rules; the differential tests run each through both the
// scanner and the reference implementation (jsonref_test.go).
var jsonEdgeCases = []string{
	``, ` `, `{`, `}`, `{}`, ` {} `, "{}\n", `{} {}`, `{}x`, `[]`, `"x"`, `null`, `1`,
	`{"a":1}`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":1,,"b":2}`, `{"a":1]`, `{"a":1}]`,
	`{"a":01}`, `{"crit":01}`, `{"crit":1`, `{"crit":"x"`, `{"crit":tru}`, `{"crit":truex}`, `{"crit":[1,}`,
	`{"crit":{"a":1}x}`, `{"b64":false}`, `{"alg":"RS256","crit":["exp"],"crit":1}`, `{"x":[1,,2],"crit":1}`,
	`{"alg":"RS256","alg":"RS256"}`, `{"\u0061lg":"RS256","alg":"x"}`, `{"alg":"RS\u0032\u00356","kid":"a"}`,
	`{"alg":"RS256","kid":"k\ud800"}`, `{"alg":"RS256","kid":"\ud83d\ude00"}`, `{"alg":"RS256","kid":"\udc00\ud800x"}`,
	`{"alg":"RS256","kid":"\ud800\u0041"}`, `{"alg":"RS256","kid":"\ud800\\u0041"}`, `{"alg":"RS256","kid":"\ud800"}`,
	"{\"alg\":\"RS256\",\"kid\":\"\xff\xfe\"}", "{\"a\xff\":1,\"a\xfe\":2}", "{\"alg\":\"RS256\",\"kid\":\"\xed\xa0\x80\"}",
	"{\"alg\":\"RS256\",\"kid\":\"é\"}", "{\"alg\":\"RS256\",\"kid\":\"\xe2\x82\"}",
	`{"alg":"RS256"}x`, `{"alg":"RS256"}{}`, "{\"alg\":\"RS256\"}\x00", "{\"alg\":\"RS256\"\x00}",
	"{\"a\":\"\x01\"}", `{"a":"\u00"}`, `{"a":"\x"}`, `{"a":"\u00zz"}`, `{"a":"\"}`, `{"a":"\\"}`,
	`{"alg":1}`, `{"alg":null}`, `{"alg":""}`, `{"alg":"none"}`, `{"alg":"rs256"}`, `{"kid":"a"}`,
	`{"alg":"RS256","kid":7}`, `{"alg":"RS256","typ":7}`, `{"alg":"ES256","typ":"JWT"}`,
	`{"alg":"RS256","typ":"appl\u0130cation/jwt"}`, `{"alg":"RS256","typ":"application/AT+JWT"}`,
	`{"alg":"RS256","typ":"\u212awt"}`, `{"alg":"RS256","typ":"Application/Jwt"}`, `{"alg":"RS256","typ":"application/"}`,
	`{"x":[[[[{}]]]],"alg":"EdDSA"}`, "{\n\"alg\"\t:\r\"PS512\"\n}", `{"x":{"a":1,"a":2},"alg":"RS256"}`,
	`{"\"":1,"\u0022":2}`, `{"a\/b":1,"a/b":2}`, `{"x":-}`, `{"x":1.}`, `{"x":.5}`, `{"x":1e}`, `{"x":1e+}`,
	`{"x":+1}`, `{"x":-01}`, `{"x":nul}`, `{"x":NaN}`, `{"x":Infinity}`, `{"x":1E+2}`,
	`{"iss":"i","aud":"a","exp":1,"cid":"c"}`, `{"aud":[ "a" , "b" ]}`, `{"aud":["a",1]}`, `{"aud":[]}`, `{"aud":null}`,
	`{"aud":["a\u0000"]}`, `{"aud":"\u0061"}`, `{"aud":{"a":1}}`, `{"iss":["i"]}`, `{"iss":null}`,
	`{"scp":"a b\tc\u00a0d"}`, `{"scp":"a\u0085b"}`, `{"scp":"  "}`, `{"scp":""}`, `{"scp":[]}`, `{"scp":["a b"]}`,
	`{"scp":["a",""]}`, `{"scp":[1]}`, `{"scope":"x y","scp":["z"]}`, `{"scope":"x\u000by"}`, `{"scope":1}`,
	`{"scope":"x","scp":1}`, `{"scp":"\u00e9"}`, `{"scp":"a\u3000b"}`, `{"scp":"a\u2028b"}`, `{"scp":["a\"b"]}`,
	`{"scp":["a","b","c","d","e","f","g","h","i","j"],"aud":["x","y","z"]}`,
	`{"exp":1e3}`, `{"exp":1.5}`, `{"exp":-0}`, `{"exp":-1}`, `{"exp":0}`, `{"exp":253402300799}`, `{"exp":253402300800}`,
	`{"exp":253402300799.5}`, `{"exp":253402300799.0}`, `{"exp":1E2}`, `{"exp":999999999999999}`, `{"exp":9999999999999999}`,
	`{"exp":0000}`, `{"exp":1e400}`, `{"exp":"1"}`, `{"exp":true}`, `{"exp":null}`, `{"exp":1,"exp":2}`,
	`{"nbf":1.0e1,"iat":0.5}`, `{"iat":-1e-400}`, `{"nbf":4.9e-324}`,
	`{"sub":"a\u007fb"}`, `{"sub":"a\u0080b"}`, `{"cid":"é"}`, "{\"cid\":\"\xff\"}", `{"cid":"a\nb"}`,
	`{"client_id":"c","sub":"s"}`, `{"sub":"s","cid":"","client_id":""}`, `{"cid":"c","sub":"c"}`, `{"cid":1}`,
}

// manyMembers is an object with n distinct members, plus extra.
func manyMembers(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	b.WriteString(extra)
	b.WriteString("}")
	return b.String()
}

func jsonDifferentialSeeds(t testing.TB) []string {
	seeds := slices.Clone(jsonEdgeCases)
	seeds = append(seeds,
		manyMembers(15, `"k3":1`), manyMembers(16, `"k3":1`), manyMembers(17, `"k3":1`), manyMembers(40, `"k39":1`),
		manyMembers(40, `"alg":"RS256"`), manyMembers(40, `"k\u0031":1`), manyMembers(16, `"crit":1`),
		strings.Repeat("[", 100)+strings.Repeat("]", 100), `{"x":`+strings.Repeat("[", 3000)+strings.Repeat("]", 3000)+`}`,
	)
	// The header and claims of every token of the refusal table.
	env := newRefusalEnv(t)
	for _, tc := range append(env.cases, refusalCase{token: env.good}) {
		for _, seg := range strings.Split(tc.token, ".") {
			if raw, err := base64.RawURLEncoding.DecodeString(seg); err == nil {
				seeds = append(seeds, string(raw))
			}
		}
	}
	return seeds
}

// checkHeaderMatchesReference fails t if parseHeader and the reference
// disagree about raw.
func checkHeaderMatchesReference(t *testing.T, raw []byte) {
	t.Helper()
	want, wantErr := refParseHeader(raw)
	got, err := parseHeader(raw)
	if err != wantErr {
		t.Fatalf("header %q: error %v, reference %v", raw, err, wantErr)
	}
	if err != nil {
		return
	}
	wantAlg := want.alg
	if !supportedAlgs[wantAlg] {
		wantAlg = ""
	}
	if got.alg != wantAlg || string(got.kid) != want.kid || string(got.typ) != want.typ || got.hasTyp != want.hasTyp {
		t.Fatalf("header %q: got alg %q kid %q typ %q/%v, reference alg %q kid %q typ %q/%v",
			raw, got.alg, got.kid, got.typ, got.hasTyp, want.alg, want.kid, want.typ, want.hasTyp)
	}
	if acceptableTyp(got.typ) != refAcceptableTyp(want.typ) {
		t.Fatalf("header %q: acceptableTyp disagrees with the reference", raw)
	}
}

// checkClaimsMatchesReference fails t if parseClaims, or the Identity built
// from its result, disagree with the reference about raw.
func checkClaimsMatchesReference(t *testing.T, raw []byte) {
	t.Helper()
	want, wantErr := refParseClaims(raw)
	var got claims
	err := parseClaims(raw, &got)
	if err != wantErr {
		t.Fatalf("claims %q: error %v, reference %v", raw, err, wantErr)
	}
	if err != nil {
		return
	}
	var aud []string
	if got.hasAud {
		it := stringsOf(got.aud)
		for s, ok := it.next(); ok; s, ok = it.next() {
			aud = append(aud, string(s))
		}
	}
	var scopes []string
	if got.hasScopes {
		it := scopesOf(got.scopes)
		for s, ok := it.next(); ok; s, ok = it.next() {
			scopes = append(scopes, string(s))
		}
		if len(scopes) != got.scopeCount {
			t.Fatalf("claims %q: %d scopes, counted %d", raw, len(scopes), got.scopeCount)
		}
	}
	switch {
	case string(got.iss) != want.iss || got.hasIss != want.hasIss:
		t.Fatalf("claims %q: iss %q/%v, reference %q/%v", raw, got.iss, got.hasIss, want.iss, want.hasIss)
	case !slices.Equal(aud, want.aud) || got.hasAud != want.hasAud:
		t.Fatalf("claims %q: aud %q/%v, reference %q/%v", raw, aud, got.hasAud, want.aud, want.hasAud)
	case got.exp != want.exp || got.hasExp != want.hasExp || got.nbf != want.nbf || got.hasNbf != want.hasNbf ||
		got.iat != want.iat || got.hasIat != want.hasIat:
		t.Fatalf("claims %q: times differ from the reference", raw)
	case string(got.sub) != want.sub || string(got.cid) != want.cid || string(got.clientID) != want.clientID:
		t.Fatalf("claims %q: sub %q cid %q client_id %q, reference %q %q %q", raw, got.sub, got.cid, got.clientID, want.sub, want.cid, want.clientID)
	case !slices.Equal(scopes, want.scopes) || got.hasScopes != (want.scopes != nil):
		t.Fatalf("claims %q: scopes %q/%v, reference %q", raw, scopes, got.hasScopes, want.scopes)
	}

	// The Identity the verifier would build, against the one the
	// reference's claims give.
	id := newIdentity(&got, got.clientIdentifier(), "kid")
	wantID := Identity{
		ClientID:    want.cid,
		Subject:     want.sub,
		Scopes:      want.scopes,
		ScopeString: strings.Join(want.scopes, " "),
		Audiences:   want.aud,
		ExpiresAt:   numericTime(want.exp),
		KeyID:       "kid",
	}
	if wantID.ClientID == "" {
		wantID.ClientID = want.clientID
	}
	if wantID.ClientID == "" {
		wantID.ClientID = want.sub
	}
	if id.ClientID != wantID.ClientID || id.Subject != wantID.Subject || id.ScopeString != wantID.ScopeString ||
		!slices.Equal(id.Scopes, wantID.Scopes) || (id.Scopes == nil) != (wantID.Scopes == nil) ||
		!slices.Equal(id.Audiences, wantID.Audiences) || !id.ExpiresAt.Equal(wantID.ExpiresAt) || id.KeyID != wantID.KeyID {
		t.Fatalf("claims %q: identity %+v, reference %+v", raw, *id, wantID)
	}
}

func TestJSONMatchesReference(t *testing.T) {
	for i, seed := range jsonDifferentialSeeds(t) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkHeaderMatchesReference(t, []byte(seed))
			checkClaimsMatchesReference(t, []byte(seed))
		})
	}
}

// FuzzJSONMatchesReference looks for JSON on which the scanner and the
// reference disagree: `go test -fuzz FuzzJSONMatchesReference`.
func FuzzJSONMatchesReference(f *testing.F) {
	for _, seed := range jsonDifferentialSeeds(f) {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkHeaderMatchesReference(t, raw)
		checkClaimsMatchesReference(t, raw)
	})
}

// TestWalkObjectSeesMembersInOrder checks the members, names unescaped,
// and that the walk stops at an error its callback returns.
func TestWalkObjectSeesMembersInOrder(t *testing.T) {
	var names, values []string
	err := walkObject([]byte(` {"a":1, "b\u0062":[true, {"c":null}], "d":"e\n"} `), func(k, v []byte) error {
		names = append(names, string(k))
		values = append(values, string(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"a", "bb", "d"}) || !slices.Equal(values, []string{"1", `[true, {"c":null}]`, `"e\n"`}) {
		t.Fatalf("members %q = %q", names, values)
	}

	calls := 0
	err = walkObject([]byte(`{"a":1,"b":2}`), func(k, v []byte) error {
		calls++
		return ErrUnsupportedHeader
	})
	if err != ErrUnsupportedHeader || calls != 1 {
		t.Fatalf("walk = %v after %d calls, want the callback's error after 1", err, calls)
	}
}
