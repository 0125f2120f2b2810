# A gateway replica: device sessions over mutual TLS, state in the cluster.
#   docker build -f deploy/docker/gateway.Dockerfile -t wasmbed/gateway .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wasmbed-operator --bin wasmbed-k8s-gateway

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/wasmbed-k8s-gateway /usr/local/bin/wasmbed-k8s-gateway
USER 65532:65532
# Devices (TLS), and the control port for the controller (HTTPS).
EXPOSE 4443 9443
ENTRYPOINT ["/usr/local/bin/wasmbed-k8s-gateway"]
