# Gateway, PROXY protocol outward: client -> vps:Listen -> tunnel -> home, where nginx
# (listen ... proxy_protocol) and HAProxy (accept-proxy) must see the client's own address and
# port, with SendProxy = v1 and v2, over IPv4 and IPv6 (a dual-stack [::] Listen).
. "$(dirname "$0")/lib.sh"
need_root
need_cmd nginx haproxy curl wg

gw_topology || exit 1
ip -n "$TAG-client" addr add 2001:db8:c::2/64 dev eth-vps nodad
ip -n "$TAG-vps" addr add 2001:db8:c::1/64 dev eth-client nodad

gw_forward Name=ngx-v1 Listen=0.0.0.0:8001 Target=10.99.0.2:8080 SendProxy=v1
gw_forward Name=ngx-v2 Listen=0.0.0.0:8002 Target=10.99.0.2:8080 SendProxy=v2
gw_forward Name=hap-v1 Listen=0.0.0.0:8003 Target=10.99.0.2:8090 SendProxy=v1
gw_forward Name=hap-v2 Listen=0.0.0.0:8004 Target=10.99.0.2:8090 SendProxy=v2
gw_forward Name=plain Listen=0.0.0.0:8005 Target=10.99.0.2:8081
gw_forward Name=ngx-v6 Listen=[::]:8006 Target=10.99.0.2:8080 SendProxy=v2
gw_forward Name=ngx-v6v1 Listen=[::]:8007 Target=10.99.0.2:8080 SendProxy=v1
gw_require "tunnel and gateway up" gw_up
# nginx answers with what it was told and logs it; port 8081 takes no PROXY header (a control:
# without SendProxy the home side sees only the gateway's tunnel address).
nginx_pp_start home nginx 10.99.0.2:8080
nginx_start home plain 'server { listen 10.99.0.2:8081; location / { return 200 "$remote_addr\n"; } }'
haproxy_start home hap "global
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  timeout client 10s
  timeout server 10s
  timeout connect 5s
frontend pp
  bind 10.99.0.2:8090 accept-proxy
  log-format \"seen %ci:%cp %fi:%fp %r\"
  http-request return status 200 content-type text/plain lf-string \"%[src] %[src_port] %[dst] %[dst_port]\n\""

gw_require "home services listening" wait_for 5 bash -c \
	"ip netns exec $TAG-home ss -Hltn | grep -q :8080 && ip netns exec $TAG-home ss -Hltn | grep -q :8090"

get() { http_get client "$@"; }
answer_is() { # answer_is EXPECTED URL LOCAL_PORT
	local got
	got=$(get "$2" "$3") || return 1
	echo "got '$got', want '$1'"
	[ "$got" = "$1" ]
}
check "nginx gets the client via v1" \
	answer_is "198.51.100.2 40001 198.51.100.1 8001" http://198.51.100.1:8001/v1 40001
check "nginx gets the client via v2" \
	answer_is "198.51.100.2 40002 198.51.100.1 8002" http://198.51.100.1:8002/v2 40002
check "HAProxy accept-proxy gets the client via v1" \
	answer_is "198.51.100.2 40003 198.51.100.1 8003" http://198.51.100.1:8003/ 40003
check "HAProxy accept-proxy gets the client via v2" \
	answer_is "198.51.100.2 40004 198.51.100.1 8004" http://198.51.100.1:8004/ 40004
check "without SendProxy home sees the gateway" answer_is "10.99.0.1" http://198.51.100.1:8005/ 40005
check "an IPv6 client arrives as itself via v2" \
	answer_is "2001:db8:c::2 40006 2001:db8:c::1 8006" "http://[2001:db8:c::1]:8006/v6" 40006
check "an IPv6 client arrives as itself via v1 (TCP6)" \
	answer_is "2001:db8:c::2 40008 2001:db8:c::1 8007" "http://[2001:db8:c::1]:8007/v6v1" 40008
# On a [::] socket an IPv4 client is ::ffff:198.51.100.2; either spelling names the client.
v4on6() {
	local got
	got=$(get http://198.51.100.1:8006/v4on6 40007) || return 1
	echo "got '$got'"
	[[ $got =~ ^(::ffff:)?198\.51\.100\.2\ 40007\ (::ffff:)?198\.51\.100\.1\ 8006$ ]]
}
check "an IPv4 client on the dual-stack listener" v4on6

# The logs of the services, not only the answers.
check "nginx access log shows the v1 client" grep -q '^198.51.100.2 40001 .* 10.99.0.1 /v1$' "$TMP/nginx.access"
check "nginx access log shows the v2 client" grep -q '^198.51.100.2 40002 .* 10.99.0.1 /v2$' "$TMP/nginx.access"
check "nginx access log shows the v6 client" grep -q '^2001:db8:c::2 40006 ' "$TMP/nginx.access"
check "HAProxy log shows the v2 client" wait_for 3 grep -q 'seen 198.51.100.2:40004 198.51.100.1:8004' "$TMP/hap.log"

# Several requests on one connection, and a few connections at once.
many() {
	local out
	out=$(ns client curl -sS --max-time 5 http://198.51.100.1:8002/a http://198.51.100.1:8002/b \
		http://198.51.100.1:8002/c) || return 1
	[ "$(grep -c '^198.51.100.2 ' <<<"$out")" -eq 3 ]
}
check "keep-alive: three requests on one forwarded connection" many
parallel() {
	local i fails=0 pids=()
	for i in $(seq 20); do
		get http://198.51.100.1:8004/ $((41000 + i)) >"$TMP/par.$i" &
		pids+=($!)
	done
	wait "${pids[@]}" # not a bare wait: the daemons are children of this shell too
	for i in $(seq 20); do
		grep -q "^198.51.100.2 $((41000 + i)) " "$TMP/par.$i" || fails=$((fails + 1))
	done
	echo "$fails of 20 wrong"
	[ "$fails" -eq 0 ]
}
check "20 parallel connections each carry their own client port" parallel

# porthole's connection log: one line per closed connection naming the forward and the client.
[ "$GW_STANDIN" = haproxy ] || {
	check "connection log names forward and client (v1)" \
		wait_for 3 gw_log_has "$GW_VPS" 'ngx-v1.*198\.51\.100\.2'
	check "connection log names forward and client (v6)" \
		wait_for 3 gw_log_has "$GW_VPS" 'ngx-v6.*2001:db8:c::2'
}
check "home porthole still running" kill -0 "${GW_PID[$GW_HOME]}"
check "vps porthole still running" kill -0 "${GW_PID[$GW_VPS]}"
gw_finish
