# porthole init: a matched pair of files that porthole check accepts, keys that fit together,
# mode 0600, never overwriting.
. "$(dirname "$0")/lib.sh"
need_cmd wg

d=$TMP/init
mkdir -p "$d"
check "init writes both files" "$PORTHOLE" init --endpoint 203.0.113.7:51999 --forward 443 \
	--forward 8080 --forward 5353/udp --dir "$d"
check "gateway.conf is mode 0600" test "$(stat -c %a "$d/gateway.conf")" = 600
check "home.conf is mode 0600" test "$(stat -c %a "$d/home.conf")" = 600
check "porthole check accepts gateway.conf" "$PORTHOLE" check "$d/gateway.conf"
check "porthole check accepts home.conf" "$PORTHOLE" check "$d/home.conf"

key() { sed -n "s/^$2 = //p" "$1" | head -n 1; }
check "gateway's peer key is home's public key" \
	test "$(key "$d/home.conf" PrivateKey | wg pubkey)" = "$(key "$d/gateway.conf" PublicKey)"
check "home's peer key is the gateway's public key" \
	test "$(key "$d/gateway.conf" PrivateKey | wg pubkey)" = "$(key "$d/home.conf" PublicKey)"
check "both ends share one preshared key" \
	test "$(key "$d/gateway.conf" PresharedKey)" = "$(key "$d/home.conf" PresharedKey)"
check "home points at the given endpoint" grep -qx "Endpoint = 203.0.113.7:51999" "$d/home.conf"
check "gateway listens on the endpoint's port" grep -qx "ListenPort = 51999" "$d/gateway.conf"
check "home keeps the tunnel alive" grep -qx "PersistentKeepalive = 25" "$d/home.conf"
check "one forward per --forward" test "$(grep -c '^\[Forward\]' "$d/gateway.conf")" = 3
check "TCP forwards send PROXY v2" test "$(grep -c '^SendProxy = v2' "$d/gateway.conf")" = 2
check "a UDP forward is declared as such" grep -qx "Protocol = udp" "$d/gateway.conf"
check "the subnet avoids 10.0-99.x home ranges" \
	grep -Eq '^Address = 10\.(1[0-9][0-9]|2[0-2][0-9])\.[0-9]+\.1/24, fd[0-9a-f:]+::1/64$' "$d/gateway.conf"
home_ip=$(sed -n 's/^Address = \([0-9.]*\)\/24.*/\1/p' "$d/home.conf")
check "forward targets are the home tunnel address" \
	test "$(grep -c "^Target = $home_ip:" "$d/gateway.conf")" = 3

before=$(sha256sum "$d/gateway.conf")
check "a second init refuses to overwrite" bash -c "! '$PORTHOLE' init --endpoint x.example --dir '$d'"
check "and leaves the files as they were" test "$(sha256sum "$d/gateway.conf")" = "$before"
check "IPv6 endpoints are bracketed" bash -c "mkdir '$d/v6' && '$PORTHOLE' init --endpoint '[2001:db8::7]:4000' --dir '$d/v6' >/dev/null && grep -qx 'Endpoint = \[2001:db8::7\]:4000' '$d/v6/home.conf'"
check "a bad --forward is refused" bash -c "! '$PORTHOLE' init --endpoint x.example --forward 99999 --dir '$d/v6'"
check "--endpoint is required" bash -c "! '$PORTHOLE' init --dir '$d'"
finish
