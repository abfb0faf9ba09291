package oktaemu

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The authorization-server management API:
// /api/v1/authorizationServers/{as}/... (server, keys, scopes, policies, rules).

type authServerOut struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Audiences   []string       `json:"audiences"`
	Issuer      string         `json:"issuer"`
	IssuerMode  string         `json:"issuerMode"`
	Status      string         `json:"status"`
	Created     string         `json:"created"`
	LastUpdated string         `json:"lastUpdated"`
	Credentials map[string]any `json:"credentials"`
	Default     bool           `json:"default"`
	Links       map[string]any `json:"_links"`
}

func (as *authServer) issuerMode() string {
	if as.IssuerMode == "" {
		return "ORG_URL"
	}
	return as.IssuerMode
}

func (as *authServer) rotationMode() string {
	if as.RotationMode == "" {
		return "AUTO"
	}
	return as.RotationMode
}

// renderAuthServer follows the recorded answers
// (TestAccResourceOktaAuthServer_crud, TestAccResourceOktaAuthServerDefault_crud):
// signing credentials carry kid, rotationMode and lastRotated, plus
// nextRotation when rotation is AUTO; "default" is true only for the
// default server.
func (s *Server) renderAuthServer(as *authServer, base string) authServerOut {
	self := base + "/api/v1/authorizationServers/" + url.PathEscape(as.ID)
	signing := map[string]any{"rotationMode": as.rotationMode(), "lastRotated": formatTime(as.LastRotated)}
	if as.rotationMode() == "AUTO" {
		signing["nextRotation"] = formatTime(as.LastRotated.Add(90 * 24 * time.Hour))
	}
	if k := as.activeKey(); k != nil {
		signing["kid"] = k.Kid
	}
	issuer := base + "/oauth2/" + as.ID
	links := map[string]any{
		// Only links to what the emulator serves.
		"self":      link(self, http.MethodGet, http.MethodDelete, http.MethodPut),
		"scopes":    link(self+"/scopes", http.MethodGet, http.MethodPost),
		"claims":    link(self+"/claims", http.MethodGet, http.MethodPost),
		"policies":  link(self+"/policies", http.MethodGet, http.MethodPost),
		"keys":      link(self+"/credentials/keys", http.MethodGet),
		"rotateKey": link(self+"/credentials/lifecycle/keyRotate", http.MethodPost),
		"metadata": []*hrefObject{
			{Name: "oauth-authorization-server", Href: issuer + "/.well-known/oauth-authorization-server", Hints: &hrefHints{Allow: []string{http.MethodGet}}},
			{Name: "openid-configuration", Href: issuer + "/.well-known/openid-configuration", Hints: &hrefHints{Allow: []string{http.MethodGet}}},
		},
	}
	if as.Status == statusActive {
		links["deactivate"] = link(self+"/lifecycle/deactivate", http.MethodPost)
	} else {
		links["activate"] = link(self+"/lifecycle/activate", http.MethodPost)
	}
	return authServerOut{
		ID: as.ID, Name: as.Name, Description: as.Description, Audiences: slices.Clone(as.Audiences),
		Issuer: issuer, IssuerMode: as.issuerMode(), Status: as.Status,
		Created: formatTime(as.Created), LastUpdated: formatTime(as.LastUpdated),
		Credentials: map[string]any{"signing": signing}, Default: as.ID == defaultAuthServerID,
		Links: links,
	}
}

// lookupAuthServer finds the server named by p[0] or writes 404; the
// caller holds s.mu.
func (s *Server) lookupAuthServer(w http.ResponseWriter, p []string) (*authServer, bool) {
	as := s.st.authServer(p[0])
	if as == nil {
		writeAPIError(w, notFound(p[0], "AuthorizationServer"))
	}
	return as, as != nil
}

