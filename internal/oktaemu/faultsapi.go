package oktaemu

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// faultsBody is the body of GET and PUT /_emulator/faults: the injected
// faults in the FaultSyntax form (the --fault flag's).
type faultsBody struct {
	Faults []string `json:"faults"`
}

// serveFaults reads (GET) or replaces (PUT) the injected faults at run
// time, for chaos tests that turn 500/503 answers or latency on and off in
// bursts. It is the emulator's own endpoint (no Okta counterpart) and needs
// the SSWS API token. An invalid fault list is refused with 400 and the
// faults in force stay as they were.
func (s *Server) serveFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPut {
		w.Header().Set("Allow", "GET, PUT")
		writeAPIError(w, methodNotAllowed())
		return
	}
	if !s.validSSWS(r) {
		writeAPIError(w, invalidToken())
		return
	}
	if r.Method == http.MethodPut {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		var in faultsBody
		if aerr := decodeJSONObject(r, &in); aerr != nil {
			writeAPIError(w, aerr)
			return
		}
		faults := make([]Fault, 0, len(in.Faults))
		for _, f := range in.Faults {
			fault, err := ParseFault(f)
			if err != nil {
				writeAPIError(w, malformedBody(err.Error()))
				return
			}
			faults = append(faults, fault)
		}
		if err := s.SetFaults(faults); err != nil {
			writeAPIError(w, malformedBody(err.Error()))
			return
		}
		s.cfg.Logger.Info("Injected faults replaced", "faults", strings.Join(in.Faults, "; "))
	}
	cur := *s.faults.Load()
	out := faultsBody{Faults: make([]string, 0, len(cur))}
	for _, f := range cur {
		out.Faults = append(out.Faults, f.String())
	}
	writeJSON(w, http.StatusOK, out)
}

// String renders f in the FaultSyntax form ParseFault reads back.
func (f Fault) String() string {
	var kv []string
	if f.Prob500 > 0 {
		kv = append(kv, "500="+strconv.FormatFloat(f.Prob500, 'g', -1, 64))
	}
	if f.Prob503 > 0 {
		kv = append(kv, "503="+strconv.FormatFloat(f.Prob503, 'g', -1, 64))
	}
	if f.Latency > 0 {
		kv = append(kv, "latency="+f.Latency.String())
	}
	if f.Method != "" {
		kv = append(kv, "method="+f.Method)
	}
	if f.AfterCommit {
		kv = append(kv, "after=true")
	}
	if len(kv) == 0 {
		// A fault with nothing set still parses: latency=0s.
		kv = append(kv, "latency=0s")
	}
	return fmt.Sprintf("%s:%s", f.PathPrefix, strings.Join(kv, ","))
}
