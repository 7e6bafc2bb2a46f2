# Recovery faster than the protocol's timers (src/recover.c): client -> vps gateway -> tunnel ->
# home HTTP service, with home's Endpoint a host name (vps.test, from an /etc/hosts of its own,
# bind-mounted in a private mount namespace) and PersistentKeepalive = 25.
#  1. home's address moves: the first public request through the gateway must succeed within
#     1 s (the protocol alone waits for home's next persistent keepalive, up to 25 s);
#  2. the vps moves and the hosts file follows, with a stateful firewall at home (as NAT would
#     be) so that only home can re-open the path: home must look the name up again and reconnect.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd curl wg nft python3 unshare

gw_topology || exit 1
gw_forward Name=web Listen=0.0.0.0:8080 Target=10.99.0.2:8000
sed -i -e 's/^Endpoint = .*/Endpoint = vps.test:51820/' \
	-e 's/^PersistentKeepalive = .*/PersistentKeepalive = 25/' "$TMP/$GW_HOME.conf"
echo "192.0.2.1 vps.test" >"$TMP/hosts"
# Deleting an address must not take the new one of the same subnet with it.
for n in home vps; do ns "$n" sysctl -qw net.ipv4.conf.all.promote_secondaries=1 \
	net.ipv4.conf.default.promote_secondaries=1; done
ns home sysctl -qw net.ipv4.conf.eth-vps.promote_secondaries=1
ns vps sysctl -qw net.ipv4.conf.eth-home.promote_secondaries=1

home_start() {
	bg home unshare -m sh -c "mount --bind '$TMP/hosts' /etc/hosts &&
		exec env LOG_LEVEL=debug '$PORTHOLE' up '$TMP/$GW_HOME.conf'" >>"$TMP/$GW_HOME.log" 2>&1
	GW_PID[$GW_HOME]=${PIDS[-1]}
	wait_for 10 gw_link_up home "$GW_HOME"
}
up() { home_start && gw_vps_start && gw_tunnel && gw_wait_listens; }
check "tunnel and gateway up, home's endpoint a host name" up || gw_finish
bg home python3 -m http.server 8000 --bind 10.99.0.2 --directory "$TMP" >"$TMP/http.out" 2>&1
echo hello >"$TMP/hello"
get() { ns client curl -sf --max-time "${1:-5}" http://198.51.100.1:8080/hello | grep -q hello; }
check "a public request reaches home" wait_for 10 get

ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
# until_get LIMIT_S: polls with short requests; prints the ms from $T0 to the first success
until_get() {
	local end=$(( T0 + $1 * 1000 ))
	while [ "$(ms_now)" -lt "$end" ]; do
		if get 0.2; then echo $(( $(ms_now) - T0 )); return 0; fi
	done
	return 1
}
secs() { printf '%d.%02d' $(( $1 / 1000 )) $(( $1 % 1000 / 10 )); }
vps_endpoint() { ns vps wg show "$GW_VPS" endpoints | awk '{ print $2 }'; }

# 1. Home's address changes (a new DHCP lease, say): add the new one, delete the old.
T0=$(ms_now)
ns home ip addr add 192.0.2.3/24 dev eth-vps
ns home ip addr del 192.0.2.2/24 dev eth-vps
if ms=$(until_get 10); then
	echo "recovery after home address change: $(secs "$ms") s"
	check "first public request within 1 s of the home address change ($ms ms)" \
		test "$ms" -lt 1000
else
	bad "no public request through the gateway within 10 s of the home address change"
fi
check "the vps follows home to its new address" bash -c "[[ \$(ip netns exec $TAG-vps \
	wg show $GW_VPS endpoints) == *192.0.2.3:* ]]"
check "home logged the network change" gw_log_has "$GW_HOME" 'network changed'

# 2. The vps moves and DNS follows. Home answers only what it asked for, as behind NAT: the vps,
# sending from its new address, cannot reach home; only home can re-open the path.
ns home nft -f - <<-'NFT'
	table inet rec {
		chain input {
			type filter hook input priority 0; policy accept;
			ct state established,related accept
			udp sport 51820 drop
		}
	}
NFT
check "the tunnel works through home's firewall" pings home 10.99.0.1
T0=$(ms_now)
ns vps ip addr add 192.0.2.11/24 dev eth-home
ns vps ip addr del 192.0.2.1/24 dev eth-home
echo "192.0.2.11 vps.test" >"$TMP/hosts" # in place: the bind mount keeps the inode
check "no public request while home still sends to the old address" \
	bash -c "! ip netns exec $TAG-client curl -sf --max-time 1 http://198.51.100.1:8080/hello"
# Home has data for the vps (nothing comes back): the protocol asks for a new handshake after
# KEEPALIVE_TIMEOUT + REKEY_TIMEOUT, and that is when the name is looked up again.
ns home ping -n -q -c 1 -W 1 10.99.0.1 >/dev/null 2>&1
if ms=$(until_get 40); then
	echo "recovery after the vps moved (DNS change): $(secs "$ms") s"
	ok "home reconnects to the vps's new address after the DNS change"
else
	bad "no public request through the gateway within 40 s of the vps move"
fi
check "home logged the endpoint move" \
	gw_log_has "$GW_HOME" 'endpoint 192\.0\.2\.1:51820 is now 192\.0\.2\.11:51820'
check "home's peer endpoint is the new address" bash -c "[[ \$(ip netns exec $TAG-home \
	wg show $GW_HOME endpoints) == *192.0.2.11:51820* ]]"
gw_finish
