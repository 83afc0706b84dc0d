#!/usr/bin/env bash
# Runs inside the Soft-RoCE VM (scripts/rxe-vm.sh): the RDMA transport's handshake against the real
# daemons over rxe0 (tests/security/test_rdma_auth.py): hostile senders refused before the first
# credit and counted, the real NIC not locked out; a collector without the NIC's key gets no batch.
set -euo pipefail
BIN=${1:?usage: rdma_auth.sh BINDIR}
IP=${DFT_RXE_IP:?run me inside scripts/rxe-vm.sh}
HERE=$(cd "$(dirname "$0")" && pwd)
export DFT_IT_READY_S=${DFT_IT_READY_S:-120} # daemons under ASan in a TCG VM start slowly
python3 "$HERE/../security/test_rdma_auth.py" --bindir "$BIN" --probe rdma_handshake --host "$IP"
python3 "$HERE/../security/test_rdma_auth.py" --bindir "$BIN" --probe rdma_fake_collector --host "$IP"
