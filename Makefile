# clientcreds — build, test and run the operator, the verifier, the hello service and the
# Okta emulator. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

# Image of the manager for `make deploy` (and docker-build, on a machine with a container
# engine); the default is the one `make images` builds.
IMG ?= clientcreds/manager:dev
# The Kubernetes version of the local control plane (kube-apiserver, etcd's pairing, kubectl):
# hack/k8s-version is the one place it is written; `make verify` checks every other mention.
K8S_VERSION ?= $(shell cat $(CURDIR)/hack/k8s-version)
export K8S_VERSION
BIN := $(CURDIR)/bin
# Go code outside the race-detected tests — vet, bin/, the images (hack/tools/images) and the
# pinned tools — compiles static (no cgo) and without local paths, one set of settings, so a
# package they share compiles once (the tools modules hold the project's versions of shared
# modules for the same reason; internal/testutil.GoTool runs the tools so from tests).
GO_BUILD_ENV := CGO_ENABLED=0
GO_BUILD_FLAGS := -trimpath
GO_TOOL_ENV := CGO_ENABLED=0 GOFLAGS="-trimpath $(GOFLAGS)"
GOTOOL := $(GO_TOOL_ENV) go tool -modfile=$(CURDIR)/hack/tools/gen/go.mod
CONTROLLER_GEN := $(GOTOOL) controller-gen
KUSTOMIZE := $(GOTOOL) kustomize
GOLANGCI_LINT := $(GO_TOOL_ENV) go tool -modfile=$(CURDIR)/hack/tools/lint/go.mod golangci-lint
HELM := $(GO_TOOL_ENV) go tool -modfile=$(CURDIR)/hack/tools/helm/go.mod helm
CHART := charts/clientcreds
CRD_REF_DOCS := $(GOTOOL) crd-ref-docs
CRD_REFERENCE ?= docs/crd-reference.md
METRICS_REFERENCE ?= docs/metrics.md
PROMETHEUS_RULE ?= config/prometheus/prometheusrule.yaml
# Where the generators write (make verify points them at a temporary directory).
CRD_DIR ?= config/crd/bases
RBAC_DIR ?= config/rbac
DEEPCOPY_DIR ?=
# Container engine and image names for docker-build (the manager image is $(IMG)).
CONTAINER_TOOL ?= docker
IMAGE_REPO ?= clientcreds
# The tag of make images and docker-build: clientcreds/<name>:dev is what make deploy, the
# chart's defaults and the local node use.
IMAGE_TAG ?= dev
# Where envtest finds kube-apiserver, etcd and kubectl.
export KUBEBUILDER_ASSETS := $(BIN)/k8s/$(K8S_VERSION)

BINARIES := manager verifier hello okta-emulator token-injector kubectl-clientcreds


##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRDs and RBAC from the Go types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." \
	  output:crd:artifacts:config=$(CRD_DIR) output:rbac:artifacts:config=$(RBAC_DIR)

.PHONY: generate
generate: ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..." \
	  $(if $(DEEPCOPY_DIR),output:object:dir=$(DEEPCOPY_DIR))

.PHONY: docs
docs: ## Generate the CRD reference docs/crd-reference.md from the Go types.
	$(CRD_REF_DOCS) --log-level=ERROR --source-path=api --config=docs/crd-ref-docs.yaml \
	  --renderer=markdown --templates-dir=docs/templates --output-path=$(CRD_REFERENCE)

.PHONY: metrics-docs
metrics-docs: ## Generate docs/metrics.md from the registered metrics.
	go run ./hack/tools/metricsdoc > $(METRICS_REFERENCE).tmp && mv $(METRICS_REFERENCE).tmp $(METRICS_REFERENCE)

.PHONY: alerts
alerts: ## Generate the PrometheusRule config/prometheus/prometheusrule.yaml from config/prometheus/alerts.yaml.
	go run ./hack/tools/promrule -in config/prometheus/alerts.yaml -out $(PROMETHEUS_RULE)

.PHONY: fmt
fmt: ## Run gofmt on the tree.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO_BUILD_ENV) go vet $(GO_BUILD_FLAGS) ./...

.PHONY: lint
lint: ## Run golangci-lint (pinned in hack/tools/lint, configured by .golangci.yml).
	$(GOLANGCI_LINT) run --allow-serial-runners ./...

.PHONY: verify
verify: ## Check without changing anything: gofmt, go vet, generated files up to date, one Kubernetes version, lint, go mod tidy.
	hack/verify.sh

.PHONY: node
node: ## Build kube-controller-manager, kube-scheduler and kubelet into bin/node (once; minutes the first time).
	@hack/build-node.sh >/dev/null

.PHONY: cluster
cluster: images ## Start a single-node cluster on this machine (root; loopback only); kubeconfig bin/cluster/kubeconfig.
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the cluster of make cluster, leaving no processes, mounts or cgroups.
	hack/cluster.sh down

.PHONY: test-cluster
test-cluster: ## End-to-end tests on a real node: builds, starts the cluster, tests, tears it down.
	hack/test-cluster.sh

.PHONY: control-plane
control-plane: ## Build kube-apiserver, etcd and kubectl into bin/k8s (once; minutes the first time).
	@hack/build-control-plane.sh >/dev/null

.PHONY: hydra
hydra: ## Build Ory Hydra (sqlite) into bin/hydra for the Hydra tests and demo (once; minutes the first time).
	@hack/build-hydra.sh >/dev/null

