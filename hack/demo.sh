#!/usr/bin/env bash
# demo.sh — the whole clientcreds story on one machine, with nothing but Go, make and curl:
# a local control plane, the Okta emulator (or a real Okta org), the operator turning an
# OAuthClient manifest into an Okta service app and a Secret, a token fetched with that
# Secret as Okta's client-credentials tutorial does, and the hello service behind the
# verifier accepting it.
#
#   make demo                # or hack/demo.sh
#   DEMO_KEEP=1 make demo    # keep everything running until Ctrl-C
#
# Real Okta org instead of the emulator: set OKTA_ORG_URL and OKTA_API_TOKEN (and
# OKTA_AUTHZ_SERVER_ID, default "default"). The authorization server needs a policy rule
# that allows the client-credentials grant; the operator creates the scopes hello:read and
# hello:admin there (the OAuthAPI config/hello/api), and the app and the scopes the demo
# created are deleted again when it ends (scopes that were there before are left).
#
# PROVIDER=hydra: Ory Hydra instead of Okta — bin/hydra (hack/build-hydra.sh, built once and
# cached) on loopback with an in-memory database and JWT access tokens
# (strategies.access_token: jwt), a ClusterOAuthProvider with spec.hydra, and the hello
# OAuthAPI with spec.audience api://hello (HYDRA_AUDIENCE), which its client is granted and
# whose token request asks for.
#
# OKTA_AUTH=oauth: the operator reaches Okta's management API as an API service app
# (spec.okta.oauth: private_key_jwt + DPoP-bound tokens) instead of with an API token. On the
# emulator the demo registers that app itself (hack/oktaserviceapp, with the emulator's
# admin token, as an admin would in the console); with a real org set OKTA_CLIENT_ID,
# OKTA_PRIVATE_KEY_FILE (PEM) and, if Okta's KID for the key differs from its thumbprint,
# OKTA_KEY_ID (see "Without an API token" in the README).
#
# Every process runs on a fixed loopback port (DEMO_*_PORT to change one) in its own
# process group with its log in bin/demo/logs/, and is stopped when the demo ends,
# however it ends.
set -Eeuo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The terminal, kept for the exit report: a trap can run while a command's output is
# redirected (to /dev/null, say), and the report must still be seen.
exec 8>&1 9>&2

k8s_version=${K8S_VERSION:-$(cat "$root/hack/k8s-version")}
demo_dir=$root/bin/demo
log_dir=$demo_dir/logs
kubeconfig=$demo_dir/kubeconfig
kubectl_dir=$root/bin/k8s/$k8s_version
kubectl=$kubectl_dir/kubectl

apiserver_port=${DEMO_APISERVER_PORT:-16443}
etcd_port=${DEMO_ETCD_PORT:-12379}
emulator_port=${DEMO_EMULATOR_PORT:-8180}
metrics_port=${DEMO_MANAGER_METRICS_PORT:-18080}
probe_port=${DEMO_MANAGER_PROBE_PORT:-18081}
verifier_port=${DEMO_VERIFIER_PORT:-18088}
verifier_admin_port=${DEMO_VERIFIER_ADMIN_PORT:-18089}
hello_port=${DEMO_HELLO_PORT:-18090}
hydra_public_port=${DEMO_HYDRA_PUBLIC_PORT:-14444}
hydra_admin_port=${DEMO_HYDRA_ADMIN_PORT:-14445}

scope=hello:read
provider_name=okta
token_secret=okta-api-token
system_ns=clientcreds-system
samples=config/samples
# The hello service's OAuthAPI: its scopes, who may be granted them, the verifier's rules.
api_manifest=config/hello/api/oauthapi.yaml

# ---------------------------------------------------------------------------------------
# Output

