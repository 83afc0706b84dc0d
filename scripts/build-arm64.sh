#!/usr/bin/env bash
# Cross-build the NIC half of difftrace (difftrace-nic; proto/, shared/, nic/ and the unit tests that
# link dft_shared / dft_nic_core) for arm64, the BlueField's Arm cores, and run those unit tests
# under qemu-user.
#
#   scripts/build-arm64.sh              install what is missing, assemble the sysroot, build, and run
#                                       ctest -L 'unit|fuzz' (the fuzz drivers in their random mode)
#   scripts/build-arm64.sh --no-test    build only
#   scripts/build-arm64.sh --full       the whole tree (host library, collector, tools too), not NIC-only
#   scripts/build-arm64.sh --refresh    assemble the sysroot again from the current Debian packages
#   scripts/build-arm64.sh --mixed[=DIR] also run integration tests with the arm64 difftrace-nic under
#                                       qemu between the native collector and test app of DIR
#                                       (default build/bin, what scripts/build.sh builds)
#   extra arguments after -- go to cmake
#
# The build machine's tools come from Debian (crossbuild-essential-arm64, qemu-user-static,
# protobuf-c-compiler, cmake): installed with apt-get when missing (root or sudo). The arm64
# libraries do not go into the system: libdpdk-dev:arm64 cannot be installed beside libdpdk-dev
# (docs/deploy-bluefield.md says why), so the script downloads the arm64 packages with a private apt
# configuration (the system's Debian mirror, arch arm64) and unpacks them into a sysroot, cached in
# $DFT_ARM64_CACHE (default ~/.cache/difftrace/arm64). With the sysroot cached, a rerun touches
# no network and only rebuilds what changed.
#
# Environment: DFT_ARM64_BUILD_DIR (default build-arm64), DFT_ARM64_CACHE, DFT_ARM64_SYSROOT (an
# arm64 root of your own, e.g. a copy of the DPU image's: used as is, nothing downloaded),
# DFT_DEBIAN_MIRROR / DFT_DEBIAN_SECURITY (default: the ones in /etc/apt/sources*).
# Exit: 0 built (and the unit tests passed under qemu), 77 a prerequisite could not be installed
# (message on stderr says which), anything else a build or test failure.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

RUN_TESTS=1 FULL=0 REFRESH=0 MIXED= CMAKE_ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --no-test) RUN_TESTS=0 ;;
    --full) FULL=1 ;;
    --refresh) REFRESH=1 ;;
    --mixed) MIXED=build/bin ;;
    --mixed=*) MIXED=${1#--mixed=} ;;
    --) shift; CMAKE_ARGS=("$@"); break ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "build-arm64.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "build-arm64.sh: $*" >&2; }
skip() { say "SKIP: $*"; exit 77; }

BUILD=${DFT_ARM64_BUILD_DIR:-build-arm64}
CACHE=${DFT_ARM64_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/difftrace/arm64}
TRIPLE=aarch64-linux-gnu

# --- 1. the build machine's tools ------------------------------------------------------------------
HOST_PKGS=(crossbuild-essential-arm64 qemu-user-static cmake ninja-build pkg-config protobuf-c-compiler)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for p in "${HOST_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || skip "need root to install ${missing[*]}"
    SUDO=sudo
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; } >&2 ||
    skip "apt-get could not install ${missing[*]}"
fi
QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)

# --- 2. the arm64 sysroot --------------------------------------------------------------------------
# What the NIC half links (and cmocka for its tests); SQLite and jansson are there for --full.
ARM_PKGS=(libc6-dev libdpdk-dev libprotobuf-c-dev libcmocka-dev libinih-dev libibverbs-dev
          librdmacm-dev libsqlite3-dev libjansson-dev libssl-dev)

# The Debian mirror and release this machine's apt uses (sources.list or deb822 .sources).
debian_uri() { # $1: regex the URI must match
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -n -e 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
           -e 's/^URIs:[[:space:]]*\([^[:space:]]\+\).*/\1/p' | grep -E "$1" | head -1
}

