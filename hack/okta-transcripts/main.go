// Command okta-transcripts derives the Okta emulator's replay fixtures from
// the real-Okta recordings (go-vcr v2 cassettes recorded by Okta's
// Terraform provider, MPL-2.0). For each cassette it writes one JSON file
// with the interactions in recording order: method, path, request body,
// status code and response body, with secrets redacted, _links and
// _embedded dropped, and bodies left out for requests the emulator does
// not serve. The output is deterministic. Usage, from the repository root:
//
//	go run ./hack/okta-transcripts -src ../shared/okta-transcripts/idaas -out internal/oktaemu/testdata/transcripts
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/clientcreds/clientcreds/internal/oktaemu/transcript"
)

// cassette is the part of a go-vcr v2 cassette the fixtures need.
type cassette struct {
	Interactions []struct {
		Request struct {
			Method string `yaml:"method"`
			URL    string `yaml:"url"`
			Body   string `yaml:"body"`
		} `yaml:"request"`
		Response struct {
			Code int    `yaml:"code"`
			Body string `yaml:"body"`
		} `yaml:"response"`
	} `yaml:"interactions"`
}

func main() {
	src := flag.String("src", "../shared/okta-transcripts/idaas", "directory of recordings (one folder per test, each with oie-00.yaml)")
	out := flag.String("out", "internal/oktaemu/testdata/transcripts", "output directory")
	flag.Parse()
	if err := run(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "okta-transcripts:", err)
		os.Exit(1)
	}
}

func run(src, out string) error {
	files, err := filepath.Glob(filepath.Join(src, "*", "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no recordings under %s", src)
	}
	sort.Strings(files)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		c, err := convert(f)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		data, err := encode(c)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, c.Name+".json"), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func convert(path string) (*transcript.Cassette, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cas cassette
	if err := yaml.Unmarshal(raw, &cas); err != nil {
		return nil, err
	}
	c := &transcript.Cassette{Name: filepath.Base(filepath.Dir(path))}
	for _, it := range cas.Interactions {
		u, err := url.Parse(it.Request.URL)
		if err != nil {
			return nil, err
		}
		in := transcript.Interaction{Method: it.Request.Method, Path: u.RequestURI(), Code: it.Response.Code}
		if transcript.OutOfScope(in.Method, in.Path) == "" {
			if in.Req, err = clean(it.Request.Body, false); err != nil {
				return nil, fmt.Errorf("request %s %s: %w", in.Method, in.Path, err)
			}
			if in.Resp, err = clean(it.Response.Body, true); err != nil {
				return nil, fmt.Errorf("response %s %s: %w", in.Method, in.Path, err)
			}
		}
		c.Interactions = append(c.Interactions, in)
	}
	return c, nil
}

// clean parses a JSON body, redacts secrets, drops links from responses
// and re-encodes it compactly with sorted keys.
func clean(body string, response bool) (json.RawMessage, error) {
	if strings.TrimSpace(body) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	v = transcript.Redact(v)
	if response {
		v = transcript.StripLinks(v)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimSpace(buf.Bytes())), nil
}

// encode writes a cassette with one compact interaction per line, so diffs
// of regenerated fixtures stay readable.
func encode(c *transcript.Cassette) ([]byte, error) {
	var buf bytes.Buffer
	name, err := json.Marshal(c.Name)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&buf, "{\"name\": %s, \"interactions\": [\n", name)
	for i, in := range c.Interactions {
		line, err := marshal(in)
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		if i < len(c.Interactions)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("]}\n")
	return buf.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}
