package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// loopback is the only address the control plane listens on.
const loopback = "127.0.0.1"

var (
	// ErrPortInUse: a fixed port the control plane needs is taken by another process.
	ErrPortInUse = errors.New("port in use")
	// ErrAssetsMissing: kube-apiserver or etcd is not in the assets directory.
	ErrAssetsMissing = errors.New("control-plane binaries missing")
	// ErrInvalidConfig: a flag value cannot be used.
	ErrInvalidConfig = errors.New("invalid configuration")
)

// Config says where the control plane listens, where its binaries are and where the
// admin kubeconfig goes.
type Config struct {
	// Kubeconfig is the file the admin kubeconfig is written to (mode 0600).
	Kubeconfig string
	// Port of kube-apiserver's secure (https) endpoint on 127.0.0.1; 0 picks a free one.
	Port int
	// EtcdPort of etcd's client endpoint on 127.0.0.1; 0 picks a free one.
	EtcdPort int
	// AssetsDir holds kube-apiserver and etcd.
	AssetsDir string
	// LogDir, when set, receives kube-apiserver.log and etcd.log; otherwise their output
	// is discarded.
	LogDir string
	// StartTimeout and StopTimeout bound each component's start and stop.
	StartTimeout, StopTimeout time.Duration
}

func (c Config) validate() error {
	if c.Kubeconfig == "" {
		return fmt.Errorf("%w: --kubeconfig is required", ErrInvalidConfig)
	}
	for name, p := range map[string]int{"--port": c.Port, "--etcd-port": c.EtcdPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("%w: %s %d is not a TCP port", ErrInvalidConfig, name, p)
		}
	}
	if c.Port != 0 && c.Port == c.EtcdPort {
		return fmt.Errorf("%w: --port and --etcd-port must differ", ErrInvalidConfig)
	}
	if c.StartTimeout <= 0 || c.StopTimeout <= 0 {
		return fmt.Errorf("%w: start and stop timeouts must be positive", ErrInvalidConfig)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		info, err := os.Stat(filepath.Join(c.AssetsDir, b))
		if err != nil || info.IsDir() {
			return fmt.Errorf("%w: %s not found in %s: run make control-plane", ErrAssetsMissing, b, c.AssetsDir)
		}
	}
	return nil
}

// ControlPlane is a running etcd + kube-apiserver pair.
type ControlPlane struct {
	env     *envtest.Environment
	cfg     Config
	logs    []io.Closer
	Server  string // https://127.0.0.1:<port>
	EtcdURL string // http://127.0.0.1:<port>
}

// portFor returns p, or a free port when p is 0. A fixed port that is taken is reported
// as ErrPortInUse, naming what needed it: the caller chose that port on purpose, so
// silently moving elsewhere would only confuse whoever reads the URLs it printed.
func portFor(p int, what string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(p)))
	if err != nil {
		return 0, fmt.Errorf("%w: %s:%d (for %s) is taken by another process: %v", ErrPortInUse, loopback, p, what, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

// Start starts etcd and kube-apiserver, waits until the API server serves, and writes the
// admin kubeconfig.
func Start(cfg Config) (*ControlPlane, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	apiPort, err := portFor(cfg.Port, "kube-apiserver")
	if err != nil {
		return nil, err
	}
	etcdPort, err := portFor(cfg.EtcdPort, "etcd")
	if err != nil {
		return nil, err
	}
	if apiPort == etcdPort { // two free-port picks can coincide
		if etcdPort, err = portFor(0, "etcd"); err != nil {
			return nil, err
		}
	}

	cp := &ControlPlane{cfg: cfg}
	etcdURL := &url.URL{Scheme: "http", Host: net.JoinHostPort(loopback, strconv.Itoa(etcdPort))}
	etcd := &envtest.Etcd{URL: etcdURL}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    cfg.AssetsDir,
		ControlPlaneStartTimeout: cfg.StartTimeout,
		ControlPlaneStopTimeout:  cfg.StopTimeout,
	}
	env.ControlPlane.Etcd = etcd
	api := env.ControlPlane.GetAPIServer()
	api.Address = loopback
	api.Port = strconv.Itoa(apiPort)
	if cfg.LogDir != "" {
		if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
			return nil, err
		}
		apiLog, err := cp.openLog("kube-apiserver.log")
		if err != nil {
			return nil, err
		}
		etcdLog, err := cp.openLog("etcd.log")
		if err != nil {
			cp.closeLogs()
			return nil, err
		}
		api.Out, api.Err = apiLog, apiLog
		etcd.Out, etcd.Err = etcdLog, etcdLog
	}
	cp.env = env
	if _, err := env.Start(); err != nil {
		// Start can fail half-way with one process running.
		_ = env.Stop()
		cp.closeLogs()
		return nil, fmt.Errorf("start the control plane: %w", err)
	}
	cp.Server = "https://" + net.JoinHostPort(loopback, strconv.Itoa(apiPort))
	cp.EtcdURL = etcdURL.String()
	if err := writeFileAtomic(cfg.Kubeconfig, env.KubeConfig); err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("write the kubeconfig: %w", err)
	}
	return cp, nil
}

func (cp *ControlPlane) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(cp.cfg.LogDir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cp.logs = append(cp.logs, f)
	return f, nil
}

func (cp *ControlPlane) closeLogs() {
	for _, c := range cp.logs {
		_ = c.Close()
	}
	cp.logs = nil
}

// Stop stops kube-apiserver and etcd, removes their temporary data and the kubeconfig
// (which names a server that no longer exists).
func (cp *ControlPlane) Stop() error {
	err := cp.env.Stop()
	cp.closeLogs()
	if rmErr := os.Remove(cp.cfg.Kubeconfig); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
		err = rmErr
	}
	return err
}

// writeFileAtomic writes data to path through a temporary file in the same directory, so a
// reader never sees a half-written kubeconfig.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// watchParent cancels when the process that started this one goes away (its parent
// changes), so a demo script killed without a chance to clean up does not leave
// kube-apiserver and etcd behind.
func watchParent(ctx context.Context, cancel context.CancelFunc, every time.Duration) {
	parent := os.Getppid()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != parent {
				cancel()
				return
			}
		}
	}
}
