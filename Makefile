# Ferry — run `make` (or `make help`) to see the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
CARGO ?= cargo
SAMPLES ?= config/samples
HTTP_PORT ?= 8290
ADMIN_PORT ?= 9201

##@ Run

.PHONY: run
run: ## Run Ferry on the bundled samples (HTTP :8290, admin :9201)
	$(CARGO) run --release -p ferry -- run $(SAMPLES) --http-port $(HTTP_PORT) --admin-port $(ADMIN_PORT)

.PHONY: validate
validate: ## Validate every bundled sample with `ferry validate`
	$(CARGO) run -q -p ferry -- validate config/samples

##@ Test

.PHONY: test
test: services ## Run all tests (unit, schema, black-box) — the README's test command
	$(CARGO) test --workspace --all-targets --no-fail-fast
	# The runtime's Lease code only exists with the kubernetes feature (as the image builds it).
	$(CARGO) test -p ferry --features kubernetes --lib --no-fail-fast leadership

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p ferry --features kubernetes --all-targets -- -D warnings

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: services
services: ## Make sure the local RabbitMQ and PostgreSQL used by store tests are running
	@bash .ci/services.sh

##@ Benchmarks

BENCH_TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

.PHONY: bench
bench: bench-tools ## Load benchmark vs nginx and the bare backend, writes docs/benchmarks.md (BENCH_SECONDS=10 BENCH_ROUNDS=1)
	$(CARGO) build --release -p ferry -p ferry-bench
	python3 tests/bench/run.py --ferry $(BENCH_TARGET_DIR)/release/ferry \
	  --backend $(BENCH_TARGET_DIR)/release/echo-backend --out docs/benchmarks.md

.PHONY: bench-tools
bench-tools: ## Install wrk and nginx from Debian when they are missing
	@if ! command -v wrk >/dev/null || ! PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null; then \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk nginx-light; \
	fi

.PHONY: bench-instructions
bench-instructions: bench-tools ## Instructions per request under callgrind (repeatable; BENCH_PATH=/bench/passthrough)
	@command -v valgrind >/dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; $$SUDO apt-get install -y -qq valgrind; }
	$(CARGO) build --release -p ferry -p ferry-bench
	for path in $(or $(BENCH_PATH),/bench/passthrough /bench/route /bench/json-to-xml); do \
	  python3 tests/bench/instructions.py --ferry $(BENCH_TARGET_DIR)/release/ferry \
	    --backend $(BENCH_TARGET_DIR)/release/echo-backend --path $$path || exit 1; \
	done

.PHONY: bench-micro
bench-micro: ## Criterion micro-benchmarks: expressions, JSON<->XML, mediator pipeline
	$(CARGO) bench -p ferry

##@ Images

IMAGE_TAG ?= 0.1.0
RUNTIME_IMAGE ?= ghcr.io/ferry-dev/ferry
OPERATOR_IMAGE ?= ghcr.io/ferry-dev/ferry-operator

.PHONY: images
images: ## Build the runtime and operator images (needs a Docker engine; IMAGE_TAG=0.1.0)
	docker build -f runtime/Dockerfile -t $(RUNTIME_IMAGE):$(IMAGE_TAG) .
	docker build -f operator/Dockerfile -t $(OPERATOR_IMAGE):$(IMAGE_TAG) .

##@ Generated files

.PHONY: crds
crds: ## Regenerate the CRD YAML and the editor JSON schema under crds/yaml, and the chart's copy
	$(CARGO) run -q -p ferry -- crds --out crds/yaml
	cp crds/yaml/*.ferry.dev.yaml charts/ferry/crds/

.PHONY: check-generated
check-generated: crds ## Fail when the checked-in CRDs differ from the Rust types
	git diff --exit-code -- crds/yaml charts/ferry/crds

##@ Help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
