# shadowdiff — build, test and demo.
#
#   make demo   build everything and run the local pipeline end to end
#   make test   vet, unit, e2e and browser tests, fuzz (short)
#
# Everything a fresh machine lacks is installed from here (Go modules,
# Debian packages); nothing relies on tools installed by hand.

GO       ?= go
BIN      := bin
TOOLS    := $(BIN)/tools
# A count of executions, not a duration: with a duration Go's fuzzing
# coordinator can fail a run that found nothing ("context deadline
# exceeded") when the deadline fires while a worker is busy (a known race,
# seen here on a loaded machine). ~5 s here.
FUZZTIME ?= 40000x

PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
PROTOC_GEN_VTPROTO_VERSION := v0.6.0

# Go commands that become binaries in bin/ (bin/collector, bin/shadowdiff, bin/sidecar, ...).
CMDS := $(wildcard collector/cmd/* e2e/cmd/*)

.PHONY: all build filter cmds test vet unit fuzz proto demo bench bench-wasm clean apt-protoc

all: build

build: filter cmds

# The filter: a WASI reactor built by the standard Go compiler (not TinyGo).
filter:
	@mkdir -p $(BIN)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $(BIN)/filter.wasm ./filter/cmd/filter

cmds:
	@mkdir -p $(BIN)
	$(if $(CMDS),$(GO) build -trimpath -o $(BIN)/ $(addprefix ./,$(CMDS)))

# The browser tests must run here, not skip: install Chromium first and require it.
test: build vet browser-deps
	SHADOWDIFF_REQUIRE_BROWSER=1 $(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fuzz

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

unit:
	$(GO) test -count=1 ./...

# Short fuzzing runs on top of the committed seed corpora (testdata/fuzz).
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDigestJSON$$' -fuzztime=$(FUZZTIME) ./filter/digest
	$(GO) test -run='^$$' -fuzz='^FuzzJSON$$' -fuzztime=$(FUZZTIME) ./filter/config

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# The filter's packages compiled to Wasm, benchmarked natively, on wazero (the
# harness's engine) and on V8 (Envoy's default engine; needs node).
WASM_BENCH_PKGS := digest wire
bench-wasm:
	@mkdir -p $(BIN)/wasm-bench
	@for p in $(WASM_BENCH_PKGS); do \
	  GOOS=wasip1 GOARCH=wasm $(GO) test -c -o $(BIN)/wasm-bench/$$p.wasm ./filter/$$p/ || exit 1; \
	  echo "== filter/$$p native"; $(GO) test -run='^$$' -bench=. -benchmem ./filter/$$p/ | grep '^Bench'; \
	  echo "== filter/$$p wazero"; $(GO) run github.com/tetratelabs/wazero/cmd/wazero run $(BIN)/wasm-bench/$$p.wasm \
	    -test.run='^$$' -test.bench=. -test.benchmem | grep '^Bench'; \
	  if command -v node >/dev/null; then echo "== filter/$$p V8 (node $$(node --version))"; \
	    node --no-warnings e2e/v8/wasi.mjs $(BIN)/wasm-bench/$$p.wasm -test.run='^$$' -test.bench=. -test.benchmem | grep '^Bench'; \
	  else echo "== V8 skipped: node not installed"; fi; \
	done

# Regenerate proto/ Go code with pinned generators.
proto: apt-protoc
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto@$(PROTOC_GEN_VTPROTO_VERSION)
	PATH=$(CURDIR)/$(TOOLS):$$PATH protoc -I proto \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		--go-vtproto_out=proto --go-vtproto_opt=paths=source_relative,features=marshal+unmarshal+size+clone+equal \
		proto/shadowdiff/v1/*.proto

apt-protoc:
	@command -v protoc >/dev/null || { apt-get update -qq && apt-get install -y -qq protobuf-compiler; }

clean:
	rm -rf $(BIN)

# Blocks below are filled in by the part that owns them; keep edits inside your block.
# --- browser (console) ---
# Web console browser tests: headless Chromium driven over WebDriver
# (chromedriver) from Go tests in collector/console. Debian's packages.
# The tests run against a real collector engine with seeded traffic.
CHROMIUM     ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
APT_SUDO     ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: browser-deps browser screenshots

browser-deps:
	@test -x $(CHROMIUM) && test -x $(CHROMEDRIVER) || { \
	  $(APT_SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(APT_SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core; }

# Fails (never skips) when Chromium is missing.
browser: browser-deps
	SHADOWDIFF_REQUIRE_BROWSER=1 SHADOWDIFF_CHROMIUM=$(CHROMIUM) SHADOWDIFF_CHROMEDRIVER=$(CHROMEDRIVER) $(GO) test -count=1 -run '^TestBrowser' ./collector/console

# Rewrites docs/screenshots/{overview,endpoint,sample}.png from the seeded
# browser tests (a laptop-sized 1440x900 window).
screenshots: browser-deps
	SHADOWDIFF_REQUIRE_BROWSER=1 SHADOWDIFF_SCREENSHOTS=1 SHADOWDIFF_CHROMIUM=$(CHROMIUM) SHADOWDIFF_CHROMEDRIVER=$(CHROMEDRIVER) $(GO) test -count=1 -run '^TestBrowser' ./collector/console
# --- end browser ---

# --- oci (deploy) ---
# Images as OCI layouts under bin/oci/, built without a Docker daemon; push
# each with `crane push bin/oci/<image> $REGISTRY/<image>:$(OCI_VERSION)`.
# The service binaries are static (CGO_ENABLED=0) linux builds for OCI_ARCH.
OCI_VERSION ?= 0.1.0
OCI_ARCH    ?= $(shell $(GO) env GOARCH)
OCI_DIR     := $(BIN)/oci

.PHONY: oci
oci: filter
	@mkdir -p $(OCI_DIR)/build
	CGO_ENABLED=0 GOOS=linux GOARCH=$(OCI_ARCH) $(GO) build -trimpath -ldflags='-s -w' \
		-o $(OCI_DIR)/build/ ./collector/cmd/collector ./e2e/cmd/sampleapp
	$(GO) run ./examples/oci/cmd/ocibuild --out $(OCI_DIR) --version $(OCI_VERSION) --arch $(OCI_ARCH) \
		--filter $(BIN)/filter.wasm \
		--collector $(OCI_DIR)/build/collector \
		--sampleapp $(OCI_DIR)/build/sampleapp
# --- end oci ---

# --- demo (e2e) ---
# The README's main command: build, start the local topology, send traffic,
# print the report. DEMO_FLAGS=--keep leaves it running to browse the console.
DEMO_FLAGS ?=
demo: build
	$(BIN)/demo $(DEMO_FLAGS)
# --- end demo ---
