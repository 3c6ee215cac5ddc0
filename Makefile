# Shepherd — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/shepherd
VENDOR_STAMP := static/vendor/.stamp
TEST_PG_DIR ?= .data/test-pg
TEST_PG_PORT ?= 5439
export GOFLAGS ?= -buildvcs=false

TESTCLUSTER := bin/shepherd-testcluster
TESTCLUSTER_DIR ?= .data/testcluster

.PHONY: run run-kube testenv build assets generate check-generated vet check-goroutines test test-go test-fuzz bench bench-million clean docker help

help:
	@echo "make run    - embedded default: private PostgreSQL, demo data, dev sign-in on http://127.0.0.1:8080"
	@echo "make test   - everything CI runs"
	@echo "make run-kube - the portal against a real Kubernetes API server (the test cluster) as well"
	@echo "make testenv  - build or reuse the test cluster's kube-apiserver and kubectl"
	@echo "make build  - bin/shepherd"
	@echo "make generate - regenerate templ and Ent code"

# A cold build compiles several hundred packages (Kubernetes' client libraries among them):
# minutes on a small machine, so it reports its progress; later builds take seconds.
BUILD_PROGRESS = awk '/ /{print; next} {n++; if (n%50==0) {printf "    %d packages compiled...\n", n; fflush()}} END {if (n) printf "    %d packages compiled\n", n}'

run: assets
	@echo "==> Building $(BIN) (a first build takes minutes on a small machine; progress below)"
	@start=$$(date +%s); set -o pipefail; $(GO) build -v -o $(BIN) ./cmd/shepherd 2>&1 | $(BUILD_PROGRESS) && \
		echo "==> Built in $$(( $$(date +%s) - start )) s"
	@echo "==> Starting Shepherd: private PostgreSQL, migrations, demo data; it prints its address when ready (Ctrl-C stops it)"
	./$(BIN) dev

# The test cluster: kube-apiserver and kubectl built from k8s.io/kubernetes in their own
# module (tools/kubetest; cached under $$HOME/.cache/shepherd), Debian's etcd, KubeVirt's
# CRDs and a stand-in virt-controller/virt-api (internal/testcluster). Test infrastructure only.
testenv:
	@command -v etcd >/dev/null || { echo "the test cluster needs etcd: apt-get install -y etcd-server"; exit 1; }
	tools/kubetest/build.sh
	$(GO) build -o $(TESTCLUSTER) ./cmd/shepherd-testcluster

# The portal with the simulated clusters plus kube-test, a real API server whose
# VirtualMachines kubectl can see (the command prints the kubeconfig and kubectl paths).
run-kube: assets testenv
	$(GO) build -o $(BIN) ./cmd/shepherd
	./$(TESTCLUSTER) exec --dir .data/kube -- sh -c 'SHEPHERD_DEV_KUBECONFIG=$$SHEPHERD_TEST_KUBECONFIG exec ./$(BIN) dev'

build: assets
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(BIN) ./cmd/shepherd

# Front-end libraries come from npm at the versions pinned in package-lock.json and are
# copied into static/vendor (embedded into the binary); nothing third-party is committed.
assets: $(VENDOR_STAMP)
$(VENDOR_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the front-end libraries: apt-get install -y npm"; exit 1; }
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/@picocss/pico/css/pico.min.css static/vendor/pico.min.css
	rm -rf static/vendor/novnc && mkdir -p static/vendor/novnc
	cp -R node_modules/@novnc/novnc/core node_modules/@novnc/novnc/vendor node_modules/@novnc/novnc/LICENSE.txt static/vendor/novnc/
	touch $@

generate:
	$(GO) tool templ generate -path views
	$(GO) generate ./ent

# Generated code is committed; regenerate and fail when it differs.
check-generated: assets
	$(MAKE) --no-print-directory generate
	@if [ -n "$$(git status --porcelain -- views ent)" ]; then \
		echo "Generated code is stale; run 'make generate' and commit:"; git status --porcelain -- views ent; exit 1; fi

vet: assets
	$(GO) vet ./...
	@unformatted=$$(gofmt -l cmd internal web views static ent migrations); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

# DESIGN: no naked goroutines outside the supervised runner (internal/runner).
check-goroutines:
	@found=$$(grep -rnE '(^|[^a-zA-Z0-9_.])go (func|[a-zA-Z_][a-zA-Z0-9_.]*\()' --include='*.go' cmd internal web views static \
		| grep -v '_test.go:' | grep -v '^internal/runner/' | grep -vE '^[^:]+:[0-9]+:\s*//' || true); \
	if [ -n "$$found" ]; then echo "Naked goroutines (use internal/runner):"; echo "$$found"; exit 1; fi

test: check-generated vet check-goroutines test-go

# One private PostgreSQL for the whole run; each test clones its own database from a migrated template.
# ... and one test cluster (a real kube-apiserver) shared by every package that needs it.
test-go: assets testenv
	$(GO) build -o $(BIN) ./cmd/shepherd
	SHEPHERD_REQUIRE_BROWSER=1 SHEPHERD_REQUIRE_KUBE=1 ./$(BIN) pg-exec --dir $(TEST_PG_DIR) --port $(TEST_PG_PORT) -- \
		./$(TESTCLUSTER) exec --dir $(TESTCLUSTER_DIR) -- \
		$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory test-fuzz

# Short fuzzing of the input parsers (longer runs: FUZZTIME=5m make test-fuzz).
FUZZTIME ?= 10s
test-fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLocalPath$$' -fuzztime $(FUZZTIME) ./internal/redirect
	$(GO) test -run '^$$' -fuzz '^FuzzPasswordPolicy$$' -fuzztime $(FUZZTIME) ./internal/auth/password
	$(GO) test -run '^$$' -fuzz '^FuzzCheckName$$' -fuzztime $(FUZZTIME) ./internal/domain
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./internal/markdown
	$(GO) test -run '^$$' -fuzz '^FuzzTruncate$$' -fuzztime $(FUZZTIME) ./internal/textutil
	$(GO) test -run '^$$' -fuzz '^FuzzPaging$$' -fuzztime $(FUZZTIME) ./web/page

# Page benchmarks against a filled database (10,000 VMs, 2,000 pending tickets): latency
# of single requests, then throughput at concurrency 10 (req/s, p50, p99, statements and
# DB time per page, next to /health/ready; SHEPHERD_BENCH_DURATION per page, 5s), then the
# provisioning pipeline. bench-million drives the list pages with 1,000,000 VMs.
bench: assets
	$(GO) build -o $(BIN) ./cmd/shepherd
	./$(BIN) pg-exec --dir $(TEST_PG_DIR) --port $(TEST_PG_PORT) -- \
		sh -c "$(GO) test -run '^$$' -bench '^BenchmarkPages$$' -benchtime 200x -count 1 ./internal/loadtest/ && \
		$(GO) test -v -run '^$$' -bench '^BenchmarkPagesThroughput$$' -benchtime 1x -count 1 -timeout 20m ./internal/loadtest/ && \
		$(GO) test -run '^$$' -bench Provisioning -benchtime 1x -count 1 -timeout 30m ./internal/loadtest/"

bench-million: assets
	$(GO) build -o $(BIN) ./cmd/shepherd
	./$(BIN) pg-exec --dir $(TEST_PG_DIR) --port $(TEST_PG_PORT) -- \
		$(GO) test -v -run '^$$' -bench '^BenchmarkMillionVMs$$' -benchtime 1x -count 1 -timeout 30m ./internal/loadtest/

docker:
	docker build -t shepherd:dev .

clean:
	rm -rf bin static/vendor node_modules
