# `porthole up FILE` and `porthole check FILE`: a tunnel to wireguard-go from a wg-quick style
# file (addresses, MTU, routes and, for a default route, fwmark rules), torn down cleanly by
# SIGTERM; every file of tests/conf checked against its "# expect: LINE: text"; broken files
# refused with FILE:LINE before any interface exists; the private key never printed.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd wg wireguard-go ping
CONF_DIR=$(cd "$(dirname "$0")/../conf" && pwd)

netns_add u
netns_add g
veth u g 192.0.2.1/24 192.0.2.2/24
addr u eth-g 2001:db8::1/64
addr g eth-u 2001:db8::2/64
keypair u
keypair g
psk ug
G=${TAG}g
check "wireguard-go starts" wg_iface wggo g "$G" g 56001 10.0.0.2/24 fd00::2/64
check "wireguard-go holds addresses beyond the tunnel" bash -c "
	ip -n $TAG-g addr add 10.5.0.1/32 dev lo && ip -n $TAG-g addr add 203.0.113.1/32 dev lo"
check "wireguard-go gets porthole's key" wg_peer g "$G" u preshared-key "$TMP/ug.psk" \
	allowed-ips 10.0.0.1/32,fd00::1/128
PRIV=$(cat "$TMP/u.key")

# conf NAME ALLOWEDIPS ENDPOINT: porthole's side as $TMP/NAME.conf
conf() {
	(umask 077; cat >"$TMP/$1.conf" <<-EOF
	# porthole's end of the test tunnel
	[Interface]
	PrivateKey = $PRIV
	ListenPort = 56000
	Address = 10.0.0.1/24
	Address = fd00::1/64
	MTU = 1360

	[Peer]
	PublicKey = $(pub g)
	PresharedKey = $(cat "$TMP/ug.psk")
	AllowedIPs = $2
	Endpoint = $3
	EOF
	)
}
link_gone() { ! ns u ip link show "$1" >/dev/null 2>&1; }
route_dev() { ns u ip "$1" route show "$2" | grep -q "dev $3"; }
# up NAME: runs porthole up in the foreground, logging to $TMP/NAME.log; sets UP_PID
up() {
	bg u "$PORTHOLE" up "$TMP/$1.conf" >"$TMP/$1.log" 2>&1
	UP_PID=${PIDS[-1]}
	wait_for 10 test -S "$WG_SOCK_DIR/$1.sock" && wait_for 5 link_up "$1"
}
link_up() { ns u ip link show "$1" | grep -q ',UP'; }
# term NAME: SIGTERM, then the exit status must be 0 and everything gone
term() {
	local rc
	kill -TERM "$UP_PID"
	wait "$UP_PID"; rc=$?
	check "SIGTERM: exit status 0 (got $rc)" test "$rc" -eq 0
	check "SIGTERM: the interface is gone" link_gone "$1"
	check "SIGTERM: the socket is gone" sock_gone "$1"
}

# --- a tunnel with routes -------------------------------------------------------------------------
U=${TAG}u
conf "$U" "10.0.0.2/32, fd00::2/128, 10.5.0.0/16" 192.0.2.2:56001
check "porthole up" up "$U"
check "address 10.0.0.1/24" bash -c "ip -n $TAG-u addr show dev $U | grep -qF 'inet 10.0.0.1/24'"
check "address fd00::1/64" bash -c "ip -n $TAG-u addr show dev $U | grep -qF 'inet6 fd00::1/64'"
check "MTU 1360" bash -c "ip -n $TAG-u link show dev $U | grep -q 'mtu 1360'"
check "route 10.5.0.0/16" route_dev -4 10.5.0.0/16 "$U"
check "route fd00::2" route_dev -6 fd00::2 "$U"
check "wg show knows the peer and its endpoint" \
	test "$(ns u wg show "$U" endpoints)" = "$(pub g)	192.0.2.2:56001"
check "listening on port 56000" test "$(ns u wg show "$U" listen-port)" = 56000
check "ping over IPv4" pings u 10.0.0.2
check "ping over IPv6" pings u fd00::2
check "ping through the 10.5.0.0/16 route" pings u 10.5.0.1
check "handshake recorded" handshake_done u "$U" g
term "$U"
check "its routes went with it" bash -c "! ip -n $TAG-u route | grep -q 10.5.0.0/16"

# --- a default route: the fwmark and the two rules ---------------------------------------------
D=${TAG}d
conf "$D" "0.0.0.0/0, ::/0" "[2001:db8::2]:56001"
check "porthole up (default route)" up "$D"
check "a fwmark is set" bash -c "[ \"\$(ip netns exec $TAG-u wg show $D fwmark)\" != off ]"
check "IPv4 rules added" bash -c "ip -n $TAG-u -4 rule | grep -q 'not from all fwmark' &&
	ip -n $TAG-u -4 rule | grep -q 'lookup main suppress_prefixlength 0'"
