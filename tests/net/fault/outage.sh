# The path between vps and home goes away for SECS seconds and comes back:
#   outage.sh SECS link        home's veth is set down (both ends lose carrier), then up
#   outage.sh SECS blackhole   every datagram is lost (netem loss 100 %: nothing local notices)
# Afterwards a new public connection must get through within FAULT_RECOVERY_MAX seconds (the
# protocol's bound: home retries its handshake every REKEY_TIMEOUT + jitter, 5.33 s, once a try is
# due), and meanwhile home must not storm: at most one initiation per REKEY_TIMEOUT.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
need_root
need_cmd curl jq python3

SECS=${1:?seconds}
MODE=${2:-blackhole}
FAULT_RECOVERY_MAX=${FAULT_RECOVERY_MAX:-8}
gw_require "topology up through the relay" fault_topology
check "a public request reaches home before the outage" get

i0=$(inits)
case $MODE in
link) ns home ip link set eth-vps down ;;
*) netem down 1 ;;
esac
sleep "$SECS"
check "no public request during the outage" bash -c "! ip netns exec $TAG-client \
	curl -sf --max-time 1 http://198.51.100.1:8080/hello"
i=$(( $(inits) - i0 ))
# shellcheck disable=SC2034 # read by until_get
T0=$(ms_now)
case $MODE in
link) ns home ip link set eth-vps up ;;
*) netem ;;
esac
if ms=$(until_get 30); then
	figure "recovery after ${SECS} s $MODE outage: $(secs "$ms") s"
	check "${SECS} s $MODE outage: traffic again within $FAULT_RECOVERY_MAX s ($(secs "$ms") s)" \
		test "$ms" -le $((FAULT_RECOVERY_MAX * 1000))
else
	bad "${SECS} s $MODE outage: no public request within 30 s of the path coming back"
fi
figure "${SECS} s $MODE outage: $i initiations during it"
check "${SECS} s $MODE outage: no handshake storm ($i initiations, at most $((SECS / 5 + 2)))" \
	test "$i" -le $((SECS / 5 + 2))
# Beyond KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) home has been retrying its handshake: the next try
# must complete; shorter outages may keep their session.
fresh() { [ "$(handshake_age vps)" -le 10 ]; }
if [ "$SECS" -gt 15 ]; then
	check "${SECS} s $MODE outage: a new handshake completes within 10 s of recovery" \
		wait_for 8 fresh
fi
check "${SECS} s $MODE outage: the session is valid (handshake $(handshake_age vps) s ago)" \
	test "$(handshake_age vps)" -lt 180
gw_finish
