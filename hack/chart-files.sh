#!/usr/bin/env bash
# chart-files.sh — `make chart-files`: copies into the Helm chart what it carries from
# elsewhere in the repository, so that the chart and config/ cannot drift:
#
#   config/crd/bases/*.yaml          → charts/clientcreds/crds/
#   config/rbac/*.yaml (the objects) → charts/clientcreds/files/rbac/
#   config/prometheus/alerts.yaml    → charts/clientcreds/files/alerts.yaml     (when present)
#   config/grafana/clientcreds.json  → charts/clientcreds/files/dashboard.json  (when present)
#
# Usage: hack/chart-files.sh [CHART_DIR]   (default charts/clientcreds; make verify passes a
# temporary directory and compares).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dest=${1:-charts/clientcreds}

rm -rf "$dest/crds" "$dest/files"
mkdir -p "$dest/crds" "$dest/files/rbac"
cp config/crd/bases/*.yaml "$dest/crds/"
for f in config/rbac/*.yaml; do
	case $(basename "$f") in
	kustomization.yaml | service_account.yaml) ;; # the chart writes its ServiceAccount itself
	*) cp "$f" "$dest/files/rbac/" ;;
	esac
done
if [ -f config/prometheus/alerts.yaml ]; then
	cp config/prometheus/alerts.yaml "$dest/files/alerts.yaml"
fi
if [ -f config/grafana/clientcreds.json ]; then
	cp config/grafana/clientcreds.json "$dest/files/dashboard.json"
fi
