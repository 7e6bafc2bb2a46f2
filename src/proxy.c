#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "crc32c.h"
#include "bytes.h"
#include "proxy.h"

/* Registered TLV types (doc/proxy-protocol.txt section 2.2). */
enum pp2_type {
	PP2_TYPE_ALPN = 0x01,
	PP2_TYPE_AUTHORITY = 0x02,
	PP2_TYPE_CRC32C = 0x03,
	PP2_TYPE_NOOP = 0x04,
	PP2_TYPE_UNIQUE_ID = 0x05,
};

enum pp2_family { PP2_AF_UNSPEC = 0, PP2_AF_INET = 1, PP2_AF_INET6 = 2, PP2_AF_UNIX = 3 };

enum pp2_sizes {
	PP2_ADDR_INET = 2 * 4 + 2 * 2,
	PP2_ADDR_INET6 = 2 * 16 + 2 * 2,
	PP2_ADDR_UNIX = 2 * 108,
	PP2_TLV_HEAD = 3,
	PP2_CRC_LEN = 4,
	PP2_VERSION = 0x20,
};

static const uint8_t v2_sig[PP_V2_SIG_LEN] = "\r\n\r\n\0\r\nQUIT\n";
static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN (sizeof(v1_sig) - 1)

/* ---- v1 builder ---- */

int pp_build_v1(char *out, size_t cap, const struct pp_header *hdr)
{
	const struct pp_addr *a = &hdr->addr;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int n;

	if (hdr->command == PP_CMD_LOCAL || a->family == AF_UNSPEC) {
		n = snprintf(out, cap, "PROXY UNKNOWN\r\n");
		goto out;
	}
	if (a->family != AF_INET && a->family != AF_INET6)
		return -EINVAL;
	if (a->transport == PP_TRANSPORT_DGRAM)
		return -EPROTONOSUPPORT;
	if (!inet_ntop(a->family, &a->src, src, sizeof(src)) ||
	    !inet_ntop(a->family, &a->dst, dst, sizeof(dst)))
		return -EINVAL;
	n = snprintf(out, cap, "PROXY %s %s %s %u %u\r\n", a->family == AF_INET ? "TCP4" : "TCP6",
		     src, dst, a->src_port, a->dst_port);
out:
	if (n < 0)
		return -EINVAL;
	return (size_t)n < cap ? n : -ENOSPC;
}

/* ---- v2 builder ---- */

static int family_nibble(const struct pp_header *hdr)
{
	if (hdr->command == PP_CMD_LOCAL)
		return PP2_AF_UNSPEC;
	switch (hdr->addr.family) {
	case AF_UNSPEC:
		return PP2_AF_UNSPEC;
	case AF_INET:
		return PP2_AF_INET;
	case AF_INET6:
		return PP2_AF_INET6;
	}
	return -EINVAL;
}

static size_t addr_len(int family)
{
	switch (family) {
	case PP2_AF_INET:
		return PP2_ADDR_INET;
	case PP2_AF_INET6:
		return PP2_ADDR_INET6;
	case PP2_AF_UNIX:
		return PP2_ADDR_UNIX;
	}
	return 0;
}

static bool tlvs_valid(const struct pp_header *hdr)
{
	if ((hdr->present & PP_HAS_ALPN) && (!hdr->alpn_len || hdr->alpn_len > PP_ALPN_MAX))
		return false;
	if ((hdr->present & PP_HAS_AUTHORITY) &&
	    (!hdr->authority_len || hdr->authority_len > PP_AUTHORITY_MAX))
		return false;
	return !(hdr->present & PP_HAS_UNIQUE_ID) || hdr->unique_id_len <= PP_UNIQUE_ID_MAX;
}

static size_t tlvs_len(const struct pp_header *hdr, unsigned int flags)
{
	size_t n = 0;

	if (hdr->present & PP_HAS_ALPN)
		n += PP2_TLV_HEAD + hdr->alpn_len;
	if (hdr->present & PP_HAS_AUTHORITY)
		n += PP2_TLV_HEAD + hdr->authority_len;
	if (hdr->present & PP_HAS_UNIQUE_ID)
		n += PP2_TLV_HEAD + hdr->unique_id_len;
	if (flags & PP_BUILD_CRC32C)
		n += PP2_TLV_HEAD + PP2_CRC_LEN;
	return n;
}

