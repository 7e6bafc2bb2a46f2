# Gateway, tunnel restarts: with the home daemon stopped, a client connects to a forward with
# ConnectTimeout = 10s; home comes back a few seconds later and the connection goes through
# (delayed, not reset). Down for longer than a short ConnectTimeout, the client is closed after
# about that time. The gateway serves normally afterwards.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd nginx curl wg

gw_topology || exit 1
gw_forward Name=patient Listen=0.0.0.0:7201 Target=10.99.0.2:8080 SendProxy=v2 ConnectTimeout=10s
gw_forward Name=hasty Listen=0.0.0.0:7202 Target=10.99.0.2:8080 SendProxy=v2 ConnectTimeout=2s
gw_require "tunnel and gateway up" gw_up
# On the wildcard address: the tunnel's address goes away with the home daemon.
nginx_pp_start home nginx 8080
gw_require "nginx listening" wait_for 5 listening home tcp 8080
client_seen() { # client_seen PORT LOCAL_PORT: the answer names the client
	local out
	out=$(ns client curl -sS --max-time 20 --local-port "$2" "http://198.51.100.1:$1/")
	echo "got '$out'"
	[[ $out == "198.51.100.2 $2 "* ]]
}
check "before: a connection through the tunnel" client_seen 7201 44001

delayed() { # the client connects while home is down; home returns after 3 s
	local t0 ms rc
	gw_stop "$GW_HOME"
	no_ping vps 10.99.0.2 || { echo "tunnel still up"; return 1; }
	t0=$(date +%s%N)
	client_seen 7201 44002 >"$TMP/delayed.out" 2>&1 &
	local c=$!
	sleep 3
	gw_start home "$GW_HOME" || return 1
	wait "$c"; rc=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	cat "$TMP/delayed.out"; echo "answered after $ms ms"
	[ "$rc" -eq 0 ] && [ "$ms" -ge 3000 ] && [ "$ms" -lt 10000 ]
}
check "home restarted within ConnectTimeout: the connection goes through" delayed
check "the tunnel is back" gw_tunnel

gives_up() { # home down for good: the 2 s forward closes the client after about 2 s
	local t0 ms out
	gw_stop "$GW_HOME"
	t0=$(date +%s%N)
	out=$(ns client curl -sS --max-time 20 http://198.51.100.1:7202/ 2>&1)
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "curl: '$out' after $ms ms"
	! [[ $out == "198.51.100.2 "* ]] && [ "$ms" -ge 1500 ] && [ "$ms" -lt 6000 ]
}
check "home down past ConnectTimeout: the client is closed after about that time" gives_up
if [ "$GW_STANDIN" != haproxy ]; then
	check "the give-up is logged" gw_log_has "$GW_VPS" '^<[346]>hasty: 198\.51\.100\.2:[0-9]+ .*time'
fi
check "home back" gw_start home "$GW_HOME"
check "the tunnel is back again" gw_tunnel
check "after: connections go through" client_seen 7202 44003
check "after: and on the patient forward" client_seen 7201 44004
check "vps porthole still running" kill -0 "${GW_PID[$GW_VPS]}"
gw_finish
