# Privilege drop: `porthole up` started by root outside systemd runs on as an unprivileged user
# with exactly CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (CapEff = CapPrm = 0x1400), and the
# tunnel, root's `wg` over the socket and a gateway listener on port 80 keep working; the
# socket still goes away on SIGTERM. PORTHOLE_NO_PRIVDROP=1 keeps root.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd wg curl nginx

DROP_UID=$(id -u porthole 2>/dev/null || id -u nobody)
gw_topology || exit 1
gw_forward Name=web Listen=198.51.100.1:80 Target=10.99.0.2:8080
check "both ends up as root, the gateway listening on port 80" gw_up || gw_finish
nginx_start home web 'server { listen 10.99.0.2:8080; location / { return 200 "home\n"; } }'
VPS_PID=${GW_PID[$GW_VPS]}
HOME_PID=${GW_PID[$GW_HOME]}

field() { awk -v k="$2:" '$1 == k { print $2, $3, $4, $5 }' "/proc/$1/status"; }
caps() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
show() { echo "uid: $(field "$1" Uid) gid: $(field "$1" Gid) CapEff: $(caps "$1" CapEff)"; }
dropped() { # dropped PID: every uid the unprivileged one, no gid 0, exactly the two capabilities
	show "$1"
	[ "$(field "$1" Uid)" = "$DROP_UID $DROP_UID $DROP_UID $DROP_UID" ] &&
		! field "$1" Gid | grep -qw 0 &&
		[ "$(caps "$1" CapEff)" = 0000000000001400 ] &&
		[ "$(caps "$1" CapPrm)" = 0000000000001400 ] &&
		[ "$(caps "$1" CapBnd)" = 0000000000001400 ] &&
		[ "$(caps "$1" CapInh)" = 0000000000000000 ] &&
		[ "$(caps "$1" NoNewPrivs)" = 1 ]
}
for side in "$GW_VPS" "$GW_HOME"; do
	check "$side: runs as uid $DROP_UID with CapEff = CapPrm = CapBnd = 0x1400" \
		dropped "${GW_PID[$side]}"
	check "$side: says so in its log" gw_log_has "$side" "running as user '[a-z]+' \(uid $DROP_UID\)"
	# The file sits in this test's 0700 directory: only the root janitor can read it.
	check "$side: reloads its root-only file after the drop" \
		"$PORTHOLE" reload "$side"
done

check "ping through the tunnel, both ways" gw_tunnel
check "client -> vps:80 -> tunnel -> home" bash -c \
	"[ \"\$(ip netns exec $TAG-client curl -sS --max-time 5 http://198.51.100.1/)\" = home ]"
check "root's wg reads the dropped daemon's socket" bash -c \
	"ip netns exec $TAG-vps wg show $GW_VPS peers | grep -qF '$(pub gwhome)'"
check "root's wg changes it (keepalive 7)" \
	ns vps wg set "$GW_VPS" peer "$(pub gwhome)" persistent-keepalive 7
check "and the change is there" bash -c \
	"ip netns exec $TAG-vps wg show $GW_VPS persistent-keepalive | grep -q '	7$'"
check "handshakes keep coming" \
	wait_for 5 handshake_done vps "$GW_VPS" gwhome

gw_stop "$GW_HOME"
check "SIGTERM: exit status 0 after the drop" test "${GW_RC[$GW_HOME]}" -eq 0
check "SIGTERM: the socket is gone (the janitor removed it)" wait_for 2 sock_gone "$GW_HOME"
check "SIGTERM: the interface is gone" bash -c "! ip -n $TAG-home link show $GW_HOME 2>/dev/null"
porthole_procs() { # porthole_procs NS: how many porthole processes it still holds
	local p
	for p in $(ip netns pids "$TAG-$1"); do cat "/proc/$p/comm"; done 2>/dev/null | grep -c porthole
}
check "no janitor left behind" test "$(porthole_procs home)" -eq 0

# Debugging: PORTHOLE_NO_PRIVDROP=1 keeps root and every capability.
bg home env PORTHOLE_NO_PRIVDROP=1 LOG_LEVEL=debug "$PORTHOLE" up "$TMP/$GW_HOME.conf" \
	>>"$TMP/$GW_HOME.log" 2>&1
GW_PID[$GW_HOME]=${PIDS[-1]}
check "PORTHOLE_NO_PRIVDROP=1: up again" wait_for 10 gw_link_up home "$GW_HOME"
check "PORTHOLE_NO_PRIVDROP=1: still root" bash -c \
	"awk '\$1 == \"Uid:\" { exit \$2 != 0 }' /proc/${GW_PID[$GW_HOME]}/status"
check "and the tunnel works again" gw_tunnel
gw_stop "$GW_HOME"

# As systemd starts it: no drop of its own (the unit's User= does it), and the notify protocol
# on $NOTIFY_SOCKET: READY=1 once up, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 at the end.
socat -u UNIX-RECV:"$TMP/notify.sock" OPEN:"$TMP/notify.out",creat,append &
PIDS+=($!)
wait_for 5 test -S "$TMP/notify.sock"
bg home env NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=200000 "$PORTHOLE" up \
	"$TMP/$GW_HOME.conf" >>"$TMP/$GW_HOME.log" 2>&1
GW_PID[$GW_HOME]=${PIDS[-1]}
check "under systemd: READY=1" wait_for 10 grep -q READY=1 "$TMP/notify.out"
check "under systemd: no drop of its own" bash -c \
	"awk '\$1 == \"Uid:\" { exit \$2 != 0 }' /proc/${GW_PID[$GW_HOME]}/status"
sleep 0.5
check "under systemd: WATCHDOG=1, several times in 0.5 s" \
	test "$(grep -o WATCHDOG=1 "$TMP/notify.out" | wc -l)" -ge 3
gw_stop "$GW_HOME"
check "under systemd: STOPPING=1" grep -q STOPPING=1 "$TMP/notify.out"
gw_finish