static uint8_t *put_tlv(uint8_t *p, uint8_t type, const void *value, uint16_t len)
{
	p[0] = type;
	put_be16(p + 1, len);
	memcpy(p + PP2_TLV_HEAD, value, len);
	return p + PP2_TLV_HEAD + len;
}

static uint8_t *put_addrs(uint8_t *p, const struct pp_addr *a, int family)
{
	size_t alen = family == PP2_AF_INET ? 4 : 16;

	if (family == PP2_AF_UNSPEC)
		return p;
	memcpy(p, &a->src, alen);
	memcpy(p + alen, &a->dst, alen);
	put_be16(p + 2 * alen, a->src_port);
	put_be16(p + 2 * alen + 2, a->dst_port);
	return p + 2 * alen + 4;
}

int pp_build_v2(uint8_t *out, size_t cap, const struct pp_header *hdr, unsigned int flags)
{
	static const uint8_t zero[PP2_CRC_LEN];
	int family = family_nibble(hdr);
	uint8_t transport = hdr->addr.transport, *p;
	size_t len, crc_at = 0;

	if (family < 0 || hdr->command > PP_CMD_PROXY || !tlvs_valid(hdr))
		return -EINVAL;
	if (family != PP2_AF_UNSPEC && transport != PP_TRANSPORT_STREAM &&
	    transport != PP_TRANSPORT_DGRAM)
		return -EINVAL;
	len = addr_len(family) + tlvs_len(hdr, flags);
	if (len > PP_V2_LEN_MAX)
		return -EINVAL;
	if (PP_V2_HEAD + len > cap)
		return -ENOSPC;

	memcpy(out, v2_sig, PP_V2_SIG_LEN);
	out[12] = PP2_VERSION | hdr->command;
	out[13] = family == PP2_AF_UNSPEC ? 0 : (uint8_t)(family << 4 | transport);
	put_be16(out + 14, (uint16_t)len);
	p = put_addrs(out + PP_V2_HEAD, &hdr->addr, family);
	if (hdr->present & PP_HAS_ALPN)
		p = put_tlv(p, PP2_TYPE_ALPN, hdr->alpn, hdr->alpn_len);
	if (hdr->present & PP_HAS_AUTHORITY)
		p = put_tlv(p, PP2_TYPE_AUTHORITY, hdr->authority, hdr->authority_len);
	if (hdr->present & PP_HAS_UNIQUE_ID)
		p = put_tlv(p, PP2_TYPE_UNIQUE_ID, hdr->unique_id, hdr->unique_id_len);
	if (flags & PP_BUILD_CRC32C) {
		crc_at = (size_t)(p - out) + PP2_TLV_HEAD;
		p = put_tlv(p, PP2_TYPE_CRC32C, zero, PP2_CRC_LEN);
		/* The sum covers the whole header with its own field zeroed (spec 2.2.3). */
		uint32_t crc = crc32c(out, PP_V2_HEAD + len);
		put_be16(out + crc_at, crc >> 16);
		put_be16(out + crc_at + 2, crc & 0xffff);
	}
	return (int)(p - out);
}

/* ---- parser: streaming ---- */

void pp_parser_init(struct pp_parser *p, unsigned int accept_versions)
{
	memset(p, 0, offsetof(struct pp_parser, buf));
	p->accept = accept_versions;
	p->state = PP_NEED_MORE;
}

static enum pp_result fail(struct pp_parser *p, enum pp_result result, enum pp_reason reason)
{
	p->state = result;
	p->reason = reason;
	return result;
}

/* Commits to a version once PP_DETECT_MAX bytes match its signature: up to there, a plain
 * protocol could still diverge (HTTP allows leading empty lines, "PROXY" could be a verb),
 * beyond it a mismatch is a broken header. */
static enum pp_result detect(struct pp_parser *p, uint8_t c)
{
	bool v1, v2;

	p->buf[p->have++] = c;
	v1 = (p->accept & PP_ACCEPT_V1) && !memcmp(p->buf, v1_sig, p->have);
	v2 = (p->accept & PP_ACCEPT_V2) && !memcmp(p->buf, v2_sig, p->have);
	if (!v1 && !v2)
		return fail(p, PP_NOT_PROXY, PP_R_NOT_HEADER);
	if (p->have == PP_DETECT_MAX)
		p->version = v1 ? 1 : 2;
	return PP_NEED_MORE;
}

