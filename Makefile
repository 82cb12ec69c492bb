# The two commands of the quick start: `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift

.PHONY: all build test demo deps lint bench clean-rabbitmq

all: build

# System packages the build needs (Debian). Installs only what is missing.
deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Integration tests need RabbitMQ: scripts/test.sh starts a node of the project's own on
# 127.0.0.1:5673 (the system's RabbitMQ and /etc/rabbitmq are left alone), runs the tests, and
# stops the node again; it fails loudly when the node cannot start.
test:
	@bash scripts/install-deps.sh test
	SWIFT=$(SWIFT) bash scripts/test.sh

demo: build
	@bash scripts/demo.sh

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift Benchmarks/Package.swift Benchmarks/Benchmarks

bench: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark
