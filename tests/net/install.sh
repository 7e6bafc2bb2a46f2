# `make install` into a temporary DESTDIR (no root needed): the files it puts where, the unit's
# ExecStart following PREFIX, the unit passing `systemd-analyze verify` (skipped where systemd
# is not installed), and the man pages: groff-clean and naming every subcommand of main.c and
# every key of config.c.
. "$(dirname "$0")/lib.sh"
need_cmd make groff
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=$(dirname "$PORTHOLE")
D=$TMP/root

install_into() { # install_into DESTDIR PREFIX
	make -s -C "$TOP" BUILD="$BUILD_DIR" DESTDIR="$1" PREFIX="$2" install >"$TMP/install.log" 2>&1 ||
		{ cat "$TMP/install.log"; return 1; }
}
check "make install DESTDIR=... PREFIX=/usr/local" install_into "$D" /usr/local
listing() { (cd "$D" && find . \( -type f -o -type l \) -printf '%p %m\n' | sort); }
listing | sed 's/^/    /'
EXPECTED='./usr/local/bin/porthole 755
./usr/local/bin/porthole-wg 777
./usr/local/lib/systemd/system/porthole@.service 644
./usr/local/lib/sysusers.d/porthole.conf 644
./usr/local/share/man/man5/porthole.conf.5 644
./usr/local/share/man/man8/porthole.8 644'
check "exactly the expected files, with their modes" diff -u <(echo "$EXPECTED") <(listing)
check "/etc/porthole exists" test -d "$D/etc/porthole"
check "porthole-wg is a relative link to porthole" test "$(readlink "$D/usr/local/bin/porthole-wg")" = porthole
check "the installed binary runs" bash -c "'$D/usr/local/bin/porthole' version | grep -q '^porthole v'"
UNIT=$D/usr/local/lib/systemd/system/porthole@.service
check "ExecStart follows PREFIX=/usr/local" \
	grep -qxF 'ExecStart=/usr/local/bin/porthole up /etc/porthole/%i.conf' "$UNIT"
check "make install PREFIX=/usr" install_into "$TMP/usr-root" /usr
check "ExecStart follows PREFIX=/usr" grep -qxF 'ExecStart=/usr/bin/porthole up /etc/porthole/%i.conf' \
	"$TMP/usr-root/usr/lib/systemd/system/porthole@.service"
check "the sysusers.d file creates the porthole user" \
	grep -qE '^u porthole ' "$D/usr/local/lib/sysusers.d/porthole.conf"

for line in Type=notify WatchdogSec=30s 'ExecReload=/bin/kill -HUP $MAINPID' Restart=on-failure \
	User=porthole 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE' \
	'AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE' NoNewPrivileges=yes \
	ProtectSystem=strict ProtectHome=yes PrivateTmp=yes DevicePolicy=closed \
	'DeviceAllow=/dev/net/tun rw' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK' \
	SystemCallFilter=@system-service 'RuntimeDirectory=porthole wireguard' \
	RuntimeDirectoryPreserve=yes; do
	check "unit: $line" grep -qxF -- "$line" "$UNIT"
done

# systemd-analyze verify wants the binary and the man pages where the unit says: point both at
# the DESTDIR copy. Clean means no output at all, warnings included.
verify() { # verify UNITFILE
	local out
	out=$(MANPATH="$D/usr/local/share/man" systemd-analyze verify "$1" 2>&1)
	echo "$out"
	[ -z "$out" ]
}
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$TMP/units"
	sed "s|/usr/local/bin/porthole|$D/usr/local/bin/porthole|" "$UNIT" >"$TMP/units/porthole@x.service"
	check "systemd-analyze verify porthole@x.service: clean" verify "$TMP/units/porthole@x.service"
	sed 's/^Type=notify/Type=notifi/' "$TMP/units/porthole@x.service" >"$TMP/units/porthole@y.service"
	check "(and verify does complain about a broken copy)" \
		bash -c "$(declare -f verify); D='$D'; ! verify '$TMP/units/porthole@y.service'"
else
	ok "systemd-analyze verify: skipped, systemd-analyze is not installed"
fi

# Man pages: no groff warnings, and nothing left out.
for page in man8/porthole.8 man5/porthole.conf.5; do
	check "groff -man -ww $page: no warnings" bash -c \
		"groff -man -Tutf8 -ww '$D/usr/local/share/man/$page' 2>&1 >/dev/null | (! grep .)"
done
if command -v man >/dev/null; then
	check "man -l porthole.8 renders" bash -c \
		"MANWIDTH=80 man -l '$D/usr/local/share/man/man8/porthole.8' 2>&1 | grep -q PRIVILEGES"
fi
rendered() { groff -man -Tutf8 "$1" 2>/dev/null | sed 's/.\x08//g'; }
rendered "$D/usr/local/share/man/man8/porthole.8" >"$TMP/porthole.8.txt"
rendered "$D/usr/local/share/man/man5/porthole.conf.5" >"$TMP/porthole.conf.5.txt"
CMDS=$(sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", [a-z_]*_main,.*/\1/p' "$TOP/src/main.c")
check "subcommands found in main.c" test "$(echo "$CMDS" | wc -w)" -ge 8
for cmd in $CMDS; do
	check "porthole(8) documents '$cmd'" grep -qE "^ {7}([a-z]+, )*$cmd\b" "$TMP/porthole.8.txt"
done
KEYS=$(sed -n 's/^[[:space:]]*{"\([A-Za-z]*\)", SECTION_[A-Z]*, set_.*/\1/p;
	s/^[[:space:]]*{"\([A-Za-z]*\)", "porthole .*/\1/p' "$TOP/src/config.c")
check "keys found in config.c" test "$(echo "$KEYS" | wc -w)" -ge 30
for key in $KEYS; do
	check "porthole.conf(5) documents '$key'" grep -qw -- "$key" "$TMP/porthole.conf.5.txt"
done
finish
