package controllers

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

func stateClient(t *testing.T, ready metav1.ConditionStatus, reason string, gen int64, rotated *metav1.Time, rotation *oauthv1.Rotation) *oauthv1.OAuthClient {
	t.Helper()
	o := &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: strings.ToLower(reason + string(ready) + rotatedName(rotated)), Generation: gen}}
	o.Spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindClusterOAuthProvider, Name: "okta"}
	o.Spec.Rotation = rotation
	o.Status.LastRotationTime = rotated
	if ready != "" {
		o.Status.Conditions = []metav1.Condition{{Type: oauthv1.ConditionReady, Status: ready, Reason: reason, ObservedGeneration: gen}}
	}
	return o
}

func rotatedName(t *metav1.Time) string {
	if t == nil {
		return "-new"
	}
	return "-" + strings.ToLower(t.UTC().Format("20060102"))
}

// The gauges are what the cache holds: counts by provider, Ready status and reason; secret
// ages and rotation schedules aggregated per provider; provider health. A client naming a
// provider that does not exist is counted under provider="".
func TestStateCollector(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	scheme := runtime.NewScheme()
	if err := oauthv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	day := func(d int) *metav1.Time { t := metav1.NewTime(now.Add(-time.Duration(d) * 24 * time.Hour)); return &t }
	weekly := &oauthv1.Rotation{Interval: metav1.Duration{Duration: 7 * 24 * time.Hour}}

	okta := &oauthv1.ClusterOAuthProvider{ObjectMeta: metav1.ObjectMeta{Name: "okta", Generation: 2}}
	okta.Spec.Okta = &oauthv1.OktaProvider{}
	lc := metav1.NewTime(now.Add(-time.Minute))
	okta.Status = oauthv1.OAuthProviderStatus{LastCheckTime: &lc,
		Conditions: []metav1.Condition{{Type: oauthv1.ConditionReady, Status: metav1.ConditionTrue, Reason: oauthv1.ReasonSucceeded, ObservedGeneration: 2}}}
	down := &oauthv1.OAuthProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "own", Generation: 1}}
	down.Spec.Okta = &oauthv1.OktaProvider{}
	down.Status.Conditions = []metav1.Condition{{Type: oauthv1.ConditionReady, Status: metav1.ConditionFalse, Reason: oauthv1.ReasonUnreachable, ObservedGeneration: 1}}

	missing := stateClient(t, metav1.ConditionFalse, oauthv1.ReasonProviderNotFound, 1, nil, nil)
	missing.Spec.ProviderRef.Name = "typo-" + strings.Repeat("x", 10)
	nsClient := stateClient(t, metav1.ConditionTrue, oauthv1.ReasonSucceeded, 1, day(1), nil)
	nsClient.Namespace = "team-b"
	nsClient.Spec.ProviderRef = oauthv1.ProviderReference{Kind: oauthv1.KindOAuthProvider, Name: "own"}

	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(okta, down, missing, nsClient,
		stateClient(t, metav1.ConditionTrue, oauthv1.ReasonSucceeded, 1, day(2), weekly),  // due in 5 days
		stateClient(t, metav1.ConditionTrue, oauthv1.ReasonSucceeded, 3, day(10), weekly), // overdue by 3 days
		stateClient(t, metav1.ConditionFalse, oauthv1.ReasonRateLimited, 1, day(40), nil), // not rotating
		stateClient(t, "", "", 1, nil, nil),                                               // not reconciled yet
	).Build()
	col := &stateCollector{reader: c, now: func() time.Time { return now }}

	want := `
# HELP clientcreds_oauthclients OAuthClients in the manager's cache, by provider_kind, provider ("name", or "namespace/name" for an OAuthProvider; "" when it does not exist), ready (the Ready condition's status: True, False, Unknown when absent) and reason (the Ready condition's reason).
# TYPE clientcreds_oauthclients gauge
clientcreds_oauthclients{provider="",provider_kind="ClusterOAuthProvider",ready="False",reason="ProviderNotFound"} 1
clientcreds_oauthclients{provider="okta",provider_kind="ClusterOAuthProvider",ready="False",reason="RateLimited"} 1
clientcreds_oauthclients{provider="okta",provider_kind="ClusterOAuthProvider",ready="True",reason="Succeeded"} 2
clientcreds_oauthclients{provider="okta",provider_kind="ClusterOAuthProvider",ready="Unknown",reason=""} 1
clientcreds_oauthclients{provider="team-b/own",provider_kind="OAuthProvider",ready="True",reason="Succeeded"} 1
# HELP clientcreds_oauthclient_rotations_overdue OAuthClients of each provider whose scheduled rotation is due and has not happened yet.
# TYPE clientcreds_oauthclient_rotations_overdue gauge
clientcreds_oauthclient_rotations_overdue{provider="okta",provider_kind="ClusterOAuthProvider"} 1
# HELP clientcreds_oauthclient_rotation_scheduled OAuthClients of each provider with scheduled rotation (spec.rotation, on a secret-based auth method).
# TYPE clientcreds_oauthclient_rotation_scheduled gauge
clientcreds_oauthclient_rotation_scheduled{provider="okta",provider_kind="ClusterOAuthProvider"} 2
# HELP clientcreds_oauthclient_next_rotation_min_seconds Seconds until the earliest scheduled rotation among the clients of each provider that rotate (spec.rotation); negative when one is overdue.
# TYPE clientcreds_oauthclient_next_rotation_min_seconds gauge
clientcreds_oauthclient_next_rotation_min_seconds{provider="okta",provider_kind="ClusterOAuthProvider"} -259200
# HELP clientcreds_provider_ready 1 when the provider's health check passes (Ready=True at its generation), else 0; by provider_kind, provider and backend (the name of the provider spec's backend field).
# TYPE clientcreds_provider_ready gauge
clientcreds_provider_ready{backend="okta",provider="okta",provider_kind="ClusterOAuthProvider"} 1
clientcreds_provider_ready{backend="okta",provider="team-b/own",provider_kind="OAuthProvider"} 0
# HELP clientcreds_provider_last_check_timestamp_seconds Unix time of the provider's last health check (status.lastCheckTime).
# TYPE clientcreds_provider_last_check_timestamp_seconds gauge
clientcreds_provider_last_check_timestamp_seconds{backend="okta",provider="okta",provider_kind="ClusterOAuthProvider"} ` + strconv.FormatInt(lc.Unix(), 10) + `
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want),
		MetricOAuthClients, MetricRotationsOverdue, MetricRotationScheduled, MetricNextRotation,
		MetricProviderReady, MetricProviderLastCheck); err != nil {
		t.Error(err)
	}

	// Secret ages: okta's clients were published 2, 10 and 40 days ago.
	wantAge := `