static bool v1_char_ok(uint8_t prev, uint8_t c)
{
	if (prev == '\r')
		return c == '\n';
	if (c == '\n')
		return false;
	return c == '\r' || (c >= 0x20 && c < 0x7f);
}

/* Takes bytes up to and including the LF; a lone CR or LF is never a line end (spec 2.1). */
static enum pp_result feed_v1(struct pp_parser *p, const uint8_t *buf, size_t len, size_t *used)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (p->have == V1_SIG_LEN - 1 && c != ' ')
			return fail(p, PP_BAD, PP_R_BAD_SIGNATURE);
		if (!v1_char_ok(p->buf[p->have - 1], c))
			return fail(p, PP_BAD, PP_R_BAD_HEADER);
		p->buf[p->have++] = c;
		(*used)++;
		if (c == '\n')
			return PP_DONE;
		if (p->have == PP_V1_MAX)
			return fail(p, PP_BAD, PP_R_TOO_LONG);
	}
	return PP_NEED_MORE;
}

static bool v2_family_ok(uint8_t ft)
{
	return (ft >> 4) <= PP2_AF_UNIX && (ft & 0xf) <= PP_TRANSPORT_DGRAM;
}

/* Judges each byte of the fixed part as it arrives, so a bad header fails at its first bad byte. */
static enum pp_reason v2_check(struct pp_parser *p, size_t i)
{
	const uint8_t *b = p->buf;
	size_t len;

	if (i < PP_V2_SIG_LEN)
		return b[i] == v2_sig[i] ? PP_R_NONE : PP_R_BAD_SIGNATURE;
	if (i == 12 && (b[12] & 0xf0) != PP2_VERSION)
		return PP_R_BAD_VERSION;
	if (i == 12 && (b[12] & 0x0f) > PP_CMD_PROXY)
		return PP_R_BAD_COMMAND;
	if (i == 13 && !v2_family_ok(b[13]))
		return PP_R_BAD_PROTOCOL;
	if (i != 15)
		return PP_R_NONE;
	len = get_be16(b + 14);
	if (len > PP_V2_LEN_MAX)
		return PP_R_TOO_LONG;
	if (len < addr_len(b[13] >> 4))
		return PP_R_FAMILY_MISMATCH;
	p->need = (uint16_t)(PP_V2_HEAD + len);
	return PP_R_NONE;
}

static enum pp_result feed_v2(struct pp_parser *p, const uint8_t *buf, size_t len, size_t *used)
{
	size_t want = (p->need ? p->need : PP_V2_HEAD) - p->have;
	size_t n = MIN(want, len), from = p->have;

	memcpy(p->buf + p->have, buf, n);
	p->have += n;
	*used += n;
	for (size_t i = from; i < p->have && i < PP_V2_HEAD; i++) {
		enum pp_reason r = v2_check(p, i);

		if (r != PP_R_NONE)
			return fail(p, PP_BAD, r);
	}
	return p->need && p->have == p->need ? PP_DONE : PP_NEED_MORE;
}

/* ---- parser: decoding a complete v1 line ---- */

enum { V1_FIELDS = 5 }; /* protocol, source, destination, source port, destination port */

struct field {
	const char *s;
	size_t len;
};

/* Splits on single spaces; returns the field count (max + 1 when there are more), or -1 for
 * an empty field, which a doubled or trailing space makes. */
static int split(const char *s, const char *end, struct field *f, int max)
{
	int n = 0;

	for (;;) {
		const char *sp = memchr(s, ' ', (size_t)(end - s));
		const char *stop = sp ? sp : end;

		if (stop == s)
			return -1;
		if (n == max)
			return max + 1;
		f[n++] = (struct field){s, (size_t)(stop - s)};
		if (!sp)
			return n;
		s = sp + 1;
	}
}

static bool field_is(const struct field *f, const char *word)
{
	return f->len == strlen(word) && !memcmp(f->s, word, f->len);
}

