// Command loadgen sends HTTP/1.1 load to one loopback server (see package loadgen) and
// prints the result as JSON: at a constant rate (--rate, open loop, latency measured from
// when each request was due) or as fast as the connections allow (--rate 0).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/clientcreds/clientcreds/hack/tools/bench/internal/loadgen"
)

type headerList [][2]string

func (h *headerList) String() string { return fmt.Sprint(*h) }

func (h *headerList) Set(v string) error {
	name, val, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("header %q is not NAME: VALUE", v)
	}
	*h = append(*h, [2]string{strings.TrimSpace(name), strings.TrimSpace(val)})
	return nil
}

func main() {
	var headers headerList
	addr := flag.String("addr", "", "server host:port (required)")
	path := flag.String("path", "/", "request path")
	flag.Var(&headers, "H", "request header NAME: VALUE (repeatable)")
	tokenFile := flag.String("tokens", "", "file of bearer tokens, one per request in order")
	token := flag.String("token", "", "one bearer token for every request")
	conns := flag.Int("c", 64, "keep-alive connections")
	rate := flag.Float64("rate", 0, "requests per second (0: closed loop, as fast as possible)")
	dur := flag.Duration("d", 10*time.Second, "duration")
	flag.Parse()
	if err := run(*addr, *path, headers, *tokenFile, *token, *conns, *rate, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(addr, path string, headers headerList, tokenFile, token string, conns int, rate float64, dur time.Duration) error {
	cfg := loadgen.Config{Addr: addr, Path: path, Headers: headers, Conns: conns, Rate: rate, Duration: dur}
	if token != "" {
		cfg.Headers = append(cfg.Headers, [2]string{"Authorization", "Bearer " + token})
	}
	if tokenFile != "" {
		data, err := os.ReadFile(tokenFile)
		if err != nil {
			return err
		}
		cfg.Tokens = strings.Fields(string(data))
	}
	res, err := loadgen.Run(cfg)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
