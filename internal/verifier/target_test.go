package verifier

import "testing"

// TestCheckPath covers every class of ambiguous target the verifier
// refuses, and the decoded path it matches rules on otherwise.
func TestCheckPath(t *testing.T) {
	params := TargetOptions{AllowPathParams: true}
	cases := []struct {
		in   string
		opts TargetOptions
		want string // "" with bad
		bad  bool
	}{
		{in: "/", want: "/"},
		{in: "/a/b", want: "/a/b"},
		{in: "/a/b/", want: "/a/b/"},
		{in: "/h%C3%A9llo", want: "/héllo"},
		{in: "/a%20b", want: "/a b"},
		{in: "/a%41", want: "/aA"},
		{in: "/...", want: "/..."},
		{in: "/a..b/.c/d.", want: "/a..b/.c/d."},
		{in: "/%2e%2e%2e", want: "/..."},
		{in: "/a%25b", want: "/a%b"},
		{in: "/héllo", want: "/héllo"},
		// dot segments, raw or encoded, any case, anywhere
		{in: "/public/../admin", bad: true},
		{in: "/public/..", bad: true},
		{in: "/..", bad: true},
		{in: "/.", bad: true},
		{in: "/a/./b", bad: true},
		{in: "/a/.", bad: true},
		{in: "/public/%2e%2e/admin", bad: true},
		{in: "/public/%2E%2E/admin", bad: true},
		{in: "/public/%2e./admin", bad: true},
		{in: "/public/.%2E/admin", bad: true},
		{in: "/a/%2e/b", bad: true},
		{in: "/a/%2E", bad: true},
		// double encoding of dots and separators
		{in: "/a/%252e%252e/b", bad: true},
		{in: "/a%252fb", bad: true},
		{in: "/a%255cb", bad: true},
		{in: "/a%253bb", bad: true},
		// repeated slashes: Envoy and most frameworks keep them, nginx merges
		{in: "//a", bad: true},
		{in: "/a//b", bad: true},
		{in: "/a/b//", bad: true},
		// path parameters, raw or encoded
		{in: "/admin;jsessionid=1", bad: true},
		{in: "/admin;/x", bad: true},
		{in: "/admin%3bx", bad: true},
		{in: "/admin%3Bx", bad: true},
		// ... allowed by flag: rules see the path without them
		{in: "/admin;jsessionid=1", opts: params, want: "/admin"},
		{in: "/a;x/b;y=1/c", opts: params, want: "/a/b/c"},
		{in: "/a;x/%41", opts: params, want: "/a/A"},
		{in: "/..;/admin", opts: params, bad: true},
		{in: "/.;x/admin", opts: params, bad: true},
		{in: "/%2e%2e;x/admin", opts: params, bad: true},
		{in: "/admin%3bx", opts: params, bad: true},
		{in: "/a/;x/b", opts: params, bad: true},
		{in: "/;x", opts: params, bad: true},
		// backslashes and encoded separators
		{in: `/a\b`, bad: true},
		{in: "/a%5Cb", bad: true},
		{in: "/a%5cb", bad: true},
		{in: "/a%2Fb", bad: true},
		{in: "/a%2fb", bad: true},
		// control characters, malformed encoding, not UTF-8, not a path
		{in: "/a%00b", bad: true},
		{in: "/a%0d%0ab", bad: true},
		{in: "/a%7f", bad: true},
		{in: "/a\tb", bad: true},
		{in: "/a%zz", bad: true},
		{in: "/a%2", bad: true},
		{in: "/a%", bad: true},
		{in: "/a%C0%AE", bad: true},
		{in: "/a\xff", bad: true},
		{in: "/a#b", bad: true},
		{in: "a/b", bad: true},
		{in: "*", bad: true},
		{in: "", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := checkPath(tc.in, tc.opts)
			if tc.bad {
				if err == nil {
					t.Fatalf("checkPath(%q) = %q, want a refusal", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("checkPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestAbsoluteURLPath(t *testing.T) {
	cases := []struct {
		in   string
		want string
		bad  bool
	}{
		{in: "https://app.example.com/admin/x?y=1", want: "/admin/x"},
		{in: "http://app/a", want: "/a"},
		{in: "HTTPS://app.example.com/a", want: "/a"},
		{in: "https://app.example.com:8443/a", want: "/a"},
		{in: "http://10.0.0.1:80/a", want: "/a"},
		{in: "http://[::1]:8080/a", want: "/a"},
		{in: "http://[2001:db8::1]/a", want: "/a"},
		{in: "https://app.example.com./a", want: "/a"},
		{in: "https://app.example.com/a/../b", bad: true},
		{in: "https://app.example.com/a%2fb", bad: true},
		{in: "https://app.example.com/a;x", bad: true},
		{in: "https://app.example.com", bad: true},
		{in: "https://app.example.com?x=/a", bad: true},
		{in: "https://user@app.example.com/a", bad: true},
		{in: "https://user:pw@app.example.com/a", bad: true},
		{in: "https://app.example.com/a#frag", bad: true},
		{in: "https://app.example.com:http/a", bad: true},
		{in: "https://app.example.com:/a", bad: true},
		{in: "https://app.example.com:0/a", bad: true},
		{in: "https://app.example.com:65536/a", bad: true},
		{in: "https://app.example.com:+80/a", bad: true},
		{in: "https:///a", bad: true},
		{in: "https://app..example/a", bad: true},
		{in: "https://app%2eexample/a", bad: true},
		{in: "https://app example/a", bad: true},
		{in: "https://[::1/a", bad: true},
		{in: "https://[1.2.3.4]/a", bad: true},
		{in: "https://[::1]x/a", bad: true},
		{in: "ftp://app/a", bad: true},
		{in: "//app/a", bad: true},
		{in: "/a", bad: true},
		{in: "mailto:a@b", bad: true},
		{in: "https:app/a", bad: true},
		{in: `https://app\evil/a`, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := absoluteURLPath(tc.in, TargetOptions{})
			if tc.bad {
				if err == nil {
					t.Fatalf("absoluteURLPath(%q) = %q, want a refusal", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("absoluteURLPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCanonicalMethod(t *testing.T) {
	for m, want := range map[string]bool{
		"GET": true, "DELETE": true, "M-SEARCH": true, "PROPFIND": true, "X_CUSTOM1": true,
		"get": false, "Delete": false, "dELETE": false, "": false, "G ET": false, "GET\t": false,
		"123": false, "GËT": false, "GET,POST": false, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA": false,
	} {
		if got := canonicalMethod(m); got != want {
			t.Errorf("canonicalMethod(%q) = %v, want %v", m, got, want)
		}
	}
}
