//go:build unix

// Command pause is the sandbox ("pause") container of the local node (`make cluster`):
// kubelet starts one per pod to hold its namespaces, and there is no registry to pull
// the usual one from. It blocks until SIGTERM or SIGINT and, being PID 1 of the pod when
// the pod shares its process namespace, reaps the orphans that are re-parented to it.
// `make images` builds it into clientcreds/pause:dev.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "pause: takes no arguments; it waits for SIGTERM or SIGINT")
		os.Exit(2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	child := make(chan os.Signal, 1)
	signal.Notify(child, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			return
		case <-child:
			reap()
		}
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
