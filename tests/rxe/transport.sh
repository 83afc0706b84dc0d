#!/usr/bin/env bash
# Runs inside the Soft-RoCE VM (scripts/rxe-vm.sh): thousands of batches through RDMA
# WRITE_WITH_IMM with credits on a 16-slot ring (wrapping hundreds of times), with the server
# killed (SIGKILL) and restarted in the middle. Passes when the client got every batch acknowledged
# and the two server lives together accepted each sequence exactly once, in order. Every connection
# runs the key handshake (dft/rdma_auth.h) first, as the daemons do by default.
set -euo pipefail
BIN=${1:?usage: transport.sh BINDIR}
COUNT=${DFT_RXE_BATCHES:-6000}
IP=${DFT_RXE_IP:?run me inside scripts/rxe-vm.sh}
W=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
(umask 077; openssl rand -hex 32 > "$W/key")
srv() { "$BIN/rdma_selftest" server --bind "$IP" --port 7471 --state "$W/state" --slots 16 --key "$W/key" > "$W/server$1.log" 2>&1 & SRV=$!; }
wait_listen() { for _ in $(seq 200); do grep -q listening "$W/server$1.log" 2>/dev/null && return 0; sleep 0.05; done; cat "$W/server$1.log"; return 1; }

srv 1; S1=$SRV; wait_listen 1
"$BIN/rdma_selftest" client --host "$IP" --port 7471 --count "$COUNT" --backlog 48 --timeout 240 --key "$W/key" > "$W/client.log" 2>&1 &
C=$!
# let a third of the batches through, then kill the server without warning
for _ in $(seq 2400); do
  [ -s "$W/state" ] && [ "$(cat "$W/state")" -ge $((COUNT / 3)) ] && break
  sleep 0.05
done
kill -9 "$S1"; wait "$S1" 2>/dev/null || true
killed_at=$(cat "$W/state")
sleep 0.3
srv 2; S2=$SRV; wait_listen 2
rc=0; wait "$C" || rc=$?
kill -TERM "$S2"; s2rc=0; wait "$S2" || s2rc=$?
cat "$W/client.log" "$W/server1.log" "$W/server2.log"
final=$(cat "$W/state")
a2=$(sed -n 's/^server: accepted \([0-9]*\) .*/\1/p' "$W/server2.log")
echo "transport: killed server at seq $killed_at, restarted; final max_seq $final; second life accepted $a2"
[ "$rc" = 0 ] || { echo "FAIL: client exit $rc"; exit 1; }
[ "$s2rc" = 0 ] || { echo "FAIL: server exit $s2rc"; exit 1; }
[ "$final" = "$COUNT" ] || { echo "FAIL: server holds $final of $COUNT"; exit 1; }
[ "$((killed_at + a2))" = "$COUNT" ] || { echo "FAIL: $killed_at + $a2 != $COUNT (lost or duplicated)"; exit 1; }
grep -qE 'auth_ok [1-9]' "$W/server2.log" || { echo "FAIL: no handshake verified after the restart"; exit 1; }
grep -q 'connects 2 ' "$W/client.log" || grep -qE 'connects [2-9]' "$W/client.log" || { echo "FAIL: client never reconnected"; exit 1; }
echo "PASS transport"
