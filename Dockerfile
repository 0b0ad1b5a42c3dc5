# Builds the fully static sandbox-mcp with musl and ships it FROM scratch with
# a CA bundle (DESIGN.md §5).
#
#   docker build -t sandbox-mcp .
#   docker run --rm -i -e OPEN_SANDBOX_API_KEY sandbox-mcp
#
# The pinned vendor sources are fetched from the Debian mirror named in the
# build image's own apt sources. To build without that mirror, place the
# tarballs listed in vendor/VERSIONS in vendor/ before `docker build`: they are
# used when their SHA-256 matches.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      make gcc libc6-dev musl-tools curl ca-certificates bzip2 xz-utils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same script CI runs. Build outputs from the host are not reused.
RUN rm -rf build && ./tools/build.sh
# Where `make` leaves the static release binary.
ARG BIN=build/release/sandbox-mcp
RUN install -D -s -m 0755 "$BIN" /out/sandbox-mcp

FROM scratch
COPY --from=build /out/sandbox-mcp /sandbox-mcp
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/sandbox-mcp"]
