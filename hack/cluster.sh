#!/usr/bin/env bash
# cluster.sh — a single-node Kubernetes cluster on this machine, loopback only.
#
#   hack/cluster.sh up       # make cluster: start (or find running) and leave it running
#   hack/cluster.sh down     # make cluster-down: stop it and leave nothing behind
#   hack/cluster.sh status   # which components run
#
# Parts: etcd, kube-apiserver (hack/build-control-plane.sh), kube-controller-manager,
# kube-scheduler, kubelet (hack/build-node.sh), all v$(cat hack/k8s-version); containerd and
# runc from Debian's packages (installed with apt-get when missing); the project's images
# from `make images` (bin/images/*.tar), imported with `ctr -n k8s.io images import`.
# The admin kubeconfig is bin/cluster/kubeconfig; state and logs live under bin/cluster/.
#
# Settings this machine needs (cgroup v1 hierarchies, root without CAP_SYS_RESOURCE, no
# registry, loopback-only networking), each with the failure seen without it:
# - kubelet failCgroupV1: false — kubelet 1.37 refuses cgroup v1 hosts otherwise ("kubelet
#   is configured to not run on a host using cgroup v1").
# - kubelet cgroupDriver: cgroupfs and containerd SystemdCgroup = false — there is no
#   systemd; containerd 1.6 lacks the CRI RuntimeConfig call, so kubelet cannot ask it and
#   the two must be set to agree.
# - containerd restrict_oom_score_adj = true — root here cannot lower OOM scores; without it
#   every sandbox fails ("can't get final child's PID from pipe: EOF").
# - containerd sandbox_image = clientcreds/pause:dev (built by make images) and every pod
#   imagePullPolicy: Never — no registry can be reached.
# - containerd's own config, root, state and socket (/run/clientcreds-containerd), and
#   runc's state under it, so that a system containerd (if any) is not touched.
# - kube-controller-manager --use-service-account-credentials, --service-account-private-
#   key-file, --root-ca-file — without the first, its controllers lack RBAC (the node's
#   not-ready taint is never removed, pods stay Pending); the others make ServiceAccount
#   tokens and the kube-root-ca.crt ConfigMap pods need to call the API server.
# - kubelet --hostname-override 127.0.0.1 — the node's name and InternalIP; kubelet refuses
#   --node-ip 127.0.0.1 ("nodeIP can't be loopback address"); kubectl logs works over it.
# - a loopback-only CNI config and hostNetwork pods — without a CNI config the node never
#   becomes Ready; there is no pod network, every pod listens on 127.0.0.1.
# - hostNetwork pods cannot reach the kubernetes Service's ClusterIP (there is no
#   kube-proxy): pods that call the API server set KUBERNETES_SERVICE_HOST=127.0.0.1 and
#   KUBERNETES_SERVICE_PORT=$apiserver_port (see CLUSTER_APISERVER_PORT below).
# - hostNetwork is refused by the restricted (and baseline) Pod Security levels: the
#   namespace config/manager ships enforces restricted, so `make deploy` onto this node needs
#   `kubectl label --overwrite ns clientcreds-system pod-security.kubernetes.io/enforce=privileged`;
#   helm --create-namespace sets no level. Two hostNetwork replicas of one Deployment
#   share the node's ports: the chart's probes.exec gives each a free loopback probe port
#   (exec probes) and lets only the leader bind the metrics port.
# - kubelet evictionHard with absolute disk thresholds (1Gi free on nodefs and imagefs) —
#   the node's filesystem is the development machine's, shared with builds and caches; the
#   default 15% free on imagefs (10% nodefs) is ~38 GiB of a 252 GiB disk: with 37 GiB free
#   the node went DiskPressure mid-run and evicted every test pod ("The node had condition:
#   [DiskPressure]"). Memory keeps the default 100Mi.
# - kubelet keeps its default syncFrequency (1m), as users' clusters do: a Secret update
#   reaches a mounted volume after up to ~1.5 min.
# - kubelet podLogsDir (not podLogsDirectory, which is ignored) keeps pod logs under
#   bin/cluster; /var/lib/kubelet/device-plugins, /var/log/containers and /run/containerd/s
#   are used whatever the settings: one node per machine at a time.
# Every listener binds 127.0.0.1: etcd, kube-apiserver (--endpoint-reconciler-type none),
# controller-manager, scheduler, kubelet (readOnlyPort 0), containerd's stream server.
set -Eeuo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
k8s_version=${K8S_VERSION:-$(cat "$root/hack/k8s-version")}
dir=${CLUSTER_DIR:-$root/bin/cluster}
run_dir=/run/clientcreds-containerd
pki=$dir/pki
logs=$dir/logs
pids=$dir/pids
kubeconfig=$dir/kubeconfig
images_dir=${CLUSTER_IMAGES_DIR:-$root/bin/images}
sandbox_image=${CLUSTER_SANDBOX_IMAGE:-clientcreds/pause:dev}

