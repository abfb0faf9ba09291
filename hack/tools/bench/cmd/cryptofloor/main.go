// Command cryptofloor runs the crypto floor of the verifier benchmark (see package
// cryptofloor) and prints its result as JSON. The benchmark starts it pinned to the same
// CPU, with the same GOMAXPROCS, as the servers it compares.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/cryptofloor"
)

func main() {
	tokensFile := flag.String("tokens", "", "file of tokens, one per line (required)")
	jwksFile := flag.String("jwks", "", "the issuer's JWKS as JSON (required)")
	issuer := flag.String("issuer", "", "expected iss (jwt mode)")
	audience := flag.String("audience", "", "expected aud (jwt mode)")
	mode := flag.String("mode", cryptofloor.ModeJWS, "jws (parse + verify) or jwt (parse + verify + claims validation)")
	dur := flag.Duration("duration", 5*time.Second, "how long to run")
	flag.Parse()
	if err := run(*tokensFile, *jwksFile, *issuer, *audience, *mode, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "cryptofloor:", err)
		os.Exit(1)
	}
}

func run(tokensFile, jwksFile, issuer, audience, mode string, dur time.Duration) error {
	data, err := os.ReadFile(tokensFile)
	if err != nil {
		return err
	}
	keys, err := jwk.ReadFile(jwksFile)
	if err != nil {
		return err
	}
	res, err := cryptofloor.Run(cryptofloor.Config{
		Mode: mode, Tokens: strings.Fields(string(data)), Keys: keys,
		Issuer: issuer, Audience: audience, Duration: dur,
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
