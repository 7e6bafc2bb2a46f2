# Proxy limits (issue #7, item 3): the gateway under connection load, slow clients and churn.
#  1. churn soak: 20000 short connections through a forward leave no descriptor, memory or
#     CLOSE_WAIT growth; meanwhile a ClientHello dripped on an SNI port is cut at its deadline
#     (counted from accept, so dripping cannot extend it) and a half-closed connection to a
#     silent service ends at IdleTimeout;
#  2. with 256 descriptors (prlimit) and 3000 connections held at once the daemon stays up,
#     does not spin, keeps the tunnel working and accepts again within 1 s once they go.
. "$(dirname "$0")/lib.sh"
need_root
# Memory figures: a sanitizer build must not count freed memory held in ASan's quarantine.
export ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=0
need_cmd python3 wg ping prlimit ss

DOS=$(cd "$(dirname "$0")" && pwd)/dos
CHURN=${CHURN:-20000}
HOLD=${HOLD:-3000}

gw_topology || exit 1
gw_forward Name=echo Listen=0.0.0.0:7501 Target=10.99.0.2:9000
gw_forward Name=sni Listen=0.0.0.0:7502 Target=10.99.0.2:9000 ServerName=a.test
gw_forward Name=half Listen=0.0.0.0:7503 Target=10.99.0.2:9002 IdleTimeout=2s
# The vps daemon starts with 256 descriptors (prlimit cannot lower them later: the daemon has
# dropped its privileges by then).
vps_start() {
	bg vps prlimit --nofile=256:256 env LOG_LEVEL=debug "$PORTHOLE" up "$TMP/$GW_VPS.conf" \
		>>"$TMP/$GW_VPS.log" 2>&1
	GW_PID[$GW_VPS]=${PIDS[-1]}
	wait_for 10 gw_link_up vps "$GW_VPS"
}
limited_up() { gw_start home "$GW_HOME" && vps_start && gw_tunnel && gw_wait_listens; }
gw_require "tunnel and gateway up" limited_up
VPS=${GW_PID[$GW_VPS]}
gw_require "the vps daemon has 256 descriptors" grep -Eq '^Max open files +256 +256' "/proc/$VPS/limits"
bg home python3 "$DOS/load.py" echo 0.0.0.0 9000 >"$TMP/echo.out" 2>&1
bg home python3 "$DOS/load.py" mute 0.0.0.0 9002 >"$TMP/mute.out" 2>&1
gw_require "home services listening" wait_for 5 bash -c \
	"ip netns exec $TAG-home ss -Hltn | grep -q :9000 && ip netns exec $TAG-home ss -Hltn | grep -q :9002"
probe() { ns client python3 "$DOS/load.py" probe 198.51.100.1 7501; }
gw_require "the echo forward answers" wait_for 5 probe
# The soak's connections to home leave TIME_WAITs behind on the vps: room for all of them.
ns vps sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
ns client sysctl -qw net.ipv4.ip_local_port_range="10000 65000"

fds() { ls "/proc/$VPS/fd" | wc -l; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$VPS/status"; }
close_wait() { ns vps ss -Htan state close-wait | wc -l; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$VPS/stat"; }
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

# --- 1. churn soak, with the slow clients beside it --------------------------------------------
fd0=$(fds) rss0=$(rss_kb) cw0=$(close_wait)
HELLO=$(python3 "$DOS/load.py" hello a.test)
ns client timeout 30 python3 "$GW_FILES/tool.py" drip 198.51.100.1 7502 0.25 "$HELLO" \
	>"$TMP/drip.out" 2>&1 &
DRIP=$!
ns client timeout 30 python3 "$DOS/load.py" halfclose 198.51.100.1 7503 10 >"$TMP/half.out" 2>&1 &
HALF=$!
ns client timeout 240 python3 "$DOS/load.py" churn 198.51.100.1 7501 "$CHURN" 16 >"$TMP/churn.out" 2>&1
cat "$TMP/churn.out"
check "churn: every one of $CHURN connections echoed" grep -q "^churn $CHURN of $CHURN" "$TMP/churn.out"
wait "$DRIP" "$HALF"
echo "figure: ClientHello dripped at 4 bytes/s: $(cat "$TMP/drip.out") s (deadline 5 s)"
echo "figure: half-closed connection, silent service, IdleTimeout 2 s: $(cat "$TMP/half.out") s"
dripped() { # the ClientHello is 1 byte per 250 ms: cut at the 5 s deadline, long before its end
	[[ $(cat "$TMP/drip.out") =~ ^closed\ after\ ([5-7])\. ]]
}
check "a ClientHello dripped on an SNI port is cut at the 5 s deadline" dripped
half() {
	[[ $(cat "$TMP/half.out") =~ ^eof\ after\ ([2-4])\. ]]
}
check "a half-closed connection to a silent service ends at IdleTimeout (2 s)" half
settled() { [ "$(fds)" -le "$fd0" ] && [ "$(close_wait)" -le "$cw0" ]; }
wait_for 5 settled
fd1=$(fds) rss1=$(rss_kb) cw1=$(close_wait)
echo "figure: churn soak: $CHURN connections: $(sed 's/.* in //' "$TMP/churn.out")"
echo "figure: descriptors before/after soak: $fd0 / $fd1"
echo "figure: RSS before/after soak: $((rss0 / 1024)) / $((rss1 / 1024)) MiB ($rss0 / $rss1 KiB)"
echo "figure: CLOSE_WAIT sockets before/after soak: $cw0 / $cw1"
check "no descriptor growth after the soak" test "$fd1" -le "$fd0"
check "no CLOSE_WAIT left after the soak" test "$cw1" -le "$cw0"
check "RSS growth after the soak under 4 MiB" test $((rss1 - rss0)) -lt 4096

# --- 2. out of descriptors ---------------------------------------------------------------------
ns client timeout 30 python3 "$DOS/load.py" hold 198.51.100.1 7501 "$HOLD" 6 >"$TMP/hold.out" 2>&1 &
HOLDER=$!
wait_for 5 grep -q established "$TMP/hold.out"
cat "$TMP/hold.out"
sleep 1
c0=$(cpu_ticks)
sleep 2
c1=$(cpu_ticks)
ms=$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))
queued=$(ns vps ss -Hltn 'sport = :7501' | awk '{ print $2 }')
echo "figure: vps descriptors while $HOLD connections are held: $(fds) of 256, $queued waiting in the backlog"
# Out of descriptors the listener pauses: the rest wait in the kernel's backlog, not reset.
check "the connections beyond the limit wait in the backlog ($queued)" test "$queued" -gt $((HOLD / 2))
echo "figure: vps CPU over 2 s with $HOLD connections held at 256 descriptors: $ms ms"
check "the daemon does not spin while out of descriptors ($ms ms in 2 s)" test "$ms" -lt 200
check "the daemon reports running out of descriptors" \
	gw_log_has "$GW_VPS" 'accept: Too many open files|cannot open a socket'
check "the tunnel works while out of descriptors" pings home 10.99.0.1
check "the daemon stays up" kill -0 "$VPS"
wait "$HOLDER"
T0=$(ms_now)
if wait_for 10 probe; then
	ms=$(( $(ms_now) - T0 ))
	echo "figure: accepting again after the load stopped: $ms ms"
	check "accepts again within 1 s after the load stops ($ms ms)" test "$ms" -lt 1000
else
	bad "no connection accepted within 10 s after the load stopped"
fi
gw_finish
