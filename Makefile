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

# Integration tests need RabbitMQ: the script installs and starts it on 127.0.0.1 (and fails
# loudly when it cannot).
test: deps
	bash scripts/rabbitmq.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: build
	@bash scripts/demo.sh

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift Benchmarks/Package.swift Benchmarks/Benchmarks

bench: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark
