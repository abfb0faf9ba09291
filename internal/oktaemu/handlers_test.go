package oktaemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The handler helpers own the persistence and locking rules every
// management handler relies on; these tests pin them down directly.

// helperServer returns a Server whose clock counts its reads.
func helperServer(t *testing.T) (*Server, *int) {
	t.Helper()
	reads := 0
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := New(Config{APIToken: "t", OrgURL: "http://org.test", Now: func() time.Time {
		reads++
		return start.Add(time.Duration(reads) * time.Second)
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, &reads
}

// fakeLookup behaves like the real lookups: it writes the 404 itself.
func fakeLookup(found bool) lookup[string] {
	return func(w http.ResponseWriter, p []string) (string, bool) {
		if !found {
			writeAPIError(w, notFound(p[0], "Thing"))
			return "", false
		}
		return "ref:" + p[0], true
	}
}

// assertUnlocked fails when a helper returned with s.mu still held.
func assertUnlocked(t *testing.T, s *Server) {
	t.Helper()
	if !s.mu.TryLock() {
		t.Fatal("s.mu is still held")
	}
	s.mu.Unlock()
}

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return m
}

func TestServeRead(t *testing.T) {
	tests := map[string]struct {
		found      bool
		wantStatus int
		wantBody   map[string]any
	}{
		"found":   {found: true, wantStatus: http.StatusOK, wantBody: map[string]any{"ref": "ref:x", "base": "http://org.test"}},
		"missing": {found: false, wantStatus: http.StatusNotFound, wantBody: map[string]any{"errorCode": codeNotFound}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := helperServer(t)
			rec := httptest.NewRecorder()
			rendered := false
			serveRead(s, rec, httptest.NewRequest(http.MethodGet, "/", nil), []string{"x"}, fakeLookup(tc.found),
				func(ref, base string) map[string]string {
					rendered = true
					return map[string]string{"ref": ref, "base": base}
				})
			assertUnlocked(t, s)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if rendered != tc.found {
				t.Errorf("rendered = %v, want %v", rendered, tc.found)
			}
			body := decodeBody(t, rec)
			for k, v := range tc.wantBody {
				if body[k] != v {
					t.Errorf("body[%q] = %v, want %v", k, body[k], v)
				}
			}
		})
	}
}

func TestServeChange(t *testing.T) {
	tests := map[string]struct {
		found      bool
		fail       bool
		wantStatus int
		wantCode   string // errorCode of an error answer
		wantBump   uint64
		wantCalled bool
	}{
		"changed":        {found: true, wantStatus: http.StatusCreated, wantBump: 1, wantCalled: true},
		"change refused": {found: true, fail: true, wantStatus: http.StatusBadRequest, wantCode: codeAPIValidation, wantCalled: true},
		"missing":        {found: false, wantStatus: http.StatusNotFound, wantCode: codeNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := helperServer(t)
			before := s.version
			rec := httptest.NewRecorder()
			called := false
			serveChange(s, rec, []string{"x"}, http.StatusCreated, fakeLookup(tc.found), func(ref string) (map[string]string, *apiError) {
				called = true
				if tc.fail {
					return nil, validationError("field", "field: refused")
				}
				return map[string]string{"ref": ref}, nil
			})
			assertUnlocked(t, s)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if called != tc.wantCalled {
				t.Errorf("change called = %v, want %v", called, tc.wantCalled)
			}
			if got := s.version - before; got != tc.wantBump {
				t.Errorf("version moved by %d, want %d", got, tc.wantBump)
			}
			body := decodeBody(t, rec)
			if tc.wantCode != "" && body["errorCode"] != tc.wantCode {
				t.Errorf("errorCode = %v, want %s", body["errorCode"], tc.wantCode)
			}
			if tc.wantCode == "" && body["ref"] != "ref:x" {
				t.Errorf("body = %v, want the change's result", body)
			}
		})
	}
}

func TestServeDelete(t *testing.T) {
	tests := map[string]struct {
		found      bool
		fail       bool
		wantStatus int
		wantBump   uint64
	}{
		"deleted": {found: true, wantStatus: http.StatusNoContent, wantBump: 1},
		"refused": {found: true, fail: true, wantStatus: http.StatusForbidden},
		"missing": {found: false, wantStatus: http.StatusNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := helperServer(t)
			before := s.version
			rec := httptest.NewRecorder()
			serveDelete(s, rec, []string{"x"}, fakeLookup(tc.found), func(string) *apiError {
				if tc.fail {
					return newAPIError(http.StatusForbidden, codeDeleteAppActive, "Delete application forbidden.")
				}
				return nil
			})
			assertUnlocked(t, s)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if got := s.version - before; got != tc.wantBump {
				t.Errorf("version moved by %d, want %d", got, tc.wantBump)
			}
			if tc.wantStatus == http.StatusNoContent && rec.Body.Len() != 0 {
				t.Errorf("204 with a body: %q", rec.Body)
			}
		})
	}
}

type lifecycleThing struct {
	status  string
	updated time.Time
}

func (l *lifecycleThing) lifecycle() (*string, *time.Time) { return &l.status, &l.updated }

func TestSetStatus(t *testing.T) {
	tests := map[string]struct {
		found      bool
		from, to   string
		wantFound  bool
		wantBump   uint64
		wantReads  int
		wantStatus string
	}{
		"activate":            {found: true, from: statusInactive, to: statusActive, wantFound: true, wantBump: 1, wantReads: 1, wantStatus: statusActive},
		"deactivate":          {found: true, from: statusActive, to: statusInactive, wantFound: true, wantBump: 1, wantReads: 1, wantStatus: statusInactive},
		"activate active":     {found: true, from: statusActive, to: statusActive, wantFound: true, wantStatus: statusActive},
		"deactivate inactive": {found: true, from: statusInactive, to: statusInactive, wantFound: true, wantStatus: statusInactive},
		"missing":             {found: false, from: statusActive, to: statusInactive, wantStatus: statusActive},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, reads := helperServer(t)
			thing := &lifecycleThing{status: tc.from}
			find := func(w http.ResponseWriter, p []string) (*lifecycleThing, bool) {
				if !tc.found {
					writeAPIError(w, notFound(p[0], "Thing"))
					return nil, false
				}
				return thing, true
			}
			before, readsBefore := s.version, *reads
			rec := httptest.NewRecorder()
			got := setStatus(s, rec, []string{"x"}, find, tc.to)
			assertUnlocked(t, s)
			if got != tc.wantFound {
				t.Fatalf("setStatus = %v, want %v", got, tc.wantFound)
			}
			if d := s.version - before; d != tc.wantBump {
				t.Errorf("version moved by %d, want %d", d, tc.wantBump)
			}
			if d := *reads - readsBefore; d != tc.wantReads {
				t.Errorf("clock read %d times, want %d", d, tc.wantReads)
			}
			if thing.status != tc.wantStatus {
				t.Errorf("status %s, want %s", thing.status, tc.wantStatus)
			}
			if (tc.wantReads > 0) == thing.updated.IsZero() {
				t.Errorf("lastUpdated = %v after %d clock reads", thing.updated, tc.wantReads)
			}
			if !tc.found && rec.Code != http.StatusNotFound {
				t.Errorf("missing target answered %d, want 404", rec.Code)
			}
			if tc.found && rec.Code != http.StatusOK || tc.found && rec.Body.Len() != 0 {
				// setStatus leaves the answer to its caller.
				t.Errorf("setStatus wrote an answer for a found target: %d %q", rec.Code, rec.Body)
			}
		})
	}
}
