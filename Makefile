# nva — build, run and test. `make test` is the one test command (CI calls it).
SHELL   := /bin/bash
GO      ?= go
BIN     ?= bin
PKGS_UNIT = $(shell $(GO) list ./... | grep -v /integration)
FUZZTIME ?= 15s

.PHONY: all build run test unit integration fuzz lint deps clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The embedded single-node default: data in ./nva-data, REST on 127.0.0.1:8080,
# OpenFlow on :6653.
run: build
	./$(BIN)/nva

deps:
	@./scripts/install-deps.sh

# Unit tests, then the real-Open-vSwitch integration suite (root; skipped with a
# reason otherwise), then a short fuzz run of the OpenFlow message reader.
test: deps lint unit integration fuzz

unit:
	$(GO) test -count=1 -timeout 20m $(PKGS_UNIT)

integration:
	$(GO) test -count=1 -timeout 20m ./integration/...

fuzz:
	$(GO) test -count=1 -run='^$$' -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./ofctl/conn

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
