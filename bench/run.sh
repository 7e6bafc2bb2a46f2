#!/bin/bash
# make bench: porthole against the hand-made stack (wireguard-go at both ends, HAProxy `mode tcp`
# with send-proxy-v2 on the vps), measured in one invocation on one topology:
#
#   client 198.51.100.2 --veth-- 198.51.100.1 vps 192.0.2.1 --veth-- 192.0.2.2 home
#                                     10.99.0.1 ====tunnel==== 10.99.0.2
#
# Usage: bench/run.sh [PORTHOLE_BINARY]   (root; see bench/README.md for the knobs)
# Prints the table, writes bench/results/latest.json and, unless BENCH_DOC=0, docs/performance.md.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PORTHOLE=$(realpath "${1:-$ROOT/build/porthole}")
STACKS=${BENCH_STACKS:-route haproxy wg12 wg13 pt-hap porthole}
SECS=${BENCH_SECONDS:-5}	     # each iperf3 and wrk run
ROUNDS=${BENCH_ROUNDS:-3}    # every stack measured once per round, in turn; medians in the table
REPEAT=${BENCH_REPEAT:-1}    # runs per figure within a round (their median)
LAT_RATE=${BENCH_LAT_RATE:-1000} # requests/s of the fixed-rate latency run
LAT_CONNS=${BENCH_LAT_CONNS:-10}
BUSY_POLL=${BENCH_BUSY_POLL:-200} # porthole's BusyPoll (us) for a second latency run; 0: none
ECHO_MB=${BENCH_ECHO_MB:-64}
MEASURE=${BENCH_MEASURE:-echo tcp udp http} # a subset when iterating on one figure
# The TCP figures once more under a second congestion control, each stack restarted in it (a
# socket keeps the one it was created with): cubic, Debian's default, unless the first is cubic.
CC2=${BENCH_CC2-cubic}
RESULTS_DIR=${BENCH_RESULTS:-$HERE/results}
TAG=pb$$
TMP=$(mktemp -d /tmp/porthole-bench.XXXXXX)
TSV=$TMP/results.tsv
PIDS=()
declare -A DAEMON # role -> pid, for the stack being measured

