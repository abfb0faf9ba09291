package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// spec.secretTemplate.data and keys: what admission can judge of them (the templates
// themselves are parsed by the controller; CEL cannot parse Go templates).
func TestSecretTemplateDataAdmission(t *testing.T) {
	long := strings.Repeat("a", 254)
	tests := map[string]struct {
		spec    string // appended to validClient's spec
		wantErr string // substring of the API server's refusal; "" = accepted
	}{
		"data": {spec: `
  secretTemplate:
    data:
      application.properties: "client-id={{.ClientID}}"
      .env: "CLIENT_ID={{.ClientID}}"
      creds_v1-b.json: "{{toJson .ClientID}}"`},
		"data and keys None":   {spec: "\n  secretTemplate: {keys: None, data: {app.env: 'X={{.ClientID}}'}}"},
		"keys Default":         {spec: "\n  secretTemplate: {keys: Default}"},
		"keys None alone":      {spec: "\n  secretTemplate: {keys: None}", wantErr: "secretTemplate.keys None requires secretTemplate.data"},
		"keys None empty":      {spec: "\n  secretTemplate: {keys: None, data: {}}", wantErr: "secretTemplate.keys None requires secretTemplate.data"},
		"keys unknown":         {spec: "\n  secretTemplate: {keys: All}", wantErr: `Unsupported value: "All"`},
		"key with slash":       {spec: "\n  secretTemplate: {data: {a/b: x}}", wantErr: "secretTemplate.data keys must be valid Secret keys"},
		"key with space":       {spec: "\n  secretTemplate: {data: {'a b': x}}", wantErr: "secretTemplate.data keys must be valid Secret keys"},
		"key dot":              {spec: "\n  secretTemplate: {data: {'.': x}}", wantErr: "secretTemplate.data keys must be valid Secret keys"},
		"key dot dot":          {spec: "\n  secretTemplate: {data: {'..': x}}", wantErr: "secretTemplate.data keys must be valid Secret keys"},
		"key too long":         {spec: "\n  secretTemplate: {data: {" + long + ": x}}", wantErr: "secretTemplate.data keys must be valid Secret keys"},
		"default key":          {spec: "\n  secretTemplate: {data: {CLIENT_SECRET: '{{.ClientSecret}}'}}", wantErr: "must not be a default key"},
		"default key None":     {spec: "\n  secretTemplate: {keys: None, data: {SCOPE: x}}", wantErr: "must not be a default key"},
		"default key AUDIENCE": {spec: "\n  secretTemplate: {data: {AUDIENCE: x}}", wantErr: "must not be a default key"},
		"template too long": {spec: "\n  secretTemplate: {data: {big: " + strings.Repeat("x", 65537) + "}}",
			wantErr: "must be at most 65536 bytes"},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			obj := object(t, strings.Replace(validClient, "NAME", fmt.Sprintf("template-%d", i), 1)+tc.spec)
			err := k8s.Create(context.Background(), obj)
			checkAdmission(t, err, tc.wantErr)
		})
	}
}
