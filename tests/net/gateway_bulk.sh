# Gateway, bulk transfers: GW_BULK_MB (default 1024) megabytes of a deterministic pseudo-random
# stream (AES-128-CTR over zeros) in each direction, client -> home (upload) and home -> client
# (download), through forwards in splice mode (Splice = auto) and copy mode (Splice = off). Each
# arrives whole: byte count and SHA-256 compared with the stream computed locally.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd socat openssl sha256sum wg

MB=${GW_BULK_MB:-1024}
gw_topology || exit 1
gw_forward Name=up-splice Listen=0.0.0.0:9100 Target=10.99.0.2:9100
gw_forward Name=down-splice Listen=0.0.0.0:9101 Target=10.99.0.2:9101
gw_forward Name=up-copy Listen=0.0.0.0:9102 Target=10.99.0.2:9100 Splice=off
gw_forward Name=down-copy Listen=0.0.0.0:9103 Target=10.99.0.2:9101 Splice=off
gw_forward Name=hc-splice Listen=0.0.0.0:9104 Target=10.99.0.2:9104
gw_forward Name=hc-copy Listen=0.0.0.0:9105 Target=10.99.0.2:9104 Splice=off
# The crypto workers are off by default on fewer than 4 CPUs; these transfers run them.
export PORTHOLE_CRYPT_THREADS=2
gw_require "tunnel and gateway up" gw_up
if [ "$GW_STANDIN" != haproxy ]; then
	# Workers and the gateway's thread (from 2 CPUs on) start after the privilege drop: every
	# thread runs as the dropped user.
	want=3 gw="" what="2 crypto workers"
	[ "$(nproc)" -ge 2 ] && want=4 gw=gateway what="2 crypto workers and the gateway thread"
	workers_dropped() {
		local p=${GW_PID[$GW_VPS]} t uids=() names=()
		for t in /proc/"$p"/task/*; do
			uids+=("$(awk '/^Uid:/ { print $2 }' "$t/status")")
			names+=("$(cat "$t/comm")")
		done
		echo "threads: ${#uids[@]} (${names[*]}), uids: ${uids[*]}"
		[ "${#uids[@]}" -eq "$want" ] && ! printf '%s\n' "${uids[@]}" | grep -qx 0 &&
			{ [ -z "$gw" ] || printf '%s\n' "${names[@]}" | grep -qx "$gw"; }
	}
	check "the vps runs $what, none of its threads as root" workers_dropped
fi

gen() { # the stream: deterministic, so each end can make or check it without storing it
	openssl enc -aes-128-ctr -K 00112233445566778899aabbccddeeff -iv 0 -nosalt </dev/zero \
		2>/dev/null | head -c "${MB}M"
}
digest() { sha256sum | cut -d' ' -f1; }
want=$(gen | digest)
rate() { echo "$MB MB in $1 ms: $((MB * 8000 / ($1 + 1))) Mbit/s"; }
upload() { # upload PUBLIC_PORT: client sends, home checks
	local t0 ms got
	ns home bash -c "timeout 300 socat -u TCP-LISTEN:9100,bind=10.99.0.2,reuseaddr - |
		tee >(wc -c >'$TMP/up.bytes') | sha256sum | cut -d' ' -f1 >'$TMP/up.sum'" &
	local recv=$!
	wait_for 5 listening home tcp 9100 || return 1
	t0=$(date +%s%N)
	gen | ns client timeout 300 socat -u - "TCP:198.51.100.1:$1"
	wait "$recv"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	sleep 0.2
	got=$(cat "$TMP/up.sum")
	rate "$ms"; echo "bytes $(cat "$TMP/up.bytes"), sha256 $got"
	[ "$got" = "$want" ] && [ "$(cat "$TMP/up.bytes")" -eq $((MB << 20)) ]
}
download() { # download PUBLIC_PORT: home sends, client checks
	local t0 ms got
	bash -c "$(declare -f gen); MB=$MB; gen" |
		ns home timeout 300 socat -u - TCP-LISTEN:9101,bind=10.99.0.2,reuseaddr &
	local send=$!
	wait_for 5 listening home tcp 9101 || return 1
	t0=$(date +%s%N)
	ns client timeout 300 socat -u "TCP:198.51.100.1:$1" - |
		tee >(wc -c >"$TMP/down.bytes") | digest >"$TMP/down.sum"
	wait "$send"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	sleep 0.2
	got=$(cat "$TMP/down.sum")
	rate "$ms"; echo "bytes $(cat "$TMP/down.bytes"), sha256 $got"
	[ "$got" = "$want" ] && [ "$(cat "$TMP/down.bytes")" -eq $((MB << 20)) ]
}
check "upload $MB MB, splice mode, intact" upload 9100
sed -n 1p "$TMP/check.out"
check "download $MB MB, splice mode, intact" download 9101
sed -n 1p "$TMP/check.out"
check "upload $MB MB, copy mode, intact" upload 9102
sed -n 1p "$TMP/check.out"
check "download $MB MB, copy mode, intact" download 9103
sed -n 1p "$TMP/check.out"
# Half-close: the client stops sending (FIN) and home answers only after that end of stream,
# with the digest of what it got: the FIN went through and the other direction stayed open.
half_close() { # half_close PUBLIC_PORT
	local MB=100 want got
	want=$(gen | digest)
	ns home timeout 60 socat TCP-LISTEN:9104,bind=10.99.0.2,reuseaddr SYSTEM:sha256sum &
	local srv=$!
	wait_for 5 listening home tcp 9104 || return 1
	got=$(gen | ns client timeout 60 socat -t 30 - "TCP:198.51.100.1:$1" | cut -d' ' -f1)
	wait "$srv"
	echo "home's digest of the upload: $got"
	[ "$got" = "$want" ]
}
check "half-close, splice mode: home answers after the client's FIN" half_close 9104
check "half-close, copy mode: home answers after the client's FIN" half_close 9105

# Which path moved the bytes: strace counts splice(2) calls of the vps daemon during a small
# upload (tracing slows it down, hence not during the big ones).
splices() { # splices PUBLIC_PORT: prints the number of splice calls while 4 MB go up
	local tr n MB=4 want
	want=$(gen | digest)
	strace -f -qq -e trace=splice -o "$TMP/strace.out" -p "${GW_PID[$GW_VPS]}" 2>/dev/null &
	tr=$!
	sleep 1
	upload "$1" >/dev/null
	kill "$tr"; wait "$tr" 2>/dev/null
	n=$(grep -c 'splice(' "$TMP/strace.out")
	echo "$n"
}
if [ "$GW_STANDIN" != haproxy ] && command -v strace >/dev/null; then
	spliced=$(splices 9100)
	copied=$(splices 9102)
	check "Splice = auto moves the bytes with splice(2) ($spliced calls)" test "$spliced" -gt 10
	check "Splice = off does not ($copied calls)" test "$copied" -eq 0
	# A small exchange never fills a buffer, so even Splice = auto costs it no pipe; and a
	# short read empties the socket, so no recv() hears EAGAIN. The client's bytes come while
	# the gateway still connects (home starts listening half a second later; the connect is
	# retried), and its FIN 1.5 s after them: the path where reading on to EAGAIN was easiest.
	small() {
		local tr srv
		strace -f -qq -e trace=pipe2,splice,recvfrom -o "$TMP/strace.small" \
			-p "${GW_PID[$GW_VPS]}" 2>/dev/null &
		tr=$!
		sleep 1
		(echo hello; sleep 1.5) | ns client timeout 20 socat -t 10 - TCP:198.51.100.1:9104 \
			>"$TMP/small.out" &
		local cli=$!
		sleep 0.5
		ns home timeout 20 socat TCP-LISTEN:9104,bind=10.99.0.2,reuseaddr SYSTEM:sha256sum &
		srv=$!
		wait "$cli"
		wait "$srv"
		sleep 0.5
		kill "$tr"; wait "$tr" 2>/dev/null
		got=$(cat "$TMP/small.out")
		echo "answer: $got; pipe calls: $(grep -cE 'pipe2|splice' "$TMP/strace.small")," \
			"recv: $(grep -c 'recvfrom(' "$TMP/strace.small"), EAGAIN:" \
			"$(grep -c 'recvfrom(.*EAGAIN' "$TMP/strace.small")"
		[ "$got" = "$(echo hello | sha256sum)" ] && ! grep -qE 'pipe2|splice' "$TMP/strace.small" &&
			grep -q 'recvfrom(' "$TMP/strace.small" &&
			! grep -q 'recvfrom(.*EAGAIN' "$TMP/strace.small"
	}
	check "a small exchange with Splice = auto takes no pipe and no EAGAIN read" small
fi
if [ "$GW_STANDIN" != haproxy ]; then
	logged() { # logged FORWARD IN OUT: the connection line counts the bytes
		gw_log_has "$GW_VPS" "^<6>$1: 198\.51\.100\.2:[0-9]+ -> 10\.99\.0\.2:[0-9]+ .*$2 bytes in, $3 bytes out"
	}
	check "connection log counts the upload (splice)" logged up-splice $((MB << 20)) 0
	check "connection log counts the download (copy)" logged down-copy 0 $((MB << 20))
fi
check "vps porthole still running" kill -0 "${GW_PID[$GW_VPS]}"
gw_finish