[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
for c in ip wg iperf3 wrk nginx haproxy socat jq python3 sha256sum ${CC:-cc}; do
	command -v "$c" >/dev/null || { echo "bench: missing command $c" >&2; exit 1; }
done

say() { printf '# %s\n' "$*" >&2; }
note() { say "$*"; printf '%s\n' "$*" >>"$TMP/notes"; }
put() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TSV"; } # put STACK METRIC VALUE

# Machine facts that decide the latency tails of every stack (docs/design.md, "A request's
# latency"): the kernel's preemption model, and DAMON's kernel threads, which on a kernel without
# preemption hold a CPU for milliseconds at a time.
preempt_model() { # the build's default; a PREEMPT_DYNAMIC kernel may boot with another
	local m
	m=$( (zcat /proc/config.gz || cat "/boot/config-$(uname -r)") 2>/dev/null | sed -n \
		's/^CONFIG_PREEMPT_\(NONE\|VOLUNTARY\|LAZY\)=y$/\1/p; s/^CONFIG_PREEMPT=y$/FULL/p' |
		head -n 1)
	echo "${m:-unknown}" | tr '[:upper:]' '[:lower:]'
}
kdamond_ticks() { # utime + stime of every DAMON thread, in clock ticks
	local p t=0
	for p in $(pgrep -x 'kdamond\.[0-9]+'); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
damon_threads() { # "kdamond.0 (paddr, a sample every 500000 us)", or "none"
	local d out=
	for d in /sys/kernel/mm/damon/admin/kdamonds/[0-9]*; do
		[ "$(cat "$d/state" 2>/dev/null)" = on ] || continue
		out+="${out:+, }kdamond.${d##*/} ($(cat "$d/contexts/0/operations" 2>/dev/null), a sample every $(cat "$d/contexts/0/monitoring_attrs/intervals/sample_us" 2>/dev/null) us)"
	done
	echo "${out:-none}"
}
ns() { local n=$TAG-$1; shift; ip netns exec "$n" "$@"; }
bg() { # bg NS cmd...: in the background; its pid in $LAST (ip netns exec execs, so it is cmd's)
	local n=$TAG-$1; shift
	ip netns exec "$n" "$@" &
	LAST=$!
	PIDS+=("$LAST")
}
wait_for() { # wait_for SECONDS command...
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		"${@:2}" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
stop() { # stop PID: TERM, then KILL after 5 s
	kill "$1" 2>/dev/null || return 0
	wait_for 5 bash -c "! kill -0 $1" || kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
listening() { ns "$1" ss -Hln"${3:-t}" "sport = :$2" | grep -q .; }

cleanup() {
	local n p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for n in c v h; do
		for p in $(ip netns pids "$TAG-$n" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	sleep 0.5
	for n in c v h; do
		for p in $(ip netns pids "$TAG-$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$TAG-$n" 2>/dev/null
	done
	rm -f /var/run/wireguard/"$TAG"*.sock
	[ -z "${ALLOWED_CC:-}" ] || sysctl -qw net.ipv4.tcp_allowed_congestion_control="$ALLOWED_CC"
	if [ "${KEEP_LOGS:-0}" = 1 ]; then
		echo "bench: logs kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- topology -------------------------------------------------------------------------------
veth() { # veth A B ADDR_A ADDR_B
	ip link add "${TAG}$1" netns "$TAG-$1" type veth peer name "${TAG}$2" netns "$TAG-$2"
	ip -n "$TAG-$1" link set "${TAG}$1" name "to-$2"
	ip -n "$TAG-$2" link set "${TAG}$2" name "to-$1"
	ip -n "$TAG-$1" addr add "$3" dev "to-$2"
	ip -n "$TAG-$2" addr add "$4" dev "to-$1"
	ip -n "$TAG-$1" link set "to-$2" up
	ip -n "$TAG-$2" link set "to-$1" up
}
allow_cc() { # allow_cc NAME: lets the namespaces choose NAME if the kernel has it; undone at exit
	local allowed
	allowed=$(sysctl -n net.ipv4.tcp_allowed_congestion_control)
	[[ " $allowed " == *" $1 "* ]] && return 0
	[[ " $(sysctl -n net.ipv4.tcp_available_congestion_control) " == *" $1 "* ]] ||
		modprobe "tcp_$1" 2>/dev/null || true
	ALLOWED_CC=${ALLOWED_CC:-$allowed}
	sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed $1" 2>/dev/null
}
set_cc() { # set_cc NAME: the TCP congestion control of new sockets in all three namespaces
	local n
	for n in c v h; do
		ns $n sysctl -qw net.ipv4.tcp_congestion_control="$1" 2>/dev/null || return 1
	done
}
topology() {
	local n
	for n in c v h; do
		ip netns add "$TAG-$n" || return 1
		ip -n "$TAG-$n" link set lo up
		# Many short connections: room for them, and reuse of TIME_WAIT ports.
		ns $n sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1 \
			net.core.somaxconn=4096
	done
	# BENCH_CC: one congestion control in every namespace, for every stack.
	if [ -n "${BENCH_CC:-}" ] && ! { allow_cc "$BENCH_CC" && set_cc "$BENCH_CC"; }; then
		echo "bench: BENCH_CC=$BENCH_CC: this kernel does not offer it" >&2
		return 1
	fi
	veth c v 198.51.100.2/24 198.51.100.1/24
	veth v h 192.0.2.1/24 192.0.2.2/24
	ns v sysctl -qw net.ipv4.ip_forward=1
	CC1=$(ns v sysctl -n net.ipv4.tcp_congestion_control)
	if [ "$CC2" = "$CC1" ]; then
		CC2=""
	elif [ -n "$CC2" ] && ! { allow_cc "$CC2" && set_cc "$CC2"; }; then
		note "BENCH_CC2=$CC2: this kernel does not offer it: no second TCP pass"
		CC2=""
	fi
	[ -z "$CC2" ] || set_cc "$CC1"
	ip -n "$TAG-c" route add default via 198.51.100.1
	ip -n "$TAG-h" route add default via 192.0.2.1
}

# Home services, the same for every stack: iperf3 servers are started per run (one-off).
services() {
	mkdir -p "$TMP/nginx"
	cat >"$TMP/nginx/nginx.conf" <<-EOF
		daemon off;
		worker_processes auto;
		pid $TMP/nginx/nginx.pid;
		error_log $TMP/nginx/error.log;
		events { worker_connections 4096; }
		http {
		    access_log off;
		    keepalive_requests 1000000;
		    client_body_temp_path $TMP/nginx/body;
		    proxy_temp_path $TMP/nginx/proxy;
		    fastcgi_temp_path $TMP/nginx/fastcgi;
		    uwsgi_temp_path $TMP/nginx/uwsgi;
		    scgi_temp_path $TMP/nginx/scgi;
		    server {
		        listen 8080 proxy_protocol backlog=4096;
		        location / { return 200 "\$proxy_protocol_addr\n"; }
		    }
		    server {
		        listen 8081 backlog=4096;
		        location / { return 200 "\$remote_addr\n"; }
		    }
		}
	EOF
	bg h nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" -e "$TMP/nginx/error.log"
	bg h socat TCP-LISTEN:9000,reuseaddr,fork EXEC:cat
	wait_for 5 listening h 8080 && wait_for 5 listening h 9000
}

# --- stacks ---------------------------------------------------------------------------------
# Each stack_<name> starts its daemons, fills DAEMON[role]=pid and sets where the client goes:
# IPERF (TCP, no PROXY header: iperf3 does not speak it), HTTP (nginx through the PROXY v2
# listener), ECHO (the integrity check) as host:port; UDP_TUN (vps -> home inside the tunnel) and
# UDP_FWD (client -> the gateway's Protocol = udp forward), empty when the stack has none.
PUB=198.51.100.1
keys() {
	local k
	for k in vps home; do
		(umask 077; wg genkey >"$TMP/$k.key")
		wg pubkey <"$TMP/$k.key" >"$TMP/$k.pub"
	done
}
haproxy_up() { # haproxy_up TARGET_ADDR: the hand-made gateway on the vps
	cat >"$TMP/haproxy.cfg" <<-EOF
		global
		    maxconn 8000
		defaults
		    mode tcp
		    timeout connect 5s
		    timeout client 60s
		    timeout server 60s
		listen iperf
		    bind $PUB:8000
		    server home $1:5201
		listen web
		    bind $PUB:8001
		    server home $1:8080 send-proxy-v2
		listen echo
		    bind $PUB:8002
		    server home $1:9000
	EOF
	bg v haproxy -db -f "$TMP/haproxy.cfg"
	DAEMON[haproxy]=$LAST
	wait_for 5 listening v 8001
}
wggo_up() { # wggo_up BINARY: wireguard-go at both ends, configured with wg
	local bin=$1 side ifn
	for side in vps home; do
		ifn=$TAG${side:0:1}g
		bg "${side:0:1}" env LOG_LEVEL=error "$bin" -f "$ifn"
		DAEMON[wg-$side]=$LAST
		wait_for 10 test -S "/var/run/wireguard/$ifn.sock" || return 1
	done
	ns v wg set "${TAG}vg" private-key "$TMP/vps.key" listen-port 51820 \
		peer "$(cat "$TMP/home.pub")" allowed-ips 10.99.0.2/32 || return 1
	ns h wg set "${TAG}hg" private-key "$TMP/home.key" peer "$(cat "$TMP/vps.pub")" \
		endpoint 192.0.2.1:51820 allowed-ips 10.99.0.1/32 persistent-keepalive 25 || return 1
	ns v ip addr add 10.99.0.1/24 dev "${TAG}vg" && ns v ip link set "${TAG}vg" up &&
		ns h ip addr add 10.99.0.2/24 dev "${TAG}hg" && ns h ip link set "${TAG}hg" up
}
porthole_conf() { # porthole_conf vps|home [forwards]
	# Each tunnel keeps its own default MTU (wireguard-go 1420, porthole up 1408) unless
	# BENCH_PORTHOLE_MTU gives porthole another, e.g. 1420 for a same-MTU comparison.
	local mtu=""
	[ -n "${BENCH_PORTHOLE_MTU:-}" ] && mtu="MTU = $BENCH_PORTHOLE_MTU\\n"
	if [ "$1" = vps ]; then
		printf "[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 10.99.0.1/24\n$mtu\n" \
			"$(cat "$TMP/vps.key")"
		printf '[Peer]\nPublicKey = %s\nAllowedIPs = 10.99.0.2/32\n' "$(cat "$TMP/home.pub")"
	else
		printf "[Interface]\nPrivateKey = %s\nAddress = 10.99.0.2/24\n$mtu\n" \
			"$(cat "$TMP/home.key")"
		printf '[Peer]\nPublicKey = %s\nEndpoint = 192.0.2.1:51820\n' "$(cat "$TMP/vps.pub")"
		printf 'AllowedIPs = 10.99.0.1/32\nPersistentKeepalive = 25\n'
	fi
	[ "${2:-}" = forwards ] || return 0
	# The same forwards as haproxy_up, plus UDP to the home iperf3 on the iperf port.
	cat <<-EOF

		[Forward]
		Name = iperf
		Listen = $PUB:8000
		Target = 10.99.0.2:5201
		MaxConnections = 8000

		[Forward]
		Name = web
		Listen = $PUB:8001
		Target = 10.99.0.2:8080
		SendProxy = v2
		MaxConnections = 8000

		[Forward]
		Name = echo
		Listen = $PUB:8002
		Target = 10.99.0.2:9000

		[Forward]
		Name = iperf-udp
		Listen = $PUB:8000
		Protocol = udp
		Target = 10.99.0.2:5201
	EOF
}
porthole_up() { # porthole_up [forwards]: porthole up at both ends
	local side ifn
	for side in home vps; do
		ifn=$TAG${side:0:1}p
		# The gateway is the vps; home only runs its end of the tunnel.
		(umask 077; porthole_conf "$side" "$([ $side = vps ] && echo "${1:-}")" >"$TMP/$ifn.conf")
		bg "${side:0:1}" env LOG_LEVEL=warning "$PORTHOLE" up "$TMP/$ifn.conf"
		DAEMON[porthole-$side]=$LAST
		wait_for 10 bash -c "ip -n $TAG-${side:0:1} link show $ifn | grep -q UP" || return 1
	done
}
tunnel_ok() {
	ns v ping -q -c 1 -W 1 -w 10 10.99.0.2 >/dev/null && ns h ping -q -c 1 -w 5 10.99.0.1 >/dev/null
}

stack_route() { # no tunnel, no gateway: the client talks to home through the vps router
	IPERF=192.0.2.2:5201 HTTP=192.0.2.2:8081 ECHO=192.0.2.2:9000 UDP_TUN='' UDP_FWD=''
}
stack_haproxy() { # HAProxy alone, forwarding straight to home's LAN address
	IPERF=$PUB:8000 HTTP=$PUB:8001 ECHO=$PUB:8002 UDP_TUN='' UDP_FWD=''
	haproxy_up 192.0.2.2
}
handmade() { # handmade BINARY
	IPERF=$PUB:8000 HTTP=$PUB:8001 ECHO=$PUB:8002 UDP_TUN=10.99.0.2 UDP_FWD=''
	wggo_up "$1" && tunnel_ok && haproxy_up 10.99.0.2
}
stack_wg12() { handmade "$WG12"; }
stack_wg13() { handmade "$WG13"; }
stack_pt-hap() { # porthole's tunnel with HAProxy as the gateway: the tunnel alone, compared
	IPERF=$PUB:8000 HTTP=$PUB:8001 ECHO=$PUB:8002 UDP_TUN=10.99.0.2 UDP_FWD=''
	porthole_up && tunnel_ok && haproxy_up 10.99.0.2
}
stack_porthole() {
	IPERF=$PUB:8000 HTTP=$PUB:8001 ECHO=$PUB:8002 UDP_TUN=10.99.0.2 UDP_FWD=$PUB:8000
	porthole_up forwards && tunnel_ok || return 1
	if ! wait_for 10 listening v 8001; then
		note "porthole: nothing listens on the [Forward]s (is the gateway built in?)"
		return 1
	fi
	wait_for 5 listening v 8000 u || { note "porthole: no UDP forward"; UDP_FWD=; }
}

# --- measurements ---------------------------------------------------------------------------
cpu_ticks() { # user+system clock ticks of every daemon of the stack, threads included
	local p t=0 f
	for p in "${DAEMON[@]}"; do
		f=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || f=0
		t=$((t + ${f:-0}))
	done
	echo "$t"
}
iperf_run() { # iperf_run NS_CLIENT HOST:PORT JSON ARGS...: one run against a one-off server
	local c=$1 hp=$2 out=$3 port=5201 p
	shift 3
	bg h iperf3 -s -1 -p $port >>"$TMP/iperf3-server.log" 2>&1
	p=$LAST
	wait_for 5 listening h $port
	ns "$c" timeout $((SECS + 20)) iperf3 -c "${hp%:*}" -p "${hp##*:}" -t "$SECS" -J "$@" \
		>"$out" 2>&1
	stop "$p"
}
gbits() { jq -r "(.end.$2.bits_per_second / 1e9 * 1000 | round) / 1000" "$1" 2>/dev/null; }
median() { # median VALUE...: of the numeric ones; empty when there are none
	printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
measure_tcp() { # measure_tcp STACK [SUFFIX]: SUFFIX ends each figure's name
	local s=$1 x=${2:-} dir p args t0 t1 bytes=0 b out r rates retrans
	t0=$(cpu_ticks)
	for dir in up down; do
		for p in 1 4; do
			args=(-P "$p")
			[ $dir = down ] && args+=(-R)
			rates=() retrans=()
			for ((r = 1; r <= REPEAT; r++)); do
				out=$TMP/$s-tcp$x-$dir-$p-$r.json
				iperf_run c "$IPERF" "$out" "${args[@]}"
				if ! b=$(jq -e '.end.sum_received.bytes' "$out" 2>/dev/null); then
					note "$s: iperf3 TCP $dir -P $p failed: $(jq -r '.error // empty' "$out" 2>/dev/null)"
					continue
				fi
				bytes=$((bytes + b))
				rates+=("$(gbits "$out" sum_received)")
				retrans+=("$(jq '.end.sum_sent.retransmits // 0' "$out")")
			done
			[ ${#rates[@]} -gt 0 ] || continue
			put "$s" "tcp_${dir}_p$p$x" "$(median "${rates[@]}")"
			put "$s" "tcp_${dir}_p${p}_retrans$x" "$(median "${retrans[@]}")"
		done
	done
	t1=$(cpu_ticks)
	[ ${#DAEMON[@]} -gt 0 ] && [ "$bytes" -gt 0 ] &&
		put "$s" "cpu_s_per_gb$x" "$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
			-v b="$bytes" 'BEGIN { printf "%.3f", t / hz / (b / 1e9) }')"
}
measure_udp() { # UDP_TUN: from the vps inside the tunnel; UDP_FWD: from the client, forwarded
	local s=$1 out
	if [ -n "$UDP_TUN" ]; then
		out=$TMP/$s-udp-tun.json
		iperf_run v "$UDP_TUN:5201" "$out" -u -b 0 -l 1350
		put "$s" udp_tunnel "$(gbits "$out" sum_received)"
		put "$s" udp_tunnel_loss_pct "$(jq '.end.sum_received.lost_percent | round' "$out")"
	fi
	if [ -n "$UDP_FWD" ]; then
		out=$TMP/$s-udp-fwd.json
		iperf_run c "$UDP_FWD" "$out" -u -b 0 -l 1350
		put "$s" udp_forward "$(gbits "$out" sum_received)"
		put "$s" udp_forward_loss_pct "$(jq '.end.sum_received.lost_percent | round' "$out")"
	fi
}
wrk_run() { # wrk_run STACK METRIC [wrk args]
	local s=$1 m=$2 out r rps=() errors=0
	shift 2
	for ((r = 1; r <= REPEAT; r++)); do
		out=$TMP/$s-$m-$r.wrk
		ns c timeout $((SECS + 20)) wrk -c 50 -t 2 -d "${SECS}s" "$@" "http://$HTTP/" \
			>"$out" 2>&1
		rps+=("$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")")
		errors=$((errors + $(awk '/Socket errors|Non-2xx/ { for (i = 1; i <= NF; i++)
			if ($i ~ /^[0-9]+,?$/) n += $i } END { print n + 0 }' "$out")))
	done
	put "$s" "$m" "$(median "${rps[@]}")"
	put "$s" "${m}_errors" "$errors"
}
lat_run() { # lat_run STACK PREFIX: the fixed-rate latency, as PREFIX_p50_ms and PREFIX_p99_ms
	local s=$1 m=$2 out r p50=() p99=() errors=0
	for ((r = 1; r <= REPEAT; r++)); do
		out=$TMP/$s-$m-$r.json
		ns c timeout $((SECS + 30)) "$TMP/loadgen" "${HTTP%:*}" "${HTTP##*:}" \
			"$LAT_RATE" "$SECS" "$LAT_CONNS" >"$out" 2>"$out.err"
		p50+=("$(jq '.p50_ms' "$out" 2>/dev/null)")
		p99+=("$(jq '.p99_ms' "$out" 2>/dev/null)")
		errors=$((errors + $(jq '.errors // 1' "$out" 2>/dev/null || echo 1)))
	done
	put "$s" "${m}_p50_ms" "$(median "${p50[@]}")"
	put "$s" "${m}_p99_ms" "$(median "${p99[@]}")"
	put "$s" "${m}_errors" "$errors"
}
busy_poll() { # busy_poll US: porthole's files at both ends with BusyPoll = US, reloaded
	local side ifn
	for side in home vps; do
		ifn=$TAG${side:0:1}p
		sed -i '/^BusyPoll = /d' "$TMP/$ifn.conf"
		[ "$1" = 0 ] || sed -i "/^\[Interface\]/a BusyPoll = $1" "$TMP/$ifn.conf"
		kill -HUP "${DAEMON[porthole-$side]}"
	done
	sleep 1
}
measure_http() {
	local s=$1
	wrk_run "$s" http_keepalive_rps
	wrk_run "$s" http_newconn_rps -H "Connection: close"
	lat_run "$s" lat
	# porthole's BusyPoll is off by default; its latency with it on, for the stacks that run
	# porthole. HAProxy's own busy-polling is left off: on these 2 CPUs it never yields and
	# makes the hand-made stack's p99 ten times worse (docs/design.md).
	[ -n "${DAEMON[porthole-vps]:-}" ] && [ "$BUSY_POLL" != 0 ] || return 0
	busy_poll "$BUSY_POLL"
	lat_run "$s" lat_busy
	busy_poll 0
}
measure_echo() { # ECHO_MB of random bytes there and back through the stack, compared
	local s=$1 a b
	a=$(sha256sum <"$TMP/echo.in" | cut -c1-64)
	ns c timeout 60 socat -t 30 STDIO "TCP:$ECHO" <"$TMP/echo.in" >"$TMP/echo.out" 2>/dev/null
	b=$(sha256sum <"$TMP/echo.out" | cut -c1-64)
	if [ "$a" = "$b" ]; then
		put "$s" intact yes
	else
		put "$s" intact no
		note "$s: the echo transfer came back different (truncated or corrupted):" \
			"$(stat -c %s "$TMP/echo.out") of $((ECHO_MB << 20)) bytes"
	fi
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
measure_rss() {
	local s=$1 role kb total=0
	for role in "${!DAEMON[@]}"; do
		kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/${DAEMON[$role]}/status" 2>/dev/null)
		[ -n "$kb" ] || { note "$s: $role is gone before the end"; continue; }
		put "$s" "rss_mb.$role" "$(mb "$kb")"
		total=$((total + kb))
	done
	[ ${#DAEMON[@]} -gt 0 ] && put "$s" rss_total_mb "$(mb "$total")"
}
run_stack() {
	local s=$1 t0=$SECONDS
	DAEMON=()
	say "stack $s"
	if ! "stack_$s" >>"$TMP/$s.log" 2>&1; then
		note "$s: did not come up; skipped (log: $(tail -n 3 "$TMP/$s.log" | tr '\n' ' '))"
		put "$s" up no
	else
		put "$s" up yes
		if [ "${BENCH_HOLD:-0}" = 1 ]; then
			say "holding $s up: namespaces $TAG-c, $TAG-v, $TAG-h; rm $TMP/hold to go on"
			touch "$TMP/hold"
			while [ -e "$TMP/hold" ]; do sleep 1; done
		fi
		for m in $MEASURE; do "measure_$m" "$s"; done
		measure_rss "$s"
	fi
	stack_down
	if [ -n "$CC2" ] && [[ " $MEASURE " == *" tcp "* ]]; then
		set_cc "$CC2"
		DAEMON=()
		if "stack_$s" >>"$TMP/$s.log" 2>&1; then
			measure_tcp "$s" "_cc2"
		else
			note "$s: did not come up under $CC2"
		fi
		stack_down
		set_cc "$CC1"
	fi
	say "stack $s: $((SECONDS - t0)) s"
}
stack_down() {
	local p
	for p in "${DAEMON[@]}"; do stop "$p"; done
	# The next stack reuses the ports and addresses.
	wait_for 5 bash -c "! ip netns exec $TAG-v ss -Hltn | grep -q ':800[0-2] '"
}

# --- main -----------------------------------------------------------------------------------
WG12=$(command -v wireguard-go || "$HERE/fetch-wireguard-go.sh" bookworm 2>>"$TMP/fetch.log")
if WG13=$("$HERE/fetch-wireguard-go.sh" trixie 2>>"$TMP/fetch.log"); then
	WG13_VERSION="$(cat "$HERE/cache/trixie/version") (Debian 13)"
else
	note "Debian 13's wireguard-go could not be fetched ($(tail -n 1 "$TMP/fetch.log")):" \
		"wg13 falls back to Debian 12's"
	WG13=$WG12
	WG13_VERSION="fallback to Debian 12's"
fi
WG12_VERSION="$(dpkg-query -W -f '${Version}' wireguard-go 2>/dev/null || echo "?") (Debian 12)"
[ -x "$PORTHOLE" ] || note "no porthole binary at $PORTHOLE"
${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -o "$TMP/loadgen" "$HERE/loadgen.c" ||
	{ echo "bench: cannot build bench/loadgen.c" >&2; exit 1; }
head -c $((ECHO_MB << 20)) /dev/urandom >"$TMP/echo.in"
: >"$TMP/notes"
topology || { echo "bench: cannot build the topology" >&2; exit 1; }
services || { echo "bench: home services did not start" >&2; exit 1; }
keys
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STAT0=$(head -n 1 /proc/stat) # for the share of CPU time the hypervisor took during the run
KDAMOND0=$(kdamond_ticks)
for s in $STACKS; do
	declare -F "stack_$s" >/dev/null || note "unknown stack $s"
done
# Rounds rather than one stack at a time: a noisy minute of the VM then costs every stack a run
# instead of one stack its whole figure.
for ((round = 1; round <= ROUNDS; round++)); do
	say "round $round of $ROUNDS"
	for s in $STACKS; do
		declare -F "stack_$s" >/dev/null && run_stack "$s"
	done
done

mkdir -p "$RESULTS_DIR"
kdamond=$(awk -v a="$KDAMOND0" -v b="$(kdamond_ticks)" -v hz="$(getconf CLK_TCK)" \
	'BEGIN { printf "%.1f", (b - a) / hz }')
# /proc/stat's cpu line: user nice system idle iowait irq softirq steal, in ticks.
steal=$(printf '%s\n%s\n' "$STAT0" "$(head -n 1 /proc/stat)" | awk '
	{ t = 0; for (i = 2; i <= 9; i++) t += $i; tot[NR] = t; st[NR] = $9 }
	END { d = tot[2] - tot[1]; printf "%.1f", (d > 0 ? 100 * (st[2] - st[1]) / d : 0) }')
python3 "$HERE/report.py" --tsv "$TSV" --notes "$TMP/notes" --json "$RESULTS_DIR/latest.json" \
	--doc "$([ "${BENCH_DOC:-1}" = 1 ] && echo "$ROOT/docs/performance.md")" \
	--meta started="$started" seconds="$SECS" rounds="$ROUNDS" repeat="$REPEAT" lat_rate="$LAT_RATE" lat_conns="$LAT_CONNS" busy_poll="$BUSY_POLL" \
	echo_mb="$ECHO_MB" stacks="$STACKS" wg12="$WG12_VERSION" wg13="$WG13_VERSION" \
	porthole="$("$PORTHOLE" version 2>/dev/null | head -n 1)" \
	porthole_mtu="${BENCH_PORTHOLE_MTU:-1408 (its default)}" \
	cc="$CC1$([ -n "${BENCH_CC:-}" ] || echo " (the machine default)")" cc2="$CC2" \
	command="${BENCH_COMMAND:-bench/run.sh}" steal_pct="$steal" \
	preempt="$(preempt_model)" damon="$(damon_threads)" kdamond_s="$kdamond"
