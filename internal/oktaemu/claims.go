package oktaemu

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// System scopes and claims every custom authorization server is created
// with, and the claims API /api/v1/authorizationServers/{as}/claims.
// Both lists are what the recorded org answered
// (TestAccDataSourceOktaAuthServerScopes_read: GET .../default/scopes;
// TestAccResourceOktaAuthServerClaimDefault_crud: GET .../claims of a new
// server). The okta.myAccount.* scopes of that org belong to Okta's
// MyAccount API, which the emulator does not have.

var systemScopeNames = []struct{ name, display, desc string }{
	{"openid", "openid", "Signals that a request is an OpenID request."},
	{"profile", "profile", "Allows this application to access your profile information."},
	{"email", "email", "Allows this application to access your email address."},
	{"address", "address", "Allows this application to access your address."},
	{"phone", "phone", "Allows this application to access your phone number."},
	{"offline_access", "offline_access", "Allows this application to access your information while you are not using the application."},
	{"device_sso", "device_sso", "Allows this application to request a device secret for native SSO."},
}

func systemScopes(now time.Time) []*scope {
	out := make([]*scope, 0, len(systemScopeNames))
	for _, s := range systemScopeNames {
		out = append(out, &scope{
			ID: newID("scp", 20), Name: s.name, DisplayName: s.display, Description: s.desc,
			Consent: "IMPLICIT", MetadataPublish: "ALL_CLIENTS", System: true, Created: now,
		})
	}
	return out
}

// grantable reports whether a client-credentials request may ask for sc:
// the OpenID Connect system scopes are for user sign-in only, so they are
// treated like scopes the server does not have.
func (sc *scope) grantable() bool { return !sc.System }

// systemClaims are the claims of a new server, in the order Okta lists
// them.
func systemClaims() []*claim {
	identity := func(name, scope string, always bool) *claim {
		return &claim{Name: name, ClaimType: "IDENTITY", ValueType: "SYSTEM", Scopes: []string{scope}, AlwaysIncludeInToken: always}
	}
	list := []*claim{
		identity("middle_name", "profile", false), identity("zoneinfo", "profile", false),
		identity("website", "profile", false), identity("updated_at", "profile", false),
		identity("profile", "profile", false), identity("preferred_username", "profile", true),
		identity("picture", "profile", false), identity("phone_number", "phone", false),
		identity("nickname", "profile", false), identity("name", "profile", true),
		{Name: "sub", ClaimType: "RESOURCE", ValueType: "EXPRESSION", Value: "(appuser != null) ? appuser.userName : app.clientId", Scopes: []string{}, AlwaysIncludeInToken: true},
		identity("locale", "profile", false), identity("given_name", "profile", false),
		identity("gender", "profile", false), identity("family_name", "profile", false),
		identity("email_verified", "email", false), identity("email", "email", true),
		identity("birthdate", "profile", false), identity("address", "address", false),
	}
	for _, c := range list {
		c.ID, c.Status, c.System = newID("ocl", 20), statusActive, true
	}
	return list
}

type claimIn struct {
	Name                 *string `json:"name"`
	Status               *string `json:"status"`
	ClaimType            *string `json:"claimType"`
	ValueType            *string `json:"valueType"`
	Value                *string `json:"value"`
	AlwaysIncludeInToken *bool   `json:"alwaysIncludeInToken"`
	GroupFilterType      *string `json:"group_filter_type"`
	Conditions           *struct {
		Scopes []string `json:"scopes"`
	} `json:"conditions"`
}

type claimOut struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	Status               string         `json:"status"`
	ClaimType            string         `json:"claimType"`
	ValueType            string         `json:"valueType"`
	Value                string         `json:"value,omitempty"`
	Conditions           map[string]any `json:"conditions"`
	System               bool           `json:"system"`
	AlwaysIncludeInToken bool           `json:"alwaysIncludeInToken"`
	GroupFilterType      string         `json:"group_filter_type,omitempty"`
	Links                map[string]any `json:"_links"`
}

type claimRef struct {
	as *authServer
	cl *claim
}

func (x claimRef) render(base string) claimOut {
	cl := x.cl
	self := base + "/api/v1/authorizationServers/" + url.PathEscape(x.as.ID) + "/claims/" + url.PathEscape(cl.ID)
	return claimOut{
		ID: cl.ID, Name: cl.Name, Status: cl.Status, ClaimType: cl.ClaimType, ValueType: cl.ValueType, Value: cl.Value,
		Conditions: map[string]any{"scopes": nonNil(cl.Scopes)}, System: cl.System,
		AlwaysIncludeInToken: cl.AlwaysIncludeInToken, GroupFilterType: cl.GroupFilterType,
		Links: map[string]any{"self": link(self, http.MethodGet, http.MethodPut, http.MethodDelete)},
	}
}

func (as *authServer) claimByID(id string) *claim {
	for _, cl := range as.Claims {
		if cl.ID == id {
			return cl
		}
	}
	return nil
}