.PHONY: test
test: manifests generate ## Run unit, envtest and end-to-end tests.
	@$(MAKE) --no-print-directory -j3 test-prereqs
	hack/test.sh

# What hack/test.sh needs: the control plane and Hydra (their own modules, cached per user)
# are built beside vet and the project's binaries, which run one after the other because they
# share compiled packages. On a fresh machine this keeps both cores busy while one build links.
.PHONY: test-prereqs
test-prereqs: control-plane hydra vet-then-build

.PHONY: vet-then-build
vet-then-build: vet
	@$(MAKE) --no-print-directory build

.PHONY: test-unit
test-unit: ## The fast inner loop: the tests that need no control plane and no bin/ (no e2e); make test runs all.
	hack/test-unit.sh

.PHONY: test-alerts
test-alerts: ## Check the alert rules and run their promtool unit tests (config/prometheus/tests).
	@command -v promtool >/dev/null 2>&1 || hack/ensure-prometheus.sh
	promtool check rules config/prometheus/alerts.yaml
	promtool test rules config/prometheus/tests/*.yaml

.PHONY: chaos
chaos: build control-plane ## Random faults for at most 15 minutes (kill -9, API server and org restarts) with invariants; CHAOS_SEED, CHAOS_CLIENTS, CHAOS_DURATION.
	hack/chaos.sh

.PHONY: bench
bench: build control-plane ## Benchmark the verifier and the operator; writes bench/results.md.
	hack/bench.sh

##@ Build

.PHONY: build
build: ## Build the binaries of cmd/ into bin/ (one go build: shared packages compile once, links run in parallel).
	$(GO_BUILD_ENV) go build $(GO_BUILD_FLAGS) -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))

build-%:
	$(GO_BUILD_ENV) go build $(GO_BUILD_FLAGS) -o $(BIN)/$* ./cmd/$*

.PHONY: images
images: ## Build the OCI image archives bin/images/<name>.tar (clientcreds/<name>:dev) without a container engine.
	go -C hack/tools/images run . -root $(CURDIR) -out $(BIN)/images -repo $(IMAGE_REPO) -tag $(IMAGE_TAG)

.PHONY: docker-build
docker-build: ## Build the container images, one per binary and the example client (needs a running container engine; CONTAINER_TOOL=podman to switch).
	@command -v $(CONTAINER_TOOL) >/dev/null 2>&1 || { echo "docker-build: '$(CONTAINER_TOOL)' not found. Building images needs a container engine (Docker with BuildKit, or CONTAINER_TOOL=podman); nothing else in this repository does." >&2; exit 1; }
	@$(CONTAINER_TOOL) info >/dev/null 2>&1 || { echo "docker-build: '$(CONTAINER_TOOL)' is installed but no engine answers ('$(CONTAINER_TOOL) info' failed). Start it and retry." >&2; exit 1; }
	$(CONTAINER_TOOL) build --target manager -t $(IMG) .
	@for b in verifier hello okta-emulator token-injector hello-client; do \
	  echo "$(CONTAINER_TOOL) build --target $$b -t $(IMAGE_REPO)/$$b:$(IMAGE_TAG) ."; \
	  $(CONTAINER_TOOL) build --target $$b -t $(IMAGE_REPO)/$$b:$(IMAGE_TAG) . || exit 1; \
	done

.PHONY: run
run: manifests generate ## Run the manager against the cluster in $KUBECONFIG.
	go run ./cmd/manager

.PHONY: demo
demo: ## Run the whole flow locally: control plane, emulator, operator, verifier, hello (builds what it needs).
	hack/demo.sh

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster in $KUBECONFIG.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs from the cluster in $KUBECONFIG.
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: deploy-manifests ## Deploy the operator with kustomize (config/default, image $(IMG)) to the cluster in $KUBECONFIG.
	kubectl apply --server-side -f $(BIN)/deploy/manifests.yaml

.PHONY: deploy-manifests
deploy-manifests: manifests ## Render what make deploy applies into bin/deploy/manifests.yaml (config/default with IMG set; the tree is not edited).
	@rm -rf $(BIN)/deploy && mkdir -p $(BIN)/deploy
	@printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../config/default\n' >$(BIN)/deploy/kustomization.yaml
	cd $(BIN)/deploy && $(KUSTOMIZE) edit set image clientcreds/manager=$(IMG)
	$(KUSTOMIZE) build $(BIN)/deploy >$(BIN)/deploy/manifests.yaml

.PHONY: undeploy
undeploy: ## Remove the operator from the cluster in $KUBECONFIG.
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -

.PHONY: chart-files
chart-files: ## Copy the CRDs, RBAC, alerts and dashboard from config/ into charts/clientcreds (make verify checks the copies).
	hack/chart-files.sh

.PHONY: chart-lint
chart-lint: ## helm lint --strict the chart (make verify runs it too).
	$(HELM) lint --strict $(CHART)

.PHONY: helm-install
helm-install: ## Install or upgrade the chart as release clientcreds in clientcreds-system on the cluster in $KUBECONFIG (HELM_ARGS adds flags).
	kubectl apply --server-side -f $(CHART)/crds
	$(HELM) upgrade --install clientcreds $(CHART) --namespace clientcreds-system --create-namespace $(HELM_ARGS)
