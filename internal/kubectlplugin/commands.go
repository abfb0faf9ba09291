package kubectlplugin

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// NewCommand is `kubectl clientcreds`: the root command with import and status, and
// kubectl's connection flags (--kubeconfig, --context, -n/--namespace, ...).
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use: "clientcreds",
		// kubectl runs the plugin as "kubectl clientcreds": help and usage say so.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl clientcreds"},
		Short:       "Import existing OAuth 2.0 apps as OAuthClients, and show the OAuthClients' status",
		Long: `kubectl clientcreds works with the OAuthClients of clientcreds.

  import   writes one OAuthClient manifest per client-credentials app the provider's
           backend already has (Okta, Ory Hydra), each adopting its app (spec.adopt)
  status   lists the OAuthClients with Ready, its reason, the age of their secret and
           their next scheduled rotation`,
		Example: `  # Manifests adopting the service apps of ClusterOAuthProvider okta's org, for team-a
  kubectl clientcreds import --provider okta -n team-a > team-a-clients.yaml

  # Every OAuthClient of the cluster, with its readiness and secret age
  kubectl clientcreds status -A`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newImportCommand(flags, streams), newStatusCommand(flags, streams))
	return root
}

func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := oauthv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// connect returns a client of the cluster the flags name, and their namespace.
func connect(flags *genericclioptions.ConfigFlags) (client.Client, string, error) {
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connect to the cluster: %w", err)
	}
	return c, ns, nil
}

func newImportCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	var o ImportOptions
	var outDir string
	cmd := &cobra.Command{
		Use:   "import --provider NAME [--provider-kind KIND] [-n NAMESPACE] [--observe] [-o DIR]",
		Short: "Write an OAuthClient manifest for each client-credentials app of a provider's backend",
		Long: `import reads the provider's backend with the provider's own credentials, taken from
the cluster as the operator takes them (the API token or private key Secret the provider
names), and writes one OAuthClient per active client-credentials app no OAuthClient owns
yet: spec.adopt.clientID, providerRef, displayName (the app's label),
tokenEndpointAuthMethod, the scopes it can infer (Okta: the authorization server's access
policies that name the app; Hydra: the client's own scopes) and deletionPolicy: Orphan
(the app existed before; deleting the OAuthClient leaves it — Orphan is also the default
for an adopted app, written out so the manifest says so). Names come from the apps'
labels (DNS-1123, unique, the same on every run). Apps it cannot map are listed as YAML
comments: other app types and grants, inactive apps, apps already owned by an
OAuthClient, auth methods clientcreds does not manage.

The backend must be reachable from where this runs (the provider's orgURL / adminURL).
Nothing is written to the backend or to the cluster: apply the output yourself.`,
		Example: `  # Manifests for every service app of the Okta org of ClusterOAuthProvider okta, in team-a
  kubectl clientcreds import --provider okta -n team-a > imported.yaml
  kubectl apply -f imported.yaml

  # Observe only (spec.managementPolicy: Observe): the operator never writes to the apps
  kubectl clientcreds import --provider okta -n team-a --observe

  # One file per OAuthClient (and import-notes.txt) into a GitOps directory
  kubectl clientcreds import --provider okta --provider-kind OAuthProvider -n team-a -o clients/team-a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := connect(flags)
			if err != nil {
				return err
			}
			o.Namespace = ns
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			plan, err := Import(ctx, c, o, streams.ErrOut)
			if err != nil {
				return err
			}
			return writePlan(plan, outDir, streams.Out, streams.ErrOut)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Provider, "provider", "", "name of the ClusterOAuthProvider or OAuthProvider whose backend to read (required)")
	f.StringVar(&o.ProviderKind, "provider-kind", "", "ClusterOAuthProvider or OAuthProvider; default: the one that has the name (an OAuthProvider is looked for in the namespace)")
	f.BoolVar(&o.Observe, "observe", false, "write spec.managementPolicy: Observe: the operator reads the apps and never changes them")
	f.StringVarP(&outDir, "output-dir", "o", "", "write one <name>.yaml per OAuthClient and "+NotesFile+" into this directory instead of a stream on standard output")
	f.BoolVar(&o.AllowInsecureLoopbackHTTP, "allow-insecure-loopback-http", false, "accept an http:// backend URL on a loopback host (an emulator on this machine), as the manager's flag of that name")
	_ = cmd.MarkFlagRequired("provider")
	return cmd
}

func writePlan(plan ImportPlan, outDir string, out, errOut io.Writer) error {
	if outDir == "" {
		return WriteStream(out, plan)
	}
	written, err := WriteDir(outDir, plan)
	for _, p := range written {
		_, _ = fmt.Fprintf(errOut, "wrote %s\n", p)
	}
	return err
}

func newStatusCommand(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "status [-n NAMESPACE | -A]",
		Short: "List the OAuthClients with Ready, reason, secret age and next rotation",
		Long: `status prints one line per OAuthClient: its Ready condition and reason, how long ago
the credentials in its Secret were last replaced (status.lastRotationTime, else the
Secret's creation time; the Secret's data is never read), and when spec.rotation replaces
the secret next ("due" when overdue, "-" without rotation, "after publish" before the first
secret is published).`,
		Example: `  # The OAuthClients of the current namespace
  kubectl clientcreds status

  # Of every namespace
  kubectl clientcreds status -A`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := connect(flags)
			if err != nil {
				return err
			}
			if all {
				ns = ""
			}
			rows, err := StatusRows(cmd.Context(), c, ns, time.Now())
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				where := fmt.Sprintf("in namespace %q", ns)
				if all {
					where = "in any namespace"
				}
				_, err := fmt.Fprintf(streams.ErrOut, "No OAuthClients %s.\n", where)
				return err
			}
			return WriteStatus(streams.Out, rows, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the OAuthClients of every namespace")
	return cmd
}
