# switchyard — two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
BUILD ?= build
TEST_BUILD ?= build-test
JOBS ?= $(shell nproc)
CMAKE_GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps deps-build build run test unit integration sdk bench clean format

all: build

deps:
	@bash scripts/install-deps.sh

# What building and running need (not the test tools: Prometheus, Chromium).
deps-build:
	@SWITCHYARD_SKIP_TEST_TOOLS=1 bash scripts/install-deps.sh

# Release build: build/switchyard (gateway) and build/switchyard-mock (mock provider).
build: deps-build
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DSWITCHYARD_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Starts the bundled mock provider and the gateway on 127.0.0.1:8080 with
# config/demo.yaml (or $SWITCHYARD_CONFIG when set).
run: build
	@BUILD=$(BUILD) bash scripts/run-demo.sh

# Installs, builds with ASan/UBSan, runs unit, integration and SDK tests, prints a summary.
test: deps
	@cmake -S . -B $(TEST_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSWITCHYARD_SANITIZE=ON -DSWITCHYARD_TESTS=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@BUILD=$(TEST_BUILD) bash scripts/run-tests.sh

bench: build
	@BUILD=$(BUILD) bash bench/latency.sh

clean:
	rm -rf $(BUILD) $(TEST_BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')
