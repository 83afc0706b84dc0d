#!/usr/bin/env bash
# rxe-vm.sh — run a command inside a disposable qemu VM that has a Soft-RoCE device (rdma_rxe).
#
# The host kernel here has no RDMA support, so verbs code is exercised in a VM booted from Debian's
# stock kernel. The guest mounts the host's / read-only (virtio-9p under a tmpfs overlay), so the
# host's packages and the binaries built in the work tree run unchanged; the current directory is
# also mounted read-write at the same path, and the command runs there.
#
#   scripts/rxe-vm.sh 'ibv_devinfo -d rxe0'        # one command string (bash)
#   scripts/rxe-vm.sh --check                      # exit 0 if a VM can be run here, 77 if not
#
# Inside the guest: DFT_RXE_DEV=rxe0, DFT_RXE_IP=192.0.2.1 (a dummy netdev; RoCE traffic to it loops
# back inside the guest kernel). Exit status: the command's; 77 = cannot run a VM here; 124 = timeout;
# 125 = the VM died without reporting.
# Env: DFT_RXE_CACHE (kernel + initramfs cache; default ~/.cache/difftrace/rxe-vm), DFT_RXE_MEM (MiB,
# 1536), DFT_RXE_CPUS (2), DFT_RXE_CPU (qemu -cpu model, default max: the DPDK build targets
# SSE4.2+, which qemu64 lacks), DFT_RXE_TIMEOUT (s, 900), DFT_RXE_VERBOSE=1 (show guest console).
# Accelerator: TCG always. /dev/kvm on these machines is PVM-only and stock kernels hang under it;
# TCG boots the stock kernel in ~5 s, which is plenty for functional tests (never for speed).
set -euo pipefail

CACHE=${DFT_RXE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/difftrace/rxe-vm}
MEM=${DFT_RXE_MEM:-1536}
CPUS=${DFT_RXE_CPUS:-2}
TIMEOUT=${DFT_RXE_TIMEOUT:-900}
say() { echo "rxe-vm: $*" >&2; }
# bump when the initramfs /init changes, so a cached older one is rebuilt
INITRD="$CACHE/initramfs-v2.gz"

need_tools() {
  local t
  for t in qemu-system-x86_64 busybox cpio depmod xz; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/sbin/$t" ] || { say "missing $t (scripts/setup-deps.sh --rxe)"; return 1; }
  done
  [ -x /bin/busybox ] || { say "missing /bin/busybox (busybox-static)"; return 1; }
}

