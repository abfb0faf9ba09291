package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
	"github.com/clientcreds/clientcreds/internal/provider"
)

// Metrics computed from the manager's cache at scrape time (stateCollector), and the
// time-to-Ready histogram the reconciler feeds.
//
// Label cardinality is bounded by the provider objects, never by the OAuthClients: the
// provider label holds the name of an existing ClusterOAuthProvider ("name") or
// OAuthProvider ("namespace/name"); a client whose provider does not exist is counted
// under provider="". With P provider objects and R condition reasons (the constants of
// api/v1alpha1, about 40), clientcreds_oauthclients has at most (P+1)·3·R series,
// clientcreds_oauthclient_secret_age_seconds (P+1)·(len(secretAgeBuckets)+2), the rotation
// gauges (P+1) each and clientcreds_provider_ready P.
const (
	MetricOAuthClients        = "clientcreds_oauthclients"
	MetricSecretAge           = "clientcreds_oauthclient_secret_age_seconds"
	MetricNextRotation        = "clientcreds_oauthclient_next_rotation_min_seconds"
	MetricRotationsOverdue    = "clientcreds_oauthclient_rotations_overdue"
	MetricRotationScheduled   = "clientcreds_oauthclient_rotation_scheduled"
	MetricProviderReady       = "clientcreds_provider_ready"
	MetricProviderLastCheck   = "clientcreds_provider_last_check_timestamp_seconds"
	MetricTimeToReady         = "clientcreds_oauthclient_time_to_ready_seconds"
	MetricStateScrapeFailures = "clientcreds_state_scrape_errors_total"
)

// secretAgeBuckets: an hour, a day, a week, 30, 90, 180 and 365 days.
var secretAgeBuckets = []float64{3600, 86400, 7 * 86400, 30 * 86400, 90 * 86400, 180 * 86400, 365 * 86400}

var (
	descOAuthClients = prometheus.NewDesc(MetricOAuthClients,
		"OAuthClients in the manager's cache, by provider_kind, provider (\"name\", or \"namespace/name\" for an OAuthProvider; \"\" when it does not exist), ready (the Ready condition's status: True, False, Unknown when absent) and reason (the Ready condition's reason).",
		[]string{"provider_kind", "provider", "ready", "reason"}, nil)
	descSecretAge = prometheus.NewDesc(MetricSecretAge,
		"Age of the credentials each OAuthClient's Secret publishes (now - status.lastRotationTime), as a histogram over the clients of each provider.",
		[]string{"provider_kind", "provider"}, nil)
	descNextRotation = prometheus.NewDesc(MetricNextRotation,
		"Seconds until the earliest scheduled rotation among the clients of each provider that rotate (spec.rotation); negative when one is overdue.",
		[]string{"provider_kind", "provider"}, nil)
	descRotationsOverdue = prometheus.NewDesc(MetricRotationsOverdue,
		"OAuthClients of each provider whose scheduled rotation is due and has not happened yet.",
		[]string{"provider_kind", "provider"}, nil)
	descRotationScheduled = prometheus.NewDesc(MetricRotationScheduled,
		"OAuthClients of each provider with scheduled rotation (spec.rotation, on a secret-based auth method).",
		[]string{"provider_kind", "provider"}, nil)
	descProviderReady = prometheus.NewDesc(MetricProviderReady,
		"1 when the provider's health check passes (Ready=True at its generation), else 0; by provider_kind, provider and backend (the name of the provider spec's backend field).",
		[]string{"provider_kind", "provider", "backend"}, nil)
	descProviderLastCheck = prometheus.NewDesc(MetricProviderLastCheck,
		"Unix time of the provider's last health check (status.lastCheckTime).",
		[]string{"provider_kind", "provider", "backend"}, nil)

	stateScrapeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: MetricStateScrapeFailures,
		Help: "Scrapes at which the OAuthClient and provider gauges could not be read from the manager's cache (they are then absent from that scrape).",
	})
	timeToReady = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricTimeToReady,
		Help:    "Time from an OAuthClient's creation (trigger=create) or spec change (trigger=update, from the first reconcile of the new generation) to Ready=True at that generation.",
		Buckets: []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
	}, []string{"trigger"})
)

func init() {
	metrics.Registry.MustRegister(stateScrapeErrors, timeToReady)
	for _, t := range []string{"create", "update"} {
		timeToReady.WithLabelValues(t)
	}
}

// stateCollector reads OAuthClients and providers from the cache at each scrape.
type stateCollector struct {
	reader client.Reader
	now    func() time.Time
}

// NewStateCollector returns the collector of the gauges computed from the OAuthClients and
// providers that reader lists (the manager's cache).
func NewStateCollector(reader client.Reader) prometheus.Collector {
	return &stateCollector{reader: reader, now: time.Now}
}

var (
	stateCollectorMu  sync.Mutex
	stateCollectorReg prometheus.Collector
)

// registerStateCollector registers c in controller-runtime's registry, replacing the one a
// previous Setup registered (tests set up several managers in one process).
func registerStateCollector(c prometheus.Collector) error {
	stateCollectorMu.Lock()
	defer stateCollectorMu.Unlock()
	if stateCollectorReg != nil {
		metrics.Registry.Unregister(stateCollectorReg)
	}
	if err := metrics.Registry.Register(c); err != nil {
		return err
	}
	stateCollectorReg = c
	return nil
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOAuthClients, descSecretAge, descNextRotation,
		descRotationsOverdue, descRotationScheduled, descProviderReady, descProviderLastCheck} {
		ch <- d
	}
}

type providerLabels struct{ kind, name string }

type clientCount struct {
	providerLabels
	ready, reason string
}

type rotationState struct {
	scheduled, overdue int
	nextDue            time.Time
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		clusterProviders oauthv1.ClusterOAuthProviderList
		providers        oauthv1.OAuthProviderList
		clients          oauthv1.OAuthClientList
	)
	// The cache's own objects, read only: no deep copy of thousands of clients per scrape.
	if err := errors.Join(
		c.reader.List(ctx, &clusterProviders, client.UnsafeDisableDeepCopy),
		c.reader.List(ctx, &providers, client.UnsafeDisableDeepCopy),
		c.reader.List(ctx, &clients, client.UnsafeDisableDeepCopy),
	); err != nil {
		stateScrapeErrors.Inc()
		return
	}
	now := c.now()

	known := map[providerLabels]bool{}
	emitProvider := func(kind, name string, p oauthv1.ProviderObject) {
		known[providerLabels{kind, name}] = true
		st := p.ProviderStatus()
		ready := 0.0
		if isReady(st.Conditions, p.GetGeneration()) {
			ready = 1
		}
		backend := provider.BackendOf(p)
		ch <- prometheus.MustNewConstMetric(descProviderReady, prometheus.GaugeValue, ready, kind, name, backend)
		if st.LastCheckTime != nil {
			ch <- prometheus.MustNewConstMetric(descProviderLastCheck, prometheus.GaugeValue,
				float64(st.LastCheckTime.Unix()), kind, name, backend)
		}
	}
	for i := range clusterProviders.Items {
		p := &clusterProviders.Items[i]
		emitProvider(oauthv1.KindClusterOAuthProvider, p.Name, p)
	}
	for i := range providers.Items {
		p := &providers.Items[i]
		emitProvider(oauthv1.KindOAuthProvider, p.Namespace+"/"+p.Name, p)
	}

	counts := map[clientCount]int{}
	ages := map[providerLabels][]float64{}
	rotation := map[providerLabels]*rotationState{}
	seen := make(map[types.UID]struct{}, len(clients.Items))
	for i := range clients.Items {
		o := &clients.Items[i]
		seen[o.UID] = struct{}{}
		key := clientProvider(o, known)
		ready, reason := string(metav1.ConditionUnknown), ""
		if cond := meta.FindStatusCondition(o.Status.Conditions, oauthv1.ConditionReady); cond != nil {
			ready, reason = string(cond.Status), cond.Reason
		}
		counts[clientCount{key, ready, reason}]++
		if t := o.Status.LastRotationTime; t != nil {
			ages[key] = append(ages[key], now.Sub(t.Time).Seconds())
		}
		if due, ok := rotationDue(o); ok {
			rs := rotation[key]
			if rs == nil {
				rs = &rotationState{nextDue: due}
				rotation[key] = rs
			}
			rs.scheduled++
			if due.Before(rs.nextDue) {
				rs.nextDue = due
			}
			if !now.Before(due) {
				rs.overdue++
			}
		}
	}
	readyTimes.forgetExcept(seen)

	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(descOAuthClients, prometheus.GaugeValue, float64(n), k.kind, k.name, k.ready, k.reason)
	}
	for k, list := range ages {
		ch <- ageHistogram(k, list)
	}
	for k, rs := range rotation {
		ch <- prometheus.MustNewConstMetric(descRotationScheduled, prometheus.GaugeValue, float64(rs.scheduled), k.kind, k.name)
		ch <- prometheus.MustNewConstMetric(descRotationsOverdue, prometheus.GaugeValue, float64(rs.overdue), k.kind, k.name)
		ch <- prometheus.MustNewConstMetric(descNextRotation, prometheus.GaugeValue, rs.nextDue.Sub(now).Seconds(), k.kind, k.name)
	}
}

// clientProvider is the provider label pair of o: its provider when that exists, else the
// kind with an empty name (so a typo in providerRef adds no series).
func clientProvider(o *oauthv1.OAuthClient, known map[providerLabels]bool) providerLabels {
	ref := o.Spec.ProviderRef
	k := providerLabels{ref.Kind, ref.Name}
	if ref.Kind == oauthv1.KindOAuthProvider {
		k.name = o.Namespace + "/" + ref.Name
	}
	if !known[k] {
		k.name = ""
	}
	return k
}

func ageHistogram(k providerLabels, ages []float64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(secretAgeBuckets))
	for _, b := range secretAgeBuckets {
		buckets[b] = 0 // every bucket is exposed, empty ones too
	}
	var sum float64
	for _, a := range ages {
		sum += a
		for _, b := range secretAgeBuckets {
			if a <= b {
				buckets[b]++
			}
		}
	}
	return prometheus.MustNewConstHistogram(descSecretAge, uint64(len(ages)), sum, buckets, k.kind, k.name)
}

// readyTimes remembers since when each OAuthClient has not been Ready at its generation,
// for clientcreds_oauthclient_time_to_ready_seconds. The memory is per process: after a
// restart a spec change's clock starts at the first reconcile (a creation's still starts
// at creationTimestamp).
var readyTimes = &readyTimer{}

type readyTimer struct {
	mu      sync.Mutex
	pending map[types.UID]pendingReady
}

type pendingReady struct {
	generation int64
	start      time.Time
}

// begin is called before a reconcile concludes: a client not Ready at its generation
// starts its clock (unless it is running already).
func (t *readyTimer) begin(obj *oauthv1.OAuthClient, now time.Time) {
	if isReady(obj.Status.Conditions, obj.Generation) || obj.UID == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, running := t.pending[obj.UID]; running {
		return
	}
	start := now
	if obj.Generation <= 1 {
		start = obj.CreationTimestamp.Time
	}
	if t.pending == nil {
		t.pending = map[types.UID]pendingReady{}
	}
	t.pending[obj.UID] = pendingReady{generation: obj.Generation, start: start}
}

// end is called after a reconcile concluded: a client now Ready stops its clock.
func (t *readyTimer) end(obj *oauthv1.OAuthClient, now time.Time) {
	if !isReady(obj.Status.Conditions, obj.Generation) {
		return
	}
	t.mu.Lock()
	p, running := t.pending[obj.UID]
	delete(t.pending, obj.UID)
	t.mu.Unlock()
	if !running {
		return
	}
	trigger := "update"
	if p.generation <= 1 {
		trigger = "create"
	}
	timeToReady.WithLabelValues(trigger).Observe(max(now.Sub(p.start), 0).Seconds())
}

// forgetExcept drops the clocks of clients that no longer exist.
func (t *readyTimer) forgetExcept(live map[types.UID]struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for uid := range t.pending {
		if _, ok := live[uid]; !ok {
			delete(t.pending, uid)
		}
	}
}