// listAuthServers serves GET /api/v1/authorizationServers with q (name or
// audience prefix) and limit (spec: listAuthorizationServers; 200 at most).
func (s *Server) listAuthServers(w http.ResponseWriter, r *http.Request, _ []string) {
	qv := r.URL.Query()
	q := strings.ToLower(qv.Get("q"))
	limit := maxPageSize
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeAPIError(w, validationError("limit", "limit: must be an integer"))
			return
		}
		if n > 0 {
			limit = min(n, maxPageSize)
		}
	}
	s.mu.Lock()
	out := []authServerOut{}
	for _, as := range s.st.AuthServers {
		if len(out) == limit {
			break
		}
		if q == "" || as.matches(q) {
			out = append(out, s.renderAuthServer(as, s.baseURL(r)))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// matches reports whether the lower-case query q starts the server's name
// or one of its audiences (spec: listAuthorizationServers "q searches the
// name and audiences").
func (as *authServer) matches(q string) bool {
	if strings.HasPrefix(strings.ToLower(as.Name), q) {
		return true
	}
	return slices.ContainsFunc(as.Audiences, func(a string) bool { return strings.HasPrefix(strings.ToLower(a), q) })
}

type authServerIn struct {
	Name        *string  `json:"name"`
	Description *string  `json:"description"`
	Audiences   []string `json:"audiences"`
	IssuerMode  *string  `json:"issuerMode"`
	Credentials *struct {
		Signing *struct {
			RotationMode *string `json:"rotationMode"`
		} `json:"signing"`
	} `json:"credentials"`
}

// applyAuthServer validates a create or replace body (spec:
// createAuthorizationServer, replaceAuthorizationServer) and writes it to
// as; the caller holds s.mu.
func (st *state) applyAuthServer(in *authServerIn, as *authServer) *apiError {
	name := strings.TrimSpace(str(in.Name))
	if name == "" {
		return blankField("name")
	}
	if len(in.Audiences) == 0 {
		return blankField("audiences")
	}
	if len(in.Audiences) > 1 {
		return validationError("audiences", "audiences: Only one audience is supported.")
	}
	for _, other := range st.AuthServers {
		if other != as && other.ID != as.ID && strings.EqualFold(other.Name, name) {
			return validationError("name", "name: An object with this field already exists in the current organization")
		}
	}
	mode := str(in.IssuerMode)
	if mode == "" {
		mode = as.issuerMode()
	}
	if !slices.Contains([]string{"CUSTOM_URL", "DYNAMIC", "ORG_URL"}, mode) {
		return validationError("issuerMode", fmt.Sprintf("issuerMode: '%s' is invalid. Valid values: [CUSTOM_URL, DYNAMIC, ORG_URL].", mode))
	}
	if mode == "CUSTOM_URL" {
		return validationError("issuerMode", "issuerMode: CUSTOM_URL needs a custom domain, which the emulated org does not have.")
	}
	rotation := as.rotationMode()
	if in.Credentials != nil && in.Credentials.Signing != nil && in.Credentials.Signing.RotationMode != nil {
		rotation = *in.Credentials.Signing.RotationMode
	}
	if rotation != "AUTO" && rotation != "MANUAL" {
		return validationError("rotationMode", fmt.Sprintf("rotationMode: '%s' is invalid. Valid values: [AUTO, MANUAL].", rotation))
	}
	as.Name, as.Description, as.Audiences = name, strings.TrimSpace(str(in.Description)), slices.Clone(in.Audiences)
	as.IssuerMode, as.RotationMode = mode, rotation
	return nil
}

// createAuthServer serves POST /api/v1/authorizationServers: 201 with an
// ACTIVE server that has its own issuer {org}/oauth2/{id}, two signing
// keys, the system scopes and claims and no policy
// (TestAccResourceOktaAuthServer_crud, TestAccResourceOktaAuthServer_gh299).
func (s *Server) createAuthServer(w http.ResponseWriter, r *http.Request, _ []string) {
	var in authServerIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	now := s.now()
	// Key generation is slow; do it before taking the lock.
	active, err := newSigningKey(statusActive, now)
	var next *signingKey
	if err == nil {
		next, err = newSigningKey(keyStatusNext, now)
	}
	if err != nil {
		writeAPIError(w, newAPIError(http.StatusInternalServerError, codeInternal, "Internal Server Error"))
		return
	}
	as := &authServer{
		ID: newID("aus", 20), Status: statusActive, Created: now, LastUpdated: now, LastRotated: now,
		Keys: []*signingKey{active, next}, Scopes: systemScopes(now), Policies: []*policy{}, Claims: systemClaims(),
	}
	s.mu.Lock()
	if aerr := s.st.applyAuthServer(&in, as); aerr != nil {
		s.mu.Unlock()
		writeAPIError(w, aerr)
		return
	}
	// Okta creates every server with AUTO rotation whatever the body asks;
	// only a replace switches it to MANUAL (TestAccResourceOktaAuthServer_gh299
	// #0 and #4).
	as.RotationMode = "AUTO"
	s.st.AuthServers = append(s.st.AuthServers, as)
	s.bump()
	out := s.renderAuthServer(as, s.baseURL(r))
	s.mu.Unlock()
	s.changed()
	writeJSON(w, http.StatusCreated, out)
}

// replaceAuthServer serves PUT /api/v1/authorizationServers/{as}; read-only
// members a client echoes back (id, issuer, _links, ...) are ignored
// (TestAccResourceOktaAuthServerDefault_crud PUTs the object it read).
func (s *Server) replaceAuthServer(w http.ResponseWriter, r *http.Request, p []string) {
	if !s.authServerExists(w, p[0]) {
		return
	}
	var in authServerIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	serveChange(s, w, p, http.StatusOK, s.lookupAuthServer, func(as *authServer) (authServerOut, *apiError) {
		tmp := *as
		if aerr := s.st.applyAuthServer(&in, &tmp); aerr != nil {
			return authServerOut{}, aerr
		}
		as.Name, as.Description, as.Audiences = tmp.Name, tmp.Description, tmp.Audiences
		as.IssuerMode, as.RotationMode = tmp.IssuerMode, tmp.RotationMode
		as.LastUpdated = s.now()
		return s.renderAuthServer(as, s.baseURL(r)), nil
	})
}

// deleteAuthServer serves DELETE /api/v1/authorizationServers/{as} (204).
func (s *Server) deleteAuthServer(w http.ResponseWriter, r *http.Request, p []string) {
	serveDelete(s, w, p, s.lookupAuthServer, func(as *authServer) *apiError {
		s.st.AuthServers = slices.DeleteFunc(s.st.AuthServers, func(x *authServer) bool { return x == as })
		return nil
	})
}

func (as *authServer) lifecycle() (*string, *time.Time) { return &as.Status, &as.LastUpdated }

// activateAuthServer and deactivateAuthServer answer 204 with no body
// (TestAccResourceOktaAuthServer_gh299).
func (s *Server) activateAuthServer(w http.ResponseWriter, r *http.Request, p []string) {
	if setStatus(s, w, p, s.lookupAuthServer, statusActive) {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) deactivateAuthServer(w http.ResponseWriter, r *http.Request, p []string) {
	if setStatus(s, w, p, s.lookupAuthServer, statusInactive) {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) getAuthServer(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupAuthServer, s.renderAuthServer)
}

// ---- keys ----

type asKeyOut struct {
	Status string         `json:"status"`
	Alg    string         `json:"alg"`
	E      string         `json:"e"`
	N      string         `json:"n"`
	Kid    string         `json:"kid"`
	Kty    string         `json:"kty"`
	Use    string         `json:"use"`
	Links  map[string]any `json:"_links"`
}

func renderASKeys(as *authServer, base string) []asKeyOut {
	out := make([]asKeyOut, 0, len(as.Keys))
	for _, k := range as.Keys {
		pub := publicJWKMap(k)
		out = append(out, asKeyOut{
			Status: k.Status, Alg: "RS256", E: pub["e"], N: pub["n"], Kid: k.Kid, Kty: "RSA", Use: "sig",
			Links: map[string]any{"self": link(base+"/api/v1/authorizationServers/"+url.PathEscape(as.ID)+"/credentials/keys/"+url.PathEscape(k.Kid), http.MethodGet)},
		})
	}
	return out
}

// getAuthServerKey serves GET .../credentials/keys/{keyId} (spec:
// getAuthorizationServerKey; the answer's members as recorded in
// TestAccDataSourceOktaAuthServerKeys_read).
func (s *Server) getAuthServerKey(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, func(w http.ResponseWriter, p []string) (asKeyOut, bool) {
		as, ok := s.lookupAuthServer(w, p)
		if !ok {
			return asKeyOut{}, false
		}
		for _, k := range renderASKeys(as, s.baseURL(r)) {
			if k.Kid == p[1] {
				return k, true
			}
		}
		writeAPIError(w, notFound(p[1], "JsonWebKey"))
		return asKeyOut{}, false
	}, func(k asKeyOut, _ string) asKeyOut { return k })
}

func (s *Server) listAuthServerKeys(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupAuthServer, renderASKeys)
}

// rotateAuthServerKeys: ACTIVE becomes EXPIRED (still published), NEXT
// becomes ACTIVE, and a new NEXT key is generated; an older EXPIRED key is
// dropped.
func (s *Server) rotateAuthServerKeys(w http.ResponseWriter, r *http.Request, p []string) {
	if !s.authServerExists(w, p[0]) {
		return
	}
	var in struct {
		Use *string `json:"use"`
	}
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if str(in.Use) != "sig" {
		writeAPIError(w, validationError("rotateKeys", "Invalid value specified for key 'use' parameter"))
		return
	}
	now := s.now()
	// Key generation is slow; do it before taking the lock.
	next, err := newSigningKey(keyStatusNext, now)
	if err != nil {
		writeAPIError(w, newAPIError(http.StatusInternalServerError, codeInternal, "Internal Server Error"))
		return
	}
	serveChange(s, w, p, http.StatusOK, s.lookupAuthServer, func(as *authServer) ([]asKeyOut, *apiError) {
		kept := make([]*signingKey, 0, 3)
		for _, k := range as.Keys {
			switch k.Status {
			case statusActive:
				k.Status = keyStatusExpired
				kept = append(kept, k)
			case keyStatusNext:
				k.Status = statusActive
				kept = append(kept, k)
			}
		}
		as.Keys = append(kept, next)
		as.LastRotated, as.LastUpdated = now, now
		return renderASKeys(as, s.baseURL(r)), nil
	})
}

// ---- scopes ----

type scopeIn struct {
	Name            *string `json:"name"`
	DisplayName     *string `json:"displayName"`
	Description     *string `json:"description"`
	Consent         *string `json:"consent"`
	MetadataPublish *string `json:"metadataPublish"`
	Default         *bool   `json:"default"`
	Optional        *bool   `json:"optional"`
}

// scopeOut is a scope as Okta answers it: displayName is always present, as in every scope
// of the recordings (okta-transcripts idaas/TestAccResourceOktaAuthServerScope_crud,
// TestAccDataSourceOktaAuthServerScopes_read), and apiResourceId is null.
type scopeOut struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	DisplayName     string         `json:"displayName"`
	Description     string         `json:"description,omitempty"`
	System          bool           `json:"system"`
	Default         bool           `json:"default"`
	Optional        bool           `json:"optional"`
	Consent         string         `json:"consent"`
	MetadataPublish string         `json:"metadataPublish"`
	APIResourceID   *string        `json:"apiResourceId"`
	Links           map[string]any `json:"_links"`
}

