# The controller: control-plane reconcilers, the device-Pod reconciler and
# the native builder over the Kubernetes API. Build from the repository root:
#   docker build -f deploy/docker/controller.Dockerfile -t wasmbed/controller .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wasmbed-operator --bin wasmbed-controller

# Debian, for the native builder's compilers: wasm2c (wabt) and
# arm-none-eabi-gcc with newlib's headers, the versions CI builds with.
# Without them the controller still runs, and native revisions run
# interpreted and say why. Runs as uid 65532, as the chart expects.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      wabt gcc-arm-none-eabi libnewlib-arm-none-eabi \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/wasmbed-controller /usr/local/bin/wasmbed-controller
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/wasmbed-controller"]
