# porthole-wg through wireguard-tools: what `wg show` reports, `wg showconf` | `wg setconf`,
# live `wg set` / `wg syncconf` changes under a running ping (no loss, no new handshake), and
# malformed requests on the configuration socket (an errno reply; the daemon carries on).
# The peer is wireguard-go.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd wg wireguard-go ping socat

netns_add a
netns_add b
veth a b 192.0.2.1/24 192.0.2.2/24
keypair a
keypair b
keypair c
psk ab
A=${TAG}a B=${TAG}b
check "porthole starts" wg_iface porthole a "$A" a 54000 10.0.0.1/24 fd00::1/64
check "wireguard-go starts" wg_iface wggo b "$B" b 54001 10.0.0.2/24 fd00::2/64
check "a gets peer b" wg_peer a "$A" b preshared-key "$TMP/ab.psk" \
	allowed-ips 10.0.0.2/32,fd00::2/128 endpoint 192.0.2.2:54001 persistent-keepalive 25
check "b gets peer a" wg_peer b "$B" a preshared-key "$TMP/ab.psk" allowed-ips 10.0.0.1/32,fd00::1/128
t0=$(date +%s)
check "ping across" pings a 10.0.0.2

# --- wg show -----------------------------------------------------------------------------------
show() { ns a wg show "$A" "$@"; }
field() { show "$1" | awk -v k="$(pub "$2")" '$1 == k { $1 = ""; sub(/^ /, ""); print }'; }
sorted_ips() { field allowed-ips "$1" | tr ' ' '\n' | sort | tr '\n' ' '; }
hs=$(field latest-handshakes b)
check "latest handshake is a recent Unix time ($hs, test began $t0)" \
	test "${hs:-0}" -ge $((t0 - 1)) -a "${hs:-0}" -le $(($(date +%s) + 1))
check "public key" test "$(show public-key)" = "$(pub a)"
check "private key" test "$(show private-key)" = "$(cat "$TMP/a.key")"
check "listen port" test "$(show listen-port)" = 54000
check "endpoint of b" test "$(field endpoints b)" = 192.0.2.2:54001
check "b learned a's endpoint" test "$(peer_field b "$B" a 3)" = 192.0.2.1:54000
check "allowed ips" test "$(sorted_ips b)" = "10.0.0.2/32 fd00::2/128 "
check "persistent keepalive 25" test "$(field persistent-keepalive b)" = 25
check "wireguard-go reports keepalive off" test "$(peer_field b "$B" a 8)" = off
check "preshared key" test "$(field preshared-keys b)" = "$(cat "$TMP/ab.psk")"
check "human-readable output" bash -c "out=\$(ip netns exec $TAG-a wg show $A) &&
	grep -q 'persistent keepalive: every 25 seconds' <<<\"\$out\" &&
	grep -q 'preshared key: (hidden)' <<<\"\$out\" && grep -q 'latest handshake: ' <<<\"\$out\" &&
	grep -q 'transfer: .* received, .* sent' <<<\"\$out\""

# Transfer: twenty 1028-byte IP packets are 20 * (16 + 1040 + 16) bytes on the wire each way.
read -r _ rxa0 txa0 <<<"$(show transfer)"
rxb0=$(peer_field b "$B" a 6) txb0=$(peer_field b "$B" a 7)
check "twenty 1000-byte pings" ns a ping -n -q -c 20 -i 0.05 -s 1000 -W 1 10.0.0.2
read -r _ rxa1 txa1 <<<"$(show transfer)"
rxb1=$(peer_field b "$B" a 6) txb1=$(peer_field b "$B" a 7)
check "a's sent bytes grew by at least 20 * 1072 ($((txa1 - txa0)))" test $((txa1 - txa0)) -ge 21440
check "a's sent bytes equal b's received bytes (+-1 keepalive)" \
	test $(( (txa1 - txa0) - (rxb1 - rxb0) )) -le 32 -a $(( (rxb1 - rxb0) - (txa1 - txa0) )) -le 32
check "a's received bytes equal b's sent bytes (+-1 keepalive)" \
	test $(( (rxa1 - rxa0) - (txb1 - txb0) )) -le 32 -a $(( (txb1 - txb0) - (rxa1 - rxa0) )) -le 32
# An idle tunnel with a 1 s keepalive: 32-byte keepalives reach b about once a second. As in
# the kernel, a new interval counts from the next packet, and switching keepalives on sends one.
check "keepalive off" ns a wg set "$A" peer "$(pub b)" persistent-keepalive off
check "shows off" test "$(field persistent-keepalive b)" = off
rxb0=$(peer_field b "$B" a 6)
check "keepalive set to 1 s" ns a wg set "$A" peer "$(pub b)" persistent-keepalive 1
sleep 3.5
rxb1=$(peer_field b "$B" a 6)
check "keepalives arrive while idle ($((rxb1 - rxb0)) bytes in 3.5 s)" \
	test $((rxb1 - rxb0)) -ge 64 -a $((rxb1 - rxb0)) -le 256
