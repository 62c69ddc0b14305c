# syntax=docker/dockerfile:1.7
#
# order-manager: a static-ish release binary on a distroless base (glibc, no shell), running as
# the image's non-root user, with its SQLite files on a volume at /data.
#
#   docker build -t order-manager .
#   docker run -p 8080:8080 -v order-manager-data:/data -e OM_INGEST_API_KEY=... order-manager
#
# docs/operations.md ("In a container") has the lines for the embedded mode and for AWS.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# aws-lc-rs (JWT signatures) may build its C library with CMake.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
# Build settings (SQLite's compile-time options): see .cargo/config.toml.
COPY .cargo ./.cargo
COPY crates ./crates
COPY src ./src
COPY migrations ./migrations
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin order-manager \
 && install -D -m 0755 target/release/order-manager /out/order-manager \
 && mkdir -p /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/order-manager /usr/local/bin/order-manager
# The volume's mount point belongs to the user the service runs as (distroless nonroot).
COPY --from=build --chown=65532:65532 /out/data /data
ENV OM_LISTEN=0.0.0.0:8080 \
    OM_STORE=sqlite:/data/orders.db \
    OM_PROCESSOR_STORE=sqlite:/data/processor.db \
    OM_JWT_SECRET_FILE=/data/jwt-secret \
    OM_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
# No shell or curl in the image: the binary asks its own /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/order-manager", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/order-manager"]
CMD ["serve"]
