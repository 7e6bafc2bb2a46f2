# Gateway, SNI routing: two TLS services at home (openssl s_server, each with its own
# certificate) behind one public port, told apart by the ClientHello's server name. The client
# verifies each certificate against its own CA file and host name: end to end, with no key on
# the gateway. An unknown name (or none) with no default forward is closed; a default forward
# takes it.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd openssl wg

gw_topology || exit 1
cert() { # cert NAME SAN: a self-signed EC certificate $TMP/NAME.pem with key $TMP/NAME.key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$1" -addext "subjectAltName=$2" \
		-keyout "$TMP/$1.key" -out "$TMP/$1.pem" 2>/dev/null
}
check "certificates generated" bash -c "$(declare -f cert); TMP=$TMP; \
	cert a.example.org DNS:a.example.org && \
	cert b.example.org 'DNS:b.example.org,DNS:*.b.example.org'"

gw_forward Name=sni-a Listen=0.0.0.0:443 Target=10.99.0.2:4431 ServerName=a.example.org
gw_forward Name=sni-b Listen=0.0.0.0:443 Target=10.99.0.2:4432 \
	"ServerName=B.example.org, *.b.example.org"
gw_forward Name=sni-a2 Listen=0.0.0.0:8443 Target=10.99.0.2:4431 ServerName=a.example.org
gw_forward Name=fallback Listen=0.0.0.0:8443 Target=10.99.0.2:4432
# SendProxy = v2 on a named forward: the header's AUTHORITY TLV carries the SNI, which HAProxy
# at home (accept-proxy, in front of service a) reads back as fc_pp_authority.
gw_forward Name=sni-pp Listen=0.0.0.0:8444 Target=10.99.0.2:4441 ServerName=a.example.org \
	SendProxy=v2
gw_require "tunnel and gateway up" gw_up
haproxy_start home hap "global
  log stdout format raw local0
defaults
  mode tcp
  log global
  timeout client 10s
  timeout server 10s
  timeout connect 5s
listen pp
  bind 10.99.0.2:4441 accept-proxy
  log-format \"seen %ci:%cp authority=%[fc_pp_authority]\"
  server a 10.99.0.2:4431"
for s in a:4431 b:4432; do
	bg home openssl s_server -rev -accept "10.99.0.2:${s#*:}" -cert "$TMP/${s%%:*}.example.org.pem" \
		-key "$TMP/${s%%:*}.example.org.key" >"$TMP/server-${s%%:*}.log" 2>&1 </dev/null
done
gw_require "TLS services listening" wait_for 5 bash -c \
	"ip netns exec $TAG-home ss -Hltn | grep -q :4431 && ip netns exec $TAG-home ss -Hltn | grep -q :4432"

# tls PORT NAME CA_NAME [MESSAGE]: a verified handshake through the gateway, sending MESSAGE.
tls() {
	local port=$1 name=$2 ca=$3 msg=${4:-}
	# stdin stays open a moment: s_client quits at its end, maybe before the answer
	{ printf '%s\n' "$msg"; sleep 1; } | ns client timeout 6 openssl s_client -connect "198.51.100.1:$port" \
		${name:+-servername "$name"} ${name:+-verify_hostname "$name"} -verify_return_error \
		-CAfile "$TMP/$ca.pem" ${ALPN:+-alpn "$ALPN"} 2>&1
}
# reaches PORT NAME CERT_NAME: verified, the certificate is CERT_NAME's, and a line sent after
# the handshake comes back reversed (s_server -rev). s_client prints "Verify return code: 0"
# even when no certificate arrived: the subject line is what shows a handshake happened.
reaches() {
	local out msg=hello-$2-$1
	out=$(tls "$1" "$2" "$3" "$msg") || { echo "$out" | tail -n 5; return 1; }
	echo "$out" | grep -E '^subject=|^Verify return code|olleh'
	echo "$out" | grep -q "^subject=CN *= *$3$" &&
		echo "$out" | grep -q '^Verify return code: 0 (ok)' &&
		echo "$out" | grep -qF "$(rev <<<"$msg")"
}
refused() { # refused PORT [NAME]: closed by the gateway (s_client did not time out), no certificate
	local out rc
	out=$(tls "$1" "${2:-}" a.example.org)
	rc=$?
	echo "$out" | tail -n 5
	[ "$rc" -ne 124 ] && ! echo "$out" | grep -q 'BEGIN CERTIFICATE\|^subject='
}
check "a.example.org gets a's certificate, verified" reaches 443 a.example.org a.example.org
check "b.example.org gets b's certificate, verified" reaches 443 b.example.org b.example.org
check "x.b.example.org (wildcard) gets b's certificate" reaches 443 x.b.example.org b.example.org
wrong_ca() { ! tls 443 a.example.org b.example.org >/dev/null; }
check "control: a's certificate does not verify against b's CA" wrong_ca
check "an unknown name with no default is closed" refused 443 c.example.org
check "a ClientHello without SNI and no default is closed" refused 443
not_tls() {
	local out
	out=$(tcp_raw client 198.51.100.1 443 'GET / HTTP/1.0\r\n\r\n')
	echo "answer '$out' after $(cat "$TMP/raw.ms") ms"
	[ -z "$out" ] && [ "$(cat "$TMP/raw.ms")" -lt 5000 ]
}
check "a non-TLS byte stream is closed" not_tls
# 20 ALPN names of 100 bytes: a ClientHello of over 2 kB, more than one segment on the way.
big_hello() {
	local ALPN
	ALPN=$(for i in $(seq 20); do printf 'p%02d%097d,' "$i" 0; done)
	ALPN=${ALPN%,} reaches 443 b.example.org b.example.org
}
check "a ClientHello over 2 kB (two segments) is routed" big_hello
check "second port: a.example.org by name" reaches 8443 a.example.org a.example.org
check "second port: another name goes to the default (b)" reaches 8443 c.b.example.org b.example.org
check "SendProxy = v2 behind SNI: verified end to end through HAProxy" \
	reaches 8444 a.example.org a.example.org
check "the v2 header carried the client and the SNI as AUTHORITY" wait_for 3 \
	grep -q 'seen 198.51.100.2:[0-9]* authority=a.example.org$' "$TMP/hap.log"
check "still serving on 443 after the refusals" reaches 443 a.example.org a.example.org
check "the gateway's file names no certificate or TLS key" \
	bash -c "! grep -v '^PrivateKey' '${GW_FWD_FILE:-$TMP/$GW_VPS.conf}' | grep -qi 'pem\|cert'"
if [ "$GW_STANDIN" != haproxy ]; then
	check "porthole logs the routed forward" wait_for 3 gw_log_has "$GW_VPS" 'sni-b.*198\.51\.100\.2'
fi
check "vps porthole still running" kill -0 "${GW_PID[$GW_VPS]}"
gw_finish
