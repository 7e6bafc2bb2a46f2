# porthole genkey/pubkey/genpsk against wireguard-tools' wg, key for key.
. "$(dirname "$0")/lib.sh"
need_cmd wg

mismatch=0
for i in $(seq 100); do
	k=$(wg genkey)
	[ "$(echo "$k" | "$PORTHOLE" pubkey)" = "$(echo "$k" | wg pubkey)" ] || mismatch=$((mismatch + 1))
done
check "pubkey equals wg pubkey for 100 random keys" test "$mismatch" -eq 0

accepted=0
for i in $(seq 20); do
	k=$("$PORTHOLE" genkey)
	[ "${#k}" -eq 44 ] && echo "$k" | wg pubkey >/dev/null && accepted=$((accepted + 1))
done
check "wg accepts 20 keys from porthole genkey" test "$accepted" -eq 20
clamped() { # RFC 7748 clamping: low 3 bits of byte 0 clear, bit 255 clear, bit 254 set
	local hex; hex=$(echo "$1" | base64 -d | od -An -tx1 | tr -d ' \n')
	(( (0x${hex:0:2} & 7) == 0 && (0x${hex:62:2} & 0xc0) == 0x40 ))
}
check "genkey output is clamped as RFC 7748 says" clamped "$("$PORTHOLE" genkey)"
psk=$("$PORTHOLE" genpsk)
check "genpsk gives a 44-character base64 key wg accepts" \
	bash -c "[ \${#1} -eq 44 ] && echo \$1 | wg pubkey >/dev/null" _ "$psk"
check "genkey output ends with one newline" bash -c "[ \"\$($PORTHOLE genkey | wc -c)\" -eq 45 ]"
check "pubkey rejects garbage with exit 1" bash -c "! echo garbage | $PORTHOLE pubkey"
check "pubkey rejects a short key" bash -c "! echo AAAA | $PORTHOLE pubkey"
finish