// applyClaim validates in (spec: AuthorizationServerClaims
// createOAuth2Claim / replaceOAuth2Claim) and writes it to cl.
func (as *authServer) applyClaim(in *claimIn, cl *claim) *apiError {
	name := strings.TrimSpace(str(in.Name))
	if name == "" {
		return blankField("name")
	}
	claimType := str(in.ClaimType)
	switch claimType {
	case "":
		return blankField("claimType")
	case "IDENTITY", "RESOURCE":
	default:
		return validationError("claimType", fmt.Sprintf("claimType: '%s' is invalid. Valid values: [IDENTITY, RESOURCE].", claimType))
	}
	valueType := str(in.ValueType)
	switch valueType {
	case "":
		return blankField("valueType")
	case "EXPRESSION", "GROUPS":
	case "SYSTEM":
		if !cl.System {
			return validationError("valueType", "valueType: 'SYSTEM' is only valid for system claims.")
		}
	default:
		return validationError("valueType", fmt.Sprintf("valueType: '%s' is invalid. Valid values: [EXPRESSION, GROUPS, SYSTEM].", valueType))
	}
	value := str(in.Value)
	if valueType != "SYSTEM" && value == "" {
		return blankField("value")
	}
	filter := str(in.GroupFilterType)
	if valueType == "GROUPS" {
		if !slices.Contains([]string{"STARTS_WITH", "EQUALS", "CONTAINS", "REGEX"}, filter) {
			return validationError("group_filter_type", fmt.Sprintf("group_filter_type: '%s' is invalid. Valid values: [STARTS_WITH, EQUALS, CONTAINS, REGEX].", filter))
		}
	} else {
		filter = ""
	}
	status, aerr := parseStatus(in.Status)
	if aerr != nil {
		return aerr
	}
	var scopes []string
	if in.Conditions != nil {
		scopes = in.Conditions.Scopes
	}
	for _, sc := range scopes {
		if as.scopeByName(sc) == nil {
			return validationError("conditions.scopes", fmt.Sprintf("conditions.scopes: The scope '%s' doesn't exist.", sc))
		}
	}
	for _, other := range as.Claims {
		if other.ID != cl.ID && other.Name == name && other.ClaimType == claimType {
			return validationError("name", "name: A claim with the same name already exists for this claim type.")
		}
	}
	cl.Name, cl.Status, cl.ClaimType, cl.ValueType, cl.Value, cl.GroupFilterType = name, status, claimType, valueType, value, filter
	cl.Scopes = slices.Clone(scopes)
	cl.AlwaysIncludeInToken = in.AlwaysIncludeInToken != nil && *in.AlwaysIncludeInToken
	return nil
}

func (s *Server) listClaims(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupAuthServer, func(as *authServer, base string) []claimOut {
		out := make([]claimOut, 0, len(as.Claims))
		for _, cl := range as.Claims {
			out = append(out, claimRef{as, cl}.render(base))
		}
		return out
	})
}

func (s *Server) createClaim(w http.ResponseWriter, r *http.Request, p []string) {
	if !s.authServerExists(w, p[0]) {
		return
	}
	var in claimIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	serveChange(s, w, p, http.StatusCreated, s.lookupAuthServer, func(as *authServer) (claimOut, *apiError) {
		cl := &claim{ID: newID("ocl", 20)}
		if aerr := as.applyClaim(&in, cl); aerr != nil {
			return claimOut{}, aerr
		}
		as.Claims = append(as.Claims, cl)
		as.LastUpdated = s.now()
		return claimRef{as, cl}.render(s.baseURL(r)), nil
	})
}

// lookupClaim finds the claim p[1] of the server p[0] or writes 404; the
// caller holds s.mu.
func (s *Server) lookupClaim(w http.ResponseWriter, p []string) (claimRef, bool) {
	as, ok := s.lookupAuthServer(w, p)
	if !ok {
		return claimRef{}, false
	}
	cl := as.claimByID(p[1])
	if cl == nil {
		writeAPIError(w, notFound(p[1], "OAuth2Claim"))
		return claimRef{}, false
	}
	return claimRef{as, cl}, true
}

func (s *Server) getClaim(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupClaim, claimRef.render)
}

func (s *Server) replaceClaim(w http.ResponseWriter, r *http.Request, p []string) {
	if !present(s, w, p, s.lookupClaim) {
		return
	}
	var in claimIn
	if aerr := decodeJSONObject(r, &in); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	serveChange(s, w, p, http.StatusOK, s.lookupClaim, func(x claimRef) (claimOut, *apiError) {
		tmp := *x.cl
		if aerr := x.as.applyClaim(&in, &tmp); aerr != nil {
			return claimOut{}, aerr
		}
		*x.cl = tmp
		return x.render(s.baseURL(r)), nil
	})
}

func (s *Server) deleteClaim(w http.ResponseWriter, r *http.Request, p []string) {
	serveDelete(s, w, p, s.lookupClaim, func(x claimRef) *apiError {
		x.as.Claims = slices.DeleteFunc(x.as.Claims, func(cl *claim) bool { return cl == x.cl })
		return nil
	})
}
