# Gateway, malformed PROXY headers: each bad header sent to an AcceptProxy = required listener
# (from a trusted source, so the header itself is judged) closes that connection at once, no byte
# reaches the target (a sink at home that logs every connection), and the daemon keeps serving.
# A header dripped slowly is cut at the header deadline (at least 3 s, not extended by
# dripping); one split into 1-byte pieces that arrives in time works.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd socat python3 wg

gw_topology || exit 1
gw_forward Name=pp-in Listen=0.0.0.0:7101 Target=10.99.0.2:9000 AcceptProxy=required \
	TrustedProxies=198.51.100.0/24
gw_require "tunnel and gateway up" gw_up
bg home python3 "$GW_FILES/tool.py" sink 10.99.0.2 9000 >"$TMP/sink.out" 2>&1
gw_require "sink listening" wait_for 5 listening home tcp 9000

SIG='\r\n\r\n\0\r\nQUIT\n'                       # the v2 signature
A4='\xc6\x33\x64\x02\xc6\x33\x64\x01\x15\xb3\x1b\xbd' # 198.51.100.2:5555 -> 198.51.100.1:7101
V1='PROXY TCP4 198.51.100.2 198.51.100.1'
sunk() { wc -l <"$TMP/sink.out"; }
refused() { # refused NAME BYTES: closed within 2 s, nothing reached the sink
	local before out
	before=$(sunk)
	out=$(tcp_raw client 198.51.100.1 7101 "$2BAD-$1\n")
	sleep 0.2
	echo "answer '$out' after $(cat "$TMP/raw.ms") ms; sink: $(tail -n +$((before + 1)) "$TMP/sink.out")"
	[ -z "$out" ] && [ "$(cat "$TMP/raw.ms")" -lt 2000 ] && [ "$(sunk)" -eq "$before" ]
}
long=$(printf '%0100d' 0)
check "v1: no CRLF within 107 bytes" refused v1-long "$V1 5555 7101 $long\r\n"
check "v1: LF without CR" refused v1-lf "$V1 5555 7101\n"
check "v1: port over 65535" refused v1-port "$V1 99999 7101\r\n"
check "v1: port not a number" refused v1-port-text "$V1 55a5 7101\r\n"
check "v1: missing destination port" refused v1-missing "$V1 5555\r\n"
check "v1: address family mismatch (TCP4 with IPv6)" \
	refused v1-family "PROXY TCP4 2001:db8::2 198.51.100.1 5555 7101\r\n"
check "v1: address out of range" refused v1-addr "PROXY TCP4 198.51.100.256 198.51.100.1 5555 7101\r\n"
check "v1: unknown protocol" refused v1-proto "PROXY TCP5 198.51.100.2 198.51.100.1 5555 7101\r\n"
check "v1: lower-case proxy" refused v1-case "proxy TCP4 198.51.100.2 198.51.100.1 5555 7101\r\n"
check "v2: bad signature" refused v2-sig '\r\n\r\n\0\r\nQUIX\n\x21\x11\0\x0c'"$A4"
check "v2: version 1 in the version nibble" refused v2-ver1 "$SIG"'\x11\x11\0\x0c'"$A4"
check "v2: version 3" refused v2-ver3 "$SIG"'\x31\x11\0\x0c'"$A4"
check "v2: unknown command" refused v2-cmd "$SIG"'\x22\x11\0\x0c'"$A4"
check "v2: length over the cap (65520)" refused v2-cap "$SIG"'\x21\x11\xff\xf0'"$A4"
check "v2: truncated TLV" refused v2-tlv "$SIG"'\x21\x11\0\x10'"$A4"'\x04\0\x05\0'
check "v2: family mismatch (TCP6 with an IPv4 block)" refused v2-family "$SIG"'\x21\x21\0\x0c'"$A4"
check "v2: length too short for TCP4" refused v2-short "$SIG"'\x21\x11\0\x04\xc6\x33\x64\x02'
check "v2: unknown address family" refused v2-af "$SIG"'\x21\x41\0\x0c'"$A4"
check "v2: unknown transport" refused v2-transport "$SIG"'\x21\x13\0\x0c'"$A4"
check "v2: wrong CRC32C" refused v2-crc "$SIG"'\x21\x11\0\x13'"$A4"'\x03\0\x04\xde\xad\xbe\xef'
check "not a PROXY header at all" refused garbage 'HELLO\r\n'
empty() { # connect and close at once: closed, nothing reaches the sink
	local before
	before=$(sunk)
	tcp_raw client 198.51.100.1 7101 '' >/dev/null
	sleep 0.2
	echo "closed after $(cat "$TMP/raw.ms") ms"
	[ "$(cat "$TMP/raw.ms")" -lt 2000 ] && [ "$(sunk)" -eq "$before" ]
}
check "an empty connection" empty

