//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clientcreds/clientcreds/internal/procs"
	"github.com/clientcreds/clientcreds/internal/testutil"
)

// binary returns <repo>/bin/<name>.
func binary(name string) (string, error) {
	p := filepath.Join(testutil.RepoRoot(), "bin", name)
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is missing: run make build", p)
	}
	return p, nil
}

// restartable is a process that the chaos run kills and starts again with
// the same arguments; each start writes its own log file.
type restartable struct {
	name   string
	bin    string
	args   []string
	env    []string
	logDir string
	ready  string // URL answering 2xx once the process serves ("" for none)

	// keepUp restarts the process when it exits on its own, after 1s, 2s, 4s … at most
	// 10s (reset after 30s of running), as kubelet restarts a crashed container (its
	// back-off grows to 5 minutes; the run is shorter). onExit is told first.
	keepUp bool
	onExit func(name string, err error, restartIn time.Duration)

	mu      sync.Mutex
	proc    *procs.Process
	starts  int
	logs    []string
	backoff time.Duration
}

func (r *restartable) start() error {
	r.mu.Lock()
	r.starts++
	logPath := filepath.Join(r.logDir, fmt.Sprintf("%s-%03d.log", r.name, r.starts))
	p, err := procs.Start(procs.Spec{Name: r.name, Path: r.bin, Args: r.args, Env: r.env, Dir: testutil.RepoRoot(),
		LogPath: logPath, StopGrace: 20 * time.Second, DieWithParent: true})
	if err != nil {
		r.mu.Unlock()
		return err
	}
	r.proc = p
	r.logs = append(r.logs, logPath)
	r.mu.Unlock()
	if r.keepUp {
		go r.watch(p, time.Now())
	}
	if r.ready != "" {
		return procs.WaitHTTP(r.ready, 2*time.Minute, procs.Status2xx, p)
	}
	return nil
}

// watch restarts p when it exits while it is still the current process
// (not killed or stopped by the run).
func (r *restartable) watch(p *procs.Process, began time.Time) {
	<-p.Done()
	r.mu.Lock()
	if r.proc != p {
		r.mu.Unlock()
		return
	}
	if time.Since(began) > 30*time.Second {
		r.backoff = 0
	}
	r.backoff = min(max(time.Second, 2*r.backoff), 10*time.Second)
	wait := r.backoff
	r.mu.Unlock()
	if r.onExit != nil {
		r.onExit(r.name, p.Err(), wait)
	}
	time.Sleep(wait)
	r.mu.Lock()
	still := r.proc == p
	r.mu.Unlock()
	if still {
		_ = r.start()
	}
}

// kill sends SIGKILL (kill -9) to the process group and waits for it.
func (r *restartable) kill() error {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p == nil {
		return errors.New(r.name + " is not running")
	}
	return p.Kill()
}

// stop sends SIGTERM and waits (SIGKILL after the grace period).
func (r *restartable) stop() error {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Stop()
}

func (r *restartable) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc != nil && !r.proc.Exited()
}

// apiServer is kube-apiserver as envtest started it first, then as this
// run restarts it: the same command line (certificates, etcd URL, port),
// so that etcd — never stopped — keeps the cluster's data and every client's
// kubeconfig stays valid.
type apiServer struct {
	argv   []string
	envPid int // envtest's process, until it is stopped the first time
	// ready asks the API server's /readyz with the admin credentials.
	ready func(context.Context) error
	r     *restartable
}

// findChild returns the pid of this process's child whose command is comm.
func findChild(comm string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(string(stat[closing+1:]))
		if len(fields) < 2 || string(stat[open+1:closing]) != comm {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child process %q", comm)
}

func newAPIServer(logDir string, ready func(context.Context) error) (*apiServer, error) {
	pid, err := findChild("kube-apiserver")
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil, err
	}
	argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	a := &apiServer{argv: argv, envPid: pid, ready: ready}
	a.r = &restartable{name: "kube-apiserver", bin: argv[0], args: argv[1:], logDir: logDir}
	return a, nil
}

// stop stops kube-apiserver: SIGTERM (graceful) or SIGKILL.
func (a *apiServer) stop(hard bool) error {
	if a.envPid != 0 {
		sig := syscall.SIGTERM
		if hard {
			sig = syscall.SIGKILL
		}
		pid := a.envPid
		a.envPid = 0
		if err := syscall.Kill(pid, sig); err != nil {
			return err
		}
		// envtest reaps its child; wait until the pid is gone.
		for i := 0; i < 600; i++ {
			if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
				return nil
			}
			if st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("kube-apiserver (pid %d) did not exit", pid)
	}
	if hard {
		return a.r.kill()
	}
	return a.r.stop()
}

// start starts kube-apiserver again and waits until it is ready.
func (a *apiServer) start() error {
	if err := a.r.start(); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := a.ready(ctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("kube-apiserver did not become ready within 2m")
}