etcd_port=${CLUSTER_ETCD_PORT:-22379}
etcd_peer_port=${CLUSTER_ETCD_PEER_PORT:-22380}
apiserver_port=${CLUSTER_APISERVER_PORT:-26443}
kcm_port=${CLUSTER_KCM_PORT:-20257}
scheduler_port=${CLUSTER_SCHEDULER_PORT:-20259}
kubelet_port=${CLUSTER_KUBELET_PORT:-20250}
kubelet_healthz_port=${CLUSTER_KUBELET_HEALTHZ_PORT:-20248}
node_name=127.0.0.1

cp_dir=$root/bin/k8s/$k8s_version
node_dir=$root/bin/node/$k8s_version
ctr=(ctr --address "$run_dir/containerd.sock" -n k8s.io)

log() { echo "cluster: $*" >&2; }
die() {
  log "$*"
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }

# wait_for <what> <seconds> <command...>: poll until the command succeeds.
wait_for() {
  local what=$1 timeout=$2 start
  shift 2
  start=$(now)
  until "$@" >/dev/null 2>&1; do
    if awk -v a="$start" -v b="$(now)" -v t="$timeout" 'BEGIN {exit !(b - a > t)}'; then
      die "$what not ready after ${timeout}s (logs in $logs)"
    fi
    sleep 0.2
  done
}

running() { [ -f "$pids/$1" ] && kill -0 "$(cat "$pids/$1")" 2>/dev/null; }

# start <name> <command...>: run in its own session, log to $logs/<name>.log.
start() {
  local name=$1
  shift
  if running "$name"; then return; fi
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pids/$name"
}

# ---------------------------------------------------------------------------------------
# Prerequisites

ensure_binaries() {
  "$root/hack/build-control-plane.sh" >/dev/null
  "$root/hack/build-node.sh" >/dev/null
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/loopback ] || missing+=(containernetworking-plugins)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "needs root to install ${missing[*]} and to run kubelet"
    log "installing ${missing[*]} with apt-get"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}" >/dev/null
  fi
}

# ---------------------------------------------------------------------------------------
# Certificates and kubeconfigs (made once per bin/cluster; cluster-down keeps them)

cert() { # cert <name> <subject> [<extensions>]: a key and a certificate signed by the CA
  local name=$1 subj=$2 ext=${3:-"extendedKeyUsage=clientAuth"}
  [ -f "$pki/$name.crt" ] && return
  openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 365 -out "$pki/$name.crt" -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n%s\n' "$ext") 2>/dev/null
  rm -f "$pki/$name.csr"
}

kubeconfig_for() { # kubeconfig_for <file> <cert name>
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: clientcreds
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority: $pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $pki/$2.crt
    client-key: $pki/$2.key
contexts:
- name: clientcreds
  context: {cluster: clientcreds, user: $2}
current-context: clientcreds
EOF
}

