#!/usr/bin/env bash
# verify.sh — `make verify`: checks that change nothing and need no control plane.
#
#   gofmt        every tracked Go file is gofmt-clean (all modules, hack/tools included)
#   vet          go vet ./... in the project module and in the bench and images tools modules
#   generated    the CRDs, the manager's ClusterRole, the DeepCopy methods,
#                docs/crd-reference.md, docs/metrics.md and the PrometheusRule are what
#                `make manifests generate docs metrics-docs alerts` makes now
#                (regenerated into a temporary directory and compared)
#   chart        charts/clientcreds carries what config/ holds (its crds/ and files/ are
#                what `make chart-files` copies now) and `helm lint --strict` passes, with
#                the defaults and with the optional parts turned on
#   k8s-version  hack/k8s-version is the one place the Kubernetes version is written:
#                every other mention agrees with it, and no unchecked copy exists
#   lint         golangci-lint (pinned in hack/tools/lint/go.mod, configured by
#                .golangci.yml) finds nothing in the project module
#   tidy         `go mod tidy` would change neither go.mod nor go.sum (checked on a copy,
#                with go mod tidy -diff)
#
# Every check runs; the script fails at the end if any failed, naming the file and the
# value that disagree. VERIFY_ONLY="gofmt k8s-version" runs a subset.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

failed=()
fail() { # fail CHECK MESSAGE...
	local check=$1
	shift
	printf 'verify: %s: %s\n' "$check" "$*" >&2
	case " ${failed[*]-} " in *" $check "*) ;; *) failed+=("$check") ;; esac
}
wanted() { [ -z "${VERIFY_ONLY:-}" ] || case " $VERIFY_ONLY " in *" $1 "*) ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------------------------------
check_gofmt() {
	local files
	files=$(git ls-files -z '*.go' | xargs -0 gofmt -l)
	if [ -n "$files" ]; then
		fail gofmt "not gofmt-clean (run make fmt):"$'\n'"$(sed 's/^/    /' <<<"$files")"
	fi
}

# ---------------------------------------------------------------------------------------
check_vet() {
	CGO_ENABLED=0 go vet -trimpath ./... || fail vet "go vet ./... failed (above)"
	(cd hack/tools/bench && go vet ./...) || fail vet "go vet ./... in hack/tools/bench failed (above)"
	(cd hack/tools/images && go vet ./...) || fail vet "go vet ./... in hack/tools/images failed (above)"
}