if [ -t 1 ]; then
	bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' dim=$'\e[2m' off=$'\e[0m'
else
	bold='' green='' red='' dim='' off=''
fi
say() { printf '    %s\n' "$*"; }
cmd() { printf '    %s$ %s%s\n' "$dim" "$*" "$off"; }

now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

demo_start=$(now)
total_steps=10
step_no=0
step_title=''
step_start=''
step_done=1

step() { # step N TITLE
	step_no=$1 step_title=$2 step_start=$(now) step_done=0
	printf '\n%s[%d/%d] %s%s\n' "$bold" "$step_no" "$total_steps" "$step_title" "$off"
}
step_ok() {
	step_done=1
	printf '    %s✓ step %d done in %s%s\n' "$green" "$step_no" "$(since "$step_start")" "$off"
}

failure=''
keeping=''
fail() { # fail MESSAGE — ends the demo; the EXIT trap reports the step and the logs
	failure=$*
	exit 1
}
failed_command=''
trap 'failed_command=$BASH_COMMAND' ERR

# ---------------------------------------------------------------------------------------
# Processes: each in its own process group, output in $log_dir/<name>.log
#
# The same failure model as internal/procs, which the end-to-end tests and the benchmark
# share: SIGTERM to the process, a grace period, then SIGKILL to its whole process group;
# a process that dies while the demo waits for it ends the demo with the tail of its log.
# It stays in bash, not a Go runner, because the demo is a script meant to be read and
# followed: its processes start between the kubectl and curl commands it shows, and what
# must happen on any exit (stop everything newest first, delete the real-Okta app first,
# name the failed step) is one EXIT trap here, where a Go runner would need to take over
# the whole script or be driven from it through a control channel.

pids=()
names=()

start_proc() { # start_proc NAME COMMAND [ARGS...]
	local name=$1
	shift
	# Monitor mode only while forking: the child gets its own process group, so stopping
	# it reaches everything it started, and a Ctrl-C meant for the demo does not hit it
	# before the demo's own cleanup runs.
	set -m
	"$@" >"$log_dir/$name.log" 2>&1 </dev/null 8>&- 9>&- &
	local pid=$!
	set +m
	pids+=("$pid")
	names+=("$name")
}

pid_of() { # pid_of NAME
	local i
	for i in "${!names[@]}"; do
		if [ "${names[$i]}" = "$1" ]; then
			echo "${pids[$i]}"
			return 0
		fi
	done
	return 1
}

running() { # running PID — alive and not a zombie
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

stop_proc() { # stop_proc PID NAME GRACE_SECONDS
	local pid=$1 name=$2 grace=$3 i
	if running "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			running "$pid" || break
			sleep 0.1
		done
		if running "$pid"; then
			echo "    $name did not stop within ${grace}s; killing it" >&2
		fi
	fi
	# Whatever is left in its process group.
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

stop_all() {
	local i grace
	[ "${#pids[@]}" -gt 0 ] || return 0
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		grace=10
		[ "${names[$i]}" = controlplane ] && grace=90
		stop_proc "${pids[$i]}" "${names[$i]}" "$grace"
	done
	pids=()
	names=()
}

# In real-Okta mode the app lives on after the demo's throw-away etcd: delete the
# OAuthClient (the operator deletes the app) while the manager still runs.
delete_real_app() {
	[ "$mode" = okta ] || return 0
	[ -n "${sample_applied:-}" ] || return 0
	pid=$(pid_of manager) || return 0
	running "$pid" || return 0
	echo "    Deleting the OAuthClient and the OAuthAPI so that the app and the scopes the demo made in $OKTA_ORG_URL are removed..."
	"$kubectl" --kubeconfig "$kubeconfig" delete -f "$samples/" --wait --timeout=60s >/dev/null 2>&1 ||
		echo "    ${red}could not delete it; remove the app \"default/hello\" in the Okta admin console${off}"
	"$kubectl" --kubeconfig "$kubeconfig" delete -f "$api_manifest" --wait --timeout=60s >/dev/null 2>&1 ||
		echo "    ${red}could not delete the OAuthAPI; remove the scopes hello:read and hello:admin in the Okta admin console if the demo made them${off}"
}

print_logs() {
	local f
	echo "  Logs:"
	for f in "$log_dir"/*.log; do
		[ -e "$f" ] && echo "    ${f#"$root"/}"
	done
}

on_exit() {
	local rc=$?
	exec 1>&8 2>&9
	trap '' INT TERM HUP
	set +e
	if [ -n "$keeping" ] && [ "$rc" -ge 128 ]; then
		rc=0 # Ctrl-C is how a kept demo ends
		step_done=1
	fi
	if [ "$rc" -ge 128 ] && [ "$step_done" = 0 ]; then
		printf '\n%s✗ interrupted in step %d/%d: %s%s\n' "$red$bold" "$step_no" "$total_steps" "$step_title" "$off" >&2
	elif [ "$rc" -ne 0 ] && [ "$step_done" = 0 ]; then
		printf '\n%s✗ step %d/%d failed after %s: %s%s\n' "$red$bold" "$step_no" "$total_steps" "$(since "$step_start")" "$step_title" "$off" >&2
		if [ -n "$failure" ]; then
			echo "  $failure" >&2
		elif [ -n "$failed_command" ]; then
			echo "  command failed (exit $rc): $failed_command" >&2
		fi
		print_logs >&2
	fi
	if [ "${#pids[@]}" -gt 0 ]; then
		echo
		echo "Stopping the demo's processes..."
		delete_real_app
		stop_all
		echo "Stopped."
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A process that died while the demo waits for it ends the demo with its log.
check_alive() { # check_alive NAME
	local pid
	pid=$(pid_of "$1")
	if ! running "$pid"; then
		wait "$pid" 2>/dev/null
		local rc=$?
		echo "    $1 exited (status $rc). Last lines of ${log_dir#"$root"/}/$1.log:" >&2
		tail -n 15 "$log_dir/$1.log" | sed 's/^/      /' >&2
		fail "$1 stopped unexpectedly"
	fi
}

wait_http() { # wait_http NAME URL TIMEOUT_SECONDS
	local deadline=$((SECONDS + $3))
	until curl -fsS -o /dev/null --max-time 2 "$2" 2>/dev/null; do
		check_alive "$1"
		[ "$SECONDS" -lt "$deadline" ] || fail "$1 did not answer $2 within $3s (see its log)"
		sleep 0.2
	done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }

# ---------------------------------------------------------------------------------------
# Preflight: tools, mode, ports

command -v go >/dev/null || { echo "demo: go is not on PATH; install Go first" >&2; exit 1; }
command -v curl >/dev/null || { echo "demo: curl is not on PATH; install curl (the demo fetches the token with it, as Okta's tutorial does)" >&2; exit 1; }

case ${PROVIDER:-okta} in
okta | hydra) ;;
*)
	echo "demo: PROVIDER must be okta (the default: the emulator, or a real org) or hydra (Ory Hydra, built from the Go module proxy)" >&2
	exit 1
	;;
esac
if [ "${PROVIDER:-okta}" = hydra ]; then
	mode=hydra
	hydra_admin=http://127.0.0.1:$hydra_admin_port
	hydra_issuer=http://127.0.0.1:$hydra_public_port/
	audience=${HYDRA_AUDIENCE:-api://hello}
	provider_name=hydra
elif [ -n "${OKTA_ORG_URL:-}" ] && [ -n "${OKTA_API_TOKEN:-}" ]; then
	mode=okta
	org_url=${OKTA_ORG_URL%/}
	authz_server=${OKTA_AUTHZ_SERVER_ID:-default}
	audience=${OKTA_AUDIENCE:-api://default}
elif [ -n "${OKTA_ORG_URL:-}" ] || [ -n "${OKTA_API_TOKEN:-}" ]; then
	echo "demo: set both OKTA_ORG_URL and OKTA_API_TOKEN to use a real Okta org, or neither for the emulator" >&2
	exit 1
else
	mode=emulator
	org_url=http://127.0.0.1:$emulator_port
	authz_server=default
	audience=api://default
fi

okta_auth=${OKTA_AUTH:-token}
case $okta_auth in
token | oauth) ;;
*)
	echo "demo: OKTA_AUTH must be token (an SSWS API token, the default) or oauth (an API service app with private_key_jwt and DPoP)" >&2
	exit 1
	;;
esac
if [ "$okta_auth" = oauth ] && [ "$mode" = okta ] && { [ -z "${OKTA_CLIENT_ID:-}" ] || [ ! -r "${OKTA_PRIVATE_KEY_FILE:-}" ]; }; then
	echo "demo: OKTA_AUTH=oauth with a real org needs OKTA_CLIENT_ID and a readable OKTA_PRIVATE_KEY_FILE (the API service app's PEM private key)" >&2
	exit 1
fi
key_secret=okta-operator-key

busy=()
check_port() { # check_port PORT WHAT VARIABLE
	if port_in_use "$1"; then busy+=("127.0.0.1:$1 ($2; set $3 to use another port)"); fi
}
check_port "$apiserver_port" kube-apiserver DEMO_APISERVER_PORT
check_port "$etcd_port" etcd DEMO_ETCD_PORT
[ "$mode" = emulator ] && check_port "$emulator_port" "Okta emulator" DEMO_EMULATOR_PORT
if [ "$mode" = hydra ]; then
	check_port "$hydra_public_port" "Hydra public API" DEMO_HYDRA_PUBLIC_PORT
	check_port "$hydra_admin_port" "Hydra admin API" DEMO_HYDRA_ADMIN_PORT
fi
check_port "$metrics_port" "manager metrics" DEMO_MANAGER_METRICS_PORT
check_port "$probe_port" "manager health probes" DEMO_MANAGER_PROBE_PORT
check_port "$verifier_port" verifier DEMO_VERIFIER_PORT
check_port "$verifier_admin_port" "verifier admin" DEMO_VERIFIER_ADMIN_PORT
check_port "$hello_port" hello DEMO_HELLO_PORT
if [ "${#busy[@]}" -gt 0 ]; then
	echo "demo: these ports are in use by other processes (is another demo still running?):" >&2
	printf '  %s\n' "${busy[@]}" >&2
	exit 1
fi

rm -rf "$demo_dir"
mkdir -p "$log_dir"

echo "${bold}clientcreds demo${off}: OAuthClient manifest → operator → Okta app → Secret → token → verifier → hello"
if [ "$mode" = hydra ]; then
	echo "Backend: Ory Hydra (PROVIDER=hydra), admin API $hydra_admin, issuer $hydra_issuer"
elif [ "$mode" = okta ]; then
	echo "Okta: the real org $org_url (authorization server \"$authz_server\")"
else
	echo "Okta: the local emulator (set OKTA_ORG_URL and OKTA_API_TOKEN to use a real org)"
fi
if [ "$okta_auth" = oauth ]; then
	echo "Operator auth: OAuth 2.0 API service app (private_key_jwt + DPoP), not an API token"
fi

# ---------------------------------------------------------------------------------------
# 1. Build

step 1 "Build the binaries and the local control plane"
if [ -x "$kubectl_dir/kube-apiserver" ] && [ -x "$kubectl_dir/etcd" ] && [ -x "$kubectl" ]; then
	say "kube-apiserver, etcd and kubectl v$k8s_version: cached in bin/k8s/$k8s_version"
else
	say "The first build of kube-apiserver, etcd and kubectl v$k8s_version from the Go module proxy"
	say "takes several minutes (about 5 on 2 cores). It is cached per user and reused afterwards."
fi
cmd "make build"
"${MAKE:-make}" --no-print-directory build >/dev/null
if [ "$okta_auth" = oauth ]; then
	cmd "go build -o bin/oktaserviceapp ./hack/oktaserviceapp"
	go build -o bin/oktaserviceapp ./hack/oktaserviceapp
fi
hack/build-control-plane.sh >/dev/null
if [ "$mode" = hydra ]; then
	if [ -x bin/hydra ]; then
		say "Ory Hydra: cached (bin/hydra)"
	else
		say "The first build of Ory Hydra from the Go module proxy takes several minutes; it is cached per user."
	fi
	cmd "hack/build-hydra.sh"
	hack/build-hydra.sh >/dev/null
fi
cmd "go build -o bin/controlplane ./hack/controlplane"
go build -o bin/controlplane ./hack/controlplane
step_ok

# ---------------------------------------------------------------------------------------
# 2. Control plane

step 2 "Start etcd and kube-apiserver on loopback"
start_proc controlplane bin/controlplane --kubeconfig "$kubeconfig" --port "$apiserver_port" \
	--etcd-port "$etcd_port" --assets "$kubectl_dir" --log-dir "$log_dir" --exit-with-parent
deadline=$((SECONDS + 150))
until [ -s "$kubeconfig" ] && k get --raw /readyz >/dev/null 2>&1; do
	check_alive controlplane
	[ "$SECONDS" -lt "$deadline" ] || fail "kube-apiserver did not become ready within 150s"
	sleep 0.2
done
say "kube-apiserver https://127.0.0.1:$apiserver_port, etcd http://127.0.0.1:$etcd_port"
say "kubeconfig: ${kubeconfig#"$root"/}"
step_ok

# ---------------------------------------------------------------------------------------
# 3. CRDs

step 3 "Install the CRDs with kubectl"
cmd "kubectl apply --server-side -f config/crd/bases"
k apply --server-side -f config/crd/bases | sed 's/^/    /'
k wait --for=condition=Established --timeout=60s \
	crd/oauthclients.oauth.clientcreds.dev crd/clusteroauthproviders.oauth.clientcreds.dev \
	crd/oauthproviders.oauth.clientcreds.dev crd/oauthapis.oauth.clientcreds.dev >/dev/null
step_ok

# ---------------------------------------------------------------------------------------
# 4. Okta

if [ "$mode" = hydra ]; then
	step 4 "Start Ory Hydra (in-memory database, JWT access tokens)"
	cmd "DSN=memory STRATEGIES_ACCESS_TOKEN=jwt URLS_SELF_ISSUER=$hydra_issuer hydra serve all --dev"
	# The system secret goes through the environment, not the command line.
	DSN=memory STRATEGIES_ACCESS_TOKEN=jwt URLS_SELF_ISSUER=$hydra_issuer \
		SERVE_PUBLIC_HOST=127.0.0.1 SERVE_PUBLIC_PORT=$hydra_public_port \
		SERVE_ADMIN_HOST=127.0.0.1 SERVE_ADMIN_PORT=$hydra_admin_port \
		SECRETS_SYSTEM=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') LOG_LEVEL=warn \
		start_proc hydra bin/hydra serve all --dev
	wait_http hydra "$hydra_admin/health/ready" 60
	wait_http hydra "${hydra_issuer}.well-known/openid-configuration" 30
	say "admin API $hydra_admin, issuer $hydra_issuer, audience $audience"
elif [ "$mode" = okta ]; then
	step 4 "Use the real Okta org"
	api_token=$OKTA_API_TOKEN
	say "org $org_url, authorization server \"$authz_server\", audience $audience"
else
	step 4 "Start the Okta emulator"
	api_token=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
	# No scopes of its own: the operator creates hello:read and hello:admin from the OAuthAPI.
	cmd "okta-emulator --addr 127.0.0.1:$emulator_port"
	# The API token goes through the environment, not the command line.
	OKTA_EMULATOR_API_TOKEN=$api_token start_proc okta-emulator bin/okta-emulator \
		--addr "127.0.0.1:$emulator_port"
	wait_http okta-emulator "$org_url/_emulator/healthz" 30
	sed 's/^/    /' "$log_dir/okta-emulator.log" | grep -E 'Okta org URL|Issuer' || true
fi
if [ "$okta_auth" = oauth ]; then
	key_file=$demo_dir/operator-key.pem
	if [ "$mode" = okta ]; then
		oauth_client_id=$OKTA_CLIENT_ID
		oauth_key_id=${OKTA_KEY_ID:-}
		cp "$OKTA_PRIVATE_KEY_FILE" "$key_file"
		chmod 600 "$key_file"
		say "the operator's API service app: $oauth_client_id"
	else
		say "Register the operator's API service app, as an admin would in the Admin Console:"
		say "an RSA key pair, a private_key_jwt service app with DPoP-bound tokens and the public"
		say "key, and the scope grant okta.apps.manage"
		cmd "oktaserviceapp --org-url $org_url --scopes okta.apps.manage --role '' --key-out ${key_file#"$root"/}"
		# --role "": the emulator decides by scope grants alone (a real org also needs the
		# Application Administrator role, the default of oktaserviceapp).
		app_out=$(OKTA_API_TOKEN=$api_token bin/oktaserviceapp --org-url "$org_url" \
			--scopes okta.apps.manage --role "" --key-out "$key_file") || fail "registering the operator's API service app failed"
		oauth_client_id=$(sed -n 's/^CLIENT_ID=//p' <<<"$app_out")
		oauth_key_id=$(sed -n 's/^KEY_ID=//p' <<<"$app_out")
		[ -n "$oauth_client_id" ] || fail "oktaserviceapp printed no CLIENT_ID"
		say "API service app $oauth_client_id, key id $oauth_key_id"
	fi
fi
step_ok

# ---------------------------------------------------------------------------------------
# 5. Provider and manager

if [ "$mode" = hydra ]; then
	step 5 "Create the ClusterOAuthProvider (spec.hydra), start the operator"
	cmd "kubectl apply -f - (ClusterOAuthProvider $provider_name with hydra.adminURL $hydra_admin)"
	k apply -f - <<EOF | sed 's/^/    /'
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata:
  name: $provider_name
spec:
  hydra:
    adminURL: $hydra_admin
    issuer: $hydra_issuer
EOF
elif [ "$okta_auth" = oauth ]; then
	step 5 "Create the private-key Secret and the ClusterOAuthProvider (spec.okta.oauth), start the operator"
	cmd "kubectl create secret generic $key_secret -n $system_ns --from-file=private.pem=${key_file#"$root"/}"
	cmd "kubectl apply -f - (ClusterOAuthProvider $provider_name with oauth.clientID $oauth_client_id)"
	k create namespace "$system_ns" | sed 's/^/    /'
	k create secret generic "$key_secret" -n "$system_ns" --from-file=private.pem="$key_file" | sed 's/^/    /'
	key_id_line=''
	[ -z "$oauth_key_id" ] || key_id_line="      keyID: $oauth_key_id"
	k apply -f - <<EOF | sed 's/^/    /'
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata:
  name: $provider_name
spec:
  okta:
    orgURL: $org_url
    authorizationServerID: $authz_server
    oauth:
      clientID: $oauth_client_id
      privateKeySecretRef:
        name: $key_secret
        namespace: $system_ns
        key: private.pem
$key_id_line
      scopes: [okta.apps.manage]
EOF
else
step 5 "Create the API-token Secret and the ClusterOAuthProvider, start the operator"
cmd "kubectl apply -f - (Namespace $system_ns, Secret $token_secret, ClusterOAuthProvider $provider_name)"
k apply -f - <<EOF | sed 's/^/    /'
apiVersion: v1
kind: Namespace
metadata:
  name: $system_ns
---
apiVersion: v1
kind: Secret
metadata:
  name: $token_secret
  namespace: $system_ns
type: Opaque
stringData:
  token: "$api_token"
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata:
  name: $provider_name
spec:
  okta:
    orgURL: $org_url
    authorizationServerID: $authz_server
    apiTokenSecretRef:
      name: $token_secret
      namespace: $system_ns
      key: token
EOF
fi
# The emulator serves http on loopback: the manager accepts that only with
# --allow-insecure-loopback-http.
cmd "manager --kubeconfig ${kubeconfig#"$root"/} --metrics-bind-address 127.0.0.1:$metrics_port --health-probe-bind-address 127.0.0.1:$probe_port --allow-insecure-loopback-http"
start_proc manager bin/manager --kubeconfig "$kubeconfig" \
	--metrics-bind-address "127.0.0.1:$metrics_port" --health-probe-bind-address "127.0.0.1:$probe_port" \
	--allow-insecure-loopback-http --zap-encoder console
wait_http manager "http://127.0.0.1:$probe_port/readyz" 60
cmd "kubectl wait --for=condition=Ready clusteroauthprovider/$provider_name"
if ! k wait --for=condition=Ready --timeout=60s "clusteroauthprovider/$provider_name" >/dev/null 2>&1; then
	check_alive manager
	k get clusteroauthprovider "$provider_name" \
		-o jsonpath='{range .status.conditions[*]}    {.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2 || true
	fail "the ClusterOAuthProvider did not become Ready within 60s"
fi
issuer=$(k get clusteroauthprovider "$provider_name" -o jsonpath='{.status.issuer}')
say "provider Ready, issuer $issuer"
step_ok

# ---------------------------------------------------------------------------------------
# 6. The OAuthAPI and the OAuthClient

step 6 "Apply the hello OAuthAPI (config/hello/api) and config/samples/ (its client); wait for Ready"
if [ "$mode" = hydra ]; then
	# Pointed at the Hydra provider, with the audience the token request asks for (Hydra
	# keeps audiences per client, and a token carries one only when it is asked for).
	cmd "sed -e 's/name: okta/name: $provider_name/' -e 's|^  providerRef:|  audience: $audience\\n  providerRef:|' $api_manifest | kubectl apply -f -"
	sed -e "s/name: okta/name: $provider_name/" -e "s|^  providerRef:|  audience: \"$audience\"\\n  providerRef:|" \
		"$api_manifest" | k apply -f - | sed 's/^/    /'
else
	cmd "kubectl apply -f $api_manifest"
	k apply -f "$api_manifest" | sed 's/^/    /'
fi
sample_applied=1
cmd "kubectl wait --for=condition=Ready oauthapi/hello -n default"
if ! k wait --for=condition=Ready --timeout=60s oauthapi/hello -n default >/dev/null 2>&1; then
	check_alive manager
	k get oauthapi hello -n default \
		-o jsonpath='{range .status.conditions[*]}    {.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2 || true
	fail "OAuthAPI default/hello did not become Ready within 60s"
fi
api_audience=$(k get oauthapi hello -n default -o jsonpath='{.status.audience}')
say "OAuthAPI Ready: scopes $(k get oauthapi hello -n default -o jsonpath='{.spec.scopes[*].name}') on $issuer, audience $api_audience"
if [ "$mode" = hydra ]; then
	cmd "sed -e 's/name: okta/name: $provider_name/' $samples/oauth_v1alpha1_oauthclient.yaml | kubectl apply -f -"
	sed -e "s/name: okta/name: $provider_name/" "$samples/oauth_v1alpha1_oauthclient.yaml" | k apply -f - | sed 's/^/    /'
else
	cmd "kubectl apply -f $samples/"
	k apply -f "$samples/" | sed 's/^/    /'
fi
client_ns=$(k get -f "$samples/oauth_v1alpha1_oauthclient.yaml" -o jsonpath='{.metadata.namespace}')
client_name=$(k get -f "$samples/oauth_v1alpha1_oauthclient.yaml" -o jsonpath='{.metadata.name}')
cmd "kubectl wait --for=condition=Ready oauthclient/$client_name -n $client_ns"
if ! k wait --for=condition=Ready --timeout=120s "oauthclient/$client_name" -n "$client_ns" >/dev/null 2>&1; then
	check_alive manager
	k get oauthclient "$client_name" -n "$client_ns" \
		-o jsonpath='{range .status.conditions[*]}    {.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2 || true
	fail "OAuthClient $client_ns/$client_name did not become Ready within 120s"
fi
k get oauthclient "$client_name" -n "$client_ns" | sed 's/^/    /'
secret_name=$(k get oauthclient "$client_name" -n "$client_ns" -o jsonpath='{.status.secretName}')
[ -n "$secret_name" ] || fail "the Ready OAuthClient names no Secret in status.secretName"
step_ok

# ---------------------------------------------------------------------------------------
# 7. hello behind the verifier

step 7 "Start hello behind the verifier (reverse proxy)"
cmd "hello --listen 127.0.0.1:$hello_port"
start_proc hello bin/hello --listen "127.0.0.1:$hello_port"
wait_http hello "http://127.0.0.1:$hello_port/healthz" 30
# Issuer, audience and path rules come from the OAuthAPI (its status and spec.rules).
cmd "verifier --oauthapi default/hello --kubeconfig ${kubeconfig#"$root"/} --listen 127.0.0.1:$verifier_port --upstream http://127.0.0.1:$hello_port --admin-listen 127.0.0.1:$verifier_admin_port"
start_proc verifier bin/verifier --oauthapi default/hello --kubeconfig "$kubeconfig" \
	--listen "127.0.0.1:$verifier_port" --upstream "http://127.0.0.1:$hello_port" \
	--admin-listen "127.0.0.1:$verifier_admin_port"
wait_http verifier "http://127.0.0.1:$verifier_admin_port/readyz" 30
say "verifier ready: following OAuthAPI default/hello (issuer, audience $api_audience, rules), signing keys from the issuer's JWKS"
step_ok

# ---------------------------------------------------------------------------------------
# 8. Secret → token

step 8 "Read the generated Secret and fetch a token with it"
secret_value() { k get secret "$secret_name" -n "$client_ns" -o "jsonpath={.data.$1}" | base64 -d; }
cmd "kubectl get secret $secret_name -n $client_ns -o jsonpath='{.data}'"
client_id=$(secret_value CLIENT_ID)
client_secret=$(secret_value CLIENT_SECRET)
token_url=$(secret_value TOKEN_URL)
secret_scope=$(secret_value SCOPE)
if [ -z "$client_id" ] || [ -z "$client_secret" ] || [ -z "$token_url" ]; then
	fail "Secret $client_ns/$secret_name lacks CLIENT_ID, CLIENT_SECRET or TOKEN_URL"
fi
say "CLIENT_ID      $client_id"
say "CLIENT_SECRET  (${#client_secret} characters, not shown)"
say "TOKEN_URL      $token_url"
say "ISSUER         $(secret_value ISSUER)"
say "SCOPE          $secret_scope"
say "AUDIENCE       $(secret_value AUDIENCE)"
say "AUTH_METHOD    $(secret_value AUTH_METHOD)"
# As the tutorial's test client: POST to the token URL with HTTP Basic client
# authentication and the form grant_type=client_credentials&scope=<scope>. The secret is
# handed to curl on stdin, so it never shows in a process list.
audience_arg=()
if [ "$mode" = hydra ]; then
	audience_arg=(--data-urlencode "audience=$audience")
	cmd "curl -u \"\$CLIENT_ID:\$CLIENT_SECRET\" -d grant_type=client_credentials -d scope=\"\$SCOPE\" -d audience=$audience \$TOKEN_URL"
else
	cmd "curl -u \"\$CLIENT_ID:\$CLIENT_SECRET\" -d grant_type=client_credentials -d scope=\"\$SCOPE\" \$TOKEN_URL"
fi
token_response=$(printf 'user = "%s:%s"\n' "$client_id" "$client_secret" |
	curl -sS -K - -X POST -H 'Accept: application/json' -H 'Cache-Control: no-cache' \
		--data-urlencode grant_type=client_credentials --data-urlencode "scope=$secret_scope" "${audience_arg[@]}" \
		-w '\n%{http_code}' "$token_url") || fail "the token request to $token_url failed"
token_status=${token_response##*$'\n'}
token_body=${token_response%$'\n'*}
[ "$token_status" = 200 ] || fail "the token endpoint answered $token_status: $token_body"
json_field() { printf '%s' "$1" | sed -n "s/.*\"$2\" *: *\"\{0,1\}\([^\",}]*\).*/\1/p"; }
access_token=$(json_field "$token_body" access_token)
token_type=$(json_field "$token_body" token_type)
[ -n "$access_token" ] || fail "the token response has no access_token"
say "HTTP $token_status: token_type $token_type, expires_in $(json_field "$token_body" expires_in)s,"
say "access_token ${access_token:0:24}… (${#access_token} characters, a JWT signed by the issuer)"
step_ok

# ---------------------------------------------------------------------------------------
# 9. hello through the verifier

step 9 "Call hello through the verifier: without a token, with it, and on /admin"
hello_url=http://127.0.0.1:$verifier_port/
cmd "curl -i $hello_url"
headers=$(curl -sS -o /dev/null -D - --max-time 10 "$hello_url" | tr -d '\r')
status_line=$(printf '%s\n' "$headers" | head -n 1)
challenge=$(printf '%s\n' "$headers" | grep -i '^WWW-Authenticate:' || true)
say "$status_line"
say "$challenge"
case "$status_line" in *" 401"*) ;; *) fail "without a token the verifier answered \"$status_line\", not 401" ;; esac
[ -n "$challenge" ] || fail "the 401 carries no WWW-Authenticate header"
cmd "curl -H \"Authorization: $token_type \$ACCESS_TOKEN\" $hello_url"
hello_response=$(printf 'header = "Authorization: %s %s"\n' "${token_type:-Bearer}" "$access_token" |
	curl -sS -K - --max-time 10 -w '\n%{http_code}' "$hello_url") || fail "calling hello through the verifier failed"
hello_status=${hello_response##*$'\n'}
hello_body=${hello_response%$'\n'*}
hello_body=${hello_body%$'\n'}
say "HTTP $hello_status: $hello_body"
[ "$hello_status" = 200 ] || fail "with the token the verifier answered $hello_status"
case "$hello_body" in *"Hello World!"*) ;; *) fail "hello did not answer Hello World!" ;; esac
case "$hello_body" in *"$client_id"*) ;; *) fail "hello did not name the client id $client_id" ;; esac
say "${green}Hello World! reached through the verifier, for client $client_id${off}"
admin_url=http://127.0.0.1:$verifier_port/admin
cmd "curl -i -H \"Authorization: $token_type \$ACCESS_TOKEN\" $admin_url"
admin_headers=$(printf 'header = "Authorization: %s %s"\n' "${token_type:-Bearer}" "$access_token" |
	curl -sS -K - -o /dev/null -D - --max-time 10 "$admin_url" | tr -d '\r') || fail "calling /admin through the verifier failed"
