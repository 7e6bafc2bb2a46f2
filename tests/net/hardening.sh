# Hardening inside the process: both ends of a gateway run with PORTHOLE_SECCOMP=1 and must do
# all of their legitimate work under the filter (/proc/PID/status "Seccomp: 2"): tunnel traffic,
# TCP (spliced) and UDP forwards, `wg show`/`wg set`, `porthole show`, reload by command and by
# SIGHUP with a host-name target, the DNS helper thread re-resolving an Endpoint name, and a
# clean teardown. Secrets live in locked memory (VmLck > 0). porthole-wg gets the same filter.
# Names resolve through /etc/netns/NS/hosts, which `ip netns exec` mounts over /etc/hosts.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd wg curl nginx socat
trap 'rm -rf /etc/netns/"$TAG"-*; cleanup' EXIT
export PORTHOLE_SECCOMP=1
# LeakSanitizer ptraces the process at exit, which the filter forbids (sanitizer builds only).
export ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0

status_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
filtered() { # filtered PID: alive, under a seccomp filter (mode 2)
	echo "Seccomp: $(status_field "$1" Seccomp)"
	[ "$(status_field "$1" Seccomp)" = 2 ]
}
# ASan's mlock() succeeds without locking: a sanitizer build shows VmLck 0.
ASAN_BUILD=$(grep -qa __asan_init "$PORTHOLE" && echo 1)
locked() {
	echo "VmLck: $(status_field "$1" VmLck) kB"
	[ -n "$ASAN_BUILD" ] || [ "$(status_field "$1" VmLck)" -gt 0 ]
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

gw_topology || exit 1
mkdir -p "/etc/netns/$TAG-vps" "/etc/netns/$TAG-home"
echo "10.99.0.2 home.test" >"/etc/netns/$TAG-vps/hosts"
echo "192.0.2.1 vps.test" >"/etc/netns/$TAG-home/hosts"
sed -i 's/^Endpoint = 192.0.2.1:51820$/Endpoint = vps.test:51820/' "$TMP/$GW_HOME.conf"
gw_forward Name=web Listen=198.51.100.1:80 Target=home.test:8080
gw_forward Name=echo Protocol=udp Listen=198.51.100.1:5353 Target=10.99.0.2:7

# The vps stopped while home comes up: home's handshakes go unanswered, so after REKEY_TIMEOUT
# its DNS helper thread looks vps.test up again, under the filter.
gw_require "vps up with the filter" gw_start vps "$GW_VPS"
VPS_PID=${GW_PID[$GW_VPS]}
kill -STOP "$VPS_PID"
start=$(date +%s%N)
gw_require "home up with the filter" gw_start home "$GW_HOME"
HOME_PID=${GW_PID[$GW_HOME]}
check "home's helper thread looks vps.test up again" \
	wait_for 10 gw_log_has "$GW_HOME" "looking up 'vps.test' again"
echo "figure: unanswered handshake to re-resolution under seccomp: $(ms_since "$start") ms"
kill -CONT "$VPS_PID"
check "home survives the lookup (threads, files, DNS sockets)" kill -0 "$HOME_PID"
gw_require "ping through the tunnel, both ways" gw_tunnel
gw_wait_listens
# The home services bind the tunnel address, which exists now. nginx's workers (nobody) may
# pass through $TMP to its www directory, nothing more.
chmod 711 "$TMP"
mkdir -p -m 755 "$TMP/www" && echo home >"$TMP/www/index.html"
head -c 8M /dev/urandom >"$TMP/www/big"
nginx_start home web 'server { listen 10.99.0.2:8080; location / { root '"$TMP"'/www; } }'
bg home socat UDP4-RECVFROM:7,bind=10.99.0.2,fork EXEC:cat
wait_for 5 listening home tcp 8080
wait_for 5 listening home udp 7

for side in "$GW_VPS" "$GW_HOME"; do
	check "$side: Seccomp: 2 in /proc/PID/status" filtered "${GW_PID[$side]}"
	check "$side: secrets in locked memory" locked "${GW_PID[$side]}"
	check "$side: says the filter is installed" gw_log_has "$side" "seccomp filter installed"
done
echo "figure: VmLck of the vps daemon: $(status_field "$VPS_PID" VmLck) kB"

check "TCP forward: client -> vps:80 -> home.test:8080" bash -c \
	"[ \"\$(ip netns exec $TAG-client curl -sS --max-time 5 http://198.51.100.1/)\" = home ]"
start=$(date +%s%N)
check "TCP forward: 8 MB intact" bash -c "ip netns exec $TAG-client curl -sS --max-time 20 \
	http://198.51.100.1/big | cmp - '$TMP/www/big'"
echo "figure: 8 MB through the filtered gateway and tunnel: $(ms_since "$start") ms"
check "UDP forward echoes" bash -c "[ \"\$(echo hi | ip netns exec $TAG-client \
	socat -t 2 - UDP4:198.51.100.1:5353)\" = hi ]"
check "wg show over the UAPI socket" bash -c \
	"ip netns exec $TAG-vps wg show $GW_VPS peers | grep -qF '$(pub gwhome)'"
check "wg set over the UAPI socket" ns vps wg set "$GW_VPS" peer "$(pub gwhome)" \
	persistent-keepalive 9
check "porthole show (control socket)" bash -c \
	"'$PORTHOLE' show $GW_VPS --json | grep -q '\"$GW_VPS\"'"

gw_forward Name=web2 Listen=198.51.100.1:81 Target=home.test:8080
check "porthole reload adds a forward to a host name" ns vps "$PORTHOLE" reload "$TMP/$GW_VPS.conf"
check "the new forward answers" bash -c \
	"[ \"\$(ip netns exec $TAG-client curl -sS --max-time 5 http://198.51.100.1:81/)\" = home ]"
gw_forward Name=web3 Listen=198.51.100.1:82 Target=home.test:8080
kill -HUP "$VPS_PID"
check "SIGHUP reload too" wait_for 5 bash -c \
	"[ \"\$(ip netns exec $TAG-client curl -sS --max-time 1 http://198.51.100.1:82/)\" = home ]"
check "home reload re-resolves vps.test" ns home "$PORTHOLE" reload "$TMP/$GW_HOME.conf"
check "both daemons alive after all that" bash -c "kill -0 $VPS_PID && kill -0 $HOME_PID"
check "no SIGSYS in the logs" bash -c "! grep -qi 'bad system call' '$TMP'/*.log"

# porthole-wg, configured by wg as wg-quick would.
netns_add wg >/dev/null
keypair wgself
keypair wgpeer
IF=${TAG}w
check "porthole-wg with the filter" wg_iface porthole wg "$IF" wgself 51999 10.98.0.1/24
check "porthole-wg: Seccomp: 2" filtered "${DAEMON_PID[$IF]}"
check "porthole-wg: secrets in locked memory" locked "${DAEMON_PID[$IF]}"
check "porthole-wg: wg set peer, listen-port, fwmark" ns wg wg set "$IF" listen-port 52000 \
	fwmark 0x42 peer "$(pub wgpeer)" allowed-ips 10.98.0.2/32 endpoint 127.0.0.1:1
check "porthole-wg: wg show" bash -c "ip netns exec $TAG-wg wg show $IF | grep -q 'port: 52000'"
check "porthole-wg: traffic to the peer is sealed and sent" bash -c \
	"ip netns exec $TAG-wg ping -c 1 -W 1 10.98.0.2; kill -0 ${DAEMON_PID[$IF]}"
check "porthole-wg: stops cleanly" wg_down "$IF"

gw_finish
