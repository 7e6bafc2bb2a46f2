# Shared helpers for the integration tests: sourced by tests/net/*.sh.
# Each test creates its own namespaces (prefixed with a per-run tag), registers cleanup, and ends by
# calling finish, which prints "N passed, N failed".
set -u
PORTHOLE=${PORTHOLE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/porthole}
TAG=pt$$
TMP=$(mktemp -d /tmp/porthole-test.XXXXXX)
npass=0 nfail=0
PIDS=()
NETNS=()

ok()   { npass=$((npass + 1)); echo "ok   - $*"; }
bad()  { nfail=$((nfail + 1)); echo "FAIL - $*"; }
check() { # check "description" command...
	local what=$1; shift
	if "$@" >"$TMP/check.out" 2>&1; then ok "$what"; else bad "$what"; sed 's/^/       /' "$TMP/check.out" | tail -n 20; fi
}
need_root() {
	if [ "$(id -u)" != 0 ]; then echo "skipped: needs root"; echo "0 passed, 0 failed"; exit 0; fi
}
need_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "missing command $c"; echo "0 passed, 1 failed"; exit 1; }
	done
}
netns_add() { # netns_add NAME: creates namespace $TAG-NAME with loopback up; echoes its name
	local ns=$TAG-$1
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	NETNS+=("$ns")
}
ns() { local n=$TAG-$1; shift; ip netns exec "$n" "$@"; }
bg() { # bg NAME cmd... : runs in namespace NAME in the background, remembering the pid
	local n=$TAG-$1; shift
	ip netns exec "$n" "$@" &
	PIDS+=($!)
}
veth() { # veth A B ADDR_A ADDR_B (CIDR each, e.g. 192.0.2.1/24 192.0.2.2/24)
	ip link add "v$$a" netns "$TAG-$1" type veth peer name "v$$b" netns "$TAG-$2"
	ip -n "$TAG-$1" link set "v$$a" name "eth-$2"
	ip -n "$TAG-$2" link set "v$$b" name "eth-$1"
	ip -n "$TAG-$1" addr add "$3" dev "eth-$2"
	ip -n "$TAG-$2" addr add "$4" dev "eth-$1"
	ip -n "$TAG-$1" link set "eth-$2" up
	ip -n "$TAG-$2" link set "eth-$1" up
}
wait_for() { # wait_for SECONDS command... : polls every 0.1 s
	local limit=$(( $1 * 10 )); shift
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	# Anything still running inside a namespace keeps it (and its interfaces) alive: ask it to
	# stop, so daemons remove their sockets, then make sure.
	for n in "${NETNS[@]}"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	sleep 0.3
	for n in "${NETNS[@]}"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
finish() {
	echo "$npass passed, $nfail failed"
	[ "$nfail" -eq 0 ]
	exit
}
