# Shared helpers for the integration tests: sourced by tests/net/*.sh.
# Each test creates its own namespaces (prefixed with a per-run tag), registers cleanup, and ends by
# calling finish, which prints "N passed, N failed".
set -u
PORTHOLE=${PORTHOLE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/porthole}
TAG=pt$$
TMP=$(mktemp -d /tmp/porthole-test.XXXXXX)
# porthole up saves peer endpoints (default /var/lib/porthole): the tests' go with their files.
export PORTHOLE_STATE_DIR=$TMP/state
npass=0 nfail=0
PIDS=()
NETNS=()

ok()   { npass=$((npass + 1)); echo "ok   - $*"; }
bad()  { nfail=$((nfail + 1)); echo "FAIL - $*"; }
check() { # check "description" command...
	local what=$1; shift
	if "$@" >"$TMP/check.out" 2>&1; then ok "$what"; else bad "$what"; sed 's/^/       /' "$TMP/check.out" | tail -n 20; fi
}
need_root() {
	if [ "$(id -u)" != 0 ]; then echo "skipped: needs root"; echo "0 passed, 0 failed"; exit 0; fi
}
need_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "missing command $c"; echo "0 passed, 1 failed"; exit 1; }
	done
}
netns_add() { # netns_add NAME: creates namespace $TAG-NAME with loopback up; echoes its name
	local ns=$TAG-$1
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	NETNS+=("$ns")
}
ns() { local n=$TAG-$1; shift; ip netns exec "$n" "$@"; }
bg() { # bg NAME cmd... : runs in namespace NAME in the background, remembering the pid
	local n=$TAG-$1; shift
	ip netns exec "$n" "$@" &
	PIDS+=($!)
}
veth() { # veth A B ADDR_A ADDR_B (CIDR each, e.g. 192.0.2.1/24 192.0.2.2/24)
	ip link add "v$$a" netns "$TAG-$1" type veth peer name "v$$b" netns "$TAG-$2"
	ip -n "$TAG-$1" link set "v$$a" name "eth-$2"
	ip -n "$TAG-$2" link set "v$$b" name "eth-$1"
	ip -n "$TAG-$1" addr add "$3" dev "eth-$2"
	ip -n "$TAG-$2" addr add "$4" dev "eth-$1"
	ip -n "$TAG-$1" link set "eth-$2" up
	ip -n "$TAG-$2" link set "eth-$1" up
}
wait_for() { # wait_for SECONDS command... : polls every 0.1 s
	local limit=$(( $1 * 10 )); shift
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	# Anything still running inside a namespace keeps it (and its interfaces) alive: ask it to
	# stop, so daemons remove their sockets, then make sure.
	for n in "${NETNS[@]}"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	sleep 0.3
	for n in "${NETNS[@]}"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
# Sanitizer builds (make SAN=1, PORTHOLE=build-san/porthole): ASan writes its reports into $TMP,
# also from daemons whose stderr is gone, and finish counts each report as a failure.
export ASAN_OPTIONS=${ASAN_OPTIONS:-log_path=$TMP/sanitizer}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-log_path=$TMP/sanitizer:print_stacktrace=1}
stop_bg() { # SIGTERM to every bg process, then wait (SIGKILL after 5 s): leak reports come at exit
	local p killer
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		(sleep 5; kill -9 "$p") >/dev/null 2>&1 &
		killer=$!
		wait "$p" 2>/dev/null
		kill "$killer" 2>/dev/null
		wait "$killer" 2>/dev/null
	done
}
finish() {
	local f
	stop_bg
	# UBSan linked with ASan ignores log_path: its reports are in the daemons' logs.
	for f in "$TMP"/sanitizer.* "$TMP"/*.log; do
		[ -e "$f" ] && grep -q -e 'runtime error:' -e 'ERROR: [A-Za-z]*Sanitizer' "$f" || continue
		bad "sanitizer report in $(basename "$f")"
		grep -m 1 -A 30 -e 'runtime error:' -e 'ERROR: [A-Za-z]*Sanitizer' "$f" | sed 's/^/       /'
	done
	echo "$npass passed, $nfail failed"
	[ "$nfail" -eq 0 ]
	exit
}

# --- WireGuard helpers for the tunnel_*.sh tests ------------------------------------------------
# A daemon is "porthole" (build/porthole-wg) or "wggo" (Debian's wireguard-go); both serve
# /var/run/wireguard/IF.sock, which is shared by every namespace: interface names carry $TAG.
PORTHOLE_WG=${PORTHOLE_WG:-$(dirname "$PORTHOLE")/porthole-wg}
WG_SOCK_DIR=/var/run/wireguard

keypair() { # keypair NAME: writes $TMP/NAME.key and $TMP/NAME.pub
	(umask 077; wg genkey >"$TMP/$1.key")
	wg pubkey <"$TMP/$1.key" >"$TMP/$1.pub"
}
psk() { (umask 077; wg genpsk >"$TMP/$1.psk"); } # psk NAME: writes $TMP/NAME.psk
addr() { # addr NS DEV CIDR: IPv6 without duplicate address detection, usable at once
	case $3 in
	*:*) ns "$1" ip addr add "$3" dev "$2" nodad ;;
	*) ns "$1" ip addr add "$3" dev "$2" ;;
	esac
}
pub() { cat "$TMP/$1.pub"; }
sock_gone() { [ ! -S "$WG_SOCK_DIR/$1.sock" ]; }
wg_up() { # wg_up IMPL NS IF: starts the daemon in the foreground and waits for its socket
	local impl=$1 n=$2 ifname=$3 log=$TMP/$3.log
	case $impl in
	porthole) bg "$n" env LOG_LEVEL=info "$PORTHOLE_WG" -f "$ifname" >"$log" 2>&1 ;;
	wggo) bg "$n" env LOG_LEVEL=error wireguard-go -f "$ifname" >"$log" 2>&1 ;;
	*) echo "wg_up: unknown implementation $impl"; return 1 ;;
	esac
	DAEMON_PID[$ifname]=${PIDS[-1]}
	if ! wait_for 10 test -S "$WG_SOCK_DIR/$ifname.sock"; then
		echo "wg_up: $impl did not create $ifname"; cat "$log"; return 1
	fi
}
declare -A DAEMON_PID
wg_down() { # wg_down IF: stops the daemon of IF (by its pid) and waits for its socket to go
	local p=${DAEMON_PID[$1]:-}
	[ -n "$p" ] || return 1
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	wait_for 5 sock_gone "$1"
}
# wg_iface IMPL NS IF KEYNAME PORT ADDR...: a configured, addressed, up interface
wg_iface() {
	local impl=$1 n=$2 ifname=$3 key=$4 port=$5; shift 5
	wg_up "$impl" "$n" "$ifname" || return 1
	ns "$n" wg set "$ifname" private-key "$TMP/$key.key" listen-port "$port" || return 1
	for a in "$@"; do addr "$n" "$ifname" "$a" || return 1; done
	ns "$n" ip link set "$ifname" up
}
# wg_peer NS IF KEYNAME ARGS...: adds (or updates) the peer with KEYNAME's public key
wg_peer() { local n=$1 ifname=$2 key=$3; shift 3; ns "$n" wg set "$ifname" peer "$(pub "$key")" "$@"; }
# Fields of `wg show IF dump` for the peer with KEYNAME's public key (dump's peer columns:
# 1 key, 2 psk, 3 endpoint, 4 allowed ips, 5 handshake, 6 rx, 7 tx, 8 keepalive).
peer_field() { # peer_field NS IF KEYNAME COLUMN
	ns "$1" wg show "$2" dump | awk -v k="$(pub "$3")" -v c="$4" 'NR > 1 && $1 == k { print $c }'
}
handshake_done() { local h; h=$(peer_field "$@" 5); [ -n "$h" ] && [ "$h" -gt 0 ]; }
counters_nonzero() { # counters_nonzero NS IF KEYNAME: rx and tx both non-zero
	local rx tx
	rx=$(peer_field "$1" "$2" "$3" 6); tx=$(peer_field "$1" "$2" "$3" 7)
	[ -n "$rx" ] && [ "$rx" -gt 0 ] && [ -n "$tx" ] && [ "$tx" -gt 0 ]
}
pings() { # pings NS ADDR [ping args]: true once a reply comes back within 10 s
	local n=$1 dst=$2; shift 2
	ns "$n" timeout 12 ping -n -q -c 1 -W 1 -w 10 "$@" "$dst" >/dev/null 2>&1
}
no_ping() { # no_ping NS ADDR [ping args]: three tries, no reply
	local n=$1 dst=$2; shift 2
	! ns "$n" timeout 6 ping -n -q -c 3 -i 0.3 -W 1 "$@" "$dst" >/dev/null 2>&1
}
# iperf CLIENT_NS SERVER_NS ADDR ARGS...: one short iperf3 run against a one-off server started
# here; true when data arrived (TCP: end.sum_received, UDP: end.sum, bytes > 0). Prints the rate.
iperf() {
	local c=$1 s=$2 addr=$3; shift 3
	local out=$TMP/iperf.json pidf=$TMP/iperf.pid rc
	rm -f "$pidf"
	ns "$s" iperf3 -s -1 -D -B "$addr" -I "$pidf" >/dev/null 2>&1 || return 1
	if ! wait_for 5 iperf_listening "$s"; then
		iperf_stop; return 1
	fi
	ns "$c" timeout 15 iperf3 -c "$addr" -t 2 -J "$@" >"$out" 2>&1
	rc=$?
	iperf_stop
	jq -r '.end | (.sum_received // .sum) |
		"\(.bits_per_second / 1e6 | floor) Mbit/s, \(.bytes) bytes" +
		(if .lost_percent then ", \(.lost_percent | floor)% lost" else "" end)' "$out" 2>/dev/null
	[ "$rc" -eq 0 ] && jq -e '.end | (.sum_received // .sum) | .bytes > 0' "$out" >/dev/null
}
iperf_stop() { # the one-off server normally exits by itself; a failed run may leave it
	local p
	p=$(cat "$TMP/iperf.pid" 2>/dev/null) || return 0
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null
	wait_for 3 bash -c "! kill -0 $p"
	return 0
}
check_iperf() { # check_iperf "description" CLIENT_NS SERVER_NS ADDR ARGS...: check, with the rate
	local what=$1 r; shift
	if r=$(iperf "$@" 2>&1); then ok "$what ($r)"; else bad "$what"; echo "$r" | sed 's/^/       /'; fi
}
iperf_listening() { ns "$1" ss -Hltn 'sport = :5201' | grep -q .; }

# --- Gateway helpers for the gateway_*.sh tests -------------------------------------------------
# Three namespaces: client (198.51.100.2) -- vps (198.51.100.1, 192.0.2.1) -- home (192.0.2.2),
# and a porthole tunnel vps 10.99.0.1 <-> home 10.99.0.2. The vps file is GW_VPS.conf (the
# interface is named after it), its [Forward]s appended by the test; home is GW_HOME.conf.
GW_FILES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gateway
GW_VPS=${TAG}v
GW_HOME=${TAG}h
declare -A GW_PID
gw_topology() {
	netns_add client && netns_add vps && netns_add home || return 1
	veth client vps 198.51.100.2/24 198.51.100.1/24
	veth vps home 192.0.2.1/24 192.0.2.2/24
	keypair gwvps
	keypair gwhome
	gw_conf vps >"$TMP/$GW_VPS.conf"
	gw_conf home >"$TMP/$GW_HOME.conf"
	chmod 600 "$TMP/$GW_VPS.conf" "$TMP/$GW_HOME.conf"
}
gw_conf() { # gw_conf vps|home: the tunnel part of that side's file
	if [ "$1" = vps ]; then
		printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 10.99.0.1/24\n\n' \
			"$(cat "$TMP/gwvps.key")"
		printf '[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.0.2/32\n\n' "$(pub gwhome)"
	else
		printf '[Interface]\nPrivateKey = %s\nAddress = 10.99.0.2/24\n\n' \
			"$(cat "$TMP/gwhome.key")"
		printf '[Peer]\nPublicKey = %s\nEndpoint = 192.0.2.1:51820\n' "$(pub gwvps)"
		printf 'AllowedIPs = 10.99.0.1/32\nPersistentKeepalive = 1\n'
	fi
}
gw_forward() { # gw_forward KEY=VALUE...: appends one [Forward] section to the vps file
	{
		printf '\n[Forward]\n'
		for kv in "$@"; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"; done
	} >>"$TMP/$GW_VPS.conf"
}
# gw_start NS NAME: porthole up $TMP/NAME.conf in namespace NS, stderr to $TMP/NAME.log
# (appended, so a restarted daemon keeps the earlier lines); waits for its interface.
gw_start() {
	local n=$1 name=$2
	bg "$n" env LOG_LEVEL=debug "$PORTHOLE" up "$TMP/$name.conf" >>"$TMP/$name.log" 2>&1
	GW_PID[$name]=${PIDS[-1]}
	if ! wait_for 10 gw_link_up "$n" "$name"; then
		echo "gw_start: $name did not come up"; tail -n 20 "$TMP/$name.log"; return 1
	fi
}
gw_link_up() { ns "$1" ip link show "$2" 2>/dev/null | grep -q 'UP'; }
declare -A GW_RC
gw_stop() { # gw_stop NAME: stops that daemon (SIGTERM), waits; its exit status goes to GW_RC
	local p=${GW_PID[$1]}
	kill "$p" 2>/dev/null
	wait_for 5 bash -c "! kill -0 $p" || kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	GW_RC[$1]=$?
	return 0
}
gw_tunnel() { pings vps 10.99.0.2 && pings home 10.99.0.1; }
# gw_up: both daemons, the tunnel working, and every TCP/UDP Listen port of the vps file bound.
gw_up() {
	gw_start home "$GW_HOME" && gw_vps_start || return 1
	gw_tunnel || { echo "gw_up: no tunnel"; tail -n 20 "$TMP/$GW_VPS.log"; return 1; }
	gw_wait_listens
}
gw_wait_listens() { # waits for every Listen port of the vps file (TCP, or UDP after Protocol = udp)
	local l proto
	awk -F' *= *' '/^\[Forward\]/ { if (l) print l, p; l = ""; p = "tcp" }
		$1 == "Listen" { l = $2 } tolower($1) == "protocol" { p = tolower($2) }
		END { if (l) print l, p }' "${GW_FWD_FILE:-$TMP/$GW_VPS.conf}" | while read -r l proto; do
		if ! wait_for 10 listening vps "$proto" "${l##*:}"; then
			echo "gw_up: nothing listens on $proto $l"; tail -n 20 "$TMP/$GW_VPS.log"
			return 1
		fi
	done
}
listening() { # listening NS tcp|udp PORT
	local flag=-Hltn
	[ "$2" = udp ] && flag=-Hlun
	ns "$1" ss $flag "sport = :$3" | grep -q .
}
# Services, each in its namespace with its files under $TMP, stopped by cleanup.
# nginx_start NS NAME CONF_BODY: a foreground nginx with the given http{} body; its logs are
# $TMP/NAME.access and $TMP/NAME.error.
nginx_start() {
	local n=$1 name=$2 dir=$TMP/$2
	mkdir -p "$dir/logs"
	cat >"$dir/nginx.conf" <<-NGINX
		daemon off;
		worker_processes 1;
		pid $dir/nginx.pid;
		error_log $TMP/$name.error;
		events { worker_connections 256; }
		http {
		    access_log $TMP/$name.access;
		    client_body_temp_path $dir/body;
		    proxy_temp_path $dir/proxy;
		    fastcgi_temp_path $dir/fastcgi;
		    uwsgi_temp_path $dir/uwsgi;
		    scgi_temp_path $dir/scgi;
		    $3
		}
	NGINX
	bg "$n" nginx -c "$dir/nginx.conf" -p "$dir" -e "$TMP/$name.error"
}
haproxy_start() { # haproxy_start NS NAME CONFIG_TEXT: haproxy -db, output in $TMP/NAME.log
	printf '%s\n' "$3" >"$TMP/$2.cfg"
	bg "$1" haproxy -db -f "$TMP/$2.cfg" >"$TMP/$2.log" 2>&1
}
# gw_log_has NAME REGEX: a line of that daemon's log matches (extended regex)
gw_log_has() { grep -Eq -- "$2" "$TMP/$1.log"; }
# GW_STANDIN=haproxy: the vps runs its tunnel from the file without [Forward]s and HAProxy in
# place of the gateway (tests/net/gateway/standin.py), to check the tests themselves.
GW_STANDIN=${GW_STANDIN:-}
gw_vps_start() {
	if [ "$GW_STANDIN" = haproxy ]; then
		cp "$TMP/$GW_VPS.conf" "$TMP/vps-full.conf"
		GW_FWD_FILE=$TMP/vps-full.conf
		python3 "$GW_FILES/standin.py" "$TMP/vps-full.conf" >"$TMP/standin.cfg" \
			3>"$TMP/$GW_VPS.conf" || return 1
		bg vps haproxy -db -f "$TMP/standin.cfg" >>"$TMP/$GW_VPS.log" 2>&1
		GW_STANDIN_PID=${PIDS[-1]}
	fi
	gw_start vps "$GW_VPS"
}
# nginx_pp_start NS NAME ADDR:PORT...: nginx with a proxy_protocol listener on each address that
# answers (and logs to $TMP/NAME.access) "PP_ADDR PP_PORT PP_SERVER_ADDR PP_SERVER_PORT", then
# the peer address and the URI in the log.
nginx_pp_start() {
	local n=$1 name=$2 listens="" a; shift 2
	for a in "$@"; do listens+="listen $a proxy_protocol; "; done
	nginx_start "$n" "$name" '
    log_format pp "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port $remote_addr $request_uri";
    server {
        '"$listens"'
        access_log '"$TMP/$name"'.access pp;
        location / { return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port\n"; }
    }'
}
# http_get NS URL LOCAL_PORT: the body, fetched by curl from a fixed source port
http_get() { ns "$1" curl -sS --max-time 5 --local-port "$3" "$2"; }
# tcp_raw NS HOST PORT FORMAT [ARGS]: sends printf-formatted bytes and prints what comes back
# until the peer closes (at most 6 s after the bytes); the milliseconds until then go to
# $TMP/raw.ms. An empty answer within a short time means the peer closed the connection.
tcp_raw() {
	local n=$1 host=$2 port=$3 start; shift 3
	start=$(date +%s%N)
	printf "$@" | ns "$n" timeout 10 socat -t 6 - "TCP:$host:$port" 2>/dev/null
	echo $(( ($(date +%s%N) - start) / 1000000 )) >"$TMP/raw.ms"
}
# gw_finish: stops both daemons and checks they exit cleanly without sanitizer reports (for
# PORTHOLE pointing at a `make SAN=1` build), copies the logs to $GW_KEEP (a directory) when that
# is set, and finishes.
gw_finish() {
	local name
	for name in "${!GW_PID[@]}"; do
		kill -0 "${GW_PID[$name]}" 2>/dev/null || continue
		gw_stop "$name"
		check "$name exits with status 0 on SIGTERM" test "${GW_RC[$name]}" -eq 0
	done
	check "no sanitizer reports in the daemons' logs" \
		bash -c "! grep -E 'Sanitizer|runtime error' '$TMP'/*.log"
	if [ -n "${GW_KEEP:-}" ]; then
		mkdir -p "$GW_KEEP" && cp "$TMP"/*.log "$TMP"/*.conf "$TMP"/*.access "$GW_KEEP"/ 2>/dev/null
	fi
	finish
}
# gw_require "description" command...: a check that must pass for the rest to make sense; on
# failure the test ends here (gw_finish).
gw_require() {
	local before=$nfail
	check "$@"
	[ "$nfail" -eq "$before" ] || gw_finish
}
