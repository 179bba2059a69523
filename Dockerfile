# syntax=docker/dockerfile:1
# fivetran_source as a linux/amd64 container, built the way Fivetran's partner pipeline builds it
# (`cargo build --release -p fivetran_source`). Run: docker run -p 50051:50051 IMAGE [--port N] [--connector NAME]
# Deployment and local use: docs/deploy.md.

ARG RUST_VERSION=1.95

FROM --platform=linux/amd64 rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY . .
# The caches keep the crates.io downloads and the compiled dependencies between builds on one builder.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --locked --release -p fivetran_source \
    && install -D -m 0755 target/release/fivetran_source /out/fivetran_source

# glibc and libgcc (what a Rust binary links), CA certificates for the HTTPS APIs, no shell, user 65532.
FROM --platform=linux/amd64 gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/fivetran_source /usr/local/bin/fivetran_source
USER nonroot:nonroot
EXPOSE 50051
ENTRYPOINT ["fivetran_source"]
CMD ["--port", "50051"]
