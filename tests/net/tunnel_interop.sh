# porthole-wg against porthole-wg and against wireguard-go, each side in turn the initiator: ping
# and short iperf3 runs (TCP and UDP, both directions) over IPv4 and IPv6, inside and outside,
# with and without a preshared key; then `wg show` on both sides must tell the same story.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd wg wireguard-go iperf3 jq ping

netns_add a
netns_add b
veth a b 192.0.2.1/24 192.0.2.2/24
addr a eth-b 2001:db8::1/64
addr b eth-a 2001:db8::2/64
keypair a
keypair b

# Only the initiator knows an endpoint, so only it can start the handshake; the responder
# learns the initiator's address from the handshake itself.
outer_of() { # outer_of SIDE FAMILY PORT
	local host
	case $1$2 in a4) host=192.0.2.1 ;; b4) host=192.0.2.2 ;; a6) host='[2001:db8::1]' ;; b6) host='[2001:db8::2]' ;; esac
	echo "$host:$3"
}

# agree N: what each side's `wg show` says about the other matches
agree() {
	local n=$1 ia=$2 ib=$3 fam=$4
	local ha hb rxa txa rxb txb
	check "$n: a has a latest handshake" handshake_done a "$ia" b
	check "$n: b has a latest handshake" handshake_done b "$ib" a
	check "$n: a's transfer counters are non-zero" counters_nonzero a "$ia" b
	check "$n: b's transfer counters are non-zero" counters_nonzero b "$ib" a
	ha=$(peer_field a "$ia" b 5); hb=$(peer_field b "$ib" a 5)
	check "$n: both sides date the handshake alike ($ha, $hb)" \
		test "${ha:-0}" -gt 0 -a "${hb:-0}" -gt 0 -a $(( ${ha:-0} - ${hb:-0} )) -le 2 \
		-a $(( ${hb:-0} - ${ha:-0} )) -le 2
	rxa=$(peer_field a "$ia" b 6); txa=$(peer_field a "$ia" b 7)
	rxb=$(peer_field b "$ib" a 6); txb=$(peer_field b "$ib" a 7)
	# Nothing arrives that was not sent (a keepalive may be in flight while we read).
	check "$n: b received no more than a sent ($rxb <= $txa)" test "${rxb:-1}" -le $(( ${txa:-0} + 256 ))
	check "$n: a received no more than b sent ($rxa <= $txb)" test "${rxa:-1}" -le $(( ${txb:-0} + 256 ))
	check "$n: b learned a's endpoint" test "$(peer_field b "$ib" a 3)" = "$(outer_of a "$fam" "$5")"
	check "$n: a kept b's endpoint" test "$(peer_field a "$ia" b 3)" = "$(outer_of b "$fam" "$6")"
}

# pair N IMPL_A IMPL_B OUTER(4|6) INNER(4|6) PSK(yes|no): a initiates to b
pair() {
	local n=$1 impl_a=$2 impl_b=$3 fam=$4 inner=$5 usepsk=$6
	local ia=${TAG}i${n}a ib=${TAG}i${n}b pa=$((51000 + n * 2)) pb=$((51001 + n * 2))
	local a4=10.$n.0.1 b4=10.$n.0.2 a6=fd00:$n::1 b6=fd00:$n::2 dst
	local what="$n: $impl_a -> $impl_b, outer IPv$fam, inner IPv$inner, psk $usepsk"
	local extra=()

	echo "# $what"
	check "$n: $impl_a starts" wg_iface "$impl_a" a "$ia" a "$pa" "$a4/24" "$a6/64"
	check "$n: $impl_b starts" wg_iface "$impl_b" b "$ib" b "$pb" "$b4/24" "$b6/64"
	if [ "$usepsk" = yes ]; then
		psk "p$n"
		extra=(preshared-key "$TMP/p$n.psk")
	fi
	check "$n: a gets peer b" wg_peer a "$ia" b "${extra[@]}" allowed-ips "$b4/32,$b6/128" \
		endpoint "$(outer_of b "$fam" "$pb")"
	check "$n: b gets peer a" wg_peer b "$ib" a "${extra[@]}" allowed-ips "$a4/32,$a6/128"
	check "$n: ping inner IPv4 from the initiator" pings a "$b4"
	check "$n: ping inner IPv6 from the initiator" pings a "$b6"
	check "$n: ping inner IPv4 back from the responder" pings b "$a4"
	[ "$inner" = 4 ] && dst=$b4 || dst=$b6
	check_iperf "$n: TCP a -> b" a b "$dst"
	check_iperf "$n: TCP b -> a (-R)" a b "$dst" -R
	check_iperf "$n: UDP a -> b" a b "$dst" -u -b 200M
	check_iperf "$n: UDP b -> a (-R)" a b "$dst" -u -b 200M -R
	agree "$n" "$ia" "$ib" "$fam" "$pa" "$pb"
	check "$n: a stops" wg_down "$ia"
	check "$n: b stops" wg_down "$ib"
}

pair 1 porthole porthole 4 4 no
pair 2 porthole wggo 4 6 yes
pair 3 wggo porthole 6 4 yes
pair 4 porthole wggo 6 4 no
pair 5 wggo porthole 4 6 no
pair 6 porthole porthole 6 6 yes
finish
