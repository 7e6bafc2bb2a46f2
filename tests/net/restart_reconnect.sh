# A restarted porthole VPS reaches a wireguard-go home behind NAT at once (src/state.c): home
# (Debian's wireguard-go, set up with wg, Endpoint = the vps, PersistentKeepalive = 25) sends
# nothing but keepalives, so after a kill -9 of the vps only the vps can restore the tunnel
# before home's keys expire, and it needs home's address (the NAT's) for that: from its state
# file. Topology: vps 192.0.2.1 -- nat 192.0.2.2 (masquerade, random ports) -- 10.0.0.2 home.
#  1. the state file holds home's endpoint as the vps sees it (the NAT's address and port);
#  2. kill -9 of the vps and a restart: a handshake within 2 s with nobody sending anything, and
#     a ping from the vps to home's tunnel address within 2 s of the restart;
#  3. garbage around the saved line: the vps starts, logs the lines it ignored, reconnects as
#     fast, and rewrites the file clean;
#  4. a file of random bytes, then a state directory that cannot be made: the vps starts all the
#     same (without a saved endpoint it cannot reach home, which shows what the file is for).
. "$(dirname "$0")/lib.sh"
need_root
need_cmd wg wireguard-go nft jq ping awk

V=${TAG}v  # the vps daemon: its file, interface and log are named after it
H=${TAG}h  # home's wireguard-go interface
STATE=$PORTHOLE_STATE_DIR/$V.endpoints
LIMIT_MS=2000

netns_add vps
netns_add nat
netns_add home
veth vps nat 192.0.2.1/24 192.0.2.2/24
veth nat home 10.0.0.1/24 10.0.0.2/24
ns home ip route add default via 10.0.0.1
ns nat sysctl -qw net.ipv4.ip_forward=1
# Source ports are picked at random, so the vps sees home at an address and port of the NAT's.
ns nat nft -f - <<'NFT'
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "eth-vps" masquerade random
	}
}
NFT
keypair vps
keypair home
# The vps's file: no Endpoint for home, which it knows only from home's packets.
cat >"$TMP/$V.conf" <<CONF
[Interface]
PrivateKey = $(cat "$TMP/vps.key")
ListenPort = 51820
Address = 10.98.0.1/24

