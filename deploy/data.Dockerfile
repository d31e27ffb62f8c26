# model-data: seeds PostgreSQL and trains from it (the compose db profile's
# one-shot jobs). Its own small image, so the model-service image carries no
# database driver.
#
#   docker build -f deploy/data.Dockerfile -t penguins/model-data .
#
# Only exec-form RUN and no BuildKit syntax, as for the other images.
ARG BUILD_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /out/store
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local \
    GOFLAGS="-trimpath -buildvcs=false '-ldflags=-s -w -X github.com/palmerops/penguins/pkg/buildinfo.Version=${VERSION} -X github.com/palmerops/penguins/pkg/buildinfo.Commit=${COMMIT}'"
COPY . .
RUN ["go", "build", "-o", "/out/model-data", "./services/model/cmd/model-data"]

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="penguins model-data" \
      org.opencontainers.image.description="Seeds the Palmer penguins into PostgreSQL and trains the body-mass model from it" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="CC0-1.0 data"
COPY --from=build /out/model-data /model-data
# An empty model store owned by the runtime user, where the model-service
# image has its own: a fresh named volume mounted here starts writable.
COPY --from=build --chown=65532:65532 /out/store /store
USER 65532:65532
ENTRYPOINT ["/model-data"]