// scopeRef is a scope together with the server that holds it.
type scopeRef struct {
	as *authServer
	sc *scope
}

func (x scopeRef) render(base string) scopeOut {
	as, sc := x.as, x.sc
	return scopeOut{
		ID: sc.ID, Name: sc.Name, DisplayName: sc.DisplayName, Description: sc.Description,
		System: sc.System, Default: sc.Default, Optional: sc.Optional, Consent: sc.Consent, MetadataPublish: sc.MetadataPublish,
		Links: map[string]any{"self": link(base+"/api/v1/authorizationServers/"+url.PathEscape(as.ID)+"/scopes/"+url.PathEscape(sc.ID), http.MethodGet, http.MethodPut, http.MethodDelete)},
	}
}

func (as *authServer) scopeByID(id string) *scope {
	for _, sc := range as.Scopes {
		if sc.ID == id {
			return sc
		}
	}
	return nil
}

// applyScope validates in and writes it to sc (a new scope, or a copy of the
// one being replaced: the name may stay its own).
func (as *authServer) applyScope(in *scopeIn, sc *scope) *apiError {
	name := str(in.Name)
	switch {
	case name == "":
		return blankField("name")
	case !validScopeName(name):
		return validationError("name", "name: The scope name contains characters that aren't allowed.")
	}
	if other := as.scopeByName(name); other != nil && other.ID != sc.ID {
		return validationError("name", "name: An object with this field already exists in the current organization")
	}
	consent := str(in.Consent)
	if consent == "" {
		consent = "IMPLICIT"
	}
	if !slices.Contains([]string{"FLEXIBLE", "IMPLICIT", "REQUIRED"}, consent) {
		return validationError("consent", fmt.Sprintf("consent: '%s' is invalid. Valid values: [FLEXIBLE, IMPLICIT, REQUIRED].", consent))
	}
	publish := str(in.MetadataPublish)
	if publish == "" {
		publish = "NO_CLIENTS"
	}
	if publish != "ALL_CLIENTS" && publish != "NO_CLIENTS" {
		return validationError("metadataPublish", fmt.Sprintf("metadataPublish: '%s' is invalid. Valid values: [ALL_CLIENTS, NO_CLIENTS].", publish))
	}
	sc.Name, sc.DisplayName, sc.Description = name, str(in.DisplayName), str(in.Description)
	sc.Consent, sc.MetadataPublish = consent, publish
	sc.Default = in.Default != nil && *in.Default
	sc.Optional = in.Optional != nil && *in.Optional
	return nil
}

func (s *Server) listScopes(w http.ResponseWriter, r *http.Request, p []string) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	serveRead(s, w, r, p, s.lookupAuthServer, func(as *authServer, base string) []scopeOut {
		out := []scopeOut{}
		for _, sc := range as.Scopes {
			if q == "" || strings.HasPrefix(strings.ToLower(sc.Name), q) {
				out = append(out, scopeRef{as, sc}.render(base))
			}
		}
		return out
	})
}

func (s *Server) createScope(w http.ResponseWriter, r *http.Request, p []string) {
	var in scopeIn
	if !s.authServerExists(w, p[0]) {
		return
	}
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	serveChange(s, w, p, http.StatusCreated, s.lookupAuthServer, func(as *authServer) (scopeOut, *apiError) {
		sc := &scope{ID: newID("scp", 20), Created: s.now()}
		if aerr := as.applyScope(&in, sc); aerr != nil {
			return scopeOut{}, aerr
		}
		as.Scopes = append(as.Scopes, sc)
		return scopeRef{as, sc}.render(s.baseURL(r)), nil
	})
}

// authServerExists answers 404 for unknown servers before a body is read.
func (s *Server) authServerExists(w http.ResponseWriter, id string) bool {
	s.mu.Lock()
	ok := s.st.authServer(id) != nil
	s.mu.Unlock()
	if !ok {
		writeAPIError(w, notFound(id, "AuthorizationServer"))
	}
	return ok
}

// lookupScope finds the scope p[1] of the server p[0] or writes 404; the
// caller holds s.mu.
func (s *Server) lookupScope(w http.ResponseWriter, p []string) (scopeRef, bool) {
	as, ok := s.lookupAuthServer(w, p)
	if !ok {
		return scopeRef{}, false
	}
	sc := as.scopeByID(p[1])
	if sc == nil {
		writeAPIError(w, notFound(p[1], "OAuth2Scope"))
		return scopeRef{}, false
	}
	return scopeRef{as, sc}, true
}

func (s *Server) getScope(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupScope, scopeRef.render)
}

func (s *Server) replaceScope(w http.ResponseWriter, r *http.Request, p []string) {
	if !present(s, w, p, s.lookupScope) {
		return
	}
	var in scopeIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	serveChange(s, w, p, http.StatusOK, s.lookupScope, func(x scopeRef) (scopeOut, *apiError) {
		tmp := *x.sc
		if aerr := x.as.applyScope(&in, &tmp); aerr != nil {
			return scopeOut{}, aerr
		}
		*x.sc = tmp
		return x.render(s.baseURL(r)), nil
	})
}

func (s *Server) deleteScope(w http.ResponseWriter, r *http.Request, p []string) {
	serveDelete(s, w, p, s.lookupScope, func(x scopeRef) *apiError {
		x.as.Scopes = slices.DeleteFunc(x.as.Scopes, func(sc *scope) bool { return sc == x.sc })
		return nil
	})
}

