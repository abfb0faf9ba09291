package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// AppRef names an existing app to adopt: exactly one of ID and ClientID.
type AppRef struct {
	ID       string
	ClientID string
}

func (r AppRef) String() string {
	if r.ID != "" {
		return "app id " + r.ID
	}
	return "client id " + r.ClientID
}

// ErrNoSuchApp: the app an AppRef names does not exist in the backend. It also matches
// ErrNotFound.
var ErrNoSuchApp error = &subclass{msg: "no such app", parent: ErrNotFound}

// LookupApp reads the app ref names. By client id it reads the app whose id is the client
// id — what Okta assigns to an app created without a client id of its own (the recorded
// answers of Okta's create show id and client_id equal) and what Hydra always uses — and
// checks that its client id is the one asked for. An app that cannot be found is
// ErrNoSuchApp.
func LookupApp(ctx context.Context, p Client, ref AppRef) (*App, error) {
	const op = "look up app"
	id := ref.ID
	if id == "" {
		id = ref.ClientID
	}
	if id == "" || (ref.ID != "" && ref.ClientID != "") {
		return nil, Errorf(ErrPermanent, op, "exactly one of app id and client id is needed")
	}
	app, err := p.GetApp(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Class: ErrNoSuchApp, Op: op, Err: fmt.Errorf("no app with %s", ref)}
	}
	if err != nil {
		return nil, err
	}
	if ref.ClientID != "" && app.ClientID != ref.ClientID {
		return nil, &Error{Class: ErrNoSuchApp, Op: op,
			Err: fmt.Errorf("no app with %s (app %s has client id %s; adopt it by its app id)", ref, app.ID, app.ClientID)}
	}
	return app, nil
}

// NotAdoptable says what keeps app from being a client-credentials client the operator can
// manage, or "" when nothing does.
func (a *App) NotAdoptable() string {
	if a.ClientCredentialsOnly {
		return ""
	}
	var why []string
	if a.OtherType != "" {
		why = append(why, fmt.Sprintf("its application type is %q, not a service app", a.OtherType))
	}
	if len(a.GrantTypes) != 1 || a.GrantTypes[0] != "client_credentials" {
		why = append(why, fmt.Sprintf("its grant types are [%s], not only client_credentials", strings.Join(a.GrantTypes, ", ")))
	}
	if len(a.ResponseTypes) > 1 || (len(a.ResponseTypes) == 1 && a.ResponseTypes[0] != "token") {
		why = append(why, fmt.Sprintf("its response types are [%s], not only token", strings.Join(a.ResponseTypes, ", ")))
	}
	if len(why) == 0 {
		why = append(why, "the backend does not count it as a client-credentials client")
	}
	return strings.Join(why, "; ")
}
