# tracepipe: replays the Google 2011 cluster trace into Apache Kafka.
#
#   make up      start the local stack (Kafka 4 KRaft, Prometheus, Pushgateway); idempotent;
#                `make up KAFKA_NODES=3` runs a replicated Kafka of three nodes instead of one
#   make down    stop it (data kept under .run/; `bash scripts/stack.sh down --wipe` deletes it)
#   make status  which servers are up
#   make build   release build of the tracepipe binary
#   make demo    up + build, then replay the bundled sample (scripts/demo.sh)
#   make test    up, then all tests (scripts/test.sh: the Python venv and the Spark jars if
#                missing or out of date, cargo tests, pytest)
#   make test-faults  make test plus the fault tests on a three-node cluster (minutes each)
#   make venv    only the project's Python environment .venv/ (scripts/venv.sh)
#   make lint    rustfmt check and clippy with warnings as errors
#
# Ports and folders come from the environment (see scripts/stack.sh): KAFKA_BOOTSTRAP,
# KAFKA_CONTROLLER_PORT, PROMETHEUS_PORT, PUSHGATEWAY_PORT, AGGREGATE_METRICS_PORT,
# REPLAY_METRICS_PORT, TRACEPIPE_RUN_DIR (.run/), TRACEPIPE_CACHE_DIR (.cache/).

SHELL := /bin/bash
CARGO ?= cargo

.PHONY: up down status logs build demo test test-faults venv lint

up:
	bash scripts/stack.sh up $(if $(KAFKA_NODES),--nodes $(KAFKA_NODES))

down:
	bash scripts/stack.sh down
	bash scripts/fault-cluster.sh down
	bash scripts/kafka-sasl.sh down

status:
	bash scripts/stack.sh status

logs:
	bash scripts/stack.sh logs

build:
	$(CARGO) build --release

demo: up build
	bash scripts/demo.sh

test: up
	bash scripts/test.sh

# test, plus the fault tests on the three-node cluster (tests/fault_cluster.rs; tens of minutes)
test-faults: up
	TRACEPIPE_FAULT_TESTS=1 bash scripts/test.sh

venv:
	bash scripts/venv.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
