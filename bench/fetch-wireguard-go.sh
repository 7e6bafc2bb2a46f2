#!/bin/bash
# Fetches Debian's wireguard-go package for SUITE (default trixie, Debian 13) with apt into
# bench/cache/SUITE/ and prints the path of its static binary. Nothing is installed system-wide:
# apt gets its own sources list, lists and archive directories under the cache. The mirror is the
# one this machine's own Debian sources use (the default deb.debian.org when none is found).
set -eu
suite=${1:-trixie}
here=$(cd "$(dirname "$0")" && pwd)
cache=${BENCH_CACHE:-$here/cache}/$suite
bin=$cache/root/usr/bin/wireguard-go

mirror() { # the first .../debian URI of the machine's sources (deb822 or one-line format)
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
		grep -oE '(https?|ftp)://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ')
	echo "${m:-http://deb.debian.org/debian}"
}

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/etc/preferences.d" "$cache/root"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] $(mirror) $suite main" >"$cache/etc/sources.list"
apt_opts=(-q -o "Dir::Etc::sourcelist=$cache/etc/sources.list" -o Dir::Etc::sourceparts=-
	-o "Dir::Etc::preferencesparts=$cache/etc/preferences.d"
	-o "Dir::State::Lists=$cache/lists" -o "Dir::Cache=$cache/cache"
	-o "Dir::Cache::archives=$cache/archives" -o Debug::NoLocking=1
	-o APT::Architecture=amd64)
apt-get "${apt_opts[@]}" update >&2
(cd "$cache/archives" && apt-get "${apt_opts[@]}" download "wireguard-go/$suite" >&2)
deb=$(ls -t "$cache"/archives/wireguard-go_*.deb | head -n 1)
dpkg-deb -x "$deb" "$cache/root"
dpkg-deb -f "$deb" Version >"$cache/version"
test -x "$bin"
echo "$bin"