check "keepalive back to 25" ns a wg set "$A" peer "$(pub b)" persistent-keepalive 25
check "fwmark set" bash -c "ip netns exec $TAG-a wg set $A fwmark 0x1234 &&
	[ \"\$(ip netns exec $TAG-a wg show $A fwmark)\" = 0x1234 ]"
check "fwmark cleared" bash -c "ip netns exec $TAG-a wg set $A fwmark 0 &&
	[ \"\$(ip netns exec $TAG-a wg show $A fwmark)\" = off ]"
check "ping after the fwmark changes" pings a 10.0.0.2

# --- live changes under a running ping -------------------------------------------------------
echo "# live changes, ping -i 0.2 running"
hs0=$(field latest-handshakes b)
ns a ping -n -i 0.2 -w 9 -W 1 10.0.0.2 >"$TMP/ping.out" 2>&1 &
ping_pid=$!
sleep 0.5
check "add an allowed ip" bash -c "ip netns exec $TAG-a wg set $A peer $(pub b) \
	allowed-ips 10.0.0.2/32,fd00::2/128,10.9.0.0/24"
check "it shows" test "$(sorted_ips b)" = "10.0.0.2/32 10.9.0.0/24 fd00::2/128 "
check "remove it again" ns a wg set "$A" peer "$(pub b)" allowed-ips 10.0.0.2/32,fd00::2/128
check "it is gone" test "$(sorted_ips b)" = "10.0.0.2/32 fd00::2/128 "
check "change the keepalive" ns a wg set "$A" peer "$(pub b)" persistent-keepalive 15
check "it shows 15" test "$(field persistent-keepalive b)" = 15
check "add a peer" wg_peer a "$A" c allowed-ips 10.0.0.3/32 endpoint 192.0.2.3:54002
check "two peers" test "$(show peers | wc -l)" = 2
check "remove that peer" wg_peer a "$A" c remove
check "one peer" test "$(show peers)" = "$(pub b)"
ns a wg showconf "$A" >"$TMP/now.conf"
{ cat "$TMP/now.conf"; printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.3/32\n' "$(pub c)"; } |
	sed 's/^PersistentKeepalive = .*/PersistentKeepalive = 20/' >"$TMP/sync.conf"
check "wg syncconf adds a peer and changes the keepalive" ns a wg syncconf "$A" "$TMP/sync.conf"
check "two peers after syncconf" test "$(show peers | wc -l)" = 2
check "keepalive 20 after syncconf" test "$(field persistent-keepalive b)" = 20
check "c's allowed ips after syncconf" test "$(field allowed-ips c)" = 10.0.0.3/32
check "wg syncconf back removes it" ns a wg syncconf "$A" "$TMP/now.conf"
check "one peer after syncconf" test "$(show peers)" = "$(pub b)"
check "keepalive 15 after syncconf" test "$(field persistent-keepalive b)" = 15
wait "$ping_pid"
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$TMP/ping.out")
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TMP/ping.out")
check "the ping lost at most one packet ($got of $sent)" \
	test "${sent:-0}" -ge 30 -a "${got:-0}" -ge $((${sent:-0} - 1))
check "no new handshake was needed ($hs0)" test "$(field latest-handshakes b)" = "$hs0"

# --- showconf | setconf ------------------------------------------------------------------------
ns a wg showconf "$A" >"$TMP/show1.conf"
check "showconf has every field" bash -c "grep -c -e '^PrivateKey = ' -e '^ListenPort = 54000' \
	-e '^PublicKey = ' -e '^PresharedKey = ' -e '^AllowedIPs = ' -e '^Endpoint = 192.0.2.2:54001' \
	-e '^PersistentKeepalive = 15' $TMP/show1.conf | grep -qx 7"
check "setconf takes showconf's output" ns a wg setconf "$A" "$TMP/show1.conf"
ns a wg showconf "$A" >"$TMP/show2.conf"
check "and showconf gives it back unchanged" diff -u "$TMP/show1.conf" "$TMP/show2.conf"
check "ping after setconf" pings a 10.0.0.2

# --- malformed requests --------------------------------------------------------------------------
echo "# malformed requests"
ask() { printf "$1" | timeout 5 socat -t 2 - "UNIX-CONNECT:$WG_SOCK_DIR/$A.sock"; }
errno_reply() { # errno_reply REQUEST: the reply is one nonzero errno
	local r; r=$(ask "$1")
	echo "reply: $r"
	[[ $r =~ ^errno=-?[1-9][0-9]*$ ]]
}
check "unknown key" errno_reply 'set=1\nbogus=1\n\n'
check "bad private key" errno_reply 'set=1\nprivate_key=zz\n\n'
check "port out of range" errno_reply 'set=1\nlisten_port=99999\n\n'
check "short public key" errno_reply 'set=1\npublic_key=abc\n\n'
check "bad allowed ip for the live peer" errno_reply \
	"set=1\npublic_key=$(pub b | base64 -d | od -An -tx1 | tr -d ' \n')\nallowed_ip=10.0.0.300/32\n\n"
check "unknown operation gets an error or nothing" bash -c "! ask 'get=2\n\n' | grep -q '^errno=0'"
check "a half request, then hang-up" bash -c "printf 'set=1\nlisten_po' |
	timeout 5 socat - UNIX-CONNECT:$WG_SOCK_DIR/$A.sock; true"
check "a 200 kB line, then hang-up" bash -c "head -c 200000 /dev/zero | tr '\0' a |
	timeout 5 socat - UNIX-CONNECT:$WG_SOCK_DIR/$A.sock; true"
export -f ask
export A WG_SOCK_DIR
check "a good request on the same socket still works" bash -c "ask 'get=1\n\n' | grep -qx 'errno=0'"
check "the daemon still runs" kill -0 "${DAEMON_PID[$A]}"
check "wg show still works" test "$(show listen-port)" = 54000
check "the peer kept its allowed ips" test "$(sorted_ips b)" = "10.0.0.2/32 fd00::2/128 "
check "the tunnel still works" pings a 10.0.0.2
check "porthole stops" wg_down "$A"
finish