admin_status=$(printf '%s\n' "$admin_headers" | head -n 1)
say "$admin_status"
say "$(printf '%s\n' "$admin_headers" | grep -i '^WWW-Authenticate:' || true)"
case "$admin_status" in *" 403"*) ;; *) fail "/admin needs hello:admin (OAuthAPI rules), but the verifier answered \"$admin_status\", not 403" ;; esac
say "${green}/admin refused (403): the token carries hello:read, the OAuthAPI's rules ask for hello:admin${off}"
step_ok

# ---------------------------------------------------------------------------------------
# 10. What next

step 10 "What to try next"
kc_rel=${kubeconfig#"$root"/}
cat <<EOF
    In another terminal (while ${bold}DEMO_KEEP=1 make demo${off} runs), from $root:

      export KUBECONFIG=$kubeconfig
      export PATH=$kubectl_dir:\$PATH     # the kubectl v$k8s_version the demo built

      kubectl get oauthclients -A                       # Ready, client id, Secret
      kubectl get oauthapis -A                          # the hello API: Ready, audience
      kubectl patch oauthapi hello -n default --type=merge -p '{"spec":{"allowedClients":null}}'
                                                        # grant withdrawn: the client turns APINotAllowed
      kubectl get clusteroauthproviders                 # the Okta org and its issuer
      kubectl get secret $secret_name -n $client_ns -o yaml     # what apps mount or envFrom
      kubectl delete secret $secret_name -n $client_ns          # the operator restores it...
      kubectl get secret $secret_name -n $client_ns -w          # ...with a freshly minted secret
      kubectl delete oauthclient $client_name -n $client_ns     # the app is removed from Okta too

    Logs: ${log_dir#"$root"/}/   (kubeconfig: $kc_rel)
EOF
if [ "$mode" = emulator ] && [ "$okta_auth" = token ]; then
	say "Okta emulator: $org_url; its request counts (the API token is in the Secret $token_secret):"
	say "  curl -H \"Authorization: SSWS \$(kubectl get secret $token_secret -n $system_ns -o jsonpath='{.data.token}' | base64 -d)\" $org_url/_emulator/stats"
fi
step_ok

printf '\n%sDemo finished in %s.%s\n' "$bold" "$(since "$demo_start")" "$off"
if [ "${DEMO_KEEP:-}" = 1 ]; then
	echo "Everything keeps running (DEMO_KEEP=1). Press Ctrl-C to stop it."
	keeping=1 step_title="keep running" step_done=0
	while :; do
		for name in "${names[@]}"; do check_alive "$name"; done
		sleep 1
	done
else
	echo "Run ${bold}DEMO_KEEP=1 make demo${off} to keep everything running and try the commands above."
fi