# ---------------------------------------------------------------------------------------
check_generated() {
	local tmp out
	tmp=$scratch/generated
	mkdir -p "$tmp/crd" "$tmp/rbac" "$tmp/api"
	if ! out=$(make --no-print-directory -s manifests generate docs metrics-docs alerts \
		CRD_DIR="$tmp/crd" RBAC_DIR="$tmp/rbac" DEEPCOPY_DIR="$tmp/api" \
		CRD_REFERENCE="$tmp/crd-reference.md" METRICS_REFERENCE="$tmp/metrics.md" \
		PROMETHEUS_RULE="$tmp/prometheusrule.yaml" 2>&1); then
		fail generated "the generators failed:"$'\n'"$out"
		return
	fi
	local pair got want
	for pair in \
		"$tmp/rbac/role.yaml:config/rbac/role.yaml" \
		"$tmp/api/zz_generated.deepcopy.go:api/v1alpha1/zz_generated.deepcopy.go" \
		"$tmp/crd-reference.md:docs/crd-reference.md" \
		"$tmp/metrics.md:docs/metrics.md" \
		"$tmp/prometheusrule.yaml:config/prometheus/prometheusrule.yaml"; do
		got=${pair%%:*} want=${pair#*:}
		cmp -s "$got" "$want" || fail generated "$want is out of date: run make manifests generate docs metrics-docs alerts and commit the result"
	done
	if ! out=$(diff -r "$tmp/crd" config/crd/bases 2>&1); then
		fail generated "config/crd/bases is out of date: run make manifests and commit the result"$'\n'"$(head -n 20 <<<"$out" | sed 's/^/    /')"
	fi
}

# ---------------------------------------------------------------------------------------
check_chart() {
	local tmp=$scratch/chart out d
	hack/chart-files.sh "$tmp"
	for d in crds files; do
		if ! out=$(diff -r "$tmp/$d" "charts/clientcreds/$d" 2>&1); then
			fail chart "charts/clientcreds/$d differs from config/: run make chart-files and commit the result"$'\n'"$(head -n 20 <<<"$out" | sed 's/^/    /')"
		fi
	done
	local -a sets=(
		""
		"--set watchNamespaces={team-a,team-b} --set metrics.serviceMonitor.enabled=true"
	)
	[ -f charts/clientcreds/files/alerts.yaml ] && sets+=("--set prometheusRule.enabled=true")
	[ -f charts/clientcreds/files/dashboard.json ] && sets+=("--set dashboard.enabled=true")
	local set
	for set in "${sets[@]}"; do
		# shellcheck disable=SC2086 # $set is a word list
		if ! out=$(CGO_ENABLED=0 GOFLAGS="-trimpath ${GOFLAGS:-}" go tool -modfile=hack/tools/helm/go.mod helm lint --strict charts/clientcreds $set 2>&1); then
			fail chart "helm lint --strict charts/clientcreds ${set:-(defaults)} failed:"$'\n'"$(sed 's/^/    /' <<<"$out")"
		fi
	done
}

# ---------------------------------------------------------------------------------------
# The Kubernetes version. Each mention is checked where it is written; a new literal copy
# anywhere else fails until it reads hack/k8s-version or is added here.
check_k8s_version() {
	local want
	want=$(tr -d '[:space:]' <hack/k8s-version)
	if ! [[ $want =~ ^1\.[0-9]+\.[0-9]+$ ]]; then
		fail k8s-version "hack/k8s-version holds \"$want\", not a Kubernetes version such as 1.2.3"
		return
	fi
	local staging=0.${want#1.}     # k8s.io/<staging> modules: v0.<minor>.<patch>
	local lib_minor=${staging%.*} # client libraries: same minor, any patch

	# expect FILE WHAT EXPECTED VALUES...: every value found must equal EXPECTED, and at
	# least one must be found (a mention that moved is a check that checks nothing).
	expect() {
		local file=$1 what=$2 expected=$3 v
		shift 3
		if [ $# -eq 0 ]; then
			fail k8s-version "$file: $what not found (the check in hack/verify.sh needs updating)"
			return
		fi
		for v in "$@"; do
			[ "$v" = "$expected" ] || fail k8s-version "$file: $what is $v; hack/k8s-version ($want) wants $expected"
		done
	}
	# values REGEX FILE: the first capture group of every match, one per line.
	values() { sed -nE "s#.*$1.*#\\1#p" "$2"; }

	local -a vals
	mapfile -t vals < <(values 'const K8sVersion = "([^"]*)"' internal/testenv/testenv.go)
	expect internal/testenv/testenv.go "K8sVersion" "$want" "${vals[@]}"
	mapfile -t vals < <(values '`kubectl` v([0-9.]+)' README.md)
	expect README.md "the control-plane version" "$want" "${vals[@]}"
	mapfile -t vals < <(values 'clientcreds/k8s/([0-9.]+)' README.md)
	expect README.md "the cache directory's version" "$want" "${vals[@]}"
	local mod
	for mod in hack/tools/k8s/go.mod hack/tools/node/go.mod; do
		mapfile -t vals < <(values '^require k8s\.io/kubernetes v([0-9.]+)' "$mod")
		expect "$mod" "k8s.io/kubernetes" "$want" "${vals[@]}"
		mapfile -t vals < <(values '=> k8s\.io/[a-z0-9-]+ v([0-9.]+)$' "$mod")
		expect "$mod" "a k8s.io staging replace" "$staging" "${vals[@]}"
	done
	for mod in go.mod hack/tools/bench/go.mod; do
		mapfile -t vals < <(sed -nE 's/^	k8s\.io\/(api|apimachinery|client-go|apiextensions-apiserver) v(0\.[0-9]+)\.[0-9]+( .*)?$/\2/p' "$mod")
		expect "$mod" "the k8s.io client libraries' minor version" "$lib_minor" "${vals[@]}"
	done

	# Scripts and the Makefile read the file; a default written into them is a copy.
	local hit
	while IFS= read -r hit; do
		fail k8s-version "$hit: a hard-coded Kubernetes version; read hack/k8s-version instead"
	done < <(git grep -nE 'K8S_VERSION(:-| *\?= *)[0-9]' -- Makefile 'hack/*.sh' || true)

	# Any other literal copy of the version.
	local checked=" hack/k8s-version internal/testenv/testenv.go README.md hack/tools/k8s/go.mod hack/tools/node/go.mod "
	local f
	while IFS= read -r f; do
		case "$checked" in *" $f "*) continue ;; esac
		case "$f" in *go.sum) continue ;; esac
		fail k8s-version "$f: holds $want, a copy no check covers; read hack/k8s-version (or testenv.K8sVersion in Go) or add it to hack/verify.sh"
	done < <(git grep -lF --untracked -e "$want" -- . || true)
}

# ---------------------------------------------------------------------------------------
check_lint() {
	# Several checkouts on one machine lint one after the other (golangci-lint's lock).
	CGO_ENABLED=0 GOFLAGS="-trimpath ${GOFLAGS:-}" go tool -modfile=hack/tools/lint/go.mod golangci-lint run --allow-serial-runners ./... ||
		fail lint "golangci-lint found problems (above); fix them rather than excluding them"
}

# ---------------------------------------------------------------------------------------
check_tidy() {
	local mod out
	for mod in . hack/tools/gen hack/tools/lint hack/tools/bench hack/tools/hydra hack/tools/images hack/tools/helm; do
		if ! out=$(cd "$mod" && go mod tidy -diff 2>&1); then
			fail tidy "go mod tidy would change $mod/go.mod or go.sum (run it there and commit):"$'\n'"$(head -n 20 <<<"$out" | sed 's/^/    /')"
		fi
	done
}

# ---------------------------------------------------------------------------------------
start=$SECONDS
all="gofmt vet generated chart k8s-version lint tidy"
for check in ${VERIFY_ONLY:-}; do
	case " $all " in *" $check "*) ;; *)
		echo "verify: VERIFY_ONLY names an unknown check \"$check\" (known: $all)" >&2
		exit 2
		;;
	esac
done
for check in $all; do
	wanted "$check" || continue
	case $check in
	gofmt) check_gofmt ;;
	vet) check_vet ;;
	generated) check_generated ;;
	chart) check_chart ;;
	k8s-version) check_k8s_version ;;
	lint) check_lint ;;
	tidy) check_tidy ;;
	esac
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "verify: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "verify: ${VERIFY_ONLY:-$all}: ok in $((SECONDS - start))s"
