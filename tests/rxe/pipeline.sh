#!/usr/bin/env bash
# Runs inside the Soft-RoCE VM (scripts/rxe-vm.sh): the walking-skeleton integration checks (exact
# accounting, every kept span stored verbatim in SQLite and OTLP JSON) with batches moving from
# difftrace-nic to difftrace-collector by RDMA WRITE_WITH_IMM over rxe0.
# Then the disk-full fault over RDMA (test_faults.py): the collector's port-closing holdoff.
set -euo pipefail
BIN=${1:?usage: pipeline.sh BINDIR}
IP=${DFT_RXE_IP:?run me inside scripts/rxe-vm.sh}
HERE=$(cd "$(dirname "$0")" && pwd)
export DFT_IT_READY_S=${DFT_IT_READY_S:-120} # a TCG VM on a loaded machine (or under ASan) starts daemons slowly
python3 "$HERE/../integration/test_pipeline.py" --bindir "$BIN" --scenario exact --transport rdma --host "$IP"
python3 "$HERE/../integration/test_pipeline.py" --bindir "$BIN" --scenario collector-restart --transport rdma --host "$IP"
# failing storage under RDMA: the port closes for a doubling holdoff (no BUSY frame here), the
# sender resends after it, every span stored once
python3 "$HERE/../integration/test_faults.py" --bindir "$BIN" --scenario disk-full --transport rdma --host "$IP"
