# Reload without loss: `porthole reload` (and SIGHUP) on the vps adds a forward, removes one and
# widens the home peer's allowed IPs, while a 200 MB transfer through a third forward keeps
# running (no reset, sha256 intact) and the tunnel keeps its session (latest handshake unchanged).
# A broken file is refused with its FILE:LINE and the old forwards keep working. BusyPoll
# follows a reload.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd socat wg sha256sum python3
# The file lives in this test's private 0700 directory, which the dropped user cannot read: the
# daemon drops its privileges and reloads through its root janitor, which reads the file for it.

gw_topology || exit 1
SIZE=$((200 * 1024 * 1024))
head -c "$SIZE" /dev/urandom >"$TMP/big"
WANT=$(sha256sum <"$TMP/big" | cut -d' ' -f1)
cp "$TMP/$GW_VPS.conf" "$TMP/tunnel.part"

gw_forward Name=bulk Listen=0.0.0.0:8001 Target=10.99.0.2:9000
gw_forward Name=gone Listen=0.0.0.0:8002 Target=10.99.0.2:9001
check "tunnel and gateway up" gw_up || gw_finish
VPS_PID=${GW_PID[$GW_VPS]}

bg home socat TCP-LISTEN:9000,reuseaddr,fork "OPEN:$TMP/big,rdonly"
bg home socat TCP-LISTEN:9001,reuseaddr,fork SYSTEM:'echo gone'
bg home socat TCP-LISTEN:9002,reuseaddr,fork SYSTEM:'echo new'
ns home ip addr add 10.99.5.1/32 dev "$GW_HOME"
check "home services listening" wait_for 5 listening home tcp 9002

answers() { # answers PORT TEXT
	local got
	got=$(ns client timeout 5 socat -T 3 - "TCP:198.51.100.1:$1" </dev/null 2>&1)
	echo "got '$got'"
	[ "$got" = "$2" ]
}
refused() { ! ns client timeout 5 socat -T 2 - "TCP:198.51.100.1:$1" </dev/null >/dev/null 2>&1; }
handshake() { ns vps wg show "$GW_VPS" latest-handshakes | awk '{ print $2 }'; }

check "forward 'gone' answers before the reload" answers 8002 gone
check "port 8003 refused before the reload" refused 8003
check "10.99.5.1 unreachable before the reload" no_ping vps 10.99.5.1

# The transfer reads at about 40 MB/s, so it runs for about five seconds, across the reload.
ns client python3 -c '
import hashlib, socket, sys, time
s = socket.create_connection(("198.51.100.1", 8001))
h, n, t0 = hashlib.sha256(), 0, time.monotonic()
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
    ahead = n / 40e6 - (time.monotonic() - t0)
    if ahead > 0:
        time.sleep(ahead)
print(n, h.hexdigest())
' >"$TMP/transfer.out" 2>&1 &
XFER=$!
sleep 1
HS_BEFORE=$(handshake)

{
	sed 's|^AllowedIPs = 10.99.0.2/32$|&, 10.99.5.0/24|' "$TMP/tunnel.part"
	printf '\n[Forward]\nName = bulk\nListen = 0.0.0.0:8001\nTarget = 10.99.0.2:9000\n'
	printf '\n[Forward]\nName = new\nListen = 0.0.0.0:8003\nTarget = 10.99.0.2:9002\n'
} >"$TMP/next.conf"
cp "$TMP/next.conf" "$TMP/$GW_VPS.conf"
check "porthole reload says ok" ns vps "$PORTHOLE" reload "$TMP/$GW_VPS.conf"
check "the transfer is still running after the reload" kill -0 "$XFER"
check "the added forward accepts" wait_for 3 answers 8003 new
check "the removed forward's port is closed" refused 8002
check "the new allowed IPs route through the tunnel" pings vps 10.99.5.1
check "wg show lists the new allowed IPs" bash -c \
	"ip netns exec $TAG-vps wg show $GW_VPS allowed-ips | grep -q 10.99.5.0/24"
check "no new handshake for the changed peer" test "$(handshake)" = "$HS_BEFORE"

wait "$XFER"
check "the transfer finished intact (200 MB, sha256)" \
	grep -qx "$SIZE $WANT" "$TMP/transfer.out"
cat "$TMP/transfer.out"

# A broken file: refused with FILE:LINE; everything keeps running as loaded last.
{ cat "$TMP/next.conf"; printf '\n[Forward]\nName = broken\nListen = 0.0.0.0:8004\nBogus = 1\n'; } \
	>"$TMP/$GW_VPS.conf"
LINE=$(grep -n '^Bogus' "$TMP/$GW_VPS.conf" | cut -d: -f1)
broken_refused() {
	local out rc
	out=$(ip netns exec "$TAG-vps" "$PORTHOLE" reload "$TMP/$GW_VPS.conf" 2>&1)
	rc=$?
	echo "rc $rc: $out"
	[ "$rc" = 1 ] && grep -q "$GW_VPS.conf:$LINE:" <<<"$out"
}
check "porthole reload refuses the broken file, naming FILE:LINE" broken_refused
kill -HUP "$VPS_PID"
check "SIGHUP with the broken file logs FILE:LINE" \
	wait_for 3 gw_log_has "$GW_VPS" "reload refused.*$GW_VPS.conf:$LINE:"
check "the daemon survived both" kill -0 "$VPS_PID"
check "old forwards still work after the refused reload" answers 8003 new
check "and the removed one stays removed" refused 8002
check "the tunnel still carries the new allowed IPs" pings vps 10.99.5.1

# SIGHUP applies a good file too: 'gone' comes back.
{
	cat "$TMP/next.conf"
	printf '\n[Forward]\nName = gone\nListen = 0.0.0.0:8002\nTarget = 10.99.0.2:9001\n'
} >"$TMP/$GW_VPS.conf"
kill -HUP "$VPS_PID"
check "SIGHUP adds a forward back" wait_for 3 answers 8002 gone
check "the handshake is still the first one" test "$(handshake)" = "$HS_BEFORE"

# BusyPoll changes on a reload too; `porthole show` reports what the loops run with.
busy_poll_is() {
	local got
	got=$("$PORTHOLE" show "$GW_VPS" --json |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["interface"]["busy_poll_us"])')
	echo "busy_poll_us $got"
	[ "$got" = "$1" ]
}
check "BusyPoll is off by default" busy_poll_is 0
sed -i 's/^\[Interface\]$/[Interface]\nBusyPoll = 100/' "$TMP/$GW_VPS.conf"
kill -HUP "$VPS_PID"
check "SIGHUP turns BusyPoll on" wait_for 3 busy_poll_is 100
check "forwards still answer while it polls" answers 8002 gone
check "BusyPoll shows in porthole show" bash -c \
	"'$PORTHOLE' show '$GW_VPS' | grep -qx '  busy poll: 100 us'"
gw_finish
