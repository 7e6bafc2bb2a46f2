# porthole demo: three namespaces, two daemons and a request; exit 0 with the client's address
# in the output, and nothing left behind (namespaces, processes, sockets, temp files), twice in
# a row, after Ctrl-C while it runs, and after Ctrl-C in --wait.
. "$(dirname "$0")/lib.sh"
need_root
export PORTHOLE

# leftovers PID: namespaces, /run/netns files, processes, sockets or files of demo PID
leftovers() {
	local p=$1
	ip netns list | grep -q "porthole-demo-$p-" && { echo "namespace left"; return 0; }
	ls /run/netns 2>/dev/null | grep -q "porthole-demo-$p-" && { echo "netns file left"; return 0; }
	pgrep -f "porthole-demo-$p[.]" >/dev/null && { echo "process left"; return 0; }
	ls /var/run/wireguard 2>/dev/null | grep -q "^pd${p}" && { echo "socket left"; return 0; }
	ls -d /tmp/porthole-demo-"$p".* >/dev/null 2>&1 && { echo "temp dir left"; return 0; }
	pgrep -f "^$PORTHOLE demo" >/dev/null && { echo "demo process left"; return 0; }
	return 1
}
demo_pid() { sed -n 's/.*porthole-demo-\([0-9]*\)-client.*/\1/p' "$1" | head -n 1; }
# run N: one demo, its output in $TMP/demo-N.out
run() {
	local n=$1 rc p
	"$PORTHOLE" demo >"$TMP/demo-$n.out" 2>&1; rc=$?
	sed 's/^/    /' "$TMP/demo-$n.out"
	p=$(demo_pid "$TMP/demo-$n.out")
	check "demo $n exits 0 (got $rc)" test "$rc" -eq 0
	check "demo $n prints the client address the home service saw" \
		grep -q "the PROXY header: client 198\.51\.100\.2:[0-9]" "$TMP/demo-$n.out"
	check "demo $n's answer names the client" \
		grep -q "the answer: hello from home, you are 198\.51\.100\.2:[0-9]" "$TMP/demo-$n.out"
	check "demo $n printed its namespaces" test -n "$p"
	check "demo $n left nothing behind" bash -c "$(declare -f leftovers); ! leftovers $p"
}
run 1
run 2
check "two runs used fresh namespaces" \
	test "$(demo_pid "$TMP/demo-1.out")" != "$(demo_pid "$TMP/demo-2.out")"

# Ctrl-C while it runs: exit 130, everything removed.
"$PORTHOLE" demo >"$TMP/int.out" 2>&1 &
pid=$!
wait_for 5 test -e "/run/netns/porthole-demo-$pid-client"
kill -INT "$pid"
wait "$pid"; rc=$?
check "Ctrl-C: the demo stops (status $rc)" test "$rc" -eq 130 -o "$rc" -eq 0
check "Ctrl-C: nothing left behind" bash -c "$(declare -f leftovers); ! leftovers $pid"

# --wait: up until Ctrl-C, inspectable with ip netns meanwhile.
"$PORTHOLE" demo --wait >"$TMP/wait.out" 2>&1 &
pid=$!
check "--wait: the demo succeeds and waits" wait_for 20 grep -q "stays up until Ctrl-C" "$TMP/wait.out"
check "--wait: ip netns lists the three namespaces" \
	test "$(ip netns list | grep -c "^porthole-demo-$pid-")" -eq 3
check "--wait: a second request from the client namespace works" bash -c \
	"ip netns exec porthole-demo-$pid-client curl -s -m 5 http://198.51.100.1:8080/ |
		grep -q 'you are 198.51.100.2:'"
check "--wait: (the leftover check sees a running demo)" bash -c "$(declare -f leftovers); leftovers $pid"
kill -INT "$pid"
wait "$pid"; rc=$?
check "--wait: Ctrl-C ends it with status 0 (got $rc)" test "$rc" -eq 0
check "--wait: nothing left behind" bash -c "$(declare -f leftovers); ! leftovers $pid"
setpriv --reuid=65534 --regid=65534 --clear-groups "$PORTHOLE" demo >"$TMP/user.out" 2>&1; rc=$?
check "not as root: refused with a reason (status $rc)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'needs root' '$TMP/user.out'"
finish
