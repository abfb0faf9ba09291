package oktaemu

import (
	"bytes"
	"net/http"
	"net/url"
)

// The client-secret API: /api/v1/apps/{id}/credentials/secrets.

type secretOut struct {
	ID           string      `json:"id"`
	Status       string      `json:"status"`
	ClientSecret string      `json:"client_secret"`
	SecretHash   string      `json:"secret_hash"`
	Created      string      `json:"created"`
	LastUpdated  string      `json:"lastUpdated"`
	Links        secretLinks `json:"_links"`
}

type secretLinks struct {
	Activate   *hrefObject `json:"activate,omitempty"`
	Deactivate *hrefObject `json:"deactivate,omitempty"`
	Delete     *hrefObject `json:"delete,omitempty"`
}

// secretRef is a client secret together with the app that holds it.
type secretRef struct {
	a  *app
	cs *clientSecret
}

// render shows the secret as reads do. Real orgs answered the list with
// the full client_secret value, not a masked one
// (TestAccDataSourceOktaAppOauth_read #13, #14; see the recordings'
// README), so the emulator does too.
func (x secretRef) render(base string) secretOut { return renderSecret(x.a, x.cs, base) }

func renderSecret(a *app, cs *clientSecret, base string) secretOut {
	self := base + "/api/v1/apps/" + url.PathEscape(a.ID) + "/credentials/secrets/" + url.PathEscape(cs.ID)
	o := secretOut{
		ID: cs.ID, Status: cs.Status, SecretHash: cs.Hash,
		Created: formatTime(cs.Created), LastUpdated: formatTime(cs.LastUpdated),
	}
	o.ClientSecret = cs.Secret
	if cs.Status == statusActive {
		o.Links.Deactivate = link(self+"/lifecycle/deactivate", http.MethodPost)
	} else {
		o.Links.Activate = link(self+"/lifecycle/activate", http.MethodPost)
		o.Links.Delete = link(self, http.MethodDelete)
	}
	return o
}

func maxSecretsError() *apiError {
	return validationError("OAuth2ClientSecretMediated", "You've reached the maximum number of client secrets per client.")
}

func renderSecrets(a *app, base string) []secretOut {
	out := make([]secretOut, 0, len(a.Secrets))
	for _, cs := range a.Secrets {
		out = append(out, secretRef{a, cs}.render(base))
	}
	return out
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupApp, renderSecrets)
}

type secretIn struct {
	ClientSecret *string `json:"client_secret"`
	Status       *string `json:"status"`
}

func (s *Server) createSecret(w http.ResponseWriter, r *http.Request, p []string) {
	if !s.appExists(w, p[0]) {
		return
	}
	var in secretIn
	data, aerr := readBody(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if len(bytes.TrimSpace(data)) > 0 { // the body is optional
		if aerr := decodeJSONBytes(data, &in); aerr != nil {
			writeAPIError(w, aerr)
			return
		}
	}
	status, aerr := parseStatus(in.Status)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	value := str(in.ClientSecret)
	now := s.now()

	serveChange(s, w, p, http.StatusCreated, s.lookupApp, func(a *app) (secretOut, *apiError) {
		var aerr *apiError
		switch {
		case a.AuthMethod == authPrivateKey:
			aerr = secretWithPrivateKeyJWT()
		case len(a.Secrets) >= maxClientSecrets:
			aerr = maxSecretsError()
		case value != "":
			aerr = validateSecretValue(value)
		}
		if aerr != nil {
			return secretOut{}, aerr
		}
		cs := newSecret(value, status, now)
		a.Secrets = append(a.Secrets, cs)
		a.LastUpdated = now
		return renderSecret(a, cs, s.baseURL(r)), nil
	})
}

// lookupSecret finds the secret p[1] of the app p[0] or writes 404; the
// caller holds s.mu.
func (s *Server) lookupSecret(w http.ResponseWriter, p []string) (secretRef, bool) {
	a, ok := s.lookupApp(w, p)
	if !ok {
		return secretRef{}, false
	}
	cs := a.secretByID(p[1])
	if cs == nil {
		writeAPIError(w, notFound(p[1], "OAuth2ClientSecret"))
		return secretRef{}, false
	}
	return secretRef{a, cs}, true
}

func (s *Server) getSecret(w http.ResponseWriter, r *http.Request, p []string) {
	serveRead(s, w, r, p, s.lookupSecret, secretRef.render)
}

func (s *Server) setSecretStatus(w http.ResponseWriter, r *http.Request, p []string, status string) {
	now := s.now()
	s.mu.Lock()
	x, ok := s.lookupSecret(w, p)
	if !ok {
		s.mu.Unlock()
		return
	}
	a, cs := x.a, x.cs
	if status == statusInactive && cs.Status == statusActive && usesSecret(a.AuthMethod) && len(a.activeSecrets()) == 1 {
		s.mu.Unlock()
		writeAPIError(w, validationError("OAuth2ClientSecretMediated", "You can't deactivate the only active client secret."))
		return
	}
	changed := cs.Status != status
	if changed {
		cs.Status, cs.LastUpdated = status, now
		a.LastUpdated = now
		s.bump()
	}
	out := x.render(s.baseURL(r))
	s.mu.Unlock()
	if changed {
		s.changed()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) activateSecret(w http.ResponseWriter, r *http.Request, p []string) {
	s.setSecretStatus(w, r, p, statusActive)
}

func (s *Server) deactivateSecret(w http.ResponseWriter, r *http.Request, p []string) {
	s.setSecretStatus(w, r, p, statusInactive)
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request, p []string) {
	serveDelete(s, w, p, s.lookupSecret, func(x secretRef) *apiError {
		a := x.a
		if x.cs.Status == statusActive {
			return validationError("OAuth2ClientSecretMediated", "You can't delete an active client secret. Deactivate the secret before deleting it.")
		}
		for i, cs := range a.Secrets {
			if cs == x.cs {
				a.Secrets = append(a.Secrets[:i], a.Secrets[i+1:]...)
				break
			}
		}
		a.LastUpdated = s.now()
		return nil
	})
}
