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
WORKDIR /out/store
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
# The released model board (deploy/models: versions and the champion
# alias), from which seed-store seeds a fresh model store (compose mounts
# the repository's board over it, as the book's lab mounts its board).
COPY --from=build /src/deploy/models /board
# Empty directories owned by the runtime user, so that a fresh named volume
# mounted on them (compose does) starts writable: the prediction log, and
# the model store that seed-store fills from /board and train and promote
# write to.
COPY --from=build --chown=65532:65532 /out/predictions /predictions
COPY --from=build --chown=65532:65532 /out/store /store
USER 65532:65532
ENV MODEL_ADDR=:8080 MODEL_STORE=/models
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/model-service", "healthcheck"]
ENTRYPOINT ["/model-service"]
