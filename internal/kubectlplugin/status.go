package kubectlplugin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	oauthv1 "github.com/clientcreds/clientcreds/api/v1alpha1"
)

// StatusRow is one OAuthClient as the status command prints it.
type StatusRow struct {
	Namespace, Name string
	// Ready is the Ready condition's status (Unknown when absent), Reason its reason.
	Ready, Reason string
	// SecretAge is how long ago the credentials in the Secret were last replaced
	// (status.lastRotationTime, else the Secret's creation); "-" when unknown.
	SecretAge string
	// NextRotation is when spec.rotation replaces the secret next, relative to now:
	// "in 29d", "due" (overdue), "-" (no rotation), or "after publish" (rotation on, no
	// secret published yet).
	NextRotation string
}

// StatusRows reads the OAuthClients of namespace ("" = every namespace) and their Secrets'
// metadata (never their data) and returns one row per client, sorted by namespace and
// name.
func StatusRows(ctx context.Context, c client.Reader, namespace string, now time.Time) ([]StatusRow, error) {
	var list oauthv1.OAuthClientList
	var opts []client.ListOption
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("list OAuthClients: %w", err)
	}
	rows := make([]StatusRow, 0, len(list.Items))
	for i := range list.Items {
		rows = append(rows, statusRow(ctx, c, &list.Items[i], now))
	}
	slices.SortFunc(rows, func(a, b StatusRow) int {
		return cmpFirst(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return rows, nil
}

func statusRow(ctx context.Context, c client.Reader, o *oauthv1.OAuthClient, now time.Time) StatusRow {
	row := StatusRow{Namespace: o.Namespace, Name: o.Name, Ready: string(metav1.ConditionUnknown), Reason: "-",
		SecretAge: "-", NextRotation: "-"}
	if cond := meta.FindStatusCondition(o.Status.Conditions, oauthv1.ConditionReady); cond != nil {
		row.Ready = string(cond.Status)
		if cond.Reason != "" {
			row.Reason = cond.Reason
		}
	}
	switch {
	case o.Status.LastRotationTime != nil:
		row.SecretAge = age(now, o.Status.LastRotationTime.Time)
	case o.Status.SecretName != "":
		// Only the metadata: the plugin never reads a Secret's data.
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := c.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Status.SecretName}, m); err == nil {
			row.SecretAge = age(now, m.CreationTimestamp.Time)
		}
	}
	if due, ok := o.NextRotation(); ok {
		if d := due.Sub(now); d > 0 {
			row.NextRotation = "in " + duration.HumanDuration(d)
		} else {
			row.NextRotation = "due"
		}
	} else if o.Spec.Rotation != nil && o.AuthMethod() != oauthv1.AuthPrivateKeyJWT {
		row.NextRotation = "after publish"
	}
	return row
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t))
}

// WriteStatus prints rows as a table, with a NAMESPACE column when allNamespaces.
func WriteStatus(w io.Writer, rows []StatusRow, allNamespaces bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	if allNamespaces {
		_, _ = fmt.Fprint(tw, "NAMESPACE\t")
	}
	_, _ = fmt.Fprintln(tw, "NAME\tREADY\tREASON\tSECRET AGE\tNEXT ROTATION")
	for _, r := range rows {
		if allNamespaces {
			_, _ = fmt.Fprintf(tw, "%s\t", r.Namespace)
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Ready, r.Reason, r.SecretAge, r.NextRotation)
	}
	return tw.Flush()
}
