package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/clientcreds/clientcreds/internal/testenv"
)

func assets(t *testing.T) string {
	t.Helper()
	dir, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// busyPort holds a loopback port for the rest of the test.
func busyPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestStartRefuses(t *testing.T) {
	dir := assets(t)
	busy := busyPort(t)
	base := func() Config {
		return Config{
			Kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"), AssetsDir: dir,
			StartTimeout: time.Minute, StopTimeout: time.Minute,
		}
	}
	cases := map[string]struct {
		mutate  func(*Config)
		want    error
		message string
	}{
		"no kubeconfig path":       {mutate: func(c *Config) { c.Kubeconfig = "" }, want: ErrInvalidConfig, message: "--kubeconfig"},
		"port out of range":        {mutate: func(c *Config) { c.Port = 70000 }, want: ErrInvalidConfig, message: "--port"},
		"negative etcd port":       {mutate: func(c *Config) { c.EtcdPort = -1 }, want: ErrInvalidConfig, message: "--etcd-port"},
		"same port twice":          {mutate: func(c *Config) { c.Port, c.EtcdPort = 20000, 20000 }, want: ErrInvalidConfig, message: "differ"},
		"no start timeout":         {mutate: func(c *Config) { c.StartTimeout = 0 }, want: ErrInvalidConfig, message: "timeout"},
		"assets missing":           {mutate: func(c *Config) { c.AssetsDir = t.TempDir() }, want: ErrAssetsMissing, message: "run make control-plane"},
		"api server port taken":    {mutate: func(c *Config) { c.Port = busy }, want: ErrPortInUse, message: "kube-apiserver"},
		"etcd port taken":          {mutate: func(c *Config) { c.EtcdPort = busy }, want: ErrPortInUse, message: "etcd"},
		"assets dir is not a path": {mutate: func(c *Config) { c.AssetsDir = "/nonexistent/clientcreds" }, want: ErrAssetsMissing, message: "kube-apiserver not found"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			tc.mutate(&cfg)
			cp, err := Start(cfg)
			if err == nil {
				_ = cp.Stop()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %q is not %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q does not mention %q", err, tc.message)
			}
			if cfg.Kubeconfig != "" {
				if _, statErr := os.Stat(cfg.Kubeconfig); !errors.Is(statErr, os.ErrNotExist) {
					t.Fatalf("a refused start left a kubeconfig behind (stat: %v)", statErr)
				}
			}
		})
	}
}

// TestRunServesUntilCancelled starts the real control plane through the command's run
// function, uses the kubeconfig it wrote, and checks that cancelling stops everything.
func TestRunServesUntilCancelled(t *testing.T) {
	dir := assets(t)
	work := t.TempDir()
	kubeconfig := filepath.Join(work, "kube", "config")
	logDir := filepath.Join(work, "logs")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--kubeconfig", kubeconfig, "--port", "0", "--etcd-port", "0", "--log-dir", logDir, "--assets", dir}, &stdout, &stderr)
	}()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(kubeconfig); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("run ended with %d before writing the kubeconfig: %s", code, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no kubeconfig within 2 minutes")
		}
	}
	info, err := os.Stat(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v, want 0600 (it holds the admin's key)", info.Mode().Perm())
	}
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	restCfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		t.Fatalf("the kubeconfig does not load: %v", err)
	}
	if !strings.HasPrefix(restCfg.Host, "https://127.0.0.1:") {
		t.Errorf("server %q is not on loopback https", restCfg.Host)
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	reqCtx, reqCancel := context.WithTimeout(ctx, 30*time.Second)
	defer reqCancel()
	if _, err := cs.CoreV1().Namespaces().Get(reqCtx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("the admin kubeconfig cannot read namespace default: %v", err)
	}
	for _, f := range []string{"kube-apiserver.log", "etcd.log"} {
		if info, err := os.Stat(filepath.Join(logDir, f)); err != nil || info.Size() == 0 {
			t.Errorf("log %s missing or empty (stat: %v)", f, err)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited %d after cancel: %s", code, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("run did not return within 2 minutes of cancel")
	}
	if _, err := os.Stat(kubeconfig); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("kubeconfig still there after stop (stat: %v)", err)
	}
	for _, want := range []string{"API server: " + restCfg.Host, "Kubeconfig: " + kubeconfig, "Stopping"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	probe, err := net.DialTimeout("tcp", strings.TrimPrefix(restCfg.Host, "https://"), time.Second)
	if err == nil {
		_ = probe.Close()
		t.Error("kube-apiserver still accepts connections after stop")
	}
}

func TestRunUsage(t *testing.T) {
	cases := map[string]struct {
		args []string
		env  map[string]string
		code int
		msg  string
	}{
		"unknown flag":               {args: []string{"--nope"}, code: 2, msg: "nope"},
		"stray argument":             {args: []string{"--kubeconfig", "x", "extra"}, code: 2, msg: "unexpected arguments"},
		"missing kubeconfig":         {args: nil, code: 2, msg: "--kubeconfig is required"},
		"bad env twin":               {args: []string{"--kubeconfig", "x"}, env: map[string]string{"CONTROLPLANE_PORT": "many"}, code: 2, msg: "CONTROLPLANE_PORT"},
		"env twin reaches the check": {args: []string{"--kubeconfig", "x"}, env: map[string]string{"CONTROLPLANE_ASSETS": "/nonexistent/clientcreds"}, code: 1, msg: "/nonexistent/clientcreds"},
		"help":                       {args: []string{"--help"}, code: 0, msg: "CONTROLPLANE_KUBECONFIG"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr: %s)", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.msg) {
				t.Fatalf("stderr lacks %q:\n%s", tc.msg, stderr.String())
			}
		})
	}
}
