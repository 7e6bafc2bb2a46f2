# Rekey soak: a paced stream (a line every 50 ms from the client, through the gateway and the
# tunnel, to a receiver at home) for SECS seconds, two REKEY_AFTER_TIME (120 s) periods by default.
# The session is renewed each period (at least two initiations beyond the first handshake, and no
# storm), and no two lines arrive more than 1 s apart, in order and all of them.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
need_root
need_cmd curl jq python3

SECS=${1:-250}
gw_require "topology up through the relay" fault_topology
bg home python3 "$FAULT_DIR/pace.py" recv 10.99.0.2 9100 "$TMP/pace.json"
gw_require "the receiver listens" wait_for 5 listening home tcp 9100
i0=$(inits)
ns client timeout $((SECS + 30)) python3 "$FAULT_DIR/pace.py" send 198.51.100.1 8081 "$SECS" \
	>"$TMP/pace.out" 2>&1
rc=$?
cat "$TMP/pace.out"
check "the sender wrote every line for $SECS s" test "$rc" -eq 0
check "the receiver saw the end" wait_for 5 bash -c "jq -e .done '$TMP/pace.json'"
jq -c . "$TMP/pace.json"
lines=$(jq .lines "$TMP/pace.json")
gap=$(jq .max_gap_ms "$TMP/pace.json")
i=$(( $(inits) - i0 ))
figure "rekey soak: $SECS s, longest gap $gap ms (at $(jq .max_gap_at_s "$TMP/pace.json") s)," \
	"$i initiations, $lines lines"
check "every line arrived, in order ($lines)" jq -e \
	".in_order and .lines == $(grep -o 'sent [0-9]*' "$TMP/pace.out" | cut -d' ' -f2)" "$TMP/pace.json"
check "no gap over 1 s ($gap ms)" test "$gap" -lt 1000
check "the session was renewed each REKEY_AFTER_TIME ($i initiations)" \
	test "$i" -ge $((SECS / 120)) -a "$i" -le $((SECS / 120 + 2))
check "latest handshake within REKEY_AFTER_TIME ($(handshake_age vps) s ago)" \
	test "$(handshake_age vps)" -le 125
check "no replays, expired keys or unknown indices" test \
	"$(( $(drops vps replayed_counter) + $(drops home replayed_counter) + $(drops vps key_expired) \
	+ $(drops home key_expired) + $(drops vps unknown_index) + $(drops home unknown_index) ))" -eq 0
gw_finish
