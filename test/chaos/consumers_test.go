//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/clientcreds/clientcreds/internal/kubeletvolume"
	"github.com/clientcreds/clientcreds/pkg/credentials"
)

// failure is one failed token fetch or request of a consumer.
type failure struct {
	at     time.Time
	slot   int
	kind   string // "fetch" or "request"
	err    string
	excuse string // "" when nothing excuses it
}

// slot is one OAuthClient name, its current generation (UID) and the
// consumer (a pod, in a cluster) using its Secret.
type slot struct {
	idx  int
	name string

	mu         sync.Mutex
	gen        types.UID // the OAuthClient the consumer belongs to; "" while deleted
	cons       *consumer
	volumeGen  int
	lastSecret string // CLIENT_SECRET of the last version seen, to count changes
	lastRV     int64  // resourceVersion of the last version seen (informer and poll both deliver)

	// Read without mu (the fetch observer may run under it).
	pending  atomic.Int64 // Secret versions seen, not yet published to the volume
	lastSwap atomic.Int64 // unix nanoseconds of the last ..data swap after a change
}

// consumer fetches a token with pkg/credentials from its volume and calls
// hello through the verifier every second.
type consumer struct {
	src    *credentials.Source
	cancel context.CancelFunc
	done   chan struct{}
}

// fleet is every slot, the simulated kubelet and the consumers' outcomes.
type fleet struct {
	r       *run
	slots   []*slot
	volRoot string

	fetches, fetchFailures, requests, requestFailures atomic.Int64
	// secretChanges counts new CLIENT_SECRET values of running consumers' Secrets
	// (rotations, mostly) that the kubelet published.
	secretChanges atomic.Int64
	mu            sync.Mutex
	failures      []failure
	logMu         sync.Mutex
	consumerLog   *os.File
}

func newFleet(r *run) (*fleet, error) {
	f := &fleet{r: r, volRoot: filepath.Join(r.dir, "volumes")}
	for i := 0; i < r.cfg.clients; i++ {
		f.slots = append(f.slots, &slot{idx: i, name: fmt.Sprintf("c-%04d", i)})
	}
	var err error
	f.consumerLog, err = os.Create(filepath.Join(r.logDir, "consumers.log"))
	return f, err
}

func (f *fleet) slotOf(secretName string) *slot {
	name, ok := strings.CutSuffix(secretName, "-oauth-client")
	if !ok {
		return nil
	}
	var i int
	if _, err := fmt.Sscanf(name, "c-%04d", &i); err != nil || i < 0 || i >= len(f.slots) || f.slots[i].name != name {
		return nil
	}
	return f.slots[i]
}

// watchSecrets plays kubelet for every consumer: a Secret version is
// published into the consumer's volume kubeletDelay after the API server
// had it (as a kubelet's sync loop does, here with a fixed delay), and the
// consumer (the pod) starts once its Secret exists. A watch that breaks
// (kube-apiserver stopped) resumes on its own, as kubelet's does.
func (f *fleet) watchSecrets(ctx context.Context, kc kubernetes.Interface) cache.SharedIndexInformer {
	factory := informers.NewSharedInformerFactoryWithOptions(kc, 0, informers.WithNamespace(f.r.ns))
	inf := factory.Core().V1().Secrets().Informer()
	handle := func(obj any) {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return
		}
		f.onSecret(s)
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
	})
	go inf.Run(ctx.Done())
	go f.pollSecrets(ctx, kc)
	return inf
}

// pollSecrets lists the Secrets every 5s besides the watch: after kube-apiserver restarts,
// client-go's watch came back only after its back-off (74s once, on the loaded machine),
// which made this simulated kubelet far slower than its 3s delay. A kubelet that lags by
// more than the grace period fails its pods whatever the operator does; the poll keeps the
// simulation at its stated delay (plus up to 5s).
func (f *fleet) pollSecrets(ctx context.Context, kc kubernetes.Interface) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		l, err := kc.CoreV1().Secrets(f.r.ns).List(lctx, metav1.ListOptions{})
		cancel()
		if err != nil {
			continue
		}
		for i := range l.Items {
			f.onSecret(&l.Items[i])
		}
	}
}

func ownerUID(s *corev1.Secret) types.UID {
	for _, o := range s.OwnerReferences {
		if o.Controller != nil && *o.Controller && o.Kind == "OAuthClient" {
			return o.UID
		}
	}
	return ""
}