[Peer]
PublicKey = $(pub home)
AllowedIPs = 10.98.0.2/32
CONF
chmod 600 "$TMP/$V.conf"

ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%02d' $(( $1 / 1000 )) $(( $1 % 1000 / 10 )); }
vps_show() { ns vps "$PORTHOLE" show "$V" --json; }
vps_endpoint() { vps_show | jq -r '.interface.peers[0].endpoint'; }
vps_handshake() { vps_show | jq -r '.interface.peers[0].latest_handshake // 0'; }
# saved: the state file holds home at the endpoint the vps talks to now
saved() {
	local ep
	ep=$(vps_endpoint)
	[ -n "$ep" ] && [ "$ep" != null ] && awk -v k="$(pub home)" -v e="$ep" \
		'$1 == k && $2 == e { f = 1 } END { exit !f }' "$STATE"
}
# clean: every line of the state file is a comment or key, endpoint, time
clean() { awk '!/^#/ && !(NF == 3 && length($1) == 44 && $3 ~ /^[0-9]+$/) { bad = 1 }
	END { exit bad }' "$STATE"; }
# until_ms LIMIT_MS command...: polls; prints the ms from $T0 to the first success
until_ms() {
	local limit=$1 now; shift
	while now=$(ms_now); [ "$now" -lt $(( T0 + limit )) ]; do
		if "$@" >/dev/null 2>&1; then echo $(( $(ms_now) - T0 )); return 0; fi
		sleep 0.02
	done
	return 1
}
handshake_made() { [ "$(vps_handshake)" -gt 0 ]; }
ping_once() { ns vps ping -n -q -c 1 -W 0.25 10.98.0.2; }
# Each start appends to $TMP/$V.log: new_log_has looks only at the lines of the latest start.
vps_start() { LOG_MARK=$(wc -l <"$TMP/$V.log" 2>/dev/null || echo 0); gw_start vps "$V"; }
new_log_has() { tail -n +$(( LOG_MARK + 1 )) "$TMP/$V.log" | grep -Eq -- "$1"; }
vps_kill() {
	local p=${GW_PID[$V]}
	kill -9 "$p"
	wait "$p" 2>/dev/null
	wait_for 5 bash -c "! ip netns exec $TAG-vps ip link show $V"
}
# reconnect WHAT: a restart after kill -9 must give a handshake, then a ping, within LIMIT_MS
reconnect() {
	local what=$1 ms
	T0=$(ms_now)
	check "$what: the vps starts" vps_start
	if ms=$(until_ms "$LIMIT_MS" handshake_made); then
		echo "figure: $what: handshake $(secs "$ms") s after the restart, nothing sent"
		ok "$what: a handshake within 2 s, nobody sending anything ($(secs "$ms") s)"
	else
		bad "$what: no handshake within 2 s of the restart"
		tail -n 20 "$TMP/$V.log" | sed 's/^/       /'
	fi
	if ms=$(until_ms "$LIMIT_MS" ping_once); then
		echo "figure: $what: the vps reaches home $(secs "$ms") s after the restart"
		ok "$what: the vps pings home within 2 s of the restart ($(secs "$ms") s)"
	else
		bad "$what: no ping reply from home within 2 s of the restart"
	fi
}

echo "# 1. home behind NAT, with the vps as its endpoint"
check "vps up" vps_start
check "home: wireguard-go" wg_iface wggo home "$H" home 51820 10.98.0.2/24
check "home: the vps as its peer, keepalive 25 s" wg_peer home "$H" vps \
	endpoint 192.0.2.1:51820 allowed-ips 10.98.0.1/32 persistent-keepalive 25
check "tunnel up: the vps pings home" pings vps 10.98.0.2
ep=$(vps_endpoint)
check "the vps sees home at the NAT's address ($ep)" test "${ep%:*}" = 192.0.2.2
check "the state file holds home's endpoint" wait_for 10 saved
check "the state file is 0600" test "$(stat -c %a "$STATE")" = 600
check "the state directory is 0700" test "$(stat -c %a "$PORTHOLE_STATE_DIR")" = 700

echo "# 2. kill -9 of the vps, nothing sent from either side"
hs_home=$(peer_field home "$H" vps 5)
vps_kill
reconnect "restart"
check "home has a new handshake too (wireguard-go's view)" \
	test "$(peer_field home "$H" vps 5)" -gt "${hs_home:-0}"
check "the vps log says where home's endpoint came from" \
	new_log_has "endpoint 192\.0\.2\.2:[0-9]+ from $STATE, saved [0-9]+ s ago; initiating"

echo "# 3. garbage around the saved line"
check "the state file holds home's endpoint" wait_for 10 saved
vps_kill
{
	printf 'garbage\n\001\002\377 binary\n'
	grep -v '^#' "$STATE"
	printf '%s 192.0.2.9:5 %s\n' "$(pub home)" 1000000000 # 2001: too old to use
	printf '%s 192.0.2.' "$(pub vps)" # cut short
} >"$STATE.new"
mv "$STATE.new" "$STATE"
reconnect "damaged file"
check "the vps logged the lines it ignored" new_log_has "$STATE:1: .*; ignored 3 lines of 5"
check "the vps logged the entry too old to use" new_log_has "1 entries older than 24 h not used"
check "the file is rewritten clean within 10 s" wait_for 10 clean
check "and still holds home's endpoint" saved

echo "# 4. no usable state"
vps_kill
head -c 4000 /dev/urandom >"$STATE"
check "random bytes in the state file: the vps starts" vps_start
check "and logs what it ignored" new_log_has "$STATE:[0-9]+: .*; ignored [0-9]+ lines"
check "and runs on (porthole show answers)" wait_for 5 vps_show
vps_kill
: >"$TMP/notadir"
PORTHOLE_STATE_DIR=$TMP/notadir/state check "an unusable state directory: the vps starts" vps_start
check "with one warning" \
	new_log_has "peer endpoints are not saved: $TMP/notadir/state: cannot create the directory"
check "without a saved endpoint the vps cannot reach home (home has not noticed)" \
	bash -c "! ip netns exec $TAG-vps ping -n -q -c 1 -W 2 10.98.0.2"
check "vps stops cleanly" gw_stop "$V"
check "vps exits with status 0 on SIGTERM" test "${GW_RC[$V]}" -eq 0
finish