check "IPv6 rules added" bash -c "ip -n $TAG-u -6 rule | grep -q 'not from all fwmark'"
check "ping over IPv4" pings u 10.0.0.2
check "ping over IPv6" pings u fd00::2
check "ping beyond the peer by the default route" pings u 203.0.113.1
term "$D"
check "SIGTERM: the rules are gone" bash -c "! ip -n $TAG-u rule | grep -q fwmark &&
	! ip -n $TAG-u -6 rule | grep -q fwmark"

# --- porthole check on tests/conf -------------------------------------------------------------------
echo "# porthole check tests/conf/*.conf"
expect_error() { # expect_error FILE LINE TEXT: exit 1 and "FILE:LINE: ...TEXT..." on stderr
	local out rc
	out=$("$PORTHOLE" check "$1" 2>&1); rc=$?
	echo "$out"
	[ "$rc" -eq 1 ] && grep -F "$1:$2: " <<<"$out" | grep -qF "$3"
}
for f in "$CONF_DIR"/*.conf; do
	exp=$(sed -n 's/^# expect: //p' "$f")
	case $(basename "$f") in
	good-*) check "check $(basename "$f") passes" "$PORTHOLE" check "$f" ;;
	*)
		if [ -z "$exp" ]; then
			bad "$(basename "$f") has no '# expect:' line"
			continue
		fi
		check "check $(basename "$f") says line ${exp%%:*}: ${exp#*: }" \
			expect_error "$f" "${exp%%:*}" "${exp#*: }"
		;;
	esac
done

# --- porthole up on broken files: nothing is created -----------------------------------------------
echo "# porthole up on broken files"
ns u ip monitor link >"$TMP/monitor.out" 2>&1 &
MON=$!
PIDS+=("$MON")
sleep 0.3
X=${TAG}x
up_refused() { # up_refused FILE: copied to $X.conf, up must fail with $X.conf:LINE
	local exp out rc
	exp=$(sed -n 's/^# expect: //p' "$1")
	cp "$1" "$TMP/$X.conf"
	chmod 600 "$TMP/$X.conf"
	out=$(ns u timeout 10 "$PORTHOLE" up "$TMP/$X.conf" 2>&1); rc=$?
	echo "$out" >>"$TMP/refused.log"
	echo "$out"
	[ "$rc" -eq 1 ] && grep -qF "$TMP/$X.conf:${exp%%:*}: " <<<"$out"
}
for f in bad-postup bad-key bad-mtu bad-endpoint bad-dup-peer bad-dns bad-table bad-saveconfig \
	bad-unknown-key bad-no-privkey bad-prefix; do
	check "up $f.conf exits 1 with FILE:LINE" up_refused "$CONF_DIR/$f.conf"
done
check "PostUp is refused with a reason" \
	grep -q "'PostUp' is not supported: porthole runs no commands" "$TMP/refused.log"
sed "s/^Endpoint = .*/Endpoint = host.invalid:56001/" "$TMP/$U.conf" >"$TMP/$X.conf"
check "an endpoint that does not resolve is refused before anything is created" \
	bash -c "! ip netns exec $TAG-u timeout 10 $PORTHOLE up $TMP/$X.conf 2>>$TMP/refused.log"
check "nothing was created: no interface $X" link_gone "$X"
check "no socket $X" sock_gone "$X"
# The monitor must see a link that does appear, or its silence proves nothing.
ns u ip link add "${TAG}y" type veth peer name "${TAG}z"
sleep 0.3
kill "$MON" 2>/dev/null
check "the link monitor saw a test link come" grep -q "${TAG}y" "$TMP/monitor.out"
check "but never saw $X appear" bash -c "! grep -q '$X' $TMP/monitor.out"

# --- the private key stays secret -------------------------------------------------------------------
for f in "$CONF_DIR"/*.conf; do "$PORTHOLE" check "$f"; done >"$TMP/check.log" 2>&1
check "the private key is not in porthole up's output" \
	bash -c "! grep -qF -- '$PRIV' $TMP/$U.log $TMP/$D.log $TMP/refused.log"
check "(and there was output to look at)" \
	test -s "$TMP/$U.log" -a -s "$TMP/refused.log"
check "the test files' private keys are not in porthole check's output" bash -c "
	! grep -qF -e 0O6z+wFKDI38mpPs4fI1c8h0kxldh2ertwa90EL0jmA= -e 0O6z+wFKDI38mpPs4fI1c8h0kxldh2ertwa90EL0jm= \
		$TMP/check.log $TMP/refused.log"
finish
