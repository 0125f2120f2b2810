# A device: QEMU 10, every board's firmware image, and the entrypoint that
# writes the boot seed, forwards the link to the gateway and runs QEMU.
#   docker build -f deploy/docker/device.Dockerfile -t wasmbed/device .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# rust-toolchain.toml names the Cortex-M targets; rustup installs them here.
# Every board with firmware in the board table (crates/wasmbed-boards).
RUN cargo build --release --locked -p wasmbed-operator --bin wasmbed-device-pod \
 && cargo xtask firmware --all --out /out/firmware

# Debian 12's own QEMU (7.2) lacks olimex-stm32-h405: QEMU 10 is in backports.
# socat carries each device connection to the gateway (QEMU runs it per
# connection: the device's network is restricted to that forward).
FROM debian:bookworm-slim
# Backports from the image's own Debian mirror.
RUN mirror="$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources | head -n1)" \
 && printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" \
      > /etc/apt/sources.list.d/bookworm-backports.sources \
 && apt-get update \
 && apt-get install -y --no-install-recommends socat \
 && apt-get install -y --no-install-recommends -t bookworm-backports qemu-system-arm \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/firmware/ /opt/wasmbed/firmware/
COPY --from=build /src/target/release/wasmbed-device-pod /usr/local/bin/wasmbed-device-pod
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/wasmbed-device-pod"]
