# nva — build, run and test. `make test` is the one test command (CI calls it).
SHELL   := /bin/bash
GO      ?= go
BIN     ?= bin
PKGS_UNIT = $(shell $(GO) list ./... | grep -v /integration)
# Fuzz runs are bounded by execution counts, not wall-clock time: a
# duration-bounded run races the Go 1.26 fuzz coordinator at its deadline
# under CPU load (golang/go#75804) and fails with no failing input.
FUZZTIME ?= 50000x

.PHONY: all build run test unit integration fuzz lint deps clean demo demo-down bench bench-ovn scale ui ui-test torture

all: build

build: ui
	$(GO) build -o $(BIN)/ ./cmd/...

# The web UI (web/ui, see its README): `npm ci` from the committed lockfile,
# then tsc and vite build into web/ui/dist, which nva embeds (go:embed).
# Needs Node.js >= 20.19 and npm. npm ci reruns only when the lockfile
# changed, the build only when a UI source changed.
UI_DIR   := web/ui
UI_DEPS  := $(UI_DIR)/node_modules/.package-lock.json
UI_SRC   := $(shell find $(UI_DIR) \( -path $(UI_DIR)/node_modules -o -path $(UI_DIR)/dist \) -prune -o -type f ! -name '*.go' -print)

ui: $(UI_DIR)/dist/index.html

$(UI_DEPS): $(UI_DIR)/package.json $(UI_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "make ui: needs Node.js >= 20.19 and npm"; exit 1; }
	cd $(UI_DIR) && npm ci --no-audit --no-fund
	@touch $@

$(UI_DIR)/dist/index.html: $(UI_DEPS) $(UI_SRC)
	cd $(UI_DIR) && npm run build

# The UI's unit tests (vitest): the graph model, the flow table, the live connection.
ui-test: $(UI_DEPS)
	cd $(UI_DIR) && npm test

# The embedded single-node default: data in ./nva-data, REST on 127.0.0.1:8080,
# OpenFlow on 127.0.0.1:6653 (loopback: see "TLS for switches" in the README).
run: build
	./$(BIN)/nva

deps:
	@./scripts/install-deps.sh

# UI and Go unit tests, then the real-Open-vSwitch integration suite (root;
# skipped with a reason otherwise), then short fuzz runs of the OpenFlow decoders.
test: deps lint ui-test unit integration fuzz

unit: ui
	$(GO) test -count=1 -timeout 20m $(PKGS_UNIT)

# One package at a time: the real-OVS labs are CPU-bound on 2 cores.
integration: build
	NVA_E2E_NVA=$(CURDIR)/$(BIN)/nva $(GO) test -count=1 -p 1 -timeout 20m ./integration/...
	NVA_E2E_NVA=$(CURDIR)/$(BIN)/nva $(GO) test -count=1 -timeout 20m -run TestScaleFleet ./cmd/nva-lab

# Short fuzz runs (the seed corpora also run in `unit`): the OpenFlow
# message reader and the decoders of what switches report.
fuzz:
	$(GO) test -count=1 -run='^$$' -fuzz=FuzzReader -fuzztime=100000x ./ofctl/conn
	$(GO) test -count=1 -run='^$$' -fuzz=FuzzDecodeFlowStatsEntry -fuzztime=$(FUZZTIME) ./ofctl/codec
	$(GO) test -count=1 -run='^$$' -fuzz=FuzzDecodeGroupDescEntry -fuzztime=$(FUZZTIME) ./ofctl/codec

# The linearizability test of the store (store/linearizability_test.go) run
# for TORTURE (default 5m) with network partitions on top of the leader
# kills and pauses: make torture TORTURE=30m. NVA_LIN_SEED=<n> replays a
# run's choices (its seed is printed).
TORTURE ?= 5m
torture:
	NVA_TORTURE=$(TORTURE) $(GO) test -count=1 -timeout 0 -run '^TestLinearizability$$' -v ./store/

lint: ui
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# A 3-hypervisor lab with two VNs of tenants, driven through nva's API (root).
# Prints a reachability matrix and the API address; Ctrl-C removes everything.
demo: build
	./$(BIN)/nva-lab demo -nva $(BIN)/nva

# The demo with TLS (root): a lab CA and certificates made with ovs-pki in
# $(DEMO_PKI) (reused when present): nva's signed by the controller CA, one
# per hypervisor by the switch CA; OpenFlow and OVSDB over TLS, each NVE
# pinning its switch's certificate. See "TLS for switches" in the README.
DEMO_PKI ?= nva-demo-pki
.PHONY: demo-tls
demo-tls: build
	./$(BIN)/nva-lab demo -nva $(BIN)/nva -tls $(DEMO_PKI)

# Removes a demo left behind (e.g. after kill -9).
demo-down: build
	./$(BIN)/nva-lab demo-down

# Write->realized latency, flows per NVE and tenant throughput vs plain OVS.
bench: build
	./$(BIN)/nva-lab bench -nva $(BIN)/nva

# The same workload on nva and on OVN 23.03 (Debian's ovn-central and
# ovn-host, installed on first use) in the same run, with the ratios.
bench-ovn: build
	./scripts/install-ovn.sh
	./$(BIN)/nva-lab bench-ovn -nva $(BIN)/nva $(BENCH_OVN_ARGS)

# The fleet benchmark (no root needed): simulated OpenFlow 1.3 switches and
# OVSDB servers against a real nva at each size; a table per size and a
# summary (README, "Scale and performance"). SCALE_NVES=10,100 for a short run.
SCALE_NVES ?= 10,100,1000
scale: build
	./$(BIN)/nva-lab scale -nva $(BIN)/nva -nves $(SCALE_NVES)

clean:
	rm -rf $(BIN)
