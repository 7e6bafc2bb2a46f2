# wg-quick with porthole-wg as its userspace implementation: `wg-quick up` brings up a working
# tunnel to wireguard-go (one with plain routes, one with AllowedIPs = 0.0.0.0/0, ::/0, which
# needs the fwmark and wg-quick's rules), and `wg-quick down` removes the interface, after
# which the detached daemon notices and exits, taking its socket with it.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd wg wg-quick wireguard-go ping

netns_add q
netns_add g
veth q g 192.0.2.1/24 192.0.2.2/24
addr q eth-g 2001:db8::1/64
addr g eth-q 2001:db8::2/64
keypair q
keypair g
G=${TAG}g
check "wireguard-go starts" wg_iface wggo g "$G" g 55001 10.0.0.2/24 fd00::2/64
check "wireguard-go holds an address beyond the tunnel" ns g ip addr add 203.0.113.1/32 dev lo
check "wireguard-go gets porthole's key" wg_peer g "$G" q allowed-ips 10.0.0.1/32,fd00::1/128
export WG_QUICK_USERSPACE_IMPLEMENTATION=$PORTHOLE_WG
# With LOG_LEVEL set the detached daemon keeps wg-quick's stderr: its log (and any sanitizer
# report) ends up in $TMP/NAME.log, which finish scans.
export LOG_LEVEL=info
quick_up() { ns q wg-quick up "$TMP/$1.conf" >>"$TMP/$1.log" 2>&1; }

# The detached daemon is the porthole process in the namespace.
daemon_pid() {
	local p exe; exe=$(readlink -f "$PORTHOLE")
	for p in $(ip netns pids "$TAG-q"); do
		[ "$(readlink -f "/proc/$p/exe" 2>/dev/null)" = "$exe" ] && echo "$p"
	done
}
gone() { ! kill -0 "$1" 2>/dev/null; }
link_gone() { ! ns q ip link show "$1" >/dev/null 2>&1; }

# quick NAME ALLOWEDIPS ENDPOINT: writes $TMP/NAME.conf for porthole's side
quick() {
	(umask 077; cat >"$TMP/$1.conf" <<-EOF
	[Interface]
	PrivateKey = $(cat "$TMP/q.key")
	ListenPort = 55000
	Address = 10.0.0.1/24, fd00::1/64
	MTU = 1380

	[Peer]
	PublicKey = $(pub g)
	AllowedIPs = $2
	Endpoint = $3
	PersistentKeepalive = 25
	EOF
	)
}

# --- plain routes, IPv4 endpoint -----------------------------------------------------------------
Q=${TAG}q
quick "$Q" "10.0.0.2/32, fd00::2/128" 192.0.2.2:55001
check "wg-quick up" quick_up "$Q"
check "the socket is there" test -S "$WG_SOCK_DIR/$Q.sock"
pid=$(daemon_pid)
check "porthole-wg runs detached (pid $pid)" test -n "$pid"
check "address 10.0.0.1/24" bash -c "ip -n $TAG-q addr show dev $Q | grep -qF 'inet 10.0.0.1/24'"
check "address fd00::1/64" bash -c "ip -n $TAG-q addr show dev $Q | grep -qF 'inet6 fd00::1/64'"
check "MTU 1380" bash -c "ip -n $TAG-q link show dev $Q | grep -q 'mtu 1380'"
check "wg show has the peer" test "$(ns q wg show "$Q" peers)" = "$(pub g)"
check "ping wireguard-go over IPv4" pings q 10.0.0.2
check "ping wireguard-go over IPv6" pings q fd00::2
check "1300-byte pings fit the MTU" ns q ping -n -q -c 3 -i 0.2 -s 1300 -M "do" -W 2 10.0.0.2
check "handshake recorded" handshake_done q "$Q" g
check "wg-quick down" ns q wg-quick down "$TMP/$Q.conf"
check "the interface is gone" link_gone "$Q"
check "the daemon exits" wait_for 5 gone "$pid"
check "the socket is gone" wait_for 5 sock_gone "$Q"

# --- everything through the tunnel, IPv6 endpoint ------------------------------------------------
D=${TAG}d
quick "$D" "0.0.0.0/0, ::/0" "[2001:db8::2]:55001"
check "wg-quick up (default route)" quick_up "$D"
pid=$(daemon_pid)
check "porthole-wg runs detached (pid $pid)" test -n "$pid"
check "wg-quick set a fwmark" bash -c "[ \"\$(ip netns exec $TAG-q wg show $D fwmark)\" != off ]"
check "wg-quick added its rules" bash -c "ip -n $TAG-q rule | grep -q 'not from all fwmark'"
check "ping wireguard-go over IPv4" pings q 10.0.0.2
check "ping wireguard-go over IPv6" pings q fd00::2
check "ping an address beyond it, by the default route" pings q 203.0.113.1
check "the outer packets stay outside (route get by mark)" bash -c "
	ip -n $TAG-q route get 2001:db8::2 mark \$(ip netns exec $TAG-q wg show $D fwmark) |
	grep -q 'dev eth-g'"
check "wg-quick down (default route)" ns q wg-quick down "$TMP/$D.conf"
check "the interface is gone" link_gone "$D"
check "the daemon exits" wait_for 5 gone "$pid"
check "the socket is gone" wait_for 5 sock_gone "$D"
check "wg-quick removed its rules" bash -c "! ip -n $TAG-q rule | grep -q 'not from all fwmark'"
check "no porthole process is left in the namespace" test -z "$(daemon_pid)"
check "the daemon logged its start and its end" bash -c "cat $TMP/$Q.log && grep -q 'porthole-wg running' $TMP/$Q.log &&
	grep -q -e 'interface deleted, exiting' -e 'interface gone, exiting' $TMP/$Q.log"
finish