// ---- policies ----

type policyIn struct {
	Type        *string `json:"type"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Priority    *int    `json:"priority"`
	Status      *string `json:"status"`
	Conditions  *struct {
		Clients *struct {
			Include []string `json:"include"`
		} `json:"clients"`
	} `json:"conditions"`
}

type policyOut struct {
	Type        string         `json:"type"`
	ID          string         `json:"id"`
	Status      string         `json:"status"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Priority    int            `json:"priority"`
	System      bool           `json:"system"`
	Conditions  map[string]any `json:"conditions"`
	Created     string         `json:"created"`
	LastUpdated string         `json:"lastUpdated"`
	Links       map[string]any `json:"_links"`
}

func policyURL(base string, as *authServer, pol *policy) string {
	return base + "/api/v1/authorizationServers/" + url.PathEscape(as.ID) + "/policies/" + url.PathEscape(pol.ID)
}

// policyRef is a policy together with the server that holds it.
type policyRef struct {
	as  *authServer
	pol *policy
}

func (x policyRef) render(base string) policyOut {
	pol := x.pol
	self := policyURL(base, x.as, pol)
	links := map[string]any{
		"self":  link(self, http.MethodGet, http.MethodPut, http.MethodDelete),
		"rules": link(self+"/rules", http.MethodGet),
	}
	if pol.Status == statusActive {
		links["deactivate"] = link(self+"/lifecycle/deactivate", http.MethodPost)
	} else {
		links["activate"] = link(self+"/lifecycle/activate", http.MethodPost)
	}
	return policyOut{
		Type: "OAUTH_AUTHORIZATION_POLICY", ID: pol.ID, Status: pol.Status, Name: pol.Name,
		Description: pol.Description, Priority: pol.Priority, System: pol.System,
		Conditions: map[string]any{"clients": map[string]any{"include": slices.Clone(pol.Clients)}},
		Created:    formatTime(pol.Created), LastUpdated: formatTime(pol.LastUpdated), Links: links,
	}
}

func (as *authServer) policyByID(id string) *policy {
	for _, pol := range as.Policies {
		if pol.ID == id {
			return pol
		}
	}
	return nil
}

// reprioritize moves item to priority (1-based; 0 = last) and renumbers.
func reprioritize[T comparable](items []T, item T, priority int, set func(T, int)) []T {
	items = slices.DeleteFunc(items, func(x T) bool { return x == item })
	idx := len(items)
	if priority > 0 && priority-1 < idx {
		idx = priority - 1
	}
	return renumber(slices.Insert(items, idx, item), set)
}

// removeRenumbered removes item and renumbers the rest.
func removeRenumbered[T comparable](items []T, item T, set func(T, int)) []T {
	return renumber(slices.DeleteFunc(items, func(x T) bool { return x == item }), set)
}

// renumber gives items the priorities 1, 2, ... in their order.
func renumber[T any](items []T, set func(T, int)) []T {
	for i, x := range items {
		set(x, i+1)
	}
	return items
}

// requireType checks the "type" every policy and rule body must carry.
func requireType(t, want string) *apiError {
	switch t {
	case want:
		return nil
	case "":
		return blankField("type")
	}
	return validationError("type", fmt.Sprintf("type: '%s' is invalid. Valid values: [%s].", t, want))
}

// parseStatus reads an optional ACTIVE or INACTIVE status; ACTIVE when
// left out.
func parseStatus(p *string) (string, *apiError) {
	status := str(p)
	if status == "" {
		status = statusActive
	}
	if status != statusActive && status != statusInactive {
		return "", validationError("status", fmt.Sprintf("status: '%s' is invalid. Valid values: [ACTIVE, INACTIVE].", status))
	}
	return status, nil
}

// checkPriority rejects a priority below 1 (a missing one means last).
func checkPriority(p *int) *apiError {
	if p != nil && *p < 1 {
		return validationError("priority", "priority: must be at least 1")
	}
	return nil
}

func (st *state) applyPolicy(in *policyIn, pol *policy) *apiError {
	if aerr := requireType(str(in.Type), "OAUTH_AUTHORIZATION_POLICY"); aerr != nil {
		return aerr
	}
	name := strings.TrimSpace(str(in.Name))
	if name == "" {
		return blankField("name")
	}
	if len(name) > 100 {
		return validationError("name", "name: The field can't be more than 100 characters long.")
	}
	desc := strings.TrimSpace(str(in.Description))
	if desc == "" {
		return blankField("description")
	}
	if len(desc) > 255 {
		return validationError("description", "description: The field can't be more than 255 characters long.")
	}
	if in.Conditions == nil || in.Conditions.Clients == nil || len(in.Conditions.Clients.Include) == 0 {
		return blankField("conditions.clients.include")
	}
	for _, c := range in.Conditions.Clients.Include {
		if c != allClients && st.appsByClientID[c] == nil {
			return validationError("conditions.clients.include", fmt.Sprintf("conditions.clients.include: Client '%s' doesn't exist.", c))
		}
	}
	status, aerr := parseStatus(in.Status)
	if aerr != nil {
		return aerr
	}
	if aerr := checkPriority(in.Priority); aerr != nil {
		return aerr
	}
	pol.Name, pol.Description, pol.Status = name, desc, status
	pol.Clients = slices.Clone(in.Conditions.Clients.Include)
	return nil
}