# Kernel: the version Debian's linux-image-amd64 points at, unpacked (not installed) into the cache.
fetch_kernel() {
  local pkg kv deb mods
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n1)
  [ -n "$pkg" ] || { say "apt knows no linux-image-amd64 (run apt-get update)"; return 1; }
  kv=${pkg#linux-image-}
  mkdir -p "$CACHE/dl"
  (cd "$CACHE/dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
  deb=$(ls "$CACHE/dl/${pkg}"_*.deb | head -n1)
  rm -rf "$CACHE/root"
  dpkg-deb -x "$deb" "$CACHE/root"
  rm -rf "$CACHE/dl"
  mods="$CACHE/root/lib/modules/$kv/kernel"
  # a VM that only needs rxe, virtio and 9p does not need graphics, sound, wireless, usb, ...
  rm -rf "$mods"/sound "$mods"/drivers/{gpu,media,net/wireless,staging,usb,bluetooth,scsi,iio,hid,input,isdn,infiniband/hw}
  /sbin/depmod -b "$CACHE/root" "$kv"
  # Booting the ELF vmlinux through qemu's PVH entry skips the guest-side decompression (~4 s under
  # TCG). The bzImage carries it as an xz stream: find the xz magic and unpack from there.
  local bz="$CACHE/root/boot/vmlinuz-$kv" at
  at=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -n1 | cut -d: -f1 || true)
  rm -f "$CACHE/kernel"
  if [ -n "$at" ]; then
    tail -c "+$((at + 1))" "$bz" | xz -dcq 2>/dev/null > "$CACHE/kernel.elf" || true
    if [ "$(head -c 4 "$CACHE/kernel.elf" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
      mv "$CACHE/kernel.elf" "$CACHE/kernel"
    fi
  fi
  rm -f "$CACHE/kernel.elf"
  [ -s "$CACHE/kernel" ] || cp "$bz" "$CACHE/kernel"
  echo "$kv" > "$CACHE/version"
}

# initramfs: busybox, the virtio/9p/overlay modules, and an /init that builds the guest's root.
make_initramfs() {
  local kv w i=0 m f
  kv=$(cat "$CACHE/version")
  w=$(mktemp -d)
  mkdir -p "$w"/{bin,dev,proc,sys,mnt/host,mnt/rw,root,ko}
  cp /bin/busybox "$w/bin/"
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet \
           9pnet_virtio 9p overlay; do
    f=$(find "$CACHE/root/lib/modules/$kv/kernel" -name "$m.ko*" | head -n1)
    [ -n "$f" ] || continue   # built in on some kernels
    i=$((i + 1)); cp "$f" "$w/ko/$(printf '%02d' $i)-$(basename "$f")"
  done
  cat > "$w/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc none /proc; mount -t sysfs none /sys; mount -t devtmpfs none /dev
for k in /ko/*; do insmod "$k" 2>/dev/null; done
opts=trans=virtio,version=9p2000.L,msize=512000
die() { echo "rxe-vm initramfs: $*"; poweroff -f; }
mount -t 9p -o $opts,ro,cache=loose host /mnt/host || die "cannot mount host root"
mount -t tmpfs -o size=60% none /mnt/rw && mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay none -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /root || die "overlay"
for d in tmp run var/tmp dev/shm; do mkdir -p /root/$d; mount -t tmpfs none /root/$d; done
kv=$(sed -n 's/.*dft.kv=\([^ ]*\).*/\1/p' /proc/cmdline)
mkdir -p /root/lib/modules/$kv /root/run/dft-vm
mount -t 9p -o $opts,ro modules /root/lib/modules/$kv || die "modules"
mount -t 9p -o $opts,rw ctl /root/run/dft-vm || die "control dir"
# the project tree and (when outside it) the current directory, read-write at their host paths;
# they may lie under /tmp, which is a fresh tmpfs in the guest
work=$(cat /root/run/dft-vm/workdir)
mkdir -p "/root$work" && mount -t 9p -o $opts,rw work "/root$work" || die "work dir"
if [ -s /root/run/dft-vm/curdir ]; then
  cur=$(cat /root/run/dft-vm/curdir)
  mkdir -p "/root$cur" && mount -t 9p -o $opts,rw cur "/root$cur" || die "current dir"
fi
mount --move /dev /root/dev; mount --move /proc /root/proc; mount --move /sys /root/sys
exec switch_root /root /bin/bash /run/dft-vm/guest.sh
INIT
  chmod 755 "$w/init"
  (cd "$w" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$w"
}

prepare() {
  need_tools || return 77
  mkdir -p "$CACHE"
  if [ ! -s "$CACHE/version" ] || [ ! -s "$CACHE/kernel" ]; then
    say "first use: fetching Debian's kernel into $CACHE"
    fetch_kernel || return 77
  fi
  [ -s "$INITRD" ] || make_initramfs
}

if [ "${1:-}" = --check ]; then
  prepare && exit 0 || exit $?
fi
[ $# -ge 1 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
rc=0; prepare || rc=$?
[ $rc -eq 0 ] || exit $rc

CTL=$(mktemp -d /tmp/dft-vm.XXXXXX)
trap 'rm -rf "$CTL"' EXIT
ROOT=$(cd "$(dirname "$0")/.." && pwd)
printf '%s' "$ROOT" > "$CTL/workdir"
case "$PWD/" in "$ROOT"/*) ;; *) printf '%s' "$PWD" > "$CTL/curdir" ;; esac
if [ $# -eq 1 ]; then printf 'cd %q\n%s\n' "$PWD" "$1" > "$CTL/cmd.sh"; else printf 'cd %q\n%s\n' "$PWD" "$(printf '%q ' "$@")" > "$CTL/cmd.sh"; fi
# the guest's PID 1: bring up rxe0 on a dummy netdev, run the command, record its status, power off
cat > "$CTL/guest.sh" <<'GUEST'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C
export DFT_RXE_DEV=rxe0 DFT_RXE_IP=192.0.2.1 DFT_IN_VM=1
mkdir -p /dev/pts && mount -t devpts none /dev/pts
ip link set lo up
modprobe -a crc32_generic rdma_rxe rdma_ucm ib_umad dummy >/dev/null 2>&1
ip link add dftnet0 type dummy && ip link set dftnet0 up && ip addr add $DFT_RXE_IP/24 dev dftnet0
rdma link add rxe0 type rxe netdev dftnet0 || echo "rxe-vm guest: rdma link add failed"
ulimit -l unlimited
bash /run/dft-vm/cmd.sh < /dev/null
echo $? > /run/dft-vm/status
sync
/bin/busybox poweroff -f
GUEST

KV=$(cat "$CACHE/version")
fsdev() { ARGS+=(-fsdev "local,id=$1,path=$2,security_model=none$4" -device "virtio-9p-pci,fsdev=$1,mount_tag=$3"); }
ARGS=()
fsdev f0 / host ",readonly=on,multidevs=remap"
fsdev f1 "$CACHE/root/lib/modules/$KV" modules ",readonly=on"
fsdev f2 "$CTL" ctl ""
fsdev f3 "$ROOT" work ",multidevs=remap"
[ -s "$CTL/curdir" ] && fsdev f4 "$PWD" cur ",multidevs=remap"
OUT=/dev/null; [ "${DFT_RXE_VERBOSE:-0}" = 1 ] && OUT=/dev/stderr
set +e
# The console is where the guest command's output goes: show it unless it is the kernel's chatter.
timeout "$TIMEOUT" qemu-system-x86_64 -M pc -accel tcg -cpu "${DFT_RXE_CPU:-max}" -smp "$CPUS" -m "$MEM" \
  -nodefaults -no-reboot -display none -serial stdio \
  -kernel "$CACHE/kernel" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=1 panic=-1 dft.kv=$KV" "${ARGS[@]}" < /dev/null \
  | { if [ "$OUT" = /dev/null ]; then grep -v -E '^\[ *[0-9]+\.[0-9]+\] |^rxe-vm initramfs' || true; else cat; fi; }
q=${PIPESTATUS[0]}
set -e
[ "$q" = 124 ] && { say "timed out after ${TIMEOUT}s"; exit 124; }
[ -s "$CTL/status" ] || { say "VM ended without a status (qemu exit $q)"; exit 125; }
exit "$(cat "$CTL/status")"