make_pki() {
  mkdir -p "$pki"
  chmod 700 "$pki"
  if [ ! -f "$pki/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 365 \
      -subj "/CN=clientcreds-cluster-ca" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  fi
  [ -f "$pki/sa.key" ] || openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  [ -f "$pki/sa.pub" ] || openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=clientcreds-admin"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kubelet "/O=system:nodes/CN=system:node:$node_name"
  kubeconfig_for "$kubeconfig" admin
  kubeconfig_for "$dir/controller-manager.kubeconfig" controller-manager
  kubeconfig_for "$dir/scheduler.kubeconfig" scheduler
  kubeconfig_for "$dir/kubelet.kubeconfig" kubelet
}

# ---------------------------------------------------------------------------------------
# Configuration files

write_configs() {
  mkdir -p "$dir/cni/net.d" "$dir/containerd" "$dir/kubelet" "$dir/pod-logs"
  cat >"$dir/cni/net.d/10-loopback.conflist" <<'EOF'
{"cniVersion": "0.4.0", "name": "lo", "plugins": [{"type": "loopback"}]}
EOF
  cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$run_dir/state"

[grpc]
  address = "$run_dir/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$sandbox_image"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$run_dir/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
EOF
  cat >"$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz_port
readOnlyPort: 0
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$run_dir/containerd.sock
podLogsDir: $dir/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
rotateCertificates: false
serverTLSBootstrap: false
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1Gi
  imagefs.available: 1Gi
  nodefs.inodesFree: 5%
  imagefs.inodesFree: 5%
EOF
}

# ---------------------------------------------------------------------------------------
# up

api_ready() { "$cp_dir/kubectl" --kubeconfig "$kubeconfig" get --raw /readyz; }
node_ready() {
  [ "$("$cp_dir/kubectl" --kubeconfig "$kubeconfig" get node "$node_name" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
untainted() {
  [ -z "$("$cp_dir/kubectl" --kubeconfig "$kubeconfig" get node "$node_name" -o 'jsonpath={.spec.taints}')" ]
}

import_images() {
  local tar
  shopt -s nullglob
  local tars=("$images_dir"/*.tar)
  [ ${#tars[@]} -gt 0 ] || die "no images in $images_dir: run make images first"
  for tar in "${tars[@]}"; do
    "${ctr[@]}" images import "$tar" >/dev/null ||
      die "ctr images import $tar failed"
  done
  log "imported ${#tars[@]} images from $images_dir"
}

up() {
  ensure_binaries
  mkdir -p "$dir" "$logs" "$pids" "$run_dir"
  make_pki
  write_configs
  local t0
  t0=$(now)
  [ -e /var/lib/kubelet ] || touch "$dir/.created-var-lib-kubelet"
  [ -e /var/log/containers ] || touch "$dir/.created-var-log-containers"
  [ -e /run/containerd ] || touch "$dir/.created-run-containerd"

  start etcd "$cp_dir/etcd" --name clientcreds --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "clientcreds=http://127.0.0.1:$etcd_peer_port" --log-level warn
  start kube-apiserver "$cp_dir/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$apiserver_port" \
    --endpoint-reconciler-type none --service-cluster-ip-range 10.96.0.0/24 \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname --cert-dir "$dir/apiserver-certs"
  start containerd containerd --config "$dir/containerd/config.toml"
  wait_for kube-apiserver 120 api_ready
  log "kube-apiserver ready after $(since "$t0")s"

  start kube-controller-manager "$node_dir/kube-controller-manager" --kubeconfig "$dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$dir/controller-manager.kubeconfig" --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" --cert-dir "$dir/kcm-certs" --leader-elect=false \
    --use-service-account-credentials --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --client-ca-file "$pki/ca.crt" --cluster-name clientcreds --allocate-node-cidrs=false
  start kube-scheduler "$node_dir/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" \
    --authentication-kubeconfig "$dir/scheduler.kubeconfig" --authorization-kubeconfig "$dir/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$scheduler_port" --cert-dir "$dir/scheduler-certs" --leader-elect=false
  wait_for containerd 60 "${ctr[@]}" version
  import_images
  start kubelet "$node_dir/kubelet" --config "$dir/kubelet/config.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
    --root-dir "$dir/kubelet/root" --cert-dir "$dir/kubelet/pki" --hostname-override "$node_name"
  wait_for "node $node_name" 180 node_ready
  log "node Ready after $(since "$t0")s"
  wait_for "node $node_name without taints" 180 untainted
  log "node untainted after $(since "$t0")s; kubeconfig: $kubeconfig"
}

# ---------------------------------------------------------------------------------------
# down: the order that leaves nothing behind (containers and shims outlive kubelet and
# containerd; mounts and cgroups outlive the containers).

stop() { # stop <name>: SIGTERM, then SIGKILL after 20 s
  local name=$1 pid i
  [ -f "$pids/$name" ] || return 0
  pid=$(cat "$pids/$name")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pids/$name"
}

our_mounts() { # mount points under the cluster's directories, deepest first
  awk -v a="$dir/" -v b="$run_dir/" '
    function unescape(s) { gsub(/\\040/, " ", s); return s }
    { m = unescape($5); if (index(m, a) == 1 || index(m, b) == 1) print length(m) "\t" m }' /proc/self/mountinfo |
    sort -rn | cut -f2-
}

kubepods_cgroups() { # kubepods cgroup directories in every hierarchy, deepest first
  find /sys/fs/cgroup/*/kubepods* -depth -type d 2>/dev/null || true
}

down() {
  stop kubelet
  if running containerd; then
    local id
    for id in $("${ctr[@]}" tasks list -q 2>/dev/null); do
      "${ctr[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    sleep 1
    for id in $("${ctr[@]}" tasks list -q 2>/dev/null); do
      "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true
    done
  fi
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  stop containerd
  # What outlived them: processes in the pods' cgroups, shims started from our run dir.
  local p f m
  for f in $(find /sys/fs/cgroup/*/kubepods* -name cgroup.procs 2>/dev/null); do
    for p in $(cat "$f" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  done
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $run_dir/" || true); do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.5
  while read -r m; do
    [ -n "$m" ] && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"; }
  done < <(our_mounts)
  for f in $(kubepods_cgroups); do rmdir "$f" 2>/dev/null || log "cannot remove cgroup $f"; done
  rm -rf "$run_dir"
  if [ -f "$dir/.created-var-lib-kubelet" ]; then rm -rf /var/lib/kubelet && rm -f "$dir/.created-var-lib-kubelet"; fi
  if [ -f "$dir/.created-var-log-containers" ]; then rm -rf /var/log/containers && rm -f "$dir/.created-var-log-containers"; fi
  # The shims' sockets and fifos live under /run/containerd whatever the config says; only
  # the empty directories they leave go, as another containerd may use the rest.
  rmdir /run/containerd/fifo /run/containerd/s 2>/dev/null || true
  if [ -f "$dir/.created-run-containerd" ]; then
    find /run/containerd -depth -type d -empty -delete 2>/dev/null || true
    rm -f "$dir/.created-run-containerd"
  fi
  # State goes too (etcd data, container images, kubelet's root): the next up starts fresh.
  rm -rf "$dir/etcd" "$dir/containerd/root" "$dir/kubelet/root" "$dir/pod-logs"
  leftovers
}

leftovers() { # reports (and fails on) anything of the node still present
  local bad=0 out
  out=$(our_mounts)
  [ -z "$out" ] || { log "mounts left: $out"; bad=1; }
  out=$(kubepods_cgroups)
  [ -z "$out" ] || { log "cgroups left: $out"; bad=1; }
  out=$(pgrep -a -f "containerd-shim|$dir/|$run_dir" | grep -v "pgrep" || true)
  [ -z "$out" ] || { log "processes left: $out"; bad=1; }
  [ $bad = 0 ] && log "down: no processes, mounts or cgroups left"
  return $bad
}

status() {
  local c
  for c in etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet; do
    if running "$c"; then echo "$c: running (pid $(cat "$pids/$c"))"; else echo "$c: stopped"; fi
  done
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
*) die "usage: $0 up|down|status" ;;
esac
