# Parc — see README.md. `make run` and `make test` are the two commands.
GO      ?= go
BIN     := bin
PKGS    := ./...
export GOFLAGS ?= -mod=mod

.PHONY: fuzz all build test test-etcd run run-cluster proto lint cross bench bench-agent bench-ingest bench-cluster clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/parc-agent ./cmd/parc-collector ./cmd/parc

# Unit, integration and end-to-end tests on the embedded store, then the
# store-dependent packages again on a real etcd when one is installed.
test: build
	$(GO) test -count=1 -timeout 20m $(PKGS)
	@if command -v etcd >/dev/null; then \
		echo "== again on etcd =="; \
		PARC_TEST_STORE=etcd $(GO) test -count=1 -timeout 20m ./cmdb/... ./collector/...; \
	else echo "etcd not installed: skipping the etcd pass (CI installs it)"; fi

# Fuzz the report decode-and-apply path, the token parsers and the software
# record, CI and relationship codecs briefly (their seed corpora also run in
# every `go test`).
# FUZZTIME=200000x (or a duration, 1m) for longer. The default is a count
# of calls, not a duration: Go 1.26's fuzzing coordinator may report
# "context deadline exceeded" as a failure when a duration runs out while a
# worker is mid-call (go.dev/issue/75804, fixed in Go 1.27); a count has no
# deadline to race. 15,000 calls take 3 to 10 s a target here.
FUZZTIME ?= 15000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeApply$$' -fuzztime $(FUZZTIME) ./collector/agentsvc
	$(GO) test -run '^$$' -fuzz '^FuzzCodec$$' -fuzztime $(FUZZTIME) ./collector/agentsvc
	$(GO) test -run '^$$' -fuzz '^FuzzParseToken$$' -fuzztime $(FUZZTIME) ./collector/enroll
	$(GO) test -run '^$$' -fuzz '^FuzzParseToken$$' -fuzztime $(FUZZTIME) ./collector/auth
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSoftware$$' -fuzztime $(FUZZTIME) ./cmdb
	$(GO) test -run '^$$' -fuzz '^FuzzEncodeSoftware$$' -fuzztime $(FUZZTIME) ./cmdb
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCI$$' -fuzztime $(FUZZTIME) ./cmdb
	$(GO) test -run '^$$' -fuzz '^FuzzEncodeCI$$' -fuzztime $(FUZZTIME) ./cmdb

run: build
	bash installers/dev/run.sh

run-cluster: build
	bash installers/dev/run-cluster.sh

proto:
	bash proto/gen.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The agent builds for every OS it supports.
cross:
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/parc-agent
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/parc-agent
	GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./cmd/parc-agent

bench-agent: build
	bash agent/bench/bench.sh

bench-ingest: build
	bash installers/dev/bench-ingest.sh

# Ingest throughput on Badger and on a local three-member etcd with 1, 2
# and 3 collectors, and etcd bytes per host.
bench-cluster: build
	bash installers/dev/bench-cluster.sh

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./cmdb/...

clean:
	rm -rf $(BIN) .run