/* Dotted quad of decimal numbers without leading zeroes (spec 2.1), stricter than inet_aton. */
static bool parse_v4(const char *s, struct in_addr *out)
{
	uint8_t b[4];
	int i = 0;

	for (;; s++) {
		unsigned int v = 0, digits = 0;

		for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
			v = v * 10 + (unsigned int)(*s - '0');
		if (!digits || digits > 3 || v > 255 || (digits > 1 && s[-(int)digits] == '0'))
			return false;
		b[i++] = (uint8_t)v;
		if (i == 4 && !*s)
			break;
		if (i == 4 || *s != '.')
			return false;
	}
	memcpy(out, b, sizeof(b));
	return true;
}

static enum pp_reason parse_addr(const struct field *f, sa_family_t family, void *out)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr scratch;
	bool ok, other;

	if (f->len >= sizeof(tmp))
		return PP_R_BAD_ADDRESS;
	memcpy(tmp, f->s, f->len);
	tmp[f->len] = '\0';
	if (family == AF_INET) {
		ok = parse_v4(tmp, out);
		other = !ok && inet_pton(AF_INET6, tmp, &scratch) == 1;
	} else {
		ok = inet_pton(AF_INET6, tmp, out) == 1;
		other = !ok && parse_v4(tmp, (struct in_addr *)&scratch);
	}
	if (ok)
		return PP_R_NONE;
	return other ? PP_R_FAMILY_MISMATCH : PP_R_BAD_ADDRESS;
}

