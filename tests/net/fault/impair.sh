# A bad path between vps and home: loss 1 %, 5 %, 20 %; delay 100 ms with 20 ms jitter;
# reordering 25 % (with a 20 ms delay); duplication 5 %. In each, a download through the gateway
# and the tunnel (a new TCP connection) arrives intact (sha256), the tunnel keeps its session (no
# handshake storm, no expired keys, no unknown indices) and replay drops are exactly the
# duplicated data messages: reordered ones are accepted, duplicates (which are replays) refused.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
need_root
need_cmd curl jq python3 sha256sum

gw_require "topology up through the relay" fault_topology
head -c $((4 << 20)) /dev/urandom >"$TMP/www/blob4"
head -c $((1 << 20)) /dev/urandom >"$TMP/www/blob1"
for f in blob4 blob1; do sha256sum <"$TMP/www/$f" | cut -d' ' -f1 >"$TMP/$f.sum"; done

# fetch FILE LIMIT_S: downloads through the gateway; true when the sha256 matches
fetch() {
	local sum
	sum=$(ns client curl -sf --max-time "$2" "http://198.51.100.1:8080/$1" | sha256sum | cut -d' ' -f1)
	[ "$sum" = "$(cat "$TMP/$1.sum")" ]
}
# phase NAME FILE LIMIT_S MAX_INITS NETEM_ARGS...
phase() {
	local name=$1 file=$2 limit=$3 max_inits=$4 i0 r0 d0 k0 u0 l0 t0 ms i r d k u l; shift 4
	i0=$(inits); d0=$(( $(wire up dup_data) + $(wire down dup_data) ))
	l0=$(( $(wire up dropped) + $(wire down dropped) ))
	r0=$(( $(drops vps replayed_counter) + $(drops home replayed_counter) ))
	k0=$(( $(drops vps key_expired) + $(drops home key_expired) ))
	u0=$(( $(drops vps unknown_index) + $(drops home unknown_index) ))
	netem "$@"
	t0=$(ms_now)
	if fetch "$file" "$limit"; then
		ms=$(( $(ms_now) - t0 ))
		ok "$name: $file intact through the gateway ($(secs "$ms") s)"
		figure "$name: $(( $(stat -c %s "$TMP/www/$file") >> 20 )) MiB in $(secs "$ms") s"
	else
		bad "$name: $file not intact within $limit s"
	fi
	netem
	sleep 0.5 # let what the relay still holds arrive before counting
	i=$(( $(inits) - i0 ))
	d=$(( $(wire up dup_data) + $(wire down dup_data) - d0 ))
	r=$(( $(drops vps replayed_counter) + $(drops home replayed_counter) - r0 ))
	k=$(( $(drops vps key_expired) + $(drops home key_expired) - k0 ))
	u=$(( $(drops vps unknown_index) + $(drops home unknown_index) - u0 ))
	l=$(( $(wire up dropped) + $(wire down dropped) - l0 ))
	figure "$name: $l datagrams lost on the path"
	figure "$name: $i initiations, $r replay drops, $d duplicated data messages"
	check "$name: at most $max_inits initiations ($i)" test "$i" -le "$max_inits"
	check "$name: replay drops ($r) = duplicated data messages ($d)" test "$r" -eq "$d"
	check "$name: no expired keys or unknown indices ($k, $u)" test "$((k + u))" -eq 0
}

phase "no fault" blob4 10 0
phase "loss 1%" blob4 20 1 loss 1
phase "loss 5%" blob4 30 1 loss 5
phase "loss 20%" blob1 40 3 loss 20
phase "delay 100ms jitter 20ms" blob4 30 1 delay 100 jitter 20
phase "reorder 25% delay 20ms" blob4 30 1 delay 20 reorder 25
phase "duplicate 5%" blob4 20 1 dup 5
check "latest handshake of the vps within REKEY_AFTER_TIME + 10 s ($(handshake_age vps) s ago)" \
	test "$(handshake_age vps)" -le 130
gw_finish
