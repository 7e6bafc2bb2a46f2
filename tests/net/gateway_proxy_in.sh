# Gateway, PROXY protocol inward: HAProxy (send-proxy, send-proxy-v2) in front of porthole
# AcceptProxy listeners on the vps. porthole must log the first client and pass it on (SendProxy
# = v2 to nginx at home); "optional" takes plain and PROXY connections on one port; a header from
# a source outside TrustedProxies, or no header where one is required, closes the connection.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd nginx haproxy curl socat wg

gw_topology || exit 1
gw_forward Name=in-req Listen=0.0.0.0:7001 Target=10.99.0.2:8080 SendProxy=v2 \
	AcceptProxy=required TrustedProxies=127.0.0.1/32
gw_forward Name=in-opt Listen=0.0.0.0:7002 Target=10.99.0.2:8080 SendProxy=v2 \
	AcceptProxy=optional TrustedProxies=127.0.0.1/32
gw_require "tunnel and gateway up" gw_up
nginx_pp_start home nginx 10.99.0.2:8080
# The public side of the vps: HAProxy hands each connection to porthole on loopback.
haproxy_start vps hap "global
  log stdout format raw local0
defaults
  mode tcp
  log global
  timeout client 10s
  timeout server 10s
  timeout connect 5s
listen req-v1
  bind 198.51.100.1:9001
  server gw 127.0.0.1:7001 send-proxy
listen req-v2
  bind 198.51.100.1:9002
  server gw 127.0.0.1:7001 send-proxy-v2
listen opt-v1
  bind 198.51.100.1:9003
  server gw 127.0.0.1:7002 send-proxy
listen opt-v2
  bind 198.51.100.1:9004
  server gw 127.0.0.1:7002 send-proxy-v2"
gw_require "nginx and HAProxy listening" wait_for 5 bash -c \
	"ip netns exec $TAG-home ss -Hltn | grep -q :8080 && ip netns exec $TAG-vps ss -Hltn | grep -q :9004"

client_seen() { # client_seen URL LOCAL_PORT: nginx at home names 198.51.100.2 and that port
	local got
	got=$(http_get client "$1" "$2") || return 1
	echo "got '$got'"
	[[ $got == "198.51.100.2 $2 "* ]]
}
check "required, HAProxy send-proxy: home sees the first client" \
	client_seen http://198.51.100.1:9001/req-v1 43001
check "required, HAProxy send-proxy-v2: home sees the first client" \
	client_seen http://198.51.100.1:9002/req-v2 43002
check "optional, HAProxy send-proxy: home sees the first client" \
	client_seen http://198.51.100.1:9003/opt-v1 43003
check "optional, HAProxy send-proxy-v2: home sees the first client" \
	client_seen http://198.51.100.1:9004/opt-v2 43004
check "optional, plain connection on the same port: home sees the client" \
	client_seen http://198.51.100.1:7002/opt-plain 43005
# Plain traffic that starts like a header: detection must give back every byte it looked at.
post() {
	local got
	got=$(ns client curl -sS --max-time 5 --local-port 43008 -d x=1 http://198.51.100.1:7002/post)
	echo "got '$got'"
	[[ $got == "198.51.100.2 43008 "* ]] && grep -q ' /post$' "$TMP/nginx.access"
}
check "optional, plain POST (shares the P of PROXY) arrives whole" post
crlf() { # a leading CRLF pair, as the v2 signature starts; HTTP servers skip empty lines
	local out
	out=$(tcp_raw client 198.51.100.1 7002 '\r\nGET /crlf HTTP/1.0\r\n\r\n')
	echo "$out" | head -n 1
	[[ $out == "HTTP/1.1 200 OK"* ]] && grep -q ' /crlf$' "$TMP/nginx.access"
}
check "optional, plain data starting with CRLF (the v2 signature's start) arrives whole" crlf
if [ "$GW_STANDIN" != haproxy ]; then
	check "porthole logs the first client (required, v1)" \
		wait_for 3 gw_log_has "$GW_VPS" 'in-req.*198\.51\.100\.2.?43001'
	check "porthole logs the first client (optional, v2)" \
		wait_for 3 gw_log_has "$GW_VPS" 'in-opt.*198\.51\.100\.2.?43004'
	check "porthole does not log HAProxy's address as the client" \
		bash -c "! grep -E 'in-(req|opt).*127\.0\.0\.1' '$TMP/$GW_VPS.log' | grep -vi 'trusted'"
fi

# closed PORT MARK BYTES...: the client sends BYTES straight to the vps; the gateway closes at
# once (well before the 3 s header deadline) without an answer, and nothing reached nginx.
closed() {
	local port=$1 mark=$2 out; shift 2
	out=$(tcp_raw client 198.51.100.1 "$port" "$@")
	echo "answer: '$out' after $(cat "$TMP/raw.ms") ms"
	[ -z "$out" ] && [ "$(cat "$TMP/raw.ms")" -lt 2000 ] && sleep 0.3 &&
		! grep -q "$mark" "$TMP/nginx.access"
}
http="GET /%s HTTP/1.0\r\nHost: x\r\n\r\n"
check "a v1 header from an untrusted source is refused (optional)" \
	closed 7002 untrusted1 "PROXY TCP4 203.0.113.9 198.51.100.1 5555 7002\r\n$http" untrusted1
check "a v2 header from an untrusted source is refused (optional)" \
	closed 7002 untrusted2 "\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x0c\xcb\0\x71\x09\xc6\x33\x64\x01\x15\xb3\x1b\x5a$http" untrusted2
check "a header from an untrusted source is refused (required)" \
	closed 7001 untrusted3 "PROXY TCP4 203.0.113.9 198.51.100.1 5555 7001\r\n$http" untrusted3
check "a plain connection is refused where a header is required" \
	closed 7001 plainreq "$http" plainreq
[ "$GW_STANDIN" = haproxy ] || check "the refusals are logged with the real peer and a reason" \
	gw_log_has "$GW_VPS" '^<[34]>in-opt: 198\.51\.100\.2:[0-9]+ .*trusted'
check "the forged address never reached home" bash -c "! grep -q 203.0.113.9 '$TMP/nginx.access'"
check "still serving after the refusals (required)" \
	client_seen http://198.51.100.1:9002/after 43006
check "still serving after the refusals (optional, plain)" \
	client_seen http://198.51.100.1:7002/after 43007
check "vps porthole still running" kill -0 "${GW_PID[$GW_VPS]}"
gw_finish
