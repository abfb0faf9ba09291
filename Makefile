# clientcreds — build, test and run the operator, the verifier, the hello service and the
# Okta emulator. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

# Image for `make deploy` (and docker-build, on a machine with a container engine).
IMG ?= clientcreds/manager:latest
K8S_VERSION ?= 1.37.2
BIN := $(CURDIR)/bin
GOTOOL := go tool -modfile=$(CURDIR)/hack/tools/gen/go.mod
CONTROLLER_GEN := $(GOTOOL) controller-gen
KUSTOMIZE := $(GOTOOL) kustomize
KUBECTL := $(BIN)/k8s/$(K8S_VERSION)/kubectl
# Where envtest finds kube-apiserver, etcd and kubectl.
export KUBEBUILDER_ASSETS := $(BIN)/k8s/$(K8S_VERSION)

BINARIES := manager verifier hello okta-emulator

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
	  output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the tree.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: control-plane
control-plane: ## Build kube-apiserver, etcd and kubectl into bin/k8s (once; minutes the first time).
	@hack/build-control-plane.sh >/dev/null

.PHONY: test
test: manifests generate vet build control-plane ## Run unit, envtest and end-to-end tests.
	hack/test.sh

.PHONY: bench
bench: build control-plane ## Benchmark the verifier and the operator; writes bench/results.md.
	hack/bench.sh

##@ Build

.PHONY: build
build: $(addprefix build-,$(BINARIES)) ## Build the four binaries into bin/.

build-%:
	go build -o $(BIN)/$* ./cmd/$*

.PHONY: run
run: manifests generate ## Run the manager against the cluster in $KUBECONFIG.
	go run ./cmd/manager

.PHONY: demo
demo: build control-plane ## Run the whole flow locally: control plane, emulator, operator, verifier, hello.
	hack/demo.sh

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster in $KUBECONFIG.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs from the cluster in $KUBECONFIG.
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests ## Deploy the operator to the cluster in $KUBECONFIG (set IMG=...).
	cd config/manager && $(KUSTOMIZE) edit set image manager=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the operator from the cluster in $KUBECONFIG.
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -
