# porthole show and the metrics: a gateway and a home daemon from `porthole init` files, a
# forward with traffic through it; `show` (text and --json) and GET /metrics report the peer's
# handshake and the forward's counters with the right values. The gateway runs on the tunnel's
# loop here (PORTHOLE_GATEWAY_THREAD=0); the other gateway tests run it on its own thread.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd curl python3 wg

netns_add client && netns_add vps && netns_add home || exit 1
veth client vps 198.51.100.2/24 198.51.100.1/24
veth vps home 192.0.2.1/24 192.0.2.2/24
GW=${TAG}g
HOME_IF=${TAG}h
SOCKDIR=/run/porthole

d=$TMP/init
mkdir -p "$d"
check "init writes the pair" "$PORTHOLE" init --endpoint 192.0.2.1:51820 --forward 8080 --dir "$d"
# The home service speaks plain HTTP: no PROXY header. Metrics on the gateway only.
sed -e '/^SendProxy/d' -e 's/^\[Interface\]$/[Interface]\nMetricsListen = 127.0.0.1:9586/' \
	"$d/gateway.conf" >"$TMP/$GW.conf"
cp "$d/home.conf" "$TMP/$HOME_IF.conf"
chmod 600 "$TMP/$GW.conf" "$TMP/$HOME_IF.conf"
home_ip=$(sed -n 's/^Address = \([0-9.]*\)\/24.*/\1/p' "$TMP/$HOME_IF.conf")
home_pub=$(sed -n 's/^PrivateKey = //p' "$TMP/$HOME_IF.conf" | wg pubkey)
gw_pub=$(sed -n 's/^PrivateKey = //p' "$TMP/$GW.conf" | wg pubkey)

start() { # start NS NAME [VAR=VALUE...]
	local n=$1 name=$2
	shift 2
	bg "$n" env LOG_LEVEL=debug "$@" "$PORTHOLE" up "$TMP/$name.conf" >>"$TMP/$name.log" 2>&1
	wait_for 10 test -S "$SOCKDIR/$name.sock" || { tail -n 20 "$TMP/$name.log"; return 1; }
}
check "home up" start home "$HOME_IF"
check "gateway up" start vps "$GW" PORTHOLE_GATEWAY_THREAD=0
threads() { ls "/proc/$(pgrep -o -f "up $TMP/$GW.conf")/task" | wc -l; }
check "the gateway shares the tunnel's thread" test "$(threads)" = 1
check "control socket is mode 0600" test "$(stat -c %a "$SOCKDIR/$GW.sock")" = 600
check "its directory is mode 0755" test "$(stat -c %a "$SOCKDIR")" = 755

# A 100000-byte file behind the forward, fetched three times from the client.
mkdir -p "$TMP/www"
head -c 100000 /dev/urandom >"$TMP/www/blob"
bg home python3 -m http.server --bind "$home_ip" --directory "$TMP/www" 8080 >"$TMP/www.log" 2>&1
check "home service listening" wait_for 10 bash -c "ip netns exec $TAG-home ss -Hltn | grep -q :8080"
fetch() { ns client curl -sS --max-time 10 -o "$TMP/got" http://198.51.100.1:8080/blob && cmp -s "$TMP/got" "$TMP/www/blob"; }
# The counters must count exactly these fetches: the tunnel first, so that none fails.
check "tunnel up" pings vps "$home_ip"
check "first fetch through the forward" fetch
check "second fetch" fetch
check "third fetch" fetch

show() { "$PORTHOLE" show "$@"; }
show "$GW" >"$TMP/show.txt" 2>&1
sed 's/^/       | /' "$TMP/show.txt"
check "text: interface line" grep -qx "interface: $GW" "$TMP/show.txt"
check "text: the gateway's public key" grep -qx "  public key: $gw_pub" "$TMP/show.txt"
check "text: listening port" grep -qx "  listening port: 51820" "$TMP/show.txt"
check "text: the home peer" grep -qx "peer: $home_pub" "$TMP/show.txt"
check "text: a recent handshake" grep -Eqx "  latest handshake: (now|[0-9]+ seconds? ago)" "$TMP/show.txt"
check "text: the peer's endpoint" grep -qx "  endpoint: 192.0.2.2:[0-9]*" "$TMP/show.txt"
check "text: transfer" grep -Eq "^  transfer: .* received, .* sent$" "$TMP/show.txt"
check "text: the forward's row (3 total)" \
	grep -Eq "^  tcp-8080 +\[::\]:8080 +$home_ip:8080 +[0-9]+ +3 " "$TMP/show.txt"
check "text: fits 80 columns" bash -c "! awk 'length > 80' '$TMP/show.txt' | grep -q ."

# --json: the same values, machine-read; wait for the last connection to be closed.
json_ok() {
	show "$GW" --json >"$TMP/show.json" || return 1
	python3 - "$TMP/show.json" "$GW" "$home_pub" "$gw_pub" <<'PY'
import json, sys, time
doc = json.load(open(sys.argv[1]))
name, home_pub, gw_pub = sys.argv[2:5]
assert doc["name"] == name, doc["name"]
i = doc["interface"]
assert i["public_key"] == gw_pub and i["listen_port"] == 51820, i
(p,) = i["peers"]
assert p["public_key"] == home_pub, p
assert 0 <= time.time() - p["latest_handshake"] < 60, p["latest_handshake"]
assert p["rx_bytes"] > 300000 and p["tx_bytes"] > 0, p
assert p["endpoint"].startswith("192.0.2.2:"), p["endpoint"]
assert any(a.endswith("/32") for a in p["allowed_ips"]), p["allowed_ips"]
(f,) = doc["forwards"]
assert f["name"] == "tcp-8080" and f["protocol"] == "tcp" and f["listen"] == "[::]:8080", f
assert f["total"] == 3 and f["active"] == 0, f
assert f["bytes_out"] >= 300000 and f["bytes_in"] > 0, f
assert f["errors"] == {} and f["proxy_failures"] == 0, f
PY
}
check "--json parses and holds the expected values" wait_for 5 json_ok
[ -s "$TMP/show.json" ] && python3 -c 'import json,sys; json.load(sys.stdin)' <"$TMP/show.json" ||
	cat "$TMP/show.json"
check "--json for a forward-less home daemon" bash -c \
	"'$PORTHOLE' show $HOME_IF --json | python3 -c 'import json,sys; d = json.load(sys.stdin); assert d[\"forwards\"] == [] and d[\"interface\"][\"peers\"][0][\"latest_handshake\"] > 0'"
all_json() {
	show --json | python3 -c 'import json,sys; names = {d["name"] for d in json.load(sys.stdin)}; assert {sys.argv[1], sys.argv[2]} <= names, names' "$GW" "$HOME_IF"
}
check "show --json without a name: an array with both daemons" all_json
check "show without a name lists both" bash -c \
	"'$PORTHOLE' show | grep -qx 'interface: $GW' && '$PORTHOLE' show | grep -qx 'interface: $HOME_IF'"
check "an unknown name fails" bash -c "! '$PORTHOLE' show ${TAG}nope 2>/dev/null"

# Metrics, inside the gateway's namespace.
curl_vps() { ns vps curl -sS --max-time 5 "$@"; }
curl_vps http://127.0.0.1:9586/metrics >"$TMP/metrics.txt"
metric() { # metric NAME LABEL_SUBSTRING: the value of the first matching sample
	grep "^$1{" "$TMP/metrics.txt" | grep -F -- "$2" | head -n 1 | awk '{ print $2 }'
}
fl="forward=\"tcp-8080\""
check "metrics: 3 connections in total" test "$(metric porthole_forward_connections_total "$fl")" = 3
check "metrics: none active" test "$(metric porthole_forward_connections_active "$fl")" = 0
check "metrics: bytes out" test "$(metric porthole_forward_bytes_out_total "$fl")" -ge 300000
check "metrics: bytes in" test "$(metric porthole_forward_bytes_in_total "$fl")" -gt 0
check "metrics: no connect errors" test "$(metric porthole_forward_errors_total 'kind="connect"')" = 0
check "metrics: no PROXY failures" test "$(metric porthole_forward_proxy_failures_total "$fl")" = 0
pk="public_key=\"$home_pub\""
check "metrics: peer rx bytes" test "$(metric porthole_peer_rx_bytes_total "$pk")" -ge 300000
check "metrics: peer tx bytes" test "$(metric porthole_peer_tx_bytes_total "$pk")" -gt 0
hs=$(metric porthole_peer_last_handshake_seconds "$pk")
check "metrics: last handshake is a recent Unix time" \
	test "$(( $(date +%s) - ${hs:-0} ))" -lt 60
check "metrics: handshake age is small" test "$(metric porthole_peer_handshake_age_seconds "$pk")" -lt 60
check "metrics: drops by reason are listed" \
	grep -q "^porthole_dropped_packets_total{interface=\"$GW\",public_key=\"$home_pub\",reason=\"bad_tag\"} 0$" "$TMP/metrics.txt"
check "metrics: TYPE lines" grep -q '^# TYPE porthole_forward_connections_total counter$' "$TMP/metrics.txt"
code() { curl_vps -o /dev/null -w '%{http_code}' "$@"; }
check "metrics: another path is 404" test "$(code http://127.0.0.1:9586/nope)" = 404
check "metrics: POST is 405" test "$(code -X POST http://127.0.0.1:9586/metrics)" = 405
check "metrics: a garbage request is 400" bash -c \
	"printf 'hello\r\n\r\n' | ip netns exec $TAG-vps timeout 5 socat -t 3 - TCP:127.0.0.1:9586 | head -n 1 | grep -q '^HTTP/1.0 400'"
check "metrics: a silent client is dropped" bash -c \
	"ip netns exec $TAG-vps timeout 8 socat -T 7 - TCP:127.0.0.1:9586 </dev/null >/dev/null; test \$? -ne 124"
check "metrics: still serving afterwards" test "$(code http://127.0.0.1:9586/metrics)" = 200

check "control: an unknown request is refused" bash -c \
	"printf 'bogus\n' | socat -t 3 - UNIX-CONNECT:$SOCKDIR/$GW.sock | grep -qx 'error: unknown request'"
finish
