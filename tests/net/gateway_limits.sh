# Gateway, limits and edges: AllowFrom, MaxConnections, MaxConnectionsPerSource, TCP
# IdleTimeout, resets passed on, and a file with only [Forward]s running as a plain forwarder
# (beside the tunnel daemon, reaching home without the tunnel). Targets are a sink at home that
# logs each connection it gets ("open PEER", "close PEER BYTES FIRST_BYTES").
. "$(dirname "$0")/lib.sh"
need_root
need_cmd socat python3 wg

gw_topology || exit 1
gw_forward Name=denied Listen=0.0.0.0:7301 Target=10.99.0.2:9000 AllowFrom=203.0.113.0/24
gw_forward Name=allowed Listen=0.0.0.0:7302 Target=10.99.0.2:9000 AllowFrom=198.51.100.0/24
gw_forward Name=max2 Listen=0.0.0.0:7303 Target=10.99.0.2:9000 MaxConnections=2
gw_forward Name=per1 Listen=0.0.0.0:7304 Target=10.99.0.2:9000 MaxConnectionsPerSource=1
gw_forward Name=idle Listen=0.0.0.0:7305 Target=10.99.0.2:9000 IdleTimeout=2s
gw_forward Name=reset Listen=0.0.0.0:7306 Target=10.99.0.2:9001
gw_require "tunnel and gateway up" gw_up
bg home python3 "$GW_FILES/tool.py" sink 0.0.0.0 9000 >"$TMP/sink.out" 2>&1
bg home python3 "$GW_FILES/tool.py" rst 0.0.0.0 9001 >"$TMP/rst.out" 2>&1
gw_require "home services listening" wait_for 5 bash -c \
	"ip netns exec $TAG-home ss -Hltn | grep -q :9000 && ip netns exec $TAG-home ss -Hltn | grep -q :9001"

opens() { grep -c '^open' "$TMP/sink.out"; }
send() { tcp_raw client 198.51.100.1 "$1" "$2"; } # send PORT TEXT
denied() {
	local before
	before=$(opens)
	send 7301 'DENIED\n' >/dev/null
	sleep 0.3
	echo "closed after $(cat "$TMP/raw.ms") ms"
	[ "$(opens)" -eq "$before" ] && [ "$(cat "$TMP/raw.ms")" -lt 2000 ]
}
check "AllowFrom without the client: closed, nothing reaches home" denied
check "AllowFrom with the client: passes" bash -c \
	"$(declare -f tcp_raw ns); TAG=$TAG TMP=$TMP; tcp_raw client 198.51.100.1 7302 'ALLOWED\n' >/dev/null
	sleep 0.3; grep -q \"b'ALLOWED\\\\\\\\n'\" '$TMP/sink.out'"

hold() { # hold PORT TEXT SECS: a connection sending TEXT, then open for SECS, in the background
	{ printf '%s\n' "$2"; sleep "$3"; } | ns client timeout 20 socat -t 1 - "TCP:198.51.100.1:$1" \
		>/dev/null 2>&1 &
	HELD+=($!)
}
at_most() { # at_most PORT N MARK: N+1 held connections, only N reach home at once
	local before i
	HELD=()
	before=$(opens)
	for i in $(seq $(($2 + 1))); do hold "$1" "$3-$i" 4; sleep 0.2; done
	sleep 1
	echo "reached home while held: $(( $(opens) - before ))"
	[ "$(( $(opens) - before ))" -eq "$2" ] || return 1
	# meanwhile the other forwards serve
	tcp_raw client 198.51.100.1 7302 "OTHER-$3\n" >/dev/null
	wait "${HELD[@]}"
	sleep 0.3
	grep -q "OTHER-$3" "$TMP/sink.out"
}
check "MaxConnections = 2: a third connection does not reach home meanwhile" at_most 7303 2 MAX
check "MaxConnectionsPerSource = 1: a second one from the client does not" at_most 7304 1 PER
check "the limited forward serves again once they closed" bash -c \
	"$(declare -f tcp_raw ns); TAG=$TAG TMP=$TMP; tcp_raw client 198.51.100.1 7303 'AGAIN\n' >/dev/null
	sleep 0.3; grep -q \"b'AGAIN\\\\\\\\n'\" '$TMP/sink.out'"

talk() { ns client timeout 15 python3 "$GW_FILES/tool.py" talk 198.51.100.1 "$@"; }
idle() { # a connection silent after one line is closed after IdleTimeout (2 s), not before
	local out
	out=$(talk 7305 IDLE 8)
	echo "$out"
	[[ $out =~ ^eof\ after\ (2\.|3\.|4\.) ]]
}
check "TCP IdleTimeout closes a silent connection" idle
reset() { # the service resets: the client sees a reset, not a clean end
	local out
	out=$(talk 7306 HELLO 5)
	echo "$out"
	[[ $out == "reset after "* ]] && grep -q '^reset' "$TMP/rst.out"
}
check "a reset from home is passed on to the client" reset

# A second daemon on the vps from a file with only a [Forward]: no interface, straight to home.
printf '[Forward]\nName = plain\nListen = 198.51.100.1:7400\nTarget = 192.0.2.2:9000\nSendProxy = v1\n' \
	>"$TMP/fwdonly.conf"
chmod 600 "$TMP/fwdonly.conf"
bg vps env LOG_LEVEL=debug "$PORTHOLE" up "$TMP/fwdonly.conf" >"$TMP/fwdonly.log" 2>&1
GW_PID[fwdonly]=${PIDS[-1]}
check "a forward-only file runs as a plain forwarder" wait_for 5 listening vps tcp 7400
fwd_only() {
	tcp_raw client 198.51.100.1 7400 'PLAIN\n' >/dev/null
	sleep 0.3
	grep "PLAIN" "$TMP/sink.out"
	grep -q "^close 192\.0\.2\.1:[0-9]* [0-9]* b'PROXY TCP4 198\.51\.100\.2 198\.51\.100\.1 [0-9]* 7400" \
		"$TMP/sink.out"
}
check "it forwards with a v1 header naming the client" fwd_only
check "it created no interface" bash -c "! ip netns exec $TAG-vps ip link show fwdonly 2>/dev/null"
if [ "$GW_STANDIN" != haproxy ]; then
	check "refusals and timeouts logged" bash -c "grep -q '^<[346]>denied: 198\.51\.100\.2' '$TMP/$GW_VPS.log' &&
		grep -q '^<[346]>idle: 198\.51\.100\.2.*idle' '$TMP/$GW_VPS.log'"
fi
gw_finish
