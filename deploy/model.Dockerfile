# The model service: a static binary on a distroless (or scratch) base,
# carrying a model artifact trained and verified during the build.
#
#   docker build -f deploy/model.Dockerfile -t penguins/model-service .
#
# Only exec-form RUN and no BuildKit syntax: it builds with the legacy
# builder, and with build images that have no shell.
ARG BUILD_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /out/predictions
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local \
    GOFLAGS="-trimpath -buildvcs=false '-ldflags=-s -w -X github.com/palmerops/penguins/pkg/buildinfo.Version=${VERSION} -X github.com/palmerops/penguins/pkg/buildinfo.Commit=${COMMIT}'"
COPY . .
RUN ["go", "build", "-o", "/out/model-service", "./services/model"]
# The served model: trained from the embedded data, written to a model store,
# read back and verified (hash and golden examples) before the image exists.
RUN ["/out/model-service", "train", "-store", "/out/models"]

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="penguins model-service" \
      org.opencontainers.image.description="Palmer penguins body-mass model API (vetiver-compatible /predict, Open Inference Protocol v2)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="CC0-1.0 data"
COPY --from=build /out/model-service /model-service
COPY --from=build --chown=65532:65532 /out/models /models
# The released model board, from which prod pins a version (compose can
# instead mount a board over it, as the book's lab mounts its board).
COPY --from=build /src/deploy/models /board
# An empty prediction log directory owned by the runtime user: a fresh
# named volume mounted here (compose does) starts writable.
COPY --from=build --chown=65532:65532 /out/predictions /predictions
USER 65532:65532
ENV MODEL_ADDR=:8080 MODEL_STORE=/models
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/model-service", "healthcheck"]
ENTRYPOINT ["/model-service"]