# HELP clientcreds_oauthclient_secret_age_seconds Age of the credentials each OAuthClient's Secret publishes (now - status.lastRotationTime), as a histogram over the clients of each provider.
# TYPE clientcreds_oauthclient_secret_age_seconds histogram
clientcreds_oauthclient_secret_age_seconds_bucket{provider="okta",provider_kind="ClusterOAuthProvider",le="3600"} 0
clientcreds_oauthclient_secret_age_seconds_bucket{provider="okta",provider_kind="ClusterOAuthProvider",le="86400"} 0
clientcreds_oauthclient_secret_age_seconds_bucket{provider="okta",provider_kind="ClusterOAuthProvider",le="604800"} 1
clientcreds_oauthclient_secret_age_seconds_bucket{provider="okta",provider_kind="ClusterOAuthProvider",le="2.592e+06"} 2
clientcreds_oauthclient_secret_age_seconds_bucket{provider="okta",provider_kind="ClusterOAuthProvider",le="7.776e+06"} 3
clientcreds_oauthclient_secret_age_seconds_bucket{provider="okta",provider_kind="ClusterOAuthProvider",le="1.5552e+07"} 3
clientcreds_oauthclient_secret_age_seconds_bucket{provider="okta",provider_kind="ClusterOAuthProvider",le="3.1536e+07"} 3
clientcreds_oauthclient_secret_age_seconds_bucket{provider="okta",provider_kind="ClusterOAuthProvider",le="+Inf"} 3
clientcreds_oauthclient_secret_age_seconds_sum{provider="okta",provider_kind="ClusterOAuthProvider"} 4.4928e+06
clientcreds_oauthclient_secret_age_seconds_count{provider="okta",provider_kind="ClusterOAuthProvider"} 3
clientcreds_oauthclient_secret_age_seconds_bucket{provider="team-b/own",provider_kind="OAuthProvider",le="3600"} 0
clientcreds_oauthclient_secret_age_seconds_bucket{provider="team-b/own",provider_kind="OAuthProvider",le="86400"} 1
clientcreds_oauthclient_secret_age_seconds_bucket{provider="team-b/own",provider_kind="OAuthProvider",le="604800"} 1
clientcreds_oauthclient_secret_age_seconds_bucket{provider="team-b/own",provider_kind="OAuthProvider",le="2.592e+06"} 1
clientcreds_oauthclient_secret_age_seconds_bucket{provider="team-b/own",provider_kind="OAuthProvider",le="7.776e+06"} 1
clientcreds_oauthclient_secret_age_seconds_bucket{provider="team-b/own",provider_kind="OAuthProvider",le="1.5552e+07"} 1
clientcreds_oauthclient_secret_age_seconds_bucket{provider="team-b/own",provider_kind="OAuthProvider",le="3.1536e+07"} 1
clientcreds_oauthclient_secret_age_seconds_bucket{provider="team-b/own",provider_kind="OAuthProvider",le="+Inf"} 1
clientcreds_oauthclient_secret_age_seconds_sum{provider="team-b/own",provider_kind="OAuthProvider"} 86400
clientcreds_oauthclient_secret_age_seconds_count{provider="team-b/own",provider_kind="OAuthProvider"} 1
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(wantAge), MetricSecretAge); err != nil {
		t.Error(err)
	}
}

// The time-to-Ready clock starts at creation for a new client and at the first reconcile of
// a new generation for a spec change, and stops when Ready=True at that generation.
func TestReadyTimer(t *testing.T) {
	created := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	o := &oauthv1.OAuthClient{ObjectMeta: metav1.ObjectMeta{UID: types.UID("u-" + t.Name()), Generation: 1, CreationTimestamp: metav1.NewTime(created)}}
	setReady := func(s metav1.ConditionStatus) {
		o.Status.Conditions = []metav1.Condition{{Type: oauthv1.ConditionReady, Status: s, ObservedGeneration: o.Generation}}
	}
	timer := &readyTimer{}

	timer.begin(o, created.Add(2*time.Second))
	setReady(metav1.ConditionFalse)
	timer.end(o, created.Add(2*time.Second)) // not Ready: the clock runs on
	timer.begin(o, created.Add(5*time.Second))
	setReady(metav1.ConditionTrue)
	before := testutil.CollectAndCount(timeToReady)
	sumBefore := histogramSum(t, "create")
	timer.end(o, created.Add(7*time.Second))
	if got := histogramSum(t, "create") - sumBefore; got != 7 {
		t.Errorf("create observed %vs, want 7s (from creationTimestamp)", got)
	}
	if after := testutil.CollectAndCount(timeToReady); after != before {
		t.Errorf("series %d -> %d; the trigger label has a closed set of values", before, after)
	}

	// A spec change: generation 2, first seen at +100s, Ready at +130s.
	o.Generation = 2
	timer.begin(o, created.Add(100*time.Second))
	setReady(metav1.ConditionTrue)
	sumBefore = histogramSum(t, "update")
	timer.end(o, created.Add(130*time.Second))
	if got := histogramSum(t, "update") - sumBefore; got != 30 {
		t.Errorf("update observed %vs, want 30s", got)
	}
	// Ready again without a new generation: nothing more is observed.
	timer.begin(o, created.Add(200*time.Second))
	timer.end(o, created.Add(210*time.Second))
	if got := histogramSum(t, "update") - sumBefore; got != 30 {
		t.Errorf("a reconcile of a Ready client observed %vs more", got-30)
	}
	// A deleted client's clock is dropped.
	o.Generation = 3
	timer.begin(o, created.Add(300*time.Second))
	timer.forgetExcept(map[types.UID]struct{}{})
	if len(timer.pending) != 0 {
		t.Errorf("%d clocks kept for deleted clients", len(timer.pending))
	}
}

func histogramSum(t *testing.T, trigger string) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := timeToReady.WithLabelValues(trigger).(prometheus.Metric).Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleSum()
}
