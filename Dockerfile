# syntax=docker/dockerfile:1.7
#
# tracepipe: replay the Google 2011 cluster trace into Kafka, aggregate it, export
# Prometheus metrics. Build and push (see deploy/README.md):
#   docker build -t REGION-docker.pkg.dev/PROJECT/tracepipe/tracepipe:0.1.0 .
#
# Stage 1 builds the release binary. rdkafka (features ssl, libz) compiles the
# bundled librdkafka with make/gcc and links the system OpenSSL and zlib.
FROM rust:1.95.0-bookworm AS builder

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        cmake make gcc g++ pkg-config libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The whole crate (Cargo.toml, Cargo.lock, src/, benches/, ...): cargo checks that
# every target declared in Cargo.toml exists. .dockerignore drops target/ and .git/.
COPY . .

# --locked: build exactly the dependency versions of Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tracepipe \
    && install -D -m 0755 target/release/tracepipe /out/tracepipe

# Stage 2: a small runtime with only the shared libraries the binary links
# (OpenSSL 3; zlib and glibc are part of the base image) and CA certificates.
FROM debian:bookworm-20251229-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tracepipe \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin tracepipe

COPY --from=builder /out/tracepipe /usr/local/bin/tracepipe

# Numeric user, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# aggregate --metrics-addr 0.0.0.0:9464, replay --metrics-addr 0.0.0.0:9465
EXPOSE 9464 9465
ENTRYPOINT ["tracepipe"]
CMD ["--help"]