func (f *fleet) onSecret(s *corev1.Secret) {
	sl := f.slotOf(s.Name)
	if sl == nil || len(s.Data["CLIENT_ID"]) == 0 {
		return
	}
	f.r.secrets.add(s.Data)
	owner := ownerUID(s)
	data := make(map[string][]byte, len(s.Data))
	for k, v := range s.Data {
		data[k] = v
	}
	rv, _ := strconv.ParseInt(s.ResourceVersion, 10, 64)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.gen == "" || owner != sl.gen {
		return // a Secret of a deleted generation, or not ours yet
	}
	if sl.cons != nil && rv <= sl.lastRV {
		return // seen already (by the watch or the poll), or older
	}
	sl.lastRV = rv
	changed := sl.lastSecret != "" && sl.lastSecret != string(data["CLIENT_SECRET"])
	sl.lastSecret = string(data["CLIENT_SECRET"])
	dir := filepath.Join(f.volRoot, fmt.Sprintf("%s-%d", sl.name, sl.volumeGen))
	if sl.cons == nil {
		// The pod starts with the Secret's content.
		if err := kubeletvolume.Write(dir, data); err != nil {
			f.r.eventf("error", "kubelet: volume of %s: %v", sl.name, err)
			return
		}
		c, err := f.startConsumer(sl, dir)
		if err != nil {
			f.r.eventf("error", "consumer %s: %v", sl.name, err)
			return
		}
		sl.cons = c
		return
	}
	if changed {
		f.secretChanges.Add(1)
	}
	sl.pending.Add(1)
	gen := sl.gen
	time.AfterFunc(f.r.cfg.kubeletDelay, func() {
		sl.mu.Lock()
		defer sl.mu.Unlock()
		defer sl.pending.Add(-1)
		if sl.gen != gen || sl.cons == nil {
			return
		}
		if err := kubeletvolume.Write(dir, data); err != nil {
			f.r.eventf("error", "kubelet: volume of %s: %v", sl.name, err)
			return
		}
		sl.lastSwap.Store(time.Now().UnixNano())
	})
}

func (f *fleet) startConsumer(sl *slot, dir string) (*consumer, error) {
	idx := sl.idx
	src, err := credentials.FromDir(dir,
		credentials.WithLogger(slog.New(slog.NewJSONHandler(lockedWriter{w: f.consumerLog, mu: &f.logMu}, nil)).With("consumer", sl.name)),
		credentials.WithFetchTimeout(10*time.Second),
		credentials.WithFetchObserver(func(fe credentials.Fetch) {
			f.fetches.Add(1)
			if fe.Err != nil {
				f.fetchFailures.Add(1)
				f.record(failure{at: time.Now(), slot: idx, kind: "fetch", err: fe.Err.Error()})
			}
		}))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{src: src, cancel: cancel, done: make(chan struct{})}
	client := src.Client()
	client.Timeout = 10 * time.Second
	target := f.r.front + "/"
	go func() {
		defer close(c.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			f.requests.Add(1)
			err := call(ctx, client, target)
			if err != nil && ctx.Err() == nil {
				f.requestFailures.Add(1)
				f.record(failure{at: time.Now(), slot: idx, kind: "request", err: err.Error()})
			}
		}
	}()
	return c, nil
}

func call(ctx context.Context, client *http.Client, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("hello answered %d", resp.StatusCode)
	}
	return nil
}

// stopConsumer ends the slot's pod (before its OAuthClient is deleted).
func (f *fleet) stopConsumer(sl *slot) {
	sl.mu.Lock()
	c := sl.cons
	sl.cons = nil
	sl.gen = ""
	sl.lastSecret = ""
	sl.lastRV = 0
	sl.volumeGen++
	sl.mu.Unlock()
	if c != nil {
		c.cancel()
		<-c.done
		_ = c.src.Close()
	}
}

// setGeneration names the OAuthClient the slot's next consumer belongs to,
// and starts it at once when its Secret is already there.
func (f *fleet) setGeneration(sl *slot, uid types.UID, inf cache.SharedIndexInformer) {
	sl.mu.Lock()
	sl.gen = uid
	sl.mu.Unlock()
	if obj, ok, _ := inf.GetStore().GetByKey(f.r.ns + "/" + sl.name + "-oauth-client"); ok {
		if s, ok := obj.(*corev1.Secret); ok {
			f.onSecret(s)
		}
	}
}

// record classifies a failure: excused while the emulator itself was down
// (an org outage, not the operator's doing), or while the consumer's volume
// still lagged its Secret by the kubelet delay (the documented window:
// kubeletDelay after the API server had the new Secret, plus 2s for
// pkg/credentials to see the ..data swap, which it polls every second, and
// fetch again).
func (f *fleet) record(x failure) {
	sl := f.slots[x.slot]
	lag := sl.pending.Load() > 0 || x.at.Before(time.Unix(0, sl.lastSwap.Load()).Add(2*time.Second))
	switch {
	case f.r.emulatorDownAround(x.at, 12*time.Second):
		x.excuse = "emulator down"
	case lag:
		x.excuse = "kubelet delay"
	}
	f.mu.Lock()
	f.failures = append(f.failures, x)
	f.mu.Unlock()
	if x.excuse == "" {
		f.r.eventf("violation", "consumer %s: %s failed: %s", sl.name, x.kind, x.err)
	}
}

func (f *fleet) stopAll() {
	for _, sl := range f.slots {
		sl.mu.Lock()
		c := sl.cons
		sl.cons = nil
		sl.mu.Unlock()
		if c != nil {
			c.cancel()
			<-c.done
			_ = c.src.Close()
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