static bool parse_port(const struct field *f, uint16_t *port)
{
	unsigned long v = 0;

	if (!f->len || f->len > 5 || (f->len > 1 && f->s[0] == '0'))
		return false;
	for (size_t i = 0; i < f->len; i++) {
		if (f->s[i] < '0' || f->s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(f->s[i] - '0');
	}
	*port = (uint16_t)v;
	return v <= 65535;
}

static enum pp_reason decode_v1(const struct pp_parser *p, struct pp_header *out)
{
	const char *rest = (const char *)p->buf + V1_SIG_LEN;
	const char *end = (const char *)p->buf + p->have - 2; /* without CRLF */
	size_t rest_len = (size_t)(end - rest), unknown_len = strlen("UNKNOWN");
	struct field f[V1_FIELDS];
	struct pp_addr *a = &out->addr;
	enum pp_reason r;
	int n;

	out->version = 1;
	out->command = PP_CMD_PROXY;
	/* After UNKNOWN the receiver must ignore the rest of the line. */
	if (rest_len >= unknown_len && !memcmp(rest, "UNKNOWN", unknown_len) &&
	    (rest_len == unknown_len || rest[unknown_len] == ' '))
		return PP_R_NONE;
	n = split(rest, end, f, V1_FIELDS);
	if (n < 0)
		return PP_R_BAD_HEADER;
	if (field_is(&f[0], "TCP4"))
		a->family = AF_INET;
	else if (field_is(&f[0], "TCP6"))
		a->family = AF_INET6;
	else
		return PP_R_BAD_PROTOCOL;
	if (n < V1_FIELDS)
		return PP_R_TRUNCATED;
	if (n > V1_FIELDS)
		return PP_R_BAD_HEADER;
	a->transport = PP_TRANSPORT_STREAM;
	if ((r = parse_addr(&f[1], a->family, &a->src)) ||
	    (r = parse_addr(&f[2], a->family, &a->dst)))
		return r;
	if (!parse_port(&f[3], &a->src_port) || !parse_port(&f[4], &a->dst_port))
		return PP_R_BAD_PORT;
	return PP_R_NONE;
}

/* ---- parser: decoding a complete v2 header ---- */

static bool take_bytes(uint8_t *dst, uint16_t *dst_len, unsigned int *present, unsigned int flag,
		       const uint8_t *v, size_t len, size_t min, size_t max)
{
	if ((*present & flag) || len < min || len > max)
		return false;
	memcpy(dst, v, len);
	*dst_len = (uint16_t)len;
	*present |= flag;
	return true;
}

static bool take_tlv(struct pp_header *h, uint8_t type, const uint8_t *v, size_t len)
{
	switch (type) {
	case PP2_TYPE_ALPN:
		return take_bytes(h->alpn, &h->alpn_len, &h->present, PP_HAS_ALPN, v, len, 1,
				  PP_ALPN_MAX);
	case PP2_TYPE_AUTHORITY:
		return !memchr(v, '\0', len) &&
		       take_bytes((uint8_t *)h->authority, &h->authority_len, &h->present,
				  PP_HAS_AUTHORITY, v, len, 1, PP_AUTHORITY_MAX);
	case PP2_TYPE_UNIQUE_ID:
		return take_bytes(h->unique_id, &h->unique_id_len, &h->present, PP_HAS_UNIQUE_ID, v,
				  len, 0, PP_UNIQUE_ID_MAX);
	case PP2_TYPE_CRC32C:
		if ((h->present & PP_HAS_CRC32C) || len != PP2_CRC_LEN)
			return false;
		h->crc32c = (uint32_t)get_be16(v) << 16 | get_be16(v + 2);
		h->present |= PP_HAS_CRC32C;
		return true;
	}
	h->skipped_tlvs++;
	return true;
}

/* TLVs must tile [off, end) exactly; *crc_at gets the CRC32C value's offset, if any. */
static enum pp_reason decode_tlvs(const uint8_t *b, size_t off, size_t end, struct pp_header *h,
				  size_t *crc_at)
{
	while (off < end) {
		size_t len;

		if (end - off < PP2_TLV_HEAD)
			return PP_R_BAD_TLV;
		len = get_be16(b + off + 1);
		if (len > end - off - PP2_TLV_HEAD)
			return PP_R_BAD_TLV;
		if (b[off] == PP2_TYPE_CRC32C)
			*crc_at = off + PP2_TLV_HEAD;
		if (!take_tlv(h, b[off], b + off + PP2_TLV_HEAD, len))
			return PP_R_BAD_TLV;
		off += PP2_TLV_HEAD + len;
	}
	return PP_R_NONE;
}

static void decode_addrs(const uint8_t *b, int family, struct pp_addr *a)
{
	size_t alen = family == PP2_AF_INET ? 4 : 16;

	a->family = family == PP2_AF_INET ? AF_INET : AF_INET6;
	memcpy(&a->src, b, alen);
	memcpy(&a->dst, b + alen, alen);
	a->src_port = get_be16(b + 2 * alen);
	a->dst_port = get_be16(b + 2 * alen + 2);
}

static bool crc_ok(struct pp_parser *p, size_t crc_at, uint32_t expect)
{
	uint32_t crc;

	memset(p->buf + crc_at, 0, PP2_CRC_LEN);
	crc = crc32c(p->buf, p->have);
	return crc == expect;
}

static enum pp_reason decode_v2(struct pp_parser *p, struct pp_header *out)
{
	int family = p->buf[13] >> 4;
	size_t tlv_at = PP_V2_HEAD + addr_len(family), crc_at = 0;
	enum pp_reason r;

	out->version = 2;
	out->command = p->buf[12] & 0x0f;
	/* LOCAL means the real endpoints; UNIX and UNSPEC addresses are of no use to us, nor are
	 * those of an UNSPEC transport, which the receiver "should ignore" (spec 2.2). Found by
	 * fuzz_proxy: "\x10" gave an AF_INET header with no transport, which no builder sends. */
	if (out->command == PP_CMD_PROXY) {
		out->addr.transport = p->buf[13] & 0x0f;
		if ((family == PP2_AF_INET || family == PP2_AF_INET6) &&
		    out->addr.transport != PP_TRANSPORT_UNSPEC)
			decode_addrs(p->buf + PP_V2_HEAD, family, &out->addr);
	}
	r = decode_tlvs(p->buf, tlv_at, p->have, out, &crc_at);
	if (r == PP_R_NONE && crc_at && !crc_ok(p, crc_at, out->crc32c))
		r = PP_R_BAD_CRC;
	return r;
}

static enum pp_result finish(struct pp_parser *p, struct pp_header *out)
{
	enum pp_reason r;

	memset(out, 0, sizeof(*out));
	r = p->version == 1 ? decode_v1(p, out) : decode_v2(p, out);
	if (r != PP_R_NONE)
		return fail(p, PP_BAD, r);
	return fail(p, PP_DONE, PP_R_NONE);
}

enum pp_result pp_parse(struct pp_parser *p, const uint8_t *buf, size_t len, size_t *consumed,
			struct pp_header *out)
{
	size_t used = 0, before = p->have;
	enum pp_result r = p->state;

	while (r == PP_NEED_MORE && used < len) {
		if (!p->version)
			r = detect(p, buf[used++]);
		else if (p->version == 1)
			r = feed_v1(p, buf + used, len - used, &used);
		else
			r = feed_v2(p, buf + used, len - used, &used);
	}
	if (r == PP_DONE && p->state == PP_NEED_MORE)
		r = finish(p, out);
	if (r == PP_NOT_PROXY && p->state == PP_NOT_PROXY && used) {
		/* This call's bytes stay with the caller; earlier ones are in the replay. */
		p->have = (uint16_t)before;
		used = 0;
	}
	*consumed = used;
	return r;
}

const uint8_t *pp_parser_replay(const struct pp_parser *p, size_t *len)
{
	*len = p->state == PP_NOT_PROXY ? p->have : 0;
	return p->buf;
}

enum pp_result pp_parser_eof(struct pp_parser *p)
{
	if (p->state == PP_NEED_MORE)
		fail(p, PP_BAD, p->have ? PP_R_ABORTED : PP_R_EMPTY);
	return p->state;
}

bool pp_parser_expired(struct pp_parser *p, uint64_t now_ns)
{
	if (p->state != PP_NEED_MORE || now_ns - p->started_ns < PP_TIMEOUT_NS)
		return false;
	fail(p, PP_BAD, PP_R_TIMED_OUT);
	return true;
}

const char *pp_reason_str(enum pp_reason reason)
{
	static const char *const names[] = {
	    [PP_R_NONE] = "none",
	    [PP_R_EMPTY] = "empty",
	    [PP_R_ABORTED] = "aborted",
	    [PP_R_TIMED_OUT] = "timed out",
	    [PP_R_TRUNCATED] = "truncated",
	    [PP_R_NOT_HEADER] = "not a header",
	    [PP_R_BAD_HEADER] = "bad header",
	    [PP_R_BAD_PROTOCOL] = "bad protocol",
	    [PP_R_BAD_SIGNATURE] = "bad signature",
	    [PP_R_BAD_VERSION] = "bad version",
	    [PP_R_BAD_COMMAND] = "bad command",
	    [PP_R_TOO_LONG] = "too long",
	    [PP_R_FAMILY_MISMATCH] = "family mismatch",
	    [PP_R_BAD_ADDRESS] = "bad address",
	    [PP_R_BAD_PORT] = "bad port",
	    [PP_R_BAD_TLV] = "bad TLV",
	    [PP_R_BAD_CRC] = "bad CRC",
	};

	if ((unsigned int)reason >= ARRAY_SIZE(names) || !names[reason])
		return "unknown";
	return names[reason];
}

/* ---- socket addresses ---- */

static bool mapped(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	return sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr);
}

static void set_one(struct pp_addr *a, const struct sockaddr *sa, void *addr, uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		memcpy(addr, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
		return;
	}
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	if (a->family == AF_INET)
		memcpy(addr, &s6->sin6_addr.s6_addr[12], 4);
	else
		memcpy(addr, &s6->sin6_addr, 16);
	*port = ntohs(s6->sin6_port);
}

int pp_addr_set(struct pp_addr *a, enum pp_transport transport, const struct sockaddr *src,
		const struct sockaddr *dst)
{
	memset(a, 0, sizeof(*a));
	if (src->sa_family != dst->sa_family ||
	    (src->sa_family != AF_INET && src->sa_family != AF_INET6))
		return -EAFNOSUPPORT;
	a->family = mapped(src) && mapped(dst) ? AF_INET : src->sa_family;
	a->transport = transport;
	set_one(a, src, &a->src, &a->src_port);
	set_one(a, dst, &a->dst, &a->dst_port);
	return 0;
}

static void get_one(const struct pp_addr *a, const void *addr, uint16_t port,
		    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr, 4);
		s4->sin_port = htons(port);
		return;
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	memcpy(&s6->sin6_addr, addr, 16);
	s6->sin6_port = htons(port);
}

int pp_addr_get(const struct pp_addr *a, struct sockaddr_storage *src, struct sockaddr_storage *dst)
{
	if (a->family != AF_INET && a->family != AF_INET6)
		return -EAFNOSUPPORT;
	get_one(a, &a->src, a->src_port, src);
	get_one(a, &a->dst, a->dst_port, dst);
	return 0;
}
