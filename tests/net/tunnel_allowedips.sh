# Cryptokey routing in porthole: a packet whose inner source lies outside its peer's allowed IPs
# is dropped after decryption (the peer's counters grow, the TUN sees nothing), and outgoing
# packets go to the peer with the longest matching prefix.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd wg wireguard-go ping

netns_add h
netns_add p1
netns_add p2
veth h p1 192.0.2.1/24 192.0.2.2/24
veth h p2 198.51.100.1/24 198.51.100.2/24
keypair h
keypair p1
keypair p2

tun_rx() { ns "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }
rx_of() { peer_field "$1" "$2" "$3" 6; }
tx_of() { peer_field "$1" "$2" "$3" 7; }

# --- Part 1: spoofed inner sources, from wireguard-go and from porthole, to porthole --------
# spoof N SENDER_IMPL: p1 (SENDER_IMPL) pings h (porthole) from an address h does not allow
spoof() {
	local n=$1 impl=$2 ih=${TAG}h$1 is=${TAG}s$1 ph=$((53000 + $1 * 2)) ps=$((53001 + $1 * 2))
	local rx0 tun0 rx1 tun1
	echo "# $n: $impl sends from outside its allowed IPs to porthole"
	check "$n: porthole starts" wg_iface porthole h "$ih" h "$ph" 10.$n.0.1/24 fd00:$n::1/64
	check "$n: $impl starts" wg_iface "$impl" p1 "$is" p1 "$ps" 10.$n.0.2/24 fd00:$n::2/64
	check "$n: peers configured" bash -c "
		ip netns exec $TAG-h wg set $ih peer $(pub p1) allowed-ips 10.$n.0.2/32,fd00:$n::2/128 &&
		ip netns exec $TAG-p1 wg set $is peer $(pub h) allowed-ips 10.$n.0.0/24,fd00:$n::/64 \
			endpoint 192.0.2.1:$ph"
	check "$n: ping from an allowed source" pings p1 10.$n.0.1
	addr p1 "$is" 10.$n.0.9/24
	addr p1 "$is" fd00:$n::9/64
	rx0=$(rx_of h "$ih" p1); tun0=$(tun_rx h "$ih")
	check "$n: no reply to an IPv4 source outside the allowed IPs" no_ping p1 10.$n.0.1 -I 10.$n.0.9
	check "$n: no reply to an IPv6 source outside the allowed IPs" no_ping p1 fd00:$n::1 -I fd00:$n::9
	rx1=$(rx_of h "$ih" p1); tun1=$(tun_rx h "$ih")
	check "$n: porthole received and authenticated them ($rx0 -> $rx1 bytes)" \
		test "$rx1" -ge $((rx0 + 6 * 32))
	check "$n: but wrote none to its TUN ($tun0 -> $tun1 packets)" test "$tun1" -eq "$tun0"
	check "$n: allowing 10.$n.0.9/32 live" ns h wg set "$ih" peer "$(pub p1)" \
		allowed-ips 10.$n.0.2/32,fd00:$n::2/128,10.$n.0.9/32
	check "$n: now 10.$n.0.9 gets replies" pings p1 10.$n.0.1 -I 10.$n.0.9
	check "$n: fd00:$n::9 still gets none" no_ping p1 fd00:$n::1 -I fd00:$n::9
	check "$n: the allowed source still works" pings p1 10.$n.0.1
	check "$n: porthole stops" wg_down "$ih"
	check "$n: $impl stops" wg_down "$is"
}
spoof 1 wggo
spoof 2 porthole

# --- Part 2: longest prefix match -------------------------------------------------------------
# h (porthole) has p1 (wireguard-go) with 10.0.0.0/16 and p2 (porthole) with 10.0.5.0/24; both
# p1 and p2 hold 10.0.5.5, so who answers shows where h sent the packet.
echo "# longest prefix: p1 has 10.0.0.0/16, p2 has 10.0.5.0/24"
H=${TAG}H P1=${TAG}P1 P2=${TAG}P2
check "hub (porthole) starts" wg_iface porthole h "$H" h 53100 10.0.0.1/16
check "p1 (wireguard-go) starts" wg_iface wggo p1 "$P1" p1 53101 10.0.1.1/16 10.0.5.5/32
check "p2 (porthole) starts" wg_iface porthole p2 "$P2" p2 53102 10.0.5.5/32
check "p2 routes the hub's /16 into the tunnel" ns p2 ip route add 10.0.0.0/16 dev "$P2"
check "hub gets p1 with 10.0.0.0/16" wg_peer h "$H" p1 allowed-ips 10.0.0.0/16 \
	endpoint 192.0.2.2:53101
check "hub gets p2 with 10.0.5.0/24" wg_peer h "$H" p2 allowed-ips 10.0.5.0/24 \
	endpoint 198.51.100.2:53102
check "p1 gets the hub" wg_peer p1 "$P1" h allowed-ips 10.0.0.0/16 endpoint 192.0.2.1:53100
check "p2 gets the hub" wg_peer p2 "$P2" h allowed-ips 10.0.0.0/16 endpoint 198.51.100.1:53100
check "hub reaches p1 at 10.0.1.1" pings h 10.0.1.1
check "hub reaches p2 at 10.0.5.5" pings h 10.0.5.5

tx1=$(tx_of h "$H" p1) tx2=$(tx_of h "$H" p2) rx2=$(rx_of p2 "$P2" h) rx1=$(rx_of p1 "$P1" h)
check "ten pings to 10.0.5.5 answered" ns h ping -n -q -c 10 -i 0.1 -W 1 10.0.5.5
check "they went to p2, the /24 ($tx2 -> $(tx_of h "$H" p2) bytes)" \
	test "$(tx_of h "$H" p2)" -ge $((tx2 + 10 * 100))
check "p2 received them" test "$(rx_of p2 "$P2" h)" -ge $((rx2 + 10 * 100))
check "p1, the /16, got less than a ping's worth ($tx1 -> $(tx_of h "$H" p1))" \
	test "$(tx_of h "$H" p1)" -lt $((tx1 + 100))
check "p1 saw nothing of them" test "$(rx_of p1 "$P1" h)" -lt $((rx1 + 100))
check "10.0.5.0/24 is in p2's allowed ips" \
	bash -c "ip netns exec $TAG-h wg show $H allowed-ips | grep -F '$(pub p2)' | grep -qF 10.0.5.0/24"

# p1 answering from 10.0.5.5 is outside what the hub allows p1 while p2 has the /24.
check "p1 cannot source 10.0.5.5 while p2 holds the /24" no_ping p1 10.0.0.1 -I 10.0.5.5
check "removing p2's /24 live" wg_peer h "$H" p2 allowed-ips ""
tx1=$(tx_of h "$H" p1) tx2=$(tx_of h "$H" p2)
check "10.0.5.5 now answers through p1" ns h ping -n -q -c 5 -i 0.1 -W 1 -w 8 10.0.5.5
check "those went to p1 ($tx1 -> $(tx_of h "$H" p1))" test "$(tx_of h "$H" p1)" -ge $((tx1 + 5 * 100))
check "and none to p2" test "$(tx_of h "$H" p2)" -lt $((tx2 + 100))
check "hub stops" wg_down "$H"
finish