func (pol *policy) setPriority(i int) { pol.Priority = i }

func setPolicyPriority(as *authServer, pol *policy, priority int) {
	as.Policies = reprioritize(as.Policies, pol, priority, (*policy).setPriority)
}

func renderPolicies(as *authServer, base string) []policyOut {
	out := make([]policyOut, 0, len(as.Policies))
	for _, pol := range as.Policies {
		out = append(out, policyRef{as, pol}.render(base))
	}
	return out
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupAuthServer, renderPolicies)
}

func (s *Server) createPolicy(w http.ResponseWriter, r *http.Request, p []string) {
	if !s.authServerExists(w, p[0]) {
		return
	}
	var in policyIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	now := s.now()
	serveChange(s, w, p, http.StatusCreated, s.lookupAuthServer, func(as *authServer) (policyOut, *apiError) {
		pol := &policy{ID: newID("00p", 20), Created: now, LastUpdated: now, Rules: []*rule{}}
		if aerr := s.st.applyPolicy(&in, pol); aerr != nil {
			return policyOut{}, aerr
		}
		prio := 0
		if in.Priority != nil {
			prio = *in.Priority
		}
		setPolicyPriority(as, pol, prio)
		return policyRef{as, pol}.render(s.baseURL(r)), nil
	})
}

// lookupPolicy finds the policy p[1] of the server p[0] or writes 404;
// the caller holds s.mu.
func (s *Server) lookupPolicy(w http.ResponseWriter, p []string) (policyRef, bool) {
	as, ok := s.lookupAuthServer(w, p)
	if !ok {
		return policyRef{}, false
	}
	pol := as.policyByID(p[1])
	if pol == nil {
		writeAPIError(w, notFound(p[1], "Policy"))
		return policyRef{}, false
	}
	return policyRef{as, pol}, true
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupPolicy, policyRef.render)
}

func (s *Server) replacePolicy(w http.ResponseWriter, r *http.Request, p []string) {
	if !present(s, w, p, s.lookupPolicy) {
		return
	}
	var in policyIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	serveChange(s, w, p, http.StatusOK, s.lookupPolicy, func(x policyRef) (policyOut, *apiError) {
		pol := x.pol
		tmp := *pol
		if aerr := s.st.applyPolicy(&in, &tmp); aerr != nil {
			return policyOut{}, aerr
		}
		pol.Name, pol.Description, pol.Status, pol.Clients = tmp.Name, tmp.Description, tmp.Status, tmp.Clients
		pol.LastUpdated = s.now()
		if in.Priority != nil {
			setPolicyPriority(x.as, pol, *in.Priority)
		}
		return x.render(s.baseURL(r)), nil
	})
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request, p []string) {
	serveDelete(s, w, p, s.lookupPolicy, func(x policyRef) *apiError {
		x.as.Policies = removeRenumbered(x.as.Policies, x.pol, (*policy).setPriority)
		return nil
	})
}

func (x policyRef) lifecycle() (*string, *time.Time) { return &x.pol.Status, &x.pol.LastUpdated }

