# Everything CI does, reproducible locally. Run `make help` for the list.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

MODULES   := pkg services/model services/frontend deploy
PKGS      := ./pkg/... ./services/model/... ./services/frontend/... ./deploy/...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X github.com/palmerops/penguins/pkg/buildinfo.Version=$(VERSION) -X github.com/palmerops/penguins/pkg/buildinfo.Commit=$(COMMIT)
FUZZTIME  ?= 10s
PERF_FLAGS ?=
COMPOSE_IMAGES ?= offline
# Compose implementations for compose-test: v1 (docker-compose 1.29), v2
# (docker compose), or both; empty: every one installed.
COMPOSE   ?=
BIN       := bin

.PHONY: compose-up help run build test unit fuzz lint fmt-check vet staticcheck modules generate templ-check compose-test vulncheck site bench loadtest perf clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Both services run in the background of one shell that waits for either to
# end (polling: macOS's bash 3.2 has no `wait -n`), each in a process group
# of its own (set -m), so that Ctrl-C reaches only make and the shell. The
# shell's trap then sends each service exactly one SIGTERM, by pid, and
# waits for both to drain (a second signal could stop a service after its
# drain, before its last log lines are written); it does the same when one
# of them fails. Never `kill 0`: it signals the shell itself and re-enters
# the trap.
run: build ## run both services on loopback: the model API on 127.0.0.1:8080 (trained from the embedded data), the frontend on 127.0.0.1:8000
	@set -m; \
	addr=$${MODEL_ADDR:-127.0.0.1:8080}; \
	MODEL_ADDR=$$addr $(BIN)/model-service & model=$$!; \
	FRONTEND_ADDR=$${FRONTEND_ADDR:-127.0.0.1:8000} FRONTEND_MODEL_URL=$${FRONTEND_MODEL_URL:-http://127.0.0.1:$${addr##*:}} $(BIN)/frontend-service & front=$$!; \
	set +m; \
	stop() { trap '' HUP INT TERM; kill -TERM $$model $$front 2>/dev/null; \
		s=0; wait $$model || s=$$?; wait $$front || s=$$?; exit $$s; }; \
	trap stop HUP INT TERM; \
	while kill -0 $$model 2>/dev/null && kill -0 $$front 2>/dev/null; do sleep 1 & wait $$! || true; done; stop

build: ## build static binaries into bin/
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/model-service ./services/model
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/frontend-service ./services/frontend
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/model-data ./services/model/cmd/model-data

test: templ-check lint modules unit fuzz ## everything CI checks: generated files in sync, lint, per-module builds, race tests (browser test included), a short fuzz run

unit: ## go test -race for every module
	go test -race -count=1 $(PKGS)

fuzz: ## fuzz the /predict decoder briefly (FUZZTIME=10s)
	go test ./services/model/internal/api -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)

lint: fmt-check vet staticcheck ## gofmt, go vet, staticcheck

fmt-check:
	@out=$$(gofmt -l pkg services); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	go vet $(PKGS)

staticcheck:
	go tool staticcheck $(PKGS)

modules: ## every module builds and vets on its own, outside the workspace
	@for m in $(MODULES); do echo "GOWORK=off: $$m"; (cd $$m && GOWORK=off go build ./... && GOWORK=off go vet ./...); done

generate: ## regenerate the templ views
	cd services/frontend && go tool templ generate

templ-check: generate ## the committed *_templ.go files match their .templ sources
	@if [ -n "$$(git status --porcelain -- 'services/frontend/internal/views')" ]; then \
		echo "generated templ files are out of date; run make generate and commit:"; git status --porcelain -- services/frontend/internal/views; exit 1; fi

bench: ## benchmarks with -benchmem, figures and ratios against targets and the in-run baseline
	@mkdir -p out
	go test ./pkg/massmodel -run '^$$' -bench 'Predict$$|Interval$$' -benchmem -count 3 | tee out/bench-model.txt
	go test ./services/model/internal/api -run '^$$' -bench . -benchmem -count 3 | tee out/bench-api.txt
	@awk -f .ci/benchreport.awk out/bench-model.txt out/bench-api.txt
	@$(MAKE) --no-print-directory perf

