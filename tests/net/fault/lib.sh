# Helpers for the fault scenarios (tests/net/fault/*.sh, run together by
# tests/net/fault_network.sh); sourced after tests/net/lib.sh. One topology per scenario script: lib.sh's client -- vps -- home,
# with home's tunnel datagrams going through netem.py, a user-space stand-in for tc netem (this
# kernel has no sch_netem), which runs in the vps namespace on 192.0.2.1:51821 and counts the
# handshake messages on the wire. The gateway forwards 8080 to an HTTP server at home (files
# under $TMP/www) and 8081 to port 9100 at home.
FAULT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETEM_CTL=$TMP/netem.ctl
NETEM_STATS=$TMP/netem.json

fault_topology() {
	gw_topology || return 1
	gw_forward Name=web Listen=0.0.0.0:8080 Target=10.99.0.2:8000
	gw_forward Name=stream Listen=0.0.0.0:8081 Target=10.99.0.2:9100
	sed -i 's/^Endpoint = .*/Endpoint = 192.0.2.1:51821/' "$TMP/$GW_HOME.conf"
	: >"$NETEM_CTL"
	bg vps python3 "$FAULT_DIR/netem.py" 192.0.2.1 51821 192.0.2.1 51820 "$NETEM_CTL" \
		"$NETEM_STATS" >"$TMP/netem.out" 2>&1
	mkdir -p "$TMP/www"
	echo hello >"$TMP/www/hello"
	gw_up || return 1
	bg home python3 -m http.server 8000 --bind 10.99.0.2 --directory "$TMP/www" \
		>"$TMP/http.out" 2>&1
	wait_for 10 get
}
# netem KEY VALUE...: replaces the relay's faults (an empty list clears them)
netem() {
	local f=$NETEM_CTL.new
	: >"$f"
	while [ $# -ge 2 ]; do echo "$1 $2" >>"$f"; shift 2; done
	mv "$f" "$NETEM_CTL"
	sleep 0.1 # the relay looks every 50 ms
}
# wire DIR KEY: a counter of the relay (DIR up = home to vps, down = vps to home; KEY init, resp,
# cookie, data, dropped, duplicated, dup_data)
wire() { jq ".$1.$2" "$NETEM_STATS" 2>/dev/null || echo 0; }
inits() { echo $(( $(wire up init) + $(wire down init) )); } # initiations, both ways
# drops SIDE REASON: that daemon's drops for REASON (interface and peers together)
drops() {
	local name=$GW_VPS
	[ "$1" = home ] && name=$GW_HOME
	ns "$1" "$PORTHOLE" show "$name" --json | jq "[.interface.drops.$2 // 0,
		(.interface.peers[].drops.$2 // 0)] | add"
}
# handshake_age SIDE: seconds since that side's latest handshake with its peer
handshake_age() {
	local name=$GW_VPS t
	[ "$1" = home ] && name=$GW_HOME
	t=$(ns "$1" "$PORTHOLE" show "$name" --json | jq '.interface.peers[0].latest_handshake')
	echo $(( $(date +%s) - t ))
}
get() { ns client curl -sf --max-time "${1:-5}" http://198.51.100.1:8080/hello | grep -q hello; }
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%02d' $(( $1 / 1000 )) $(( $1 % 1000 / 10 )); }
# until_get LIMIT_S: new public connections (each given 1 s) until one succeeds; prints the ms
# from $T0 to that success
until_get() {
	local end=$(( T0 + $1 * 1000 ))
	while [ "$(ms_now)" -lt "$end" ]; do
		if get 1; then echo $(( $(ms_now) - T0 )); return 0; fi
		sleep 0.1
	done
	return 1
}
figure() { echo "figure: $*"; }
