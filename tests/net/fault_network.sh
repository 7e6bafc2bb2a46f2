# Faults between vps and home (issue #7, item 4), each scenario in its own client/vps/home
# namespaces, all at once so that the wall time is the longest one (the rekey soak, ~260 s):
#   impair       loss 1/5/20 %, delay 100 ms with jitter, reordering, duplication (fault/impair.sh)
#   outage-10    home's link down for 10 s; outage-60, outage-150: every datagram lost that long
#   restart      kill -9 of home, then of the vps, and a restart of each
#   soak         a paced stream through two REKEY_AFTER_TIME periods
# tc netem is what the issue asks for, but this kernel has no sch_netem: fault/netem.py makes the
# same faults on the tunnel's datagrams in user space (see there). FAULT_ONLY="impair restart"
# runs a subset; FAULT_SOAK_SECS shortens the soak. Figures are the "figure:" lines.
set -u
dir=$(cd "$(dirname "$0")" && pwd)/fault
if [ "$(id -u)" != 0 ]; then echo "skipped: needs root"; echo "0 passed, 0 failed"; exit 0; fi
out=$(mktemp -d /tmp/porthole-fault.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$out"' EXIT
declare -A cmd=(
	[impair]="impair.sh"
	[outage-10]="outage.sh 10 link"
	[outage-60]="outage.sh 60 blackhole"
	[outage-150]="outage.sh 150 blackhole"
	[restart]="restart.sh"
	[soak]="soak.sh ${FAULT_SOAK_SECS:-250}"
)
order=(soak outage-150 outage-60 outage-10 restart impair)
[ -n "${FAULT_ONLY:-}" ] && read -r -a order <<<"$FAULT_ONLY"
declare -A pid
for s in "${order[@]}"; do
	[ -n "${cmd[$s]:-}" ] || { echo "unknown scenario $s"; echo "0 passed, 1 failed"; exit 1; }
	# shellcheck disable=SC2086 # the command's words
	timeout --kill-after=10 420 bash "$dir"/${cmd[$s]} >"$out/$s" 2>&1 &
	pid[$s]=$!
	sleep 1 # the topologies' setup is the busy part: stagger it
done
pass=0 fail=0
for s in "${order[@]}"; do
	wait "${pid[$s]}"
	rc=$?
	echo "== $s (exit $rc)"
	grep -v 'No record of process' "$out/$s" | sed 's/^/   /'
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/$s" | tail -n 1)
	if [ -z "$line" ]; then
		fail=$((fail + 1))
		continue
	fi
	# shellcheck disable=SC2086 # the words of "N passed, N failed"
	set -- $line
	pass=$((pass + $1)) fail=$((fail + $3))
	[ "$rc" -eq 0 ] || [ "$3" -gt 0 ] || fail=$((fail + 1))
done
echo "figures:"
grep -h '^figure:' "${order[@]/#/$out/}" | sed 's/^figure: /  /'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
