# Denial of service against the WireGuard responder (issue #7, item 2). The client namespace is
# the attacker, with 200 addresses of its own (198.51.100.10-209) standing in for spoofed sources:
#  1. a flood of initiations with a valid mac1 puts the vps under load: it answers with cookie
#     replies (64 bytes, never more than the 148 that arrived), its memory stays bounded, and
#     home, starting meanwhile, still completes its handshake (with a cookie) within 15 s;
#  2. a second after the flood, normal mode is back: a new handshake needs no cookie;
#  3. garbage UDP as fast as two senders go costs the daemon little per packet and the tunnel
#     keeps carrying traffic.
. "$(dirname "$0")/lib.sh"
need_root
# Memory figures: a sanitizer build must not count freed memory held in ASan's quarantine.
export ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=0
need_cmd python3 wg ping jq

DOS=$(cd "$(dirname "$0")" && pwd)/dos
FLOOD_RATE=${FLOOD_RATE:-50000}
FLOOD_SECS=${FLOOD_SECS:-12}

gw_topology || exit 1
for i in $(seq 10 209); do ns client ip addr add "198.51.100.$i/24" dev eth-vps; done
gw_require "vps daemon up" gw_vps_start
VPS=${GW_PID[$GW_VPS]}

proc_rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
proc_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime
drops_total() { # every datagram the vps daemon dropped, whatever the reason
	ns vps "$PORTHOLE" show "$GW_VPS" --json | jq '[.interface.drops[]] | add // 0'
}
cookies_sent() { # the vps daemon's count of handshake messages answered with a cookie reply
	ns vps "$PORTHOLE" show "$GW_VPS" --json | jq '.interface.drops.cookie_sent // 0'
}
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%02d' $(( $1 / 1000 )) $(( $1 % 1000 / 10 )); }
# until_handshake LIMIT_S: ms from $T0 until home has a handshake with the vps
until_handshake() {
	local end=$(( T0 + $1 * 1000 ))
	while [ "$(ms_now)" -lt "$end" ]; do
		if handshake_done home "$GW_HOME" gwvps; then echo $(( $(ms_now) - T0 )); return 0; fi
		sleep 0.05
	done
	return 1
}

# --- 1. handshake flood -----------------------------------------------------------------------
rss0=$(proc_rss_kb "$VPS")
bg client python3 "$DOS/wgflood.py" flood "$(pub gwvps)" 198.51.100.1 51820 198.51.100 10 209 \
	"$FLOOD_RATE" "$FLOOD_SECS" >"$TMP/flood.out" 2>&1
FLOOD=${PIDS[-1]}
rss_max=$rss0
sample_rss() { # keeps the largest VmRSS while the flood runs
	local r
	while kill -0 "$FLOOD" 2>/dev/null; do
		r=$(proc_rss_kb "$VPS") || break
		[ "$r" -gt "$rss_max" ] && rss_max=$r
		sleep 0.2
	done
	echo "$rss_max" >"$TMP/rss.max"
}
sample_rss &
SAMPLER=$!
sleep 1.5
gw_require "the flood is answered with cookie replies" grep -q "received [1-9]" <(tail -n 1 "$TMP/flood.out")
T0=$(ms_now)
gw_require "home daemon up during the flood" gw_start home "$GW_HOME"
if ms=$(until_handshake 20); then
	echo "figure: handshake under flood: $(secs "$ms") s ($FLOOD_RATE initiations/s from 200 sources)"
	check "home's handshake completes within 15 s during the flood ($ms ms)" test "$ms" -lt 15000
else
	bad "no handshake within 20 s during the flood"
fi
check "the tunnel carries traffic during the flood" pings home 10.99.0.1
wait "$SAMPLER"
wait "$FLOOD" 2>/dev/null
last=$(tail -n 1 "$TMP/flood.out")
echo "$last"
read -r sent got bin bout <<<"$(awk '{ print $2, $4, $6, $8 }' <<<"$last")"
echo "figure: flood: $((${sent:-0} / FLOOD_SECS)) initiations/s for $FLOOD_SECS s ($sent of 148 bytes), $got cookie replies ($bin bytes back for $bout sent)"
check "the flood was answered with cookie replies, at most one per initiation" \
	test "${got:-0}" -gt 100 -a "${got:-0}" -le "${sent:-0}"
check "every reply is a 64-byte cookie reply" grep -Eq 'sizes \{64: [0-9]+\}$' <<<"$last"
check "replies never carry more bytes than arrived" test "${bin:-1}" -le "${bout:-0}"
rss_max=$(cat "$TMP/rss.max")
echo "figure: vps RSS before flood: $((rss0 / 1024)) MiB, peak during flood: $((rss_max / 1024)) MiB"
check "memory bounded during the flood (growth $(( (rss_max - rss0) / 1024 )) MiB < 32 MiB)" \
	test $((rss_max - rss0)) -lt 32768
check "the vps daemon survived the flood" kill -0 "$VPS"

# --- 2. normal mode returns -------------------------------------------------------------------
sleep 1.5
c0=$(cookies_sent)
gw_stop "$GW_HOME"
T0=$(ms_now)
gw_require "home daemon restarted after the flood" gw_start home "$GW_HOME"
# Needing a cookie would cost home a REKEY_TIMEOUT (5 s) before its second initiation.
if ms=$(until_handshake 10); then
	echo "figure: handshake 1.5 s after the flood: $(secs "$ms") s"
	check "after the flood a new handshake completes at once, without a cookie ($ms ms)" \
		test "$ms" -lt 3000
else
	bad "no handshake within 10 s after the flood"
fi
c1=$(cookies_sent)
echo "cookie replies counted by the vps before/after the new handshake: $c0 / $c1"
check "no cookie reply sent for it" test -n "$c0" -a "$c0" = "$c1"

# --- 3. garbage UDP ---------------------------------------------------------------------------
GARBAGE_SECS=3
cpu0=$(proc_cpu_ticks "$VPS")
d0=$(drops_total)
for s in 198.51.100.2 198.51.100.10; do
	ns client timeout 10 python3 "$DOS/wgflood.py" garbage 198.51.100.1 51820 "$GARBAGE_SECS" \
		"$s" >"$TMP/garbage.$s" 2>&1 &
	GARB+=($!)
done
sleep 0.5
check "the tunnel carries traffic during the garbage" pings home 10.99.0.1
wait "${GARB[@]}"
cpu1=$(proc_cpu_ticks "$VPS")
dropped=$(( $(drops_total) - d0 ))
sent=$(cat "$TMP"/garbage.* | awk '{ n += $2 } END { print n + 0 }')
hz=$(getconf CLK_TCK)
us=$(( (cpu1 - cpu0) * 1000000 / hz ))
per_drop=$(awk -v u="$us" -v n="$dropped" 'BEGIN { printf "%.2f", n ? u / n : 0 }')
echo "figure: garbage UDP: $((sent / GARBAGE_SECS)) packets/s sent, $((dropped / GARBAGE_SECS)) packets/s dropped by the vps for $GARBAGE_SECS s, vps CPU $((us / 1000)) ms: $per_drop us per dropped packet"
check "garbage reached the daemon and was dropped ($dropped of $sent)" test "$dropped" -gt $((sent / 4))
check "garbage costs at most 10 us of CPU per dropped packet" test "$us" -lt $((dropped * 10))
check "the vps daemon survived the garbage" kill -0 "$VPS"
check "the tunnel works after the garbage" pings home 10.99.0.1
gw_finish
