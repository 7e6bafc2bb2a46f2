# kill -9 of either end, then a restart: the tunnel gets a new session with one handshake (the
# relay counts the initiations on the wire), the gateway's listeners come back and new public
# connections succeed. Prints the time from the restart to the first public request through.
#  - home restarted: its first initiation (PersistentKeepalive) makes the session at once.
#  - vps restarted: it has forgotten the session, and home sends nothing but keepalives, which
#    ride the old session and are dropped; the protocol alone would leave home unreachable until
#    its keys expire (up to 180 s; 15 s if it sent data). The vps reads home's last endpoint from
#    its state file ($PORTHOLE_STATE_DIR/NAME.endpoints, src/state.c) and initiates at once, so
#    the public side works again within 2 s of the restart.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
need_root
need_cmd curl jq python3

gw_require "topology up through the relay" fault_topology
check "a public request reaches home" get

STATE=$PORTHOLE_STATE_DIR/$GW_VPS.endpoints
# saved: the vps's state file holds home at the endpoint the vps talks to now
saved() {
	local ep
	ep=$(ns vps "$PORTHOLE" show "$GW_VPS" --json | jq -r '.interface.peers[0].endpoint')
	[ "$ep" != null ] && awk -v k="$(pub gwhome)" -v e="$ep" '$1 == k && $2 == e { f = 1 }
		END { exit !f }' "$STATE"
}

# restart SIDE LIMIT_S: kill -9, start again, measure; at most one initiation may be needed
restart() {
	local side=$1 limit=$2 name=$GW_VPS p i0 i ms
	[ "$side" = home ] && name=$GW_HOME
	p=${GW_PID[$name]}
	check "$side daemon is porthole ($(cat /proc/"$p"/comm))" test "$(cat /proc/"$p"/comm)" = porthole
	# The vps compares every 5 s; home's restart moved it (a new port at the relay).
	[ "$side" = vps ] && check "the vps's state file holds home's endpoint" wait_for 10 saved
	kill -9 "$p"
	wait "$p" 2>/dev/null
	i0=$(inits)
	# shellcheck disable=SC2034 # read by until_get
	T0=$(ms_now)
	if [ "$side" = home ]; then
		gw_start home "$name"
	else
		gw_vps_start # and home sends nothing but its keepalives
	fi
	check "$side restarted after kill -9" kill -0 "${GW_PID[$name]}"
	check "the gateway's listeners are back" gw_wait_listens
	if ms=$(until_get "$limit"); then
		figure "new session after kill -9 of $side: $(secs "$ms") s from restart"
		ok "$side: a public request through within $limit s of the restart ($(secs "$ms") s)"
	else
		bad "$side: no public request within $limit s of the restart"
		tail -n 20 "$TMP/$name.log" | sed 's/^/       /'
	fi
	sleep 1 # the relay writes its counts out asynchronously
	i=$(( $(inits) - i0 ))
	figure "kill -9 of $side: $i initiations to the new session"
	check "$side: one handshake made the new session ($i initiations)" test "$i" -eq 1
	check "$side: new connections keep succeeding" bash -c "for k in 1 2 3 4 5; do
		ip netns exec $TAG-client curl -sf --max-time 2 http://198.51.100.1:8080/hello || exit 1
		done >/dev/null"
}
restart home 10
restart vps 2
check "the restarted vps took home's endpoint from its state file" \
	gw_log_has "$GW_VPS" "endpoint .* from $STATE, saved [0-9]+ s ago; initiating"
gw_finish
