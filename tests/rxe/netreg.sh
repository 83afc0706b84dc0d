#!/usr/bin/env bash
# Runs inside the Soft-RoCE VM (scripts/rxe-vm.sh): registration over the network. The traced apps and
# difftrace-nic share nothing but a veth pair with Soft-RoCE on each end: the apps connect to the
# NIC with DFT_NIC=ADDR:PORT (rdma_cm, no socket, no fd) from a private mount namespace in which the
# NIC's socket directory is an empty tmpfs; the NIC validates each region's header from its first
# RDMA READ, reads the rings by RDMA READ over the wire and sends batches to the collector by RDMA
# WRITE_WITH_IMM. Checks: the exact accounting identity at the NIC and in the collector, every kept
# span stored verbatim (SQLite and OTLP), both regions registered over the network, none refused, no
# RDMA error, and RoCE packets really crossed the veth. Before that, a hostile peer (tests/rxe/
# netreg_peer.c) tries four bad registrations: each must be refused, counted and logged.
#
# Why not two network namespaces: the VM's kernel (Debian 12, 6.1) creates rdma_rxe's UDP tunnel
# socket (port 4791) in the initial namespace only, so an rxe device on a veth end moved into
# another namespace cannot receive (rping across: RDMA_CM_EVENT_UNREACHABLE, error -110). Both
# ends stay in the initial namespace; policy routing makes the traffic between their two addresses
# leave through one veth end and arrive on the other, instead of being delivered locally.
set -euo pipefail
BIN=${1:?usage: netreg.sh BINDIR}
[ -n "${DFT_IN_VM:-}" ] || { echo "run me inside scripts/rxe-vm.sh"; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
export DFT_IT_READY_S=${DFT_IT_READY_S:-120} # daemons under ASan in a TCG VM start slowly
NIC_IP=10.77.0.1 APP_IP=10.77.0.2 PORT=7475

ip link add dftnic type veth peer name dftapp
ip addr add $NIC_IP/24 dev dftnic
ip addr add $APP_IP/24 dev dftapp
ip link set dftnic up
ip link set dftapp up
for i in all dftnic dftapp; do
  sysctl -qw net.ipv4.conf.$i.accept_local=1 net.ipv4.conf.$i.rp_filter=0
done
# local delivery only for what arrives on a veth end; what the app side sends to the NIC side (and
# back) is routed out through its own end
ip rule add pref 100 lookup local
ip rule del pref 0
ip rule add pref 10 iif dftnic lookup local
ip rule add pref 11 iif dftapp lookup local
ip route add $NIC_IP/32 dev dftapp src $APP_IP table 77
ip route add $APP_IP/32 dev dftnic src $NIC_IP table 78
ip rule add pref 20 from $APP_IP lookup 77
ip rule add pref 21 from $NIC_IP lookup 78
rdma link add rxenic type rxe netdev dftnic
rdma link add rxeapp type rxe netdev dftapp

# 1. hostile peers, against a daemon of their own: each attempt is refused (counted, logged), none
#    becomes a region, and the daemon stays up
W=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
"$BIN/difftrace-nic" --no-huge --no-pci -m 256 -l 0-1 --file-prefix=netreg-hostile --log-level='*:error' --log-level='difftrace.reg:warning' -- \
  --socket "$W/nic.sock" --collector 127.0.0.1:9 --ingest rdma-read --rdma-ingest-bind "$NIC_IP:0" \
  --net-listen "$NIC_IP:$PORT" --stats-json "$W/nic.json" --ready-file "$W/ready" > "$W/nic.log" 2>&1 &
NICPID=$!
for _ in $(seq 1200); do [ -s "$W/ready" ] && break; sleep 0.1; done
[ -s "$W/ready" ] || { cat "$W/nic.log"; echo "FAIL: difftrace-nic did not start"; exit 1; }
for c in garbage noflag short-mr bad-header; do
  "$BIN/netreg_peer" --nic "$NIC_IP:$PORT" --bind "$APP_IP" --case $c || { cat "$W/nic.log"; echo "FAIL: hostile case $c"; exit 1; }
done
kill -TERM $NICPID; nrc=0; wait $NICPID || nrc=$?
cat "$W/nic.log"
[ "$nrc" = 0 ] || { echo "FAIL: difftrace-nic exited $nrc after the hostile peers"; exit 1; }
ctr() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$W/nic.json" "$1"; }
[ "$(ctr regions_refused)" = 4 ] && [ "$(ctr regions_attached)" = 0 ] && [ "$(ctr regions_net)" = 0 ] ||
  { echo "FAIL: hostile peers: regions_refused=$(ctr regions_refused) regions_attached=$(ctr regions_attached), want 4 and 0"; exit 1; }
grep -q "network registration from $APP_IP refused" "$W/nic.log" || { echo "FAIL: no refusal was logged"; exit 1; }
echo "netreg: 4 hostile registrations refused, counted and logged"

# 2. the real thing: two traced apps registered over the network, exact accounting
pkts() { cat /sys/class/infiniband/$1/ports/1/hw_counters/$2; }
app_sent0=$(pkts rxeapp sent_pkts); nic_rcvd0=$(pkts rxenic rcvd_pkts); veth_tx0=$(cat /sys/class/net/dftapp/statistics/tx_packets)
python3 "$HERE/../integration/test_pipeline.py" --bindir "$BIN" --scenario exact --transport rdma \
  --ingest rdma-read --host "$NIC_IP" --net-nic "$NIC_IP:$PORT" --net-bind "$APP_IP"
# 3. no daemon yet: the app never waits, its full rings drop (counted), it registers over the network
#    once the daemon is up, and the accounting still closes
python3 "$HERE/../integration/test_pipeline.py" --bindir "$BIN" --scenario late --transport rdma \
  --ingest rdma-read --host "$NIC_IP" --net-nic "$NIC_IP:$PORT" --net-bind "$APP_IP"
app_sent=$(( $(pkts rxeapp sent_pkts) - app_sent0 )); nic_rcvd=$(( $(pkts rxenic rcvd_pkts) - nic_rcvd0 ))
veth_tx=$(( $(cat /sys/class/net/dftapp/statistics/tx_packets) - veth_tx0 ))
echo "netreg: the app side's rxe sent $app_sent RoCE packets ($veth_tx frames left its veth end); the NIC side's rxe received $nic_rcvd"
[ "$app_sent" -gt 0 ] && [ "$veth_tx" -ge "$app_sent" ] && [ "$nic_rcvd" -gt 0 ] || { echo "FAIL: no RoCE traffic crossed the veth"; exit 1; }
echo "PASS netreg"