# good NAME BYTES: the payload after the header, and only it, reaches the sink
good() {
	local before
	before=$(sunk)
	tcp_raw client 198.51.100.1 7101 "$2GOOD-$1\n" >/dev/null
	wait_for 3 grep -q "GOOD-$1" "$TMP/sink.out"
	tail -n +$((before + 1)) "$TMP/sink.out"
	grep -q "^close 10\.99\.0\.1:[0-9]* $((${#1} + 6)) b'GOOD-$1\\\\n'$" "$TMP/sink.out"
}
check "still serving: a good v1 header" good v1 "$V1 5555 7101\r\n"
check "still serving: a good v2 header" good v2 "$SIG"'\x21\x11\0\x0c'"$A4"
check "a good v2 LOCAL header" good local "$SIG"'\x20\x00\0\0'
check "a good v2 header with a NOOP TLV" good tlv "$SIG"'\x21\x11\0\x11'"$A4"'\x04\0\x02xx'

big() { # a header and 1 MB in one write: all of it after the header reaches the sink
	{ printf "$V1 5555 7101\r\n"; head -c 1048576 /dev/zero | tr '\0' B; } |
		ns client timeout 10 socat -t 5 - TCP:198.51.100.1:7101
	wait_for 3 grep -q "^close 10\.99\.0\.1:[0-9]* 1048576 b'BBBB" "$TMP/sink.out"
}
check "a header followed by 1 MB at once: the payload arrives whole" big
hex() { printf "$1" | od -An -tx1 | tr -d ' \n'; }
drip() { ns client timeout 30 python3 "$GW_FILES/tool.py" drip 198.51.100.1 7101 "$1" "$2"; }
split_header() { # a v1 header and payload in 1-byte pieces, 20 ms apart: accepted
	drip 0.02 "$(hex "$V1 5555 7101\r\nGOOD-split\n")"
	wait_for 3 grep -q "b'GOOD-split\\\\n'" "$TMP/sink.out"
}
check "a v1 header in 1-byte pieces works" split_header
dripped() { # a header dripped 1 byte per 250 ms: closed at the deadline, between 3 and 8 s
	local out t
	out=$(drip 0.25 "$(hex "$1")")
	echo "$out"
	t=$(echo "$out" | sed -n 's/^closed after \([0-9]*\)\..*/\1/p')
	[ -n "$t" ] && [ "$t" -ge 3 ] && [ "$t" -lt 8 ]
}
check "a v1 header dripped slowly is cut at the deadline" dripped "$V1 5555 7101\r\nDRIP\n"
check "a v2 header dripped slowly is cut at the deadline" dripped "$SIG"'\x21\x11\0\x0c'"$A4"
check "no dripped byte reached the sink" bash -c "! grep -q DRIP '$TMP/sink.out'"
check "no bad payload ever reached the sink" bash -c "! grep -q BAD '$TMP/sink.out'"
check "still serving after everything" good end "$V1 5555 7101\r\n"
if [ "$GW_STANDIN" != haproxy ]; then
	check "refusals are logged with the client and a reason" \
		gw_log_has "$GW_VPS" '^<[34]>pp-in: 198\.51\.100\.2:[0-9]+ .*[a-z]'
	check "vps porthole still running" kill -0 "${GW_PID[$GW_VPS]}"
fi
gw_finish
