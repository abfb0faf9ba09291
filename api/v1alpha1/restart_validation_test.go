package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// spec.rotation.restart, maxGracePeriod and spec.secretTemplate.nudgePods at admission.
func TestRestartAdmission(t *testing.T) {
	tests := map[string]struct {
		spec    string // appended to validClient's spec
		wantErr string // substring of the API server's refusal; "" = accepted
	}{
		"by name": {spec: "\n  rotation: {interval: 2h, restart: [{kind: Deployment, name: app}]}"},
		"by selector": {spec: "\n  rotation: {interval: 2h, restart: [{kind: StatefulSet, selector: {matchLabels: {app: x}}}, " +
			"{kind: DaemonSet, selector: {matchExpressions: [{key: tier, operator: In, values: [web]}]}}]}"},
		"maxGracePeriod":         {spec: "\n  rotation: {interval: 1h, gracePeriod: 1m, maxGracePeriod: 30m, restart: [{kind: Deployment, name: a}]}"},
		"nudgePods":              {spec: "\n  secretTemplate: {nudgePods: true}"},
		"name and selector":      {spec: "\n  rotation: {interval: 2h, restart: [{kind: Deployment, name: a, selector: {matchLabels: {a: b}}}]}", wantErr: "exactly one of name and selector"},
		"neither":                {spec: "\n  rotation: {interval: 2h, restart: [{kind: Deployment}]}", wantErr: "exactly one of name and selector"},
		"other kind":             {spec: "\n  rotation: {interval: 2h, restart: [{kind: ReplicaSet, name: a}]}", wantErr: `Unsupported value: "ReplicaSet"`},
		"bad name":               {spec: "\n  rotation: {interval: 2h, restart: [{kind: Deployment, name: A_b}]}", wantErr: "restart name must be a valid object name"},
		"max below grace":        {spec: "\n  rotation: {interval: 1h, gracePeriod: 10m, maxGracePeriod: 5m}", wantErr: "maxGracePeriod must not be shorter than rotation.gracePeriod"},
		"max not below interval": {spec: "\n  rotation: {interval: 2h, maxGracePeriod: 2h}", wantErr: "maxGracePeriod must be shorter than rotation.interval"},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			obj := object(t, strings.Replace(validClient, "NAME", fmt.Sprintf("restart-%d", i), 1)+tc.spec)
			err := k8s.Create(context.Background(), obj)
			checkAdmission(t, err, tc.wantErr)
		})
	}
}
