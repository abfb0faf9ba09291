// Command kubectl-clientcreds is the kubectl plugin of clientcreds (kubectl clientcreds ...):
// import writes OAuthClient manifests that adopt the client-credentials apps a backend
// already has; status lists the OAuthClients with Ready, reason, secret age and next
// rotation. Install it anywhere on PATH and kubectl finds it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/clientcreds/clientcreds/internal/kubectlplugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd := kubectlplugin.NewCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	err := cmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}