compose-up: ## docker compose up --build with no registry: the Go build image imported from this machine, FROM scratch (PENGUINS_ENV picks the environment)
	@image=$$(deploy/offline-context.sh .cache/compose); \
	keys=$${PENGUINS_KEYS:-$(CURDIR)/deploy/keys}; \
	cd .cache/compose && BUILD_IMAGE=$$image RUNTIME_IMAGE=scratch COMPOSE_PROJECT_NAME=penguins PENGUINS_KEYS=$$keys \
	$$(docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose) up --build

compose-test: ## the compose end-to-end test under each Compose installed, v1 and v2 (COMPOSE=v2 picks one): no-registry images, up, agree, stop/start, restart under load, down -v
	@if ! docker info >/dev/null 2>&1; then echo "compose-test SKIPPED: no Docker engine reachable"; exit 0; fi; \
	COMPOSE_TEST=1 COMPOSE="$(COMPOSE)" COMPOSE_IMAGES=$(COMPOSE_IMAGES) go test ./deploy -run '^TestCompose$$' -count=1 -v -timeout 60m

vulncheck: ## govulncheck every module (needs the Go vulnerability database online, as on CI runners)
	go tool govulncheck $(PKGS)

site: build ## the static EDA and model site in site/ (what the pages workflow publishes)
	@addr=127.0.0.1:18081; MODEL_ADDR=$$addr $(BIN)/model-service >/dev/null 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null' EXIT; \
	for i in $$(seq 100); do $(BIN)/model-service healthcheck -url http://$$addr/readyz >/dev/null 2>&1 && break; sleep 0.05; done; \
	rm -rf site && FRONTEND_MODEL_URL=http://$$addr $(BIN)/frontend-service export -out site

loadtest: ## load benchmarks of the frontend: Explore page, and Predict through the real model API (req/s, p99)
	go test ./services/frontend -run '^$$' -bench 'Load' -benchtime 3s

perf: build ## the model API against this machine's limit (net/http, constant JSON), one core each, with wrk: req/s, p50, p99, ratios; idle RSS
	@command -v wrk >/dev/null || { echo "make perf needs wrk: apt-get install wrk"; exit 1; }
	go build -o $(BIN)/model-perf ./services/model/cmd/model-perf
	rm -rf out/perf-prediction-log out/perf-shadow-store
	@# The released version as served, and a challenger trained beside it.
	mkdir -p out/perf-shadow-store && cp -R deploy/models/penguin_model out/perf-shadow-store/
	v=$$($(BIN)/model-service train -store out/perf-shadow-store | sed -n 's/^trained [^ ]* version \([^ ]*\) .*/\1/p'); \
		$(BIN)/model-service promote -store out/perf-shadow-store -alias challenger -reason 'make perf: shadow scoring' $$v
	$(BIN)/model-perf -bin $(BIN)/model-service -auth $(PERF_FLAGS) \
		-variant 'logs at warn=MODEL_LOG_LEVEL=warn' \
		-variant 'prediction log on=MODEL_PREDICTION_LOG=$(CURDIR)/out/perf-prediction-log' \
		-variant 'drift off=MODEL_DRIFT_ENABLED=false' \
		-variant 'prod config=@deploy/env/prod/model.env,MODEL_STORE=deploy/models' \
		-variant 'shadow on (default sample)=@deploy/env/prod/model.env,MODEL_STORE=$(CURDIR)/out/perf-shadow-store,MODEL_SHADOW_ALIAS=challenger'
	@addr=127.0.0.1:18080; MODEL_ADDR=$$addr $(BIN)/model-service >/dev/null 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null' EXIT; \
	for i in $$(seq 100); do $(BIN)/model-service healthcheck -url http://$$addr/readyz >/dev/null 2>&1 && break; sleep 0.05; done; \
	sleep 2; rss=$$(awk '/VmRSS/ {print $$2}' /proc/$$pid/status); \
	awk -v r=$$rss 'BEGIN { printf "idle RSS: %.1f MB (target < 30 MB: %s, %.2fx of target)\n", r/1024, (r/1024 < 30 ? "met" : "MISSED"), r/1024/30 }'

clean:
	rm -rf $(BIN) out
