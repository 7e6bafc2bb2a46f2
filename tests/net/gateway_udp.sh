# Gateway, UDP: a datagram service at home (an echo that answers with the source it saw)
# answers public clients through Protocol = udp forwards. Each client address gets its own flow
# (its own source port towards home), a flow is reused while active and expires after
# IdleTimeout (the next datagram arrives from a new port); SendProxy = v2 puts a v2 header
# (UDP over IPv4) in front of every datagram.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 wg

gw_topology || exit 1
gw_forward Name=echo Listen=0.0.0.0:5300 Protocol=udp Target=10.99.0.2:5300 IdleTimeout=2s
gw_forward Name=echo-pp Listen=0.0.0.0:5301 Protocol=udp Target=10.99.0.2:5301 SendProxy=v2 \
	IdleTimeout=2s
gw_require "tunnel and gateway up" gw_up
bg home python3 "$GW_FILES/tool.py" udpecho 10.99.0.2 5300 >"$TMP/echo.out" 2>&1
bg home python3 "$GW_FILES/tool.py" udpecho 10.99.0.2 5301 >"$TMP/echo-pp.out" 2>&1
gw_require "echo services listening" wait_for 5 bash -c \
	"ip netns exec $TAG-home ss -Hlun | grep -q :5300 && ip netns exec $TAG-home ss -Hlun | grep -q :5301"

send() { # send PORT SRCPORT MSG [SIZE]: the answer to one datagram from the client
	ns client timeout 6 python3 "$GW_FILES/tool.py" udpsend 198.51.100.1 "$@"
}
answer() { # answer SRCPORT MSG: sends to the plain echo, checks the answer, saves home's view
	local out
	out=$(send 5300 "$1" "$2")
	echo "$out"
	[[ $out =~ ^10\.99\.0\.1:([0-9]+)\ $2$ ]] && echo "${BASH_REMATCH[1]}" >"$TMP/port.$2"
}
p() { cat "$TMP/port.$1"; }
check "a datagram is answered through the tunnel" answer 50001 one
check "a second one from the same client" answer 50001 two
check "same client, same flow (same source port at home)" test "$(p one)" = "$(p two)"
check "another client port" answer 50002 other
check "another client, another flow" test "$(p one)" != "$(p other)"
sleep 1
check "still active after 1 s" answer 50001 three
check "activity keeps the flow" test "$(p one)" = "$(p three)"
sleep 3.5
check "after more than IdleTimeout idle" answer 50001 four
check "the flow expired: a new source port at home" test "$(p one)" != "$(p four)"
big() {
	local out
	out=$(send 5300 50003 big 1300)
	[[ $out == "10.99.0.1:"*" big$(printf '%01297d' 0 | tr 0 .)" ]]
}
check "a 1300-byte datagram arrives whole" big
many() { # 20 clients at once, each gets its own answer
	local i bad=0 pids=()
	for i in $(seq 20); do
		send 5300 $((51000 + i)) "c$i" >"$TMP/many.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq 20); do grep -q " c$i$" "$TMP/many.$i" || bad=$((bad + 1)); done
	echo "$bad of 20 unanswered or wrong"
	[ "$bad" -eq 0 ]
}
check "20 clients at once" many
ports() { awk '/ c[0-9]+$/ { split($1, a, ":"); print a[2] }' "$TMP/echo.out" | sort -u | wc -l; }
check "20 clients, 20 flows" test "$(ports)" -eq 20
pp() { # pp MSG: home saw a v2 header naming the client before MSG
	local out
	out=$(send 5301 50010 "$1")
	echo "$out"
	[[ $out =~ ^10\.99\.0\.1:[0-9]+\ PP\ 198\.51\.100\.2:50010\ 198\.51\.100\.1:5301\ $1$ ]]
}
check "SendProxy = v2: each datagram carries the client (v2 header, UDP over IPv4)" pp hello-pp
check "and the next datagram of the flow too" pp again-pp
if [ "$GW_STANDIN" != haproxy ]; then
	check "porthole logs the expired flow" gw_log_has "$GW_VPS" 'echo: 198\.51\.100\.2:50001 .*expired'
fi
check "vps porthole still running" kill -0 "${GW_PID[$GW_VPS]}"
gw_finish
