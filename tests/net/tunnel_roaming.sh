# Roaming: one side (the roamer) moves to a new UDP port, then to a new address; the other side
# (the observer) must follow from the authenticated packets alone: `wg show IF endpoints` shows
# the new endpoint and ping keeps working both ways. The observer is wireguard-go in one case and
# porthole in the others.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd wg wireguard-go ping

netns_add r
netns_add o
veth r o 192.0.2.1/24 192.0.2.2/24
addr r eth-o 2001:db8::1/64
addr o eth-r 2001:db8::2/64
keypair r
keypair o

endpoint_is() { # endpoint_is IF WANT: the observer's endpoint for the roamer
	[ "$(peer_field o "$1" r 3)" = "$2" ]
}
# A few pings from the roamer: its packets carry the new source to the observer.
nudge() { ns r timeout 5 ping -n -q -c 3 -i 0.2 -W 1 "$1" >/dev/null 2>&1; true; }

# roam N ROAMER OBSERVER FAMILY OBSERVER_KNOWS(yes|no)
roam() {
	local n=$1 impl_r=$2 impl_o=$3 fam=$4 knows=$5
	local ir=${TAG}r$n io=${TAG}o$n pr=$((52000 + n * 10)) po=$((52001 + n * 10))
	local new_port=$((52005 + n * 10)) r4=10.$n.0.1 o4=10.$n.0.2
	local hs old_host new_host o_host new_cidr old_cidr known=()

	if [ "$fam" = 4 ]; then
		old_host=192.0.2.1 new_host=192.0.2.11 o_host=192.0.2.2
		old_cidr=192.0.2.1/24 new_cidr=192.0.2.11/24
	else
		old_host='[2001:db8::1]' new_host='[2001:db8::11]' o_host='[2001:db8::2]'
		old_cidr=2001:db8::1/64 new_cidr=2001:db8::11/64
	fi
	[ "$knows" = yes ] && known=(endpoint "$old_host:$pr")
	echo "# $n: $impl_r roams over IPv$fam, $impl_o observes (configured endpoint: $knows)"
	check "$n: $impl_r starts" wg_iface "$impl_r" r "$ir" r "$pr" "$r4/24"
	check "$n: $impl_o starts" wg_iface "$impl_o" o "$io" o "$po" "$o4/24"
	check "$n: roamer gets the observer" wg_peer r "$ir" o allowed-ips "$o4/32" \
		endpoint "$o_host:$po"
	check "$n: observer gets the roamer" wg_peer o "$io" r allowed-ips "$r4/32" "${known[@]}"
	check "$n: ping from the roamer" pings r "$o4"
	check "$n: observer sees $old_host:$pr" endpoint_is "$io" "$old_host:$pr"

	hs=$(peer_field o "$io" r 5)
	check "$n: roamer moves to port $new_port" ns r wg set "$ir" listen-port "$new_port"
	nudge "$o4"
	check "$n: observer sees $old_host:$new_port" wait_for 5 endpoint_is "$io" "$old_host:$new_port"
	check "$n: wg show endpoints agrees" bash -c "ip netns exec $TAG-o wg show $io endpoints |
		grep -qF '$old_host:$new_port'"
	check "$n: ping from the observer reaches the new port" pings o "$r4"

	check "$n: roamer's address changes" bash -c "ip -n $TAG-r addr del $old_cidr dev eth-o &&
		ip -n $TAG-r addr add $new_cidr dev eth-o nodad"
	# porthole notices by itself that its remembered source address is gone; wireguard-go
	# (v0.0.20220316) keeps sending from it for a handshake timeout or so, until its sockets
	# are rebound, so it gets a rebind as a moving host's roaming daemon would do.
	if [ "$impl_r" = wggo ]; then
		new_port=$((new_port + 1))
		check "$n: wireguard-go rebinds to port $new_port" \
			ns r wg set "$ir" listen-port "$new_port"
	fi
	nudge "$o4"
	check "$n: observer sees $new_host:$new_port" wait_for 5 endpoint_is "$io" "$new_host:$new_port"
	check "$n: ping from the observer reaches the new address" pings o "$r4"
	check "$n: ping from the roamer still works" pings r "$o4"
	check "$n: the session survived the moves (same handshake)" \
		test "$(peer_field o "$io" r 5)" = "$hs"

	# Put the address back for the next case.
	ip -n "$TAG-r" addr del "$new_cidr" dev eth-o
	addr r eth-o "$old_cidr"
	check "$n: roamer stops" wg_down "$ir"
	check "$n: observer stops" wg_down "$io"
}

roam 1 porthole wggo 4 no
roam 2 wggo porthole 4 no
roam 3 porthole porthole 6 yes
roam 4 wggo porthole 6 yes
finish
