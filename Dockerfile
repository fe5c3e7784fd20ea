# syntax=docker/dockerfile:1
# gssgate image: gssgate-proxy, gssgate-broker and gssgatectl on Debian 12, as a non-root user.
#
#   docker build -t gssgate:0.1.0 .
#   docker run --rm gssgate:0.1.0 gssgate-proxy --version
#
# The Helm chart (helm/gssgate) runs this one image twice per pod, as the proxy and as the
# broker sidecar. tests/deploy/test_dockerfile.py checks that the runtime stage installs every
# Debian package whose shared libraries the built binaries load.

# --- build: the project's own dependency script and build, as in CI ---------------------------
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGSSGATE_WERROR=ON \
        -DGSSGATE_BUILD_TESTS=OFF -DGSSGATE_BUILD_BENCH=OFF \
    && cmake --build /build --target gssgate-proxy gssgate-broker gssgatectl \
    && cmake --install /build --prefix /out/usr --strip

# --- runtime: only the binaries and the libraries they load -----------------------------------
FROM debian:12-slim AS runtime
# One package per line: the test compares this list with `ldd` of the built binaries.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        libabsl20220623 \
        libc-ares2 \
        libcom-err2 \
        libfmt9 \
        libgrpc++1.51 \
        libgrpc29 \
        libgssapi-krb5-2 \
        libk5crypto3 \
        libkeyutils1 \
        libkrb5-3 \
        libkrb5support0 \
        libprotobuf32 \
        libre2-9 \
        libspdlog1.10 \
        libssl3 \
        libyaml-cpp0.7 \
        zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 gssgate \
    && useradd --system --uid 10001 --gid gssgate --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin gssgate \
    && install -d -o gssgate -g gssgate -m 0700 /var/lib/gssgate
COPY --from=build /out/usr/bin/gssgate-proxy /out/usr/bin/gssgate-broker /out/usr/bin/gssgatectl /usr/bin/
# MIT's replay cache goes here (the chart mounts a volume; plain `docker run` has it writable).
ENV KRB5RCACHEDIR=/var/lib/gssgate
# Numeric, so that Kubernetes' runAsNonRoot can verify it; the name is gssgate.
USER 10001:10001
EXPOSE 8080 9901
CMD ["gssgate-proxy", "--config", "/etc/gssgate/proxy.yaml"]
