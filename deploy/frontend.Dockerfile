# The frontend service: a static binary on a distroless (or scratch) base.
#
#   docker build -f deploy/frontend.Dockerfile -t penguins/frontend-service .
#
# Only exec-form RUN and no BuildKit syntax: it builds with the legacy
# builder, and with build images that have no shell.
ARG BUILD_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local \
    GOFLAGS="-trimpath -buildvcs=false '-ldflags=-s -w -X github.com/palmerops/penguins/pkg/buildinfo.Version=${VERSION} -X github.com/palmerops/penguins/pkg/buildinfo.Commit=${COMMIT}'"
COPY . .
RUN ["go", "build", "-o", "/out/frontend-service", "./services/frontend"]

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="penguins frontend-service" \
      org.opencontainers.image.description="Palmer penguins explorer: EDA, the served model and the Penguin Mass Predictor" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="CC0-1.0 data"
COPY --from=build /out/frontend-service /frontend-service
USER 65532:65532
ENV FRONTEND_ADDR=:8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/frontend-service", "healthcheck"]
ENTRYPOINT ["/frontend-service"]
