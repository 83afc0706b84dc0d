#!/usr/bin/env bash
# Install every Debian package difftrace needs to build, test and demo. Idempotent: when all are
# installed it only runs dpkg-query and returns. Needs root (or sudo) when something is missing.
#   scripts/setup-deps.sh            build + unit + integration tests + demo
#   scripts/setup-deps.sh --rxe      also what the Soft-RoCE VM tests need (qemu, kernel tools; best effort)
#   scripts/setup-deps.sh --view     also chromium, which the view tests render pages in (best effort)
#   scripts/setup-deps.sh --otlp     also Node.js and npm, which the OTLP/HTTP export tests decode with (best effort)
#   scripts/setup-deps.sh --clickhouse  also clickhouse-server and clickhouse-client (~106 MB), which the
#                                    clickhouse tests start privately (best effort)
#   scripts/setup-deps.sh --fuzz     also clang and its sanitizer/fuzzer runtime
#   scripts/setup-deps.sh --bench    also what bench/run-all.sh needs (gnuplot for the plots, LTTng-UST and
#                                    the OpenTelemetry Go SDK with Go and protobuf-go as dft-bench-host's peers,
#                                    valgrind for bench/host/instr.sh)
#   scripts/setup-deps.sh --all      everything
set -euo pipefail

BASE=(build-essential cmake ninja-build pkg-config python3 git
      libdpdk-dev dpdk-dev libprotobuf-c-dev protobuf-c-compiler libcmocka-dev libsqlite3-dev sqlite3
      libibverbs-dev librdmacm-dev ibverbs-providers rdma-core libinih-dev libjansson-dev libmicrohttpd-dev
      libcurl4-openssl-dev zlib1g-dev libssl-dev openssl)
RXE=(qemu-system-x86 busybox-static cpio kmod iproute2 xz-utils ibverbs-utils rdmacm-utils perftest)
FUZZ=(clang libclang-rt-14-dev)
BENCH=(gnuplot-nox lttng-tools liblttng-ust-dev golang-go golang-opentelemetry-otel-dev golang-google-protobuf-dev valgrind)
VIEW=(chromium)
OTLP=(nodejs npm)
# a node/npm from elsewhere (nodesource bundles npm in its nodejs) is as good as Debian's
if command -v node >/dev/null && command -v npm >/dev/null; then OTLP=(); fi
CLICKHOUSE=(clickhouse-server clickhouse-client)

want=("${BASE[@]}")
optional=()
for a in "$@"; do
  case $a in
    --rxe) optional+=("${RXE[@]}") ;;
    --view) optional+=("${VIEW[@]}") ;;
    --otlp) optional+=("${OTLP[@]}") ;;
    --clickhouse) optional+=("${CLICKHOUSE[@]}") ;;
    --fuzz) want+=("${FUZZ[@]}") ;;
    --bench) want+=("${BENCH[@]}") ;;
    --all) optional+=("${RXE[@]}" "${VIEW[@]}" "${OTLP[@]}" "${CLICKHOUSE[@]}"); want+=("${FUZZ[@]}" "${BENCH[@]}") ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "setup-deps.sh: unknown option '$a' (see --help)" >&2; exit 2 ;;
  esac
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=(); opt_missing=()
for p in "${want[@]}"; do installed "$p" || missing+=("$p"); done
for p in "${optional[@]}"; do installed "$p" || opt_missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && [ ${#opt_missing[@]} -eq 0 ] && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-deps.sh: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps.sh: installing ${missing[*]}" >&2
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
# the Soft-RoCE VM's tools and chromium are optional: without them the rxe and view tests report "skipped"
if [ ${#opt_missing[@]} -gt 0 ]; then
  echo "setup-deps.sh: installing ${opt_missing[*]}" >&2
  $SUDO apt-get install -y -q --no-install-recommends "${opt_missing[@]}" >&2 ||
    echo "setup-deps.sh: could not install ${opt_missing[*]}: the tests needing them (rxe, view, otlp_http, clickhouse) will be skipped" >&2
fi
