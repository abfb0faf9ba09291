// Package hello is the demo service that the verifier protects: the Go
// version of the Okta tutorial's "Hello World!" API.
//
// It trusts the X-Auth-Client-Id header, so it must only be reachable
// through the verifier (as a sidecar upstream or behind a forward-auth
// proxy), which strips client-sent identity headers and sets its own.
package hello

import (
	"encoding/json"
	"io"
	"net/http"
)

// Message is the greeting, as in the tutorial.
const Message = "Hello World!"

// ClientIDHeader is the identity header set by the verifier.
const ClientIDHeader = "X-Auth-Client-Id"

// Greeting is the answer when the caller's client id is known.
type Greeting struct {
	Message  string `json:"message"`
	ClientID string `json:"clientId"`
}

// Handler serves GET / and GET /healthz; other paths are 404 and other
// methods 405.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveHello)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// serveHello answers the JSON string "Hello World!" like the tutorial, or,
// when the verifier named the caller, an object with the same message and
// the client id.
func serveHello(w http.ResponseWriter, r *http.Request) {
	var body any = Message
	if id := r.Header.Get(ClientIDHeader); id != "" {
		body = Greeting{Message: Message, ClientID: id}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(body)
}