func (s *Server) setPolicyStatus(w http.ResponseWriter, p []string, status string) {
	if setStatus(s, w, p, s.lookupPolicy, status) {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) activatePolicy(w http.ResponseWriter, r *http.Request, p []string) {
	s.setPolicyStatus(w, p, statusActive)
}

func (s *Server) deactivatePolicy(w http.ResponseWriter, r *http.Request, p []string) {
	s.setPolicyStatus(w, p, statusInactive)
}

// ---- policy rules ----

type ruleIn struct {
	Type       *string `json:"type"`
	Name       *string `json:"name"`
	Priority   *int    `json:"priority"`
	Status     *string `json:"status"`
	Conditions *struct {
		People *struct {
			Users *struct {
				Include []string `json:"include"`
			} `json:"users"`
			Groups *struct {
				Include []string `json:"include"`
			} `json:"groups"`
		} `json:"people"`
		GrantTypes *struct {
			Include []string `json:"include"`
		} `json:"grantTypes"`
		Scopes *struct {
			Include []string `json:"include"`
		} `json:"scopes"`
	} `json:"conditions"`
	Actions *struct {
		Token *struct {
			InlineHook *struct {
				ID *string `json:"id"`
			} `json:"inlineHook"`
			AccessTokenLifetimeMinutes  *int `json:"accessTokenLifetimeMinutes"`
			RefreshTokenLifetimeMinutes *int `json:"refreshTokenLifetimeMinutes"`
			RefreshTokenWindowMinutes   *int `json:"refreshTokenWindowMinutes"`
		} `json:"token"`
	} `json:"actions"`
}

type ruleOut struct {
	Type        string         `json:"type"`
	ID          string         `json:"id"`
	Status      string         `json:"status"`
	Name        string         `json:"name"`
	Priority    int            `json:"priority"`
	System      bool           `json:"system"`
	Conditions  map[string]any `json:"conditions"`
	Actions     map[string]any `json:"actions"`
	Created     string         `json:"created"`
	LastUpdated string         `json:"lastUpdated"`
	Links       map[string]any `json:"_links"`
}

// ruleRef is a rule together with the policy and server that hold it.
type ruleRef struct {
	as  *authServer
	pol *policy
	ru  *rule
}

func (x ruleRef) render(base string) ruleOut {
	ru := x.ru
	self := policyURL(base, x.as, x.pol) + "/rules/" + url.PathEscape(ru.ID)
	links := map[string]any{"self": link(self, http.MethodGet, http.MethodPut, http.MethodDelete)}
	if ru.Status == statusActive {
		links["deactivate"] = link(self+"/lifecycle/deactivate", http.MethodPost)
	} else {
		links["activate"] = link(self+"/lifecycle/activate", http.MethodPost)
	}
	// People conditions as recorded (TestAccResourceOktaAuthServerPolicyRule_create):
	// users always carry "exclude", and "include" only when not empty;
	// groups carry "include".
	users := map[string]any{"exclude": []string{}}
	if len(ru.Users) > 0 {
		users["include"] = slices.Clone(ru.Users)
	}
	token := map[string]any{
		"accessTokenLifetimeMinutes":  ru.AccessTokenLifetimeMinutes,
		"refreshTokenLifetimeMinutes": ru.RefreshTokenLifetimeMinutes,
		"refreshTokenWindowMinutes":   ru.RefreshTokenWindowMinutes,
	}
	if ru.InlineHookID != "" {
		token["inlineHook"] = map[string]any{"id": ru.InlineHookID}
	}
	return ruleOut{
		Type: "RESOURCE_ACCESS", ID: ru.ID, Status: ru.Status, Name: ru.Name, Priority: ru.Priority, System: ru.System,
		Conditions: map[string]any{
			"people": map[string]any{
				"users":  users,
				"groups": map[string]any{"include": nonNil(ru.Groups)},
			},
			"grantTypes": map[string]any{"include": nonNil(ru.GrantTypes)},
			"scopes":     map[string]any{"include": nonNil(ru.Scopes)},
		},
		Actions: map[string]any{"token": token},
		Created: formatTime(ru.Created), LastUpdated: formatTime(ru.LastUpdated), Links: links,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func (pol *policy) ruleByID(id string) *rule {
	for _, ru := range pol.Rules {
		if ru.ID == id {
			return ru
		}
	}
	return nil
}

func (as *authServer) applyRule(in *ruleIn, ru *rule) *apiError {
	if aerr := requireType(str(in.Type), "RESOURCE_ACCESS"); aerr != nil {
		return aerr
	}
	name := strings.TrimSpace(str(in.Name))
	if name == "" {
		return blankField("name")
	}
	c := in.Conditions
	if c == nil {
		return blankField("conditions")
	}
	if c.GrantTypes == nil || len(c.GrantTypes.Include) == 0 {
		return blankField("conditions.grantTypes.include")
	}
	for _, g := range c.GrantTypes.Include {
		if !slices.Contains(knownGrantTypes, g) {
			return validationError("conditions.grantTypes.include", fmt.Sprintf("conditions.grantTypes.include: '%s' is not a valid grant type.", g))
		}
	}
	// An empty scope list is accepted: the rule then grants no scope
	// (TestAccResourceOktaAuthServerPolicyRule_create sends "scopes": {}).
	if c.Scopes == nil {
		return blankField("conditions.scopes")
	}
	for _, sc := range c.Scopes.Include {
		if sc != "*" && as.scopeByName(sc) == nil {
			return validationError("conditions.scopes.include", fmt.Sprintf("conditions.scopes.include: The scope '%s' doesn't exist.", sc))
		}
	}
	users, groups := []string{}, []string{everyone}
	if c.People != nil {
		users, groups = nil, nil
		if c.People.Users != nil {
			users = c.People.Users.Include
		}
		if c.People.Groups != nil {
			groups = c.People.Groups.Include
		}
		if len(users) == 0 && len(groups) == 0 {
			return blankField("conditions.people")
		}
	}
	access, refresh, window := 60, 0, 10080
	hook := ""
	if in.Actions != nil && in.Actions.Token != nil {
		t := in.Actions.Token
		if t.InlineHook != nil {
			hook = strings.TrimSpace(str(t.InlineHook.ID))
		}
		if t.AccessTokenLifetimeMinutes != nil {
			access = *t.AccessTokenLifetimeMinutes
		}
		if t.RefreshTokenLifetimeMinutes != nil {
			refresh = *t.RefreshTokenLifetimeMinutes
		}
		if t.RefreshTokenWindowMinutes != nil {
			window = *t.RefreshTokenWindowMinutes
		}
	}
	if access < 5 || access > 1440 {
		return validationError("accessTokenLifetimeMinutes", "accessTokenLifetimeMinutes: Access token lifetime must be between 5 and 1440 minutes.")
	}
	if refresh < 0 || window < 0 {
		return validationError("refreshTokenLifetimeMinutes", "refreshTokenLifetimeMinutes: must not be negative")
	}
	status, aerr := parseStatus(in.Status)
	if aerr != nil {
		return aerr
	}
	if aerr := checkPriority(in.Priority); aerr != nil {
		return aerr
	}
	ru.Name, ru.Status = name, status
	ru.GrantTypes = slices.Clone(c.GrantTypes.Include)
	ru.Scopes = slices.Clone(c.Scopes.Include)
	ru.Users, ru.Groups = slices.Clone(users), slices.Clone(groups)
	ru.AccessTokenLifetimeMinutes, ru.RefreshTokenLifetimeMinutes, ru.RefreshTokenWindowMinutes = access, refresh, window
	ru.InlineHookID = hook
	return nil
}

func (ru *rule) setPriority(i int) { ru.Priority = i }

func setRulePriority(pol *policy, ru *rule, priority int) {
	pol.Rules = reprioritize(pol.Rules, ru, priority, (*rule).setPriority)
}

func (x policyRef) renderRules(base string) []ruleOut {
	out := make([]ruleOut, 0, len(x.pol.Rules))
	for _, ru := range x.pol.Rules {
		out = append(out, ruleRef{x.as, x.pol, ru}.render(base))
	}
	return out
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupPolicy, policyRef.renderRules)
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request, p []string) {
	if !present(s, w, p, s.lookupPolicy) {
		return
	}
	var in ruleIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	now := s.now()
	serveChange(s, w, p, http.StatusCreated, s.lookupPolicy, func(x policyRef) (ruleOut, *apiError) {
		ru := &rule{ID: newID("0pr", 20), Created: now, LastUpdated: now}
		if aerr := x.as.applyRule(&in, ru); aerr != nil {
			return ruleOut{}, aerr
		}
		prio := 0
		if in.Priority != nil {
			prio = *in.Priority
		}
		setRulePriority(x.pol, ru, prio)
		return ruleRef{x.as, x.pol, ru}.render(s.baseURL(r)), nil
	})
}

// lookupRule finds the rule p[2] of the policy p[1] of the server p[0] or
// writes 404; the caller holds s.mu.
func (s *Server) lookupRule(w http.ResponseWriter, p []string) (ruleRef, bool) {
	x, ok := s.lookupPolicy(w, p)
	if !ok {
		return ruleRef{}, false
	}
	ru := x.pol.ruleByID(p[2])
	if ru == nil {
		writeAPIError(w, notFound(p[2], "PolicyRule"))
		return ruleRef{}, false
	}
	return ruleRef{x.as, x.pol, ru}, true
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupRule, ruleRef.render)
}

func (s *Server) replaceRule(w http.ResponseWriter, r *http.Request, p []string) {
	if !present(s, w, p, s.lookupRule) {
		return
	}
	var in ruleIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	serveChange(s, w, p, http.StatusOK, s.lookupRule, func(x ruleRef) (ruleOut, *apiError) {
		tmp := *x.ru
		if aerr := x.as.applyRule(&in, &tmp); aerr != nil {
			return ruleOut{}, aerr
		}
		tmp.LastUpdated = s.now()
		*x.ru = tmp
		if in.Priority != nil {
			setRulePriority(x.pol, x.ru, *in.Priority)
		}
		return x.render(s.baseURL(r)), nil
	})
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request, p []string) {
	serveDelete(s, w, p, s.lookupRule, func(x ruleRef) *apiError {
		x.pol.Rules = removeRenumbered(x.pol.Rules, x.ru, (*rule).setPriority)
		return nil
	})
}

func (x ruleRef) lifecycle() (*string, *time.Time) { return &x.ru.Status, &x.ru.LastUpdated }

func (s *Server) setRuleStatus(w http.ResponseWriter, p []string, status string) {
	if setStatus(s, w, p, s.lookupRule, status) {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) activateRule(w http.ResponseWriter, r *http.Request, p []string) {
	s.setRuleStatus(w, p, statusActive)
}

func (s *Server) deactivateRule(w http.ResponseWriter, r *http.Request, p []string) {
	s.setRuleStatus(w, p, statusInactive)
}

// grantLifetime evaluates the server's policies for a client-credentials
// request: the first active rule (by policy, then rule priority) of a
// policy that covers the client, allowing the grant and every requested
// scope, with no user condition (there is no user in this grant). The
// caller holds s.mu.
func (as *authServer) grantLifetime(clientID string, scopes []string) (time.Duration, bool) {
	pols := slices.Clone(as.Policies)
	sort.SliceStable(pols, func(i, j int) bool { return pols[i].Priority < pols[j].Priority })
	for _, pol := range pols {
		if pol.Status != statusActive || !slices.Contains(pol.Clients, allClients) && !slices.Contains(pol.Clients, clientID) {
			continue
		}
		rules := slices.Clone(pol.Rules)
		sort.SliceStable(rules, func(i, j int) bool { return rules[i].Priority < rules[j].Priority })
		for _, ru := range rules {
			if ru.Status != statusActive || !slices.Contains(ru.GrantTypes, grantClientCredentials) {
				continue
			}
			if len(ru.Users) > 0 || (len(ru.Groups) > 0 && !slices.Contains(ru.Groups, everyone)) {
				continue
			}
			if !slices.Contains(ru.Scopes, "*") && !containsAll(ru.Scopes, scopes) {
				continue
			}
			return time.Duration(ru.AccessTokenLifetimeMinutes) * time.Minute, true
		}
	}
	return 0, false
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
