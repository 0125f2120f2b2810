# The controller: control-plane reconcilers and the device-Pod reconciler
# over the Kubernetes API. Build from the repository root:
#   docker build -f deploy/docker/controller.Dockerfile -t wasmbed/controller .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wasmbed-operator --bin wasmbed-controller

# glibc and nothing else; runs as uid 65532, as the chart expects.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/wasmbed-controller /usr/local/bin/wasmbed-controller
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/wasmbed-controller"]