assemble_sysroot() {
  local root=$1 apt=$CACHE/apt codename mirror security
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || skip "no VERSION_CODENAME in /etc/os-release: not a Debian release this script knows"
  mirror=${DFT_DEBIAN_MIRROR:-$(debian_uri '/debian/?$' || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${DFT_DEBIAN_SECURITY:-$(debian_uri '/debian-security/?$' || true)}
  security=${security:-http://deb.debian.org/debian-security}
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -r $keyring ] || skip "$keyring missing (package debian-archive-keyring)"

  mkdir -p "$apt"/{etc/preferences.d,etc/sources.list.d,state/lists/partial,cache/archives/partial}
  : >"$apt/state/status"
  cat >"$apt/etc/sources.list" <<EOF
deb [arch=arm64 signed-by=$keyring] $mirror $codename main
deb [arch=arm64 signed-by=$keyring] $mirror $codename-updates main
deb [arch=arm64 signed-by=$keyring] $security $codename-security main
EOF
  # the system's apt hooks (PackageKit, appstream, cache cleaning) are not for this apt
  printf '#clear %s;\n' APT::Update::Post-Invoke APT::Update::Post-Invoke-Success DPkg::Pre-Invoke \
    DPkg::Post-Invoke DPkg::Pre-Install-Pkgs >"$apt/etc/apt.conf"
  local opts=(-c "$apt/etc/apt.conf" -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
    -o "Dir::State=$apt/state" -o "Dir::State::status=$apt/state/status"
    -o "Dir::Cache=$apt/cache" -o "Dir::Etc::SourceList=$apt/etc/sources.list"
    -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
    -o "Dir::Etc::Preferences=$apt/etc/preferences" -o "APT::Install-Recommends=false"
    -o "Debug::NoLocking=true" -q)
  [ "$(id -u)" -eq 0 ] && opts+=(-o "APT::Sandbox::User=root")
  say "downloading arm64 packages from $mirror ($codename) into $apt/cache"
  apt-get "${opts[@]}" update >"$CACHE/apt-update.log" 2>&1 ||
    skip "apt-get update for arm64 failed (see $CACHE/apt-update.log)"
  apt-get "${opts[@]}" install -y --download-only "${ARM_PKGS[@]}" >"$CACHE/apt-download.log" 2>&1 ||
    skip "the arm64 packages ${ARM_PKGS[*]} could not be resolved or downloaded: $(grep -E '^E:' "$CACHE/apt-download.log" | head -3) (see $CACHE/apt-download.log)"

  say "unpacking $(ls "$apt"/cache/archives/*.deb | wc -l) packages into $root"
  rm -rf "$root.tmp" && mkdir -p "$root.tmp"
  local deb
  for deb in "$apt"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$root.tmp"; done
  # Absolute symlinks (libfoo.so -> /lib/aarch64-linux-gnu/libfoo.so.1) would lead the linker and
  # qemu to the build machine's x86 files: point them inside the sysroot.
  local link target
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root.tmp$target")" "$link"
  done < <(find "$root.tmp" -type l -lname '/*' -print0)
  # keep only what a linker, pkg-config and the test programs read (DPDK is linked shared, so its
  # static archives go too): ~290 MB unpacked, ~130 MB kept
  rm -rf "$root.tmp"/usr/share/{doc,man,locale,info,lintian} "$root.tmp"/usr/bin "$root.tmp"/usr/sbin \
    "$root.tmp"/usr/lib/$TRIPLE/{perl,perl-base,perl5,gconv} "$root.tmp"/usr/lib/$TRIPLE/librte_*.a
  printf '%s\n' "${ARM_PKGS[@]}" >"$root.tmp/.difftrace-packages"
  (cd "$apt/cache/archives" && ls *.deb) >"$root.tmp/.difftrace-debs"
  rm -rf "$root" && mv "$root.tmp" "$root"
  # the .debs are not needed any more (~170 MB); the sysroot is the cache
  rm -f "$apt"/cache/archives/*.deb "$apt"/cache/*.bin
}

if [ -n "${DFT_ARM64_SYSROOT:-}" ]; then
  SYSROOT=$(realpath "$DFT_ARM64_SYSROOT")
  [ -f "$SYSROOT/usr/lib/$TRIPLE/pkgconfig/libdpdk.pc" ] ||
    { say "DFT_ARM64_SYSROOT=$SYSROOT has no usr/lib/$TRIPLE/pkgconfig/libdpdk.pc"; exit 1; }
else
  SYSROOT=$CACHE/sysroot
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9 # one assembler at a time per cache
  if [ $REFRESH -eq 1 ] || ! cmp -s <(printf '%s\n' "${ARM_PKGS[@]}") "$SYSROOT/.difftrace-packages"; then
    assemble_sysroot "$SYSROOT"
  fi
fi
say "sysroot $SYSROOT: DPDK $(PKG_CONFIG_SYSROOT_DIR=$SYSROOT PKG_CONFIG_LIBDIR=$SYSROOT/usr/lib/$TRIPLE/pkgconfig pkg-config --modversion libdpdk)"

# --- 3. configure and build -------------------------------------------------------------------------
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
[ -f "$BUILD/CMakeCache.txt" ] && GEN=()
NIC_ONLY=ON; [ $FULL -eq 1 ] && NIC_ONLY=OFF
mkdir -p "$BUILD"
cmake -S "$SRC" -B "$BUILD" "${GEN[@]}" -DCMAKE_TOOLCHAIN_FILE="$SRC/cmake/toolchain-aarch64.cmake" \
  -DCMAKE_SYSROOT="$SYSROOT" -DDFT_NIC_ONLY=$NIC_ONLY -DDFT_BUILD_TESTS=ON -DDFT_BUILD_BENCH=OFF \
  -DDFT_WERROR=ON "${CMAKE_ARGS[@]}" >"$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log" >&2; say "cmake configure failed"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)"
say "built $BUILD/bin/difftrace-nic: $(LC_ALL=C $TRIPLE-readelf -h "$BUILD/bin/difftrace-nic" | sed -n 's/^ *Machine: *//p')"

# --- 4. the unit tests under qemu-user --------------------------------------------------------------
[ $RUN_TESTS -eq 1 ] || exit 0
[ -n "$QEMU" ] || skip "built; no qemu-aarch64(-static) to run the tests (apt-get install qemu-user-static)"
say "unit tests and fuzz drivers under $QEMU -L $SYSROOT"
# one at a time: two cores, and each test emulated (~10 s + ~20 s)
(cd "$BUILD" && ctest -L 'unit|fuzz' --output-on-failure -j 1)

# --- 5. the arm64 daemon between native programs -----------------------------------------------------
# The native test app writes its regions (x86 TSC ticks and all) into memfds, the arm64 difftrace-nic
# under qemu-user ingests them (mmap, and dmadev with DPDK's arm64 dma_skeleton) and reports to the
# native collector: the shared-memory ABI and the batch protocol across the two architectures, with
# the integration tests' exact accounting.
[ -n "$MIXED" ] || exit 0
[ -x "$MIXED/difftrace-collector" ] && [ -x "$MIXED/dft_testapp" ] ||
  { say "--mixed: no native build in $MIXED (run scripts/build.sh first)"; exit 1; }
mix=$BUILD/mixed-bin
rm -rf "$mix" && mkdir -p "$mix"
for f in "$MIXED"/*; do ln -s "$(realpath "$f")" "$mix/"; done
rm -f "$mix/difftrace-nic"
printf '#!/bin/sh\nexec %s -L %s %s "$@"\n' "$QEMU" "$SYSROOT" "$(realpath "$BUILD")/bin/difftrace-nic" \
  >"$mix/difftrace-nic"
chmod +x "$mix/difftrace-nic"
say "integration tests: native collector and test app, arm64 difftrace-nic under qemu"
python3 tests/integration/test_pipeline.py --bindir "$mix" --scenario exact
python3 tests/integration/test_pipeline.py --bindir "$mix" --scenario exact --ingest dmadev
python3 tests/integration/test_differential.py --bindir "$mix"
