package provider_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clientcreds/clientcreds/internal/provider"
	"github.com/clientcreds/clientcreds/internal/provider/fake"
)

func TestLookupApp(t *testing.T) {
	apps := map[string]provider.App{
		"0oa1":  {ID: "0oa1", ClientID: "0oa1"},
		"0oa2":  {ID: "0oa2", ClientID: "custom-client-id"},
		"error": {},
	}
	p := &fake.Client{GetAppFn: func(_ context.Context, id string) (*provider.App, error) {
		if id == "error" {
			return nil, provider.Errorf(provider.ErrTransient, "get app", "503")
		}
		a, ok := apps[id]
		if !ok {
			return nil, provider.Errorf(provider.ErrNotFound, "get app", "404")
		}
		return &a, nil
	}}
	tests := map[string]struct {
		ref       provider.AppRef
		wantID    string
		wantClass error
		wantMsg   string
	}{
		"by app id":                      {ref: provider.AppRef{ID: "0oa2"}, wantID: "0oa2"},
		"by client id equal to the id":   {ref: provider.AppRef{ClientID: "0oa1"}, wantID: "0oa1"},
		"by client id that is another's": {ref: provider.AppRef{ClientID: "0oa2"}, wantClass: provider.ErrNoSuchApp, wantMsg: "adopt it by its app id"},
		"missing app id":                 {ref: provider.AppRef{ID: "0oa9"}, wantClass: provider.ErrNoSuchApp, wantMsg: "no app with app id 0oa9"},
		"missing client id":              {ref: provider.AppRef{ClientID: "c9"}, wantClass: provider.ErrNoSuchApp, wantMsg: "no app with client id c9"},
		"neither":                        {ref: provider.AppRef{}, wantClass: provider.ErrPermanent},
		"both":                           {ref: provider.AppRef{ID: "0oa1", ClientID: "0oa1"}, wantClass: provider.ErrPermanent},
		"backend error passes unchanged": {ref: provider.AppRef{ID: "error"}, wantClass: provider.ErrTransient},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			app, err := provider.LookupApp(context.Background(), p, tc.ref)
			if tc.wantClass != nil {
				if !errors.Is(err, tc.wantClass) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("err = %v, want class %v with %q", err, tc.wantClass, tc.wantMsg)
				}
				if tc.wantClass == provider.ErrNoSuchApp && !errors.Is(err, provider.ErrNotFound) {
					t.Fatalf("ErrNoSuchApp must match ErrNotFound")
				}
				return
			}
			if err != nil || app.ID != tc.wantID {
				t.Fatalf("app %v, err %v; want %s", app, err, tc.wantID)
			}
		})
	}
}

func TestAppNotAdoptable(t *testing.T) {
	tests := map[string]struct {
		app     provider.App
		want    []string // substrings; none means adoptable
		notWant []string
	}{
		"service app": {app: provider.App{ClientCredentialsOnly: true, GrantTypes: []string{"client_credentials"}}},
		"web app": {app: provider.App{OtherType: "web", GrantTypes: []string{"authorization_code"}},
			want: []string{`"web"`, "[authorization_code]"}},
		"extra grant": {app: provider.App{GrantTypes: []string{"client_credentials", "implicit"}, ResponseTypes: []string{"token"}},
			want: []string{"[client_credentials, implicit]"}, notWant: []string{"application type", "response types"}},
		"response type": {app: provider.App{GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{"code"}},
			want: []string{"response types are [code]"}, notWant: []string{"grant types"}},
		"web, grants fine": {app: provider.App{OtherType: "web", GrantTypes: []string{"client_credentials"}},
			want: []string{`"web"`}, notWant: []string{"grant types"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.app.NotAdoptable()
			if (got == "") != (len(tc.want) == 0) {
				t.Fatalf("NotAdoptable() = %q", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("NotAdoptable() = %q, want it to contain %q", got, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("NotAdoptable() = %q names %q, which does not differ", got, w)
				}
			}
		})
	}
}
