# syntax=docker/dockerfile:1
#
# Images of the clientcreds binaries, one build target each:
#
#   docker build --target manager        -t clientcreds/manager:dev .
#   docker build --target verifier       -t clientcreds/verifier:dev .
#   docker build --target hello          -t clientcreds/hello:dev .
#   docker build --target okta-emulator  -t clientcreds/okta-emulator:dev .
#   docker build --target token-injector -t clientcreds/token-injector:dev .
#   docker build --target hello-client   -t clientcreds/hello-client:dev .
#
# (hello-client is the example program of examples/hello-client, which uses
# pkg/credentials.) `make docker-build` builds them all. Each binary is a static Go build
# (CGO_ENABLED=0, -trimpath) in a distroless image that has no shell and runs
# as the non-root user 65532. BuildKit is required for the cache mounts.
#
# Without a container engine, `make images` builds the same images (and a pause image for
# the local node) into bin/images/<name>.tar with hack/tools/images; a test there checks
# that both describe the same entrypoint, user, ports and files.

ARG GO_VERSION=1.26

# Module download, shared by every binary; rerun only when go.mod/go.sum change.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS deps
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

# The sources every binary may import (internal/ includes the Okta OpenAPI
# spec the emulator embeds).
FROM deps AS src
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
COPY pkg/ pkg/
COPY cmd/ cmd/
COPY examples/ examples/

# One build stage per binary, so that `--target X` compiles only X.
# TARGETOS/TARGETARCH cross-compile for `docker buildx --platform`.
FROM src AS build-manager
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager

FROM src AS build-verifier
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/verifier ./cmd/verifier

FROM src AS build-hello
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/hello ./cmd/hello

FROM src AS build-okta-emulator
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/okta-emulator ./cmd/okta-emulator

FROM src AS build-token-injector
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/token-injector ./cmd/token-injector

FROM src AS build-hello-client
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/hello-client ./examples/hello-client

# The images. distroless/static:nonroot has CA certificates, /etc/passwd with
# the nonroot user, and tzdata; nothing else.
FROM gcr.io/distroless/static:nonroot AS verifier
COPY --from=build-verifier /out/verifier /verifier
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/verifier"]

FROM gcr.io/distroless/static:nonroot AS hello
COPY --from=build-hello /out/hello /hello
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/hello"]

# The emulator listens on 127.0.0.1:8180 by default; in a container pass
# --addr=:8180 (and --api-token, which it requires).
FROM gcr.io/distroless/static:nonroot AS okta-emulator
COPY --from=build-okta-emulator /out/okta-emulator /okta-emulator
USER 65532:65532
EXPOSE 8180
ENTRYPOINT ["/okta-emulator"]

# The sidecar listens on 127.0.0.1:8099 (--listen); with --admin-listen=:8098
# kubelet can probe /healthz and /readyz.
FROM gcr.io/distroless/static:nonroot AS token-injector
COPY --from=build-token-injector /out/token-injector /token-injector
USER 65532:65532
EXPOSE 8098
ENTRYPOINT ["/token-injector"]

FROM gcr.io/distroless/static:nonroot AS hello-client
COPY --from=build-hello-client /out/hello-client /hello-client
USER 65532:65532
ENTRYPOINT ["/hello-client"]

# Last, so that a plain `docker build .` gives the operator.
FROM gcr.io/distroless/static:nonroot AS manager
COPY --from=build-manager /out/manager /manager
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/manager"]
