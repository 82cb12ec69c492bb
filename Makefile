# The two commands of the quick start: `make demo` (the dev binary's demo, then the product's
# rules toolchain) and `make test`. Also: `make release`,
# `make install` (GNU conventions: PREFIX, DESTDIR, BINDIR, UNITDIR, SYSCONFDIR), `make lint`,
# `make bench`, `make bench-floor`, `make bench-allocations`.
SHELL := /bin/bash
SWIFT ?= swift
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc

.PHONY: all build release release-current install deb image test demo deps lint bench c-relay bench-floor bench-allocations

all: build

# System packages the build needs (Debian). Installs only what is missing (sudo when not root).
deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

# A binary that needs only libc and librabbitmq: the Swift runtime is linked in statically.
release: deps
	$(SWIFT) build -c release --static-swift-stdlib --product broker

# The static release binary, built (incrementally) unless the one there is static and newer
# than every source: a binary from a plain `swift build -c release` needs the toolchain's
# runtime, so it is never installed as it is.
release-current:
	@bash scripts/release-is-current.sh .build/release/broker || $(MAKE) release

# The release binary (built as `release-current` says, as GNU's `make && make install`
# expects), the systemd unit (pointing at BINDIR), and example settings and rules in
# SYSCONFDIR/broker (existing files there are kept). The binary is stripped (200 MB of debug
# information otherwise).
install: release-current
	install -D -m 0755 -s .build/release/broker "$(DESTDIR)$(BINDIR)/broker"
	install -d "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(SYSCONFDIR)/broker/rules"
	sed 's|/usr/local/bin/|$(BINDIR)/|g' deploy/broker.service > "$(DESTDIR)$(UNITDIR)/broker.service"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/broker.service"
	install -m 0644 deploy/broker.yaml "$(DESTDIR)$(SYSCONFDIR)/broker/broker.yaml.example"
	install -m 0600 deploy/broker.env "$(DESTDIR)$(SYSCONFDIR)/broker/broker.env.example"
	test -e "$(DESTDIR)$(SYSCONFDIR)/broker/rules/default.yaml" || \
		install -m 0644 rules/default.yaml "$(DESTDIR)$(SYSCONFDIR)/broker/rules/default.yaml"
	@echo "installed $(DESTDIR)$(BINDIR)/broker and $(DESTDIR)$(UNITDIR)/broker.service"

# The Debian package, broker_VERSION_ARCH.deb in DEB_DIR, from the static release binary
# (scripts/make-deb.sh says what it holds); offline, with dpkg-deb.
DEB_DIR ?= .build/deb
deb: release-current
	@bash scripts/install-deps.sh deb
	bash scripts/make-deb.sh "$(DEB_DIR)"

# The container image, an OCI archive in IMAGE_DIR, from the static release binary and the
# libraries it links (scripts/make-image.py; deploy/container/Containerfile builds it where base
# images can be pulled).
IMAGE_DIR ?= .build/image
image: release-current
	python3 scripts/make-image.py "$(IMAGE_DIR)"

# Integration tests need RabbitMQ: scripts/test.sh starts a node of the project's own on
# 127.0.0.1:5673 (the system's RabbitMQ and /etc/rabbitmq are left alone), runs the tests, and
# stops the node again; it fails loudly when the node cannot start. The static release binary is
# built first: a test checks that it needs no toolchain library.
test:
	@bash scripts/install-deps.sh test
	$(SWIFT) build -c release --static-swift-stdlib --product broker
	SWIFT=$(SWIFT) bash scripts/test.sh

demo: build
	@bash scripts/demo.sh

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Plugins Package.swift Benchmarks/Package.swift Benchmarks/Benchmarks

# The floor `broker-dev bench-floor` measures the broker against: a relay in C over rabbitmq-c,
# built with the system's compiler (or the toolchain's clang).
CC := $(shell command -v cc || command -v clang)
c-relay: deps
	mkdir -p .build
	$(CC) -O2 -Wall -Wextra -o .build/c-relay Benchmarks/Floor/c-relay.c -lrabbitmq

# CPU per message of `broker run` against the C relay, same run. On the RabbitMQ of RABBITMQ_URL,
# or (unset) on a node of the project's own on 127.0.0.1:5673, started and stopped here.
bench-floor: c-relay release
	$(SWIFT) build -c release --product broker-dev
	@if [ -n "$$RABBITMQ_URL" ]; then .build/release/broker-dev bench-floor; else \
		bash scripts/rabbitmq.sh start && trap 'bash scripts/rabbitmq.sh stop' EXIT && \
		RABBITMQ_URL=$$(bash scripts/rabbitmq.sh url) .build/release/broker-dev bench-floor; fi

# Heap allocations per routed message through the whole pipeline, counted by an allocator
# wrapper preloaded into `broker-dev bench-allocations` (in-memory queues, then RabbitMQ as for
# bench-floor).
bench-allocations: deps
	$(SWIFT) build -c release --product broker-dev
	mkdir -p .build
	$(CC) -O2 -Wall -Wextra -shared -fPIC -o .build/count-allocations.so Benchmarks/Floor/count-allocations.c -ldl
	@if [ -n "$$RABBITMQ_URL" ]; then LD_PRELOAD=$(CURDIR)/.build/count-allocations.so .build/release/broker-dev bench-allocations --amqp; else \
		bash scripts/rabbitmq.sh start && trap 'bash scripts/rabbitmq.sh stop' EXIT && \
		RABBITMQ_URL=$$(bash scripts/rabbitmq.sh url) LD_PRELOAD=$(CURDIR)/.build/count-allocations.so .build/release/broker-dev bench-allocations --amqp; fi

bench: deps release
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark
