/* PROXY protocol codec: known headers from HAProxy's doc/proxy-protocol.txt, round trips through
 * both builders, every way of splitting a header across reads, each malformed case with its
 * reason, early "not a PROXY header" detection, and a robustness loop over random bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include "check.h"
#include "crc32c.h"
#include "proxy.h"

#define PAYLOAD "payload"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

struct outcome {
	enum pp_result result;
	enum pp_reason reason;
	size_t consumed; /* over all calls */
	size_t replayed; /* pp_parser_replay()'s length */
	struct pp_header hdr;
};

/* Feeds buf in pieces of the given sizes (the last size repeats), stopping at the first
 * answer that is not PP_NEED_MORE, as a connection's reader would. */
static struct outcome feed(unsigned int accept, const uint8_t *buf, size_t len, const size_t *sizes,
			   size_t nsizes)
{
	static struct pp_parser p;
	struct outcome o = {.result = PP_NEED_MORE};
	size_t off = 0, i = 0;

	pp_parser_init(&p, accept);
	while (o.result == PP_NEED_MORE && off < len) {
		size_t n = MIN(sizes[MIN(i, nsizes - 1)], len - off), used = 99999;

		o.result = pp_parse(&p, buf + off, n, &used, &o.hdr);
		CHECK(used <= n);
		o.consumed += used;
		off += n;
		i++;
	}
	o.reason = p.reason;
	pp_parser_replay(&p, &o.replayed);
	return o;
}

static struct outcome feed_whole(unsigned int accept, const void *buf, size_t len)
{
	size_t all = len ? len : 1;

	return feed(accept, buf, len, &all, 1);
}

static struct outcome feed_str(const char *s)
{
	return feed_whole(PP_ACCEPT_ANY, s, strlen(s));
}

static bool addr_eq(const struct pp_addr *a, const struct pp_addr *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	if (a->family != b->family || a->transport != b->transport)
		return false;
	if (a->family == AF_UNSPEC)
		return true;
	return !memcmp(&a->src, &b->src, n) && !memcmp(&a->dst, &b->dst, n) &&
	       a->src_port == b->src_port && a->dst_port == b->dst_port;
}

/* Equal as far as a header survives the wire: the CRC value is the builder's to compute. */
static bool hdr_eq(const struct pp_header *a, const struct pp_header *b)
{
	unsigned int mask = ~(unsigned int)PP_HAS_CRC32C;

	if (a->version != b->version || a->command != b->command || !addr_eq(&a->addr, &b->addr))
		return false;
	if ((a->present & mask) != (b->present & mask))
		return false;
	if ((a->present & PP_HAS_ALPN) &&
	    (a->alpn_len != b->alpn_len || memcmp(a->alpn, b->alpn, a->alpn_len)))
		return false;
	if ((a->present & PP_HAS_AUTHORITY) &&
	    (a->authority_len != b->authority_len ||
	     memcmp(a->authority, b->authority, a->authority_len)))
		return false;
	return !(a->present & PP_HAS_UNIQUE_ID) ||
	       (a->unique_id_len == b->unique_id_len &&
		!memcmp(a->unique_id, b->unique_id, a->unique_id_len));
}

static void test_crc32c(void)
{
	/* The standard check value of CRC-32C (RFC 3720 appendix B.4 catalogue "check"). */
	CHECK(crc32c((const uint8_t *)"123456789", 9) == 0xE3069283u);
	CHECK(crc32c(NULL, 0) == 0);
	/* RFC 3720 appendix B.4: 32 bytes of zeroes. */
	uint8_t zero[32] = {0};
	CHECK(crc32c(zero, sizeof(zero)) == 0x8A9136AAu);
	CHECK(crc32c_update(crc32c((const uint8_t *)"1234", 4), (const uint8_t *)"56789", 5) ==
	      0xE3069283u);
}

/* The example line of spec section 2.1, followed by its HTTP request. */
static void test_v1_spec_example(void)
{
	const char *in = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n"
			 "Host: 192.168.0.11\r\n\r\n";
	struct outcome o = feed_str(in);
	struct in_addr src, dst;

	inet_pton(AF_INET, "192.168.0.1", &src);
	inet_pton(AF_INET, "192.168.0.11", &dst);
	CHECK(o.result == PP_DONE);
	CHECK(o.consumed == strlen("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"));
	CHECK(o.hdr.version == 1 && o.hdr.command == PP_CMD_PROXY);
	CHECK(o.hdr.addr.family == AF_INET && o.hdr.addr.transport == PP_TRANSPORT_STREAM);
	CHECK(o.hdr.addr.src.v4.s_addr == src.s_addr && o.hdr.addr.dst.v4.s_addr == dst.s_addr);
	CHECK(o.hdr.addr.src_port == 56324 && o.hdr.addr.dst_port == 443);
}

/* The longest lines of spec section 2.1: 56, 104 and 107 bytes, and the 15-byte short form. */
static void test_v1_spec_lengths(void)
{
	const char *v4 = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
	const char *v6 = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	const char *unk = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	struct outcome o;

	CHECK(strlen(v4) == 56 && strlen(v6) == 104 && strlen(unk) == 107);
	o = feed_str(v4);
	CHECK(o.result == PP_DONE && o.consumed == 56 && o.hdr.addr.src.v4.s_addr == 0xffffffff);
	o = feed_str(v6);
	CHECK(o.result == PP_DONE && o.consumed == 104 && o.hdr.addr.family == AF_INET6);
	CHECK(o.hdr.addr.dst.v6.s6_addr[15] == 0xff && o.hdr.addr.dst_port == 65535);
	o = feed_str(unk);
	CHECK(o.result == PP_DONE && o.consumed == 107 && o.hdr.addr.family == AF_UNSPEC);
	o = feed_str("PROXY UNKNOWN\r\n" PAYLOAD);
	CHECK(o.result == PP_DONE && o.consumed == 15 && o.hdr.addr.family == AF_UNSPEC);
	o = feed_str("PROXY TCP6 ::1 2001:db8::7 0 8080\r\n");
	CHECK(o.result == PP_DONE && o.hdr.addr.src.v6.s6_addr[15] == 1);
	CHECK(o.hdr.addr.src_port == 0 && o.hdr.addr.dst_port == 8080);
}

/* Spec section 2.2 layout: TCP over IPv4 172.19.0.1:42578 -> 172.19.0.3:80, as HAProxy sends it. */
static const char v2_tcp4_hex[] = "0d0a0d0a000d0a515549540a 21 11 000c"
				  "ac130001 ac130003 a652 0050";

static void test_v2_known(void)
{
	uint8_t in[64], built[64];
	size_t n = check_unhex(in, v2_tcp4_hex);
	struct outcome o;

	memcpy(in + n, PAYLOAD, sizeof(PAYLOAD));
	o = feed_whole(PP_ACCEPT_ANY, in, n + sizeof(PAYLOAD));
	CHECK(o.result == PP_DONE && o.consumed == 28 && n == 28);
	CHECK(o.hdr.version == 2 && o.hdr.command == PP_CMD_PROXY);
	CHECK(o.hdr.addr.family == AF_INET && o.hdr.addr.transport == PP_TRANSPORT_STREAM);
	CHECK(ntohl(o.hdr.addr.src.v4.s_addr) == 0xac130001 && o.hdr.addr.src_port == 42578);
	CHECK(ntohl(o.hdr.addr.dst.v4.s_addr) == 0xac130003 && o.hdr.addr.dst_port == 80);
	CHECK(o.hdr.present == 0 && o.hdr.skipped_tlvs == 0);
	/* And the builder produces exactly those bytes. */
	CHECK(pp_build_v2(built, sizeof(built), &o.hdr, 0) == 28);
	CHECK_MEM(built, in, 28);

	/* LOCAL with family UNSPEC and no address, as senders do for health checks. */
	n = check_unhex(in, "0d0a0d0a000d0a515549540a 20 00 0000");
	o = feed_whole(PP_ACCEPT_V2, in, n);
	CHECK(o.result == PP_DONE && o.consumed == 16);
	CHECK(o.hdr.command == PP_CMD_LOCAL && o.hdr.addr.family == AF_UNSPEC);

	/* LOCAL must skip whatever address block the length announces. */
	n = check_unhex(in, "0d0a0d0a000d0a515549540a 20 11 000c 01020304 05060708 0001 0002");
	o = feed_whole(PP_ACCEPT_V2, in, n);
	CHECK(o.result == PP_DONE && o.consumed == 28 && o.hdr.addr.family == AF_UNSPEC);
}

static void test_v2_unix_and_tlvs(void)
{
	uint8_t in[PP_HEADER_MAX] = {0};
	size_t n = check_unhex(in, "0d0a0d0a000d0a515549540a 21 31 00e6"); /* 216 + 14 */
	struct outcome o;

	/* UNIX stream: addresses ignored, then a NOOP TLV, a private one and an ALPN. */
	n += 216;
	n += check_unhex(in + n, "04 0000  e0 0003 aabbcc  01 0002 6832");
	o = feed_whole(PP_ACCEPT_ANY, in, n);
	CHECK(o.result == PP_DONE && o.consumed == n && n == 16 + 0xe6);
	CHECK(o.hdr.addr.family == AF_UNSPEC && o.hdr.addr.transport == PP_TRANSPORT_STREAM);
	CHECK(o.hdr.skipped_tlvs == 2 && o.hdr.present == PP_HAS_ALPN);
	CHECK(o.hdr.alpn_len == 2 && !memcmp(o.hdr.alpn, "h2", 2));
}

static void random_header(struct pp_header *h, int version)
{
	memset(h, 0, sizeof(*h));
	h->version = (uint8_t)version;
	h->command = version == 1 || rnd() % 5 ? PP_CMD_PROXY : PP_CMD_LOCAL;
	if (h->command == PP_CMD_PROXY) {
		static const sa_family_t fams[] = {AF_INET, AF_INET6, AF_INET6, AF_UNSPEC};
		h->addr.family = fams[rnd() % ARRAY_SIZE(fams)];
		if (h->addr.family != AF_UNSPEC)
			h->addr.transport =
			    version == 1 || rnd() % 2 ? PP_TRANSPORT_STREAM : PP_TRANSPORT_DGRAM;
		rnd_bytes((uint8_t *)&h->addr.src, h->addr.family == AF_INET ? 4 : 16);
		rnd_bytes((uint8_t *)&h->addr.dst, h->addr.family == AF_INET ? 4 : 16);
		if (h->addr.family == AF_UNSPEC) {
			memset(&h->addr.src, 0, sizeof(h->addr.src));
			memset(&h->addr.dst, 0, sizeof(h->addr.dst));
		}
		h->addr.src_port = h->addr.family ? (uint16_t)rnd() : 0;
		h->addr.dst_port = h->addr.family ? (uint16_t)rnd() : 0;
	}
	if (version == 1)
		return;
	if (rnd() % 2) {
		h->present |= PP_HAS_ALPN;
		h->alpn_len = (uint16_t)(1 + rnd() % PP_ALPN_MAX);
		rnd_bytes(h->alpn, h->alpn_len);
	}
	if (rnd() % 2) {
		h->present |= PP_HAS_AUTHORITY;
		h->authority_len = (uint16_t)(1 + rnd() % PP_AUTHORITY_MAX);
		for (size_t i = 0; i < h->authority_len; i++)
			h->authority[i] = (char)('a' + rnd() % 26);
	}
	if (rnd() % 2) {
		h->present |= PP_HAS_UNIQUE_ID;
		h->unique_id_len = (uint16_t)(rnd() % (PP_UNIQUE_ID_MAX + 1));
		rnd_bytes(h->unique_id, h->unique_id_len);
	}
}

static void test_roundtrip(void)
{
	uint8_t wire[PP_HEADER_MAX + 16];

	for (int i = 0; i < 3000; i++) {
		int version = 1 + i % 2;
		unsigned int flags = rnd() % 2 ? PP_BUILD_CRC32C : 0;
		struct pp_header h;
		struct outcome o;
		int n;

		random_header(&h, version);
		if (version == 1)
			n = pp_build_v1((char *)wire, sizeof(wire), &h);
		else
			n = pp_build_v2(wire, sizeof(wire), &h, flags);
		CHECK(n > 0);
		if (n <= 0)
			continue;
		CHECK(version == 2 || n <= PP_V1_MAX);
		memcpy(wire + n, PAYLOAD, sizeof(PAYLOAD));
		o = feed_whole(PP_ACCEPT_ANY, wire, (size_t)n + sizeof(PAYLOAD));
		CHECK(o.result == PP_DONE && o.consumed == (size_t)n);
		CHECK(hdr_eq(&h, &o.hdr));
		CHECK(!!(o.hdr.present & PP_HAS_CRC32C) == (version == 2 && flags));
	}
}

/* The shape of a run: every 2-chunk split and 1-byte feeding must agree with one whole read. */
static void check_splits(unsigned int accept, const uint8_t *in, size_t len)
{
	struct outcome whole = feed_whole(accept, in, len), o;
	size_t one = 1;

	for (size_t k = 1; k < len; k++) {
		size_t sizes[2] = {k, len};

		o = feed(accept, in, len, sizes, 2);
		CHECK(o.result == whole.result && o.reason == whole.reason);
		if (whole.result == PP_DONE) {
			CHECK(o.consumed == whole.consumed);
			CHECK(hdr_eq(&o.hdr, &whole.hdr));
		}
	}
	o = feed(accept, in, len, &one, 1);
	CHECK(o.result == whole.result && o.reason == whole.reason);
	if (whole.result == PP_DONE)
		CHECK(o.consumed == whole.consumed && hdr_eq(&o.hdr, &whole.hdr));
}

static void test_splits(void)
{
	uint8_t wire[PP_HEADER_MAX + 16];
	struct pp_header h;
	int n;

	for (int i = 0; i < 40; i++) {
		random_header(&h, 1 + i % 2);
		n = i % 2 ? pp_build_v2(wire, sizeof(wire), &h, PP_BUILD_CRC32C)
			  : pp_build_v1((char *)wire, sizeof(wire), &h);
		CHECK(n > 0);
		if (n <= 0)
			continue;
		memcpy(wire + n, PAYLOAD, sizeof(PAYLOAD));
		struct outcome whole = feed_whole(PP_ACCEPT_ANY, wire, (size_t)n + sizeof(PAYLOAD));
		CHECK(whole.result == PP_DONE && whole.consumed == (size_t)n);
		check_splits(PP_ACCEPT_ANY, wire, (size_t)n + sizeof(PAYLOAD));
	}
	/* Malformed inputs fail the same way however they arrive. */
	const char *bad[] = {
	    "PROXY TCP4 1.2.3.4 ::1 1 2\r\nxx",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
	    "PROXY UNKNOWN \n",
	    "POST / HTTP/1.1\r\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		check_splits(PP_ACCEPT_ANY, (const uint8_t *)bad[i], strlen(bad[i]));
}

/* A byte-at-a-time sender: each call consumes its byte until the last header byte, and the
 * first payload byte is never taken. */
static void test_one_byte_consumption(void)
{
	const char *in = "PROXY TCP6 2001:db8::1 2001:db8::2 1000 2000\r\n" PAYLOAD;
	size_t hlen = strlen(in) - strlen(PAYLOAD), used;
	struct pp_parser p;
	struct pp_header h;
	enum pp_result r = PP_NEED_MORE;
	size_t i;

	pp_parser_init(&p, PP_ACCEPT_ANY);
	for (i = 0; r == PP_NEED_MORE && i < strlen(in); i++) {
		r = pp_parse(&p, (const uint8_t *)in + i, 1, &used, &h);
		CHECK(used == 1);
	}
	CHECK(r == PP_DONE && i == hlen);
	/* The answer sticks and takes nothing more. */
	CHECK(pp_parse(&p, (const uint8_t *)in + i, 1, &used, &h) == PP_DONE && used == 0);
}

struct bad_case {
	const char *what;
	const char *text; /* v1 text, or NULL with hex */
	const char *hex;
	enum pp_reason reason;
};

#define SIG "0d0a0d0a000d0a515549540a"

static const struct bad_case bad_cases[] = {
    {"no CRLF in 107 bytes",
     "PROXY UNKNOWN aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
     NULL, PP_R_TOO_LONG},
    {"108 bytes with CRLF",
     "PROXY UNKNOWN aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
     NULL, PP_R_TOO_LONG},
    {"lone LF", "PROXY UNKNOWN\n", NULL, PP_R_BAD_HEADER},
    {"lone CR", "PROXY UNKNOWN\rx\r\n", NULL, PP_R_BAD_HEADER},
    {"NUL in line", "PROXY TCP4 1.2.3.4\0", NULL, PP_R_BAD_HEADER},
    {"no space after PROXY", "PROXY\r\n", NULL, PP_R_BAD_SIGNATURE},
    {"v1 bad protocol", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", NULL, PP_R_BAD_PROTOCOL},
    {"v1 empty protocol", "PROXY \r\n", NULL, PP_R_BAD_HEADER},
    {"v1 missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n", NULL, PP_R_TRUNCATED},
    {"v1 protocol alone", "PROXY TCP6\r\n", NULL, PP_R_TRUNCATED},
    {"v1 extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", NULL, PP_R_BAD_HEADER},
    {"v1 double space", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", NULL, PP_R_BAD_HEADER},
    {"v1 trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", NULL, PP_R_BAD_HEADER},
    {"TCP4 with IPv6", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", NULL, PP_R_FAMILY_MISMATCH},
    {"TCP6 with IPv4", "PROXY TCP6 ::1 5.6.7.8 1 2\r\n", NULL, PP_R_FAMILY_MISMATCH},
    {"v4 octet over 255", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", NULL, PP_R_BAD_ADDRESS},
    {"v4 leading zero", "PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", NULL, PP_R_BAD_ADDRESS},
    {"v4 three parts", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", NULL, PP_R_BAD_ADDRESS},
    {"v4 five parts", "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", NULL, PP_R_BAD_ADDRESS},
    {"v6 token too long",
     "PROXY TCP6 1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb ::1 1 2\r\n", NULL,
     PP_R_BAD_ADDRESS},
    {"v6 garbage", "PROXY TCP6 ::1 fe80::zz 1 2\r\n", NULL, PP_R_BAD_ADDRESS},
    {"port over 65535", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", NULL, PP_R_BAD_PORT},
    {"port leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n", NULL, PP_R_BAD_PORT},
    {"port sign", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", NULL, PP_R_BAD_PORT},
    {"port garbage", "PROXY TCP4 1.2.3.4 5.6.7.8 8a 2\r\n", NULL, PP_R_BAD_PORT},
    {"port too many digits", "PROXY TCP4 1.2.3.4 5.6.7.8 1 000001\r\n", NULL, PP_R_BAD_PORT},
    {"v2 bad signature", NULL, "0d0a0d0a000d0a515549580a 21 11 000c", PP_R_BAD_SIGNATURE},
    {"v2 version 1", NULL, SIG "11 11 000c", PP_R_BAD_VERSION},
    {"v2 version 3", NULL, SIG "31 11 000c", PP_R_BAD_VERSION},
    {"v2 command 2", NULL, SIG "22 11 000c", PP_R_BAD_COMMAND},
    {"v2 family 4", NULL, SIG "21 41 000c", PP_R_BAD_PROTOCOL},
    {"v2 transport 3", NULL, SIG "21 13 000c", PP_R_BAD_PROTOCOL},
    {"v2 length over cap", NULL, SIG "21 11 07f1", PP_R_TOO_LONG},
    {"v2 length 0xffff", NULL, SIG "21 11 ffff", PP_R_TOO_LONG},
    {"v2 v4 below 12", NULL, SIG "21 11 000b", PP_R_FAMILY_MISMATCH},
    {"v2 v6 below 36", NULL, SIG "21 21 000c", PP_R_FAMILY_MISMATCH},
    {"v2 unix below 216", NULL, SIG "21 31 0024", PP_R_FAMILY_MISMATCH},
    {"v2 truncated TLV value", NULL, SIG "21 11 0011 01020304 05060708 0001 0002 05 0003 aabb",
     PP_R_BAD_TLV},
    {"v2 truncated TLV head", NULL, SIG "21 11 000e 01020304 05060708 0001 0002 0500",
     PP_R_BAD_TLV},
    {"v2 unique id over 128", NULL, SIG "20 00 0084 05 0081", PP_R_BAD_TLV},
    {"v2 empty ALPN", NULL, SIG "20 00 0003 01 0000", PP_R_BAD_TLV},
    {"v2 duplicate ALPN", NULL, SIG "20 00 0008 01 0001 61 01 0001 62", PP_R_BAD_TLV},
    {"v2 short CRC TLV", NULL, SIG "20 00 0006 03 0003 000000", PP_R_BAD_TLV},
    {"v2 NUL in authority", NULL, SIG "20 00 0005 02 0002 6100", PP_R_BAD_TLV},
    {"v2 bad CRC", NULL, SIG "21 11 0013 01020304 05060708 0001 0002 03 0004 12345678",
     PP_R_BAD_CRC},
};

static void test_malformed(void)
{
	uint8_t in[PP_HEADER_MAX + 64] = {0};

	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t n;
		struct outcome o;

		if (c->text) {
			n = strlen(c->text);
			if (strstr(c->what, "NUL"))
				n++;
			memcpy(in, c->text, n);
		} else {
			n = check_unhex(in, c->hex);
			/* The fixed part alone must be enough to condemn a bad fixed part; give
			 * the rest a body of zeroes for the other cases. */
			size_t whole = PP_V2_HEAD + (size_t)(in[14] << 8 | in[15]);
			if (n > PP_V2_HEAD && n < whole) {
				memset(in + n, 0, whole - n);
				n = whole;
			}
		}
		o = feed_whole(PP_ACCEPT_ANY, in, n);
		CHECK(o.result == PP_BAD && o.reason == c->reason);
		CHECK(o.consumed <= (c->text ? PP_V1_MAX : PP_HEADER_MAX));
		CHECK(strcmp(c->what, "108 bytes with CRLF") || n == 108);
		if (o.result != PP_BAD || o.reason != c->reason)
			fprintf(stderr, "  case \"%s\": result %d reason %s\n", c->what, o.result,
				pp_reason_str(o.reason));
		check_splits(PP_ACCEPT_ANY, in, n);
	}
}

static void test_bad_crc_flip(void)
{
	uint8_t wire[PP_HEADER_MAX];
	struct pp_header h;
	int n;

	random_header(&h, 2);
	h.command = PP_CMD_PROXY;
	h.addr.family = AF_INET6;
	h.addr.transport = PP_TRANSPORT_STREAM;
	n = pp_build_v2(wire, sizeof(wire), &h, PP_BUILD_CRC32C);
	CHECK(n > 0 && feed_whole(PP_ACCEPT_V2, wire, (size_t)n).result == PP_DONE);
	for (int i = PP_V2_HEAD; i < n; i += 7) {
		/* The CRC TLV's own type byte is the one byte it cannot protect. */
		if (i == n - 7)
			continue;
		wire[i] ^= 0x40;
		struct outcome o = feed_whole(PP_ACCEPT_V2, wire, (size_t)n);
		/* A flipped byte either breaks the TLV structure or the checksum. */
		CHECK(o.result == PP_BAD && (o.reason == PP_R_BAD_CRC || o.reason == PP_R_BAD_TLV));
		wire[i] ^= 0x40;
	}
}

static void test_not_proxy(void)
{
	const char *http = "GET / HTTP/1.1\r\n";
	const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
	struct pp_parser p;
	struct pp_header h;
	size_t used, rlen;

	/* Decided on the first byte, which stays with the caller. */
	pp_parser_init(&p, PP_ACCEPT_ANY);
	CHECK(pp_parse(&p, (const uint8_t *)http, 1, &used, &h) == PP_NOT_PROXY && used == 0);
	CHECK(p.reason == PP_R_NOT_HEADER);
	pp_parser_replay(&p, &rlen);
	CHECK(rlen == 0);
	pp_parser_init(&p, PP_ACCEPT_ANY);
	CHECK(pp_parse(&p, tls, sizeof(tls), &used, &h) == PP_NOT_PROXY && used == 0);
	CHECK(feed_whole(PP_ACCEPT_ANY, http, strlen(http)).consumed == 0);

	/* "POST" shares a byte with "PROXY": the P from the earlier read comes back. */
	pp_parser_init(&p, PP_ACCEPT_ANY);
	CHECK(pp_parse(&p, (const uint8_t *)"P", 1, &used, &h) == PP_NEED_MORE && used == 1);
	CHECK(pp_parse(&p, (const uint8_t *)"OST /", 5, &used, &h) == PP_NOT_PROXY && used == 0);
	const uint8_t *replay = pp_parser_replay(&p, &rlen);
	CHECK(rlen == 1 && replay[0] == 'P');
	CHECK(pp_parse(&p, (const uint8_t *)"x", 1, &used, &h) == PP_NOT_PROXY && used == 0);

	/* HTTP tolerates empty lines before a request; they diverge from v2 at the 5th byte. */
	pp_parser_init(&p, PP_ACCEPT_ANY);
	for (int i = 0; i < 4; i++)
		CHECK(pp_parse(&p, (const uint8_t *)"\r\n" + i % 2, 1, &used, &h) == PP_NEED_MORE);
	CHECK(pp_parse(&p, (const uint8_t *)"G", 1, &used, &h) == PP_NOT_PROXY && used == 0);
	replay = pp_parser_replay(&p, &rlen);
	CHECK(rlen == 4 && !memcmp(replay, "\r\n\r\n", 4));
	CHECK(rlen < PP_DETECT_MAX);

	/* Only the accepted versions are recognised. */
	CHECK(feed_str("PROXY UNKNOWN\r\n").result == PP_DONE);
	CHECK(feed_whole(PP_ACCEPT_V2, "PROXY UNKNOWN\r\n", 15).result == PP_NOT_PROXY);
	uint8_t v2[16];
	check_unhex(v2, SIG "20 00 0000");
	CHECK(feed_whole(PP_ACCEPT_V1, v2, 16).result == PP_NOT_PROXY);
	CHECK(feed_whole(PP_ACCEPT_V2, v2, 16).result == PP_DONE);
}

static void test_eof_and_deadline(void)
{
	struct pp_parser p;
	struct pp_header h;
	size_t used;

	pp_parser_init(&p, PP_ACCEPT_ANY);
	CHECK(pp_parser_eof(&p) == PP_BAD && p.reason == PP_R_EMPTY);
	CHECK(!strcmp(pp_reason_str(p.reason), "empty"));

	pp_parser_init(&p, PP_ACCEPT_ANY);
	CHECK(pp_parse(&p, (const uint8_t *)"PROXY TCP4", 10, &used, &h) == PP_NEED_MORE);
	CHECK(pp_parser_eof(&p) == PP_BAD && p.reason == PP_R_ABORTED);

	pp_parser_init(&p, PP_ACCEPT_ANY);
	p.started_ns = 5 * NSEC_PER_SEC;
	CHECK(pp_parse(&p, (const uint8_t *)"PROXY", 5, &used, &h) == PP_NEED_MORE);
	CHECK(!pp_parser_expired(&p, 5 * NSEC_PER_SEC + PP_TIMEOUT_NS - 1));
	CHECK(pp_parser_expired(&p, 5 * NSEC_PER_SEC + PP_TIMEOUT_NS));
	CHECK(p.reason == PP_R_TIMED_OUT && !strcmp(pp_reason_str(p.reason), "timed out"));
	CHECK(pp_parse(&p, (const uint8_t *)" UNKNOWN\r\n", 10, &used, &h) == PP_BAD);
	CHECK(PP_TIMEOUT_NS >= 3 * NSEC_PER_SEC);

	/* A finished parse never expires. */
	pp_parser_init(&p, PP_ACCEPT_ANY);
	CHECK(pp_parse(&p, (const uint8_t *)"PROXY UNKNOWN\r\n", 15, &used, &h) == PP_DONE);
	CHECK(!pp_parser_expired(&p, UINT64_MAX));
	CHECK(pp_parser_eof(&p) == PP_DONE);
}

static void test_builders(void)
{
	struct pp_header h = {.version = 1, .command = PP_CMD_PROXY};
	char line[128];
	uint8_t wire[64];

	h.addr.family = AF_INET;
	h.addr.transport = PP_TRANSPORT_STREAM;
	inet_pton(AF_INET, "192.168.0.1", &h.addr.src);
	inet_pton(AF_INET, "192.168.0.11", &h.addr.dst);
	h.addr.src_port = 56324;
	h.addr.dst_port = 443;
	const char *want = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
	CHECK(pp_build_v1(line, sizeof(line), &h) == (int)strlen(want) && !strcmp(line, want));
	CHECK(pp_build_v1(line, strlen(want), &h) == -ENOSPC);
	CHECK(pp_build_v1(line, strlen(want) + 1, &h) == (int)strlen(want));
	h.addr.transport = PP_TRANSPORT_DGRAM;
	CHECK(pp_build_v1(line, sizeof(line), &h) == -EPROTONOSUPPORT);
	h.command = PP_CMD_LOCAL;
	CHECK(pp_build_v1(line, sizeof(line), &h) == 15 && !strcmp(line, "PROXY UNKNOWN\r\n"));

	h.command = PP_CMD_PROXY;
	CHECK(pp_build_v2(wire, 28, &h, 0) == 28 && wire[13] == 0x12);
	CHECK(pp_build_v2(wire, 27, &h, 0) == -ENOSPC);
	CHECK(pp_build_v2(wire, 35, &h, PP_BUILD_CRC32C) == 35);
	/* The CRC covers the header with its own field zeroed (spec 2.2.3). */
	uint32_t sent = (uint32_t)wire[31] << 24 | wire[32] << 16 | wire[33] << 8 | wire[34];
	memset(wire + 31, 0, 4);
	CHECK(sent == crc32c(wire, 35));
	h.addr.transport = PP_TRANSPORT_UNSPEC;
	CHECK(pp_build_v2(wire, sizeof(wire), &h, 0) == -EINVAL);
	h.addr.transport = PP_TRANSPORT_STREAM;
	h.present = PP_HAS_UNIQUE_ID;
	h.unique_id_len = PP_UNIQUE_ID_MAX + 1;
	CHECK(pp_build_v2(wire, sizeof(wire), &h, 0) == -EINVAL);
	h.present = PP_HAS_ALPN;
	h.alpn_len = 0;
	CHECK(pp_build_v2(wire, sizeof(wire), &h, 0) == -EINVAL);
	h.present = 0;
	h.command = 2;
	CHECK(pp_build_v2(wire, sizeof(wire), &h, 0) == -EINVAL);
}

static void test_sockaddrs(void)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(1234)};
	struct sockaddr_in d4 = {.sin_family = AF_INET, .sin_port = htons(80)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(1234)};
	struct sockaddr_in6 d6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
	struct sockaddr_storage a, b;
	struct pp_addr pa;

	inet_pton(AF_INET, "10.0.0.1", &s4.sin_addr);
	inet_pton(AF_INET, "10.0.0.2", &d4.sin_addr);
	CHECK(pp_addr_set(&pa, PP_TRANSPORT_STREAM, (void *)&s4, (void *)&d4) == 0);
	CHECK(pa.family == AF_INET && pa.src.v4.s_addr == s4.sin_addr.s_addr);
	CHECK(pa.src_port == 1234 && pa.dst_port == 80);
	CHECK(pp_addr_get(&pa, &a, &b) == 0 && !memcmp(&a, &s4, sizeof(s4)));
	CHECK(!memcmp(&b, &d4, sizeof(d4)));

	inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6.sin6_addr);
	inet_pton(AF_INET6, "::ffff:10.0.0.2", &d6.sin6_addr);
	CHECK(pp_addr_set(&pa, PP_TRANSPORT_STREAM, (void *)&s6, (void *)&d6) == 0);
	CHECK(pa.family == AF_INET && pa.src.v4.s_addr == s4.sin_addr.s_addr);
	CHECK(pa.dst_port == 443);
	inet_pton(AF_INET6, "2001:db8::2", &d6.sin6_addr);
	CHECK(pp_addr_set(&pa, PP_TRANSPORT_DGRAM, (void *)&s6, (void *)&d6) == 0);
	CHECK(pa.family == AF_INET6 && pa.transport == PP_TRANSPORT_DGRAM);
	CHECK(pp_addr_get(&pa, &a, &b) == 0 && !memcmp(&b, &d6, sizeof(d6)));
	CHECK(pp_addr_set(&pa, PP_TRANSPORT_STREAM, (void *)&s4, (void *)&d6) == -EAFNOSUPPORT);
	pa.family = AF_UNSPEC;
	CHECK(pp_addr_get(&pa, &a, &b) == -EAFNOSUPPORT);
}

/* Random bytes, random valid prefixes and mutated valid headers, in random chunks: the parser
 * must stay within its input, and agree with a whole-buffer read. */
static void test_random(void)
{
	uint8_t in[PP_HEADER_MAX + 32];
	unsigned int outcomes[4] = {0};

	for (int i = 0; i < 20000; i++) {
		size_t len = 1 + rnd() % (i % 10 ? 120 : sizeof(in) - 1);
		struct pp_header h;

		rnd_bytes(in, len);
		if (i % 3 == 1) {
			memcpy(in, "PROXY TCP4 ", MIN(len, 11));
		} else if (i % 3 == 2) {
			random_header(&h, 2);
			int n = pp_build_v2(in, sizeof(in), &h, rnd() % 2 ? PP_BUILD_CRC32C : 0);
			len = n > 0 ? (size_t)n : len;
			for (int k = rnd() % 3; k >= 0; k--)
				in[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
		}
		size_t sizes[3] = {1 + rnd() % 20, 1 + rnd() % 200, 1 + rnd() % 7};
		struct outcome o = feed(PP_ACCEPT_ANY, in, len, sizes, 3);
		struct outcome w = feed_whole(PP_ACCEPT_ANY, in, len);

		CHECK(o.result == w.result && o.reason == w.reason);
		CHECK(o.result != PP_DONE || o.consumed == w.consumed);
		CHECK(o.consumed <= len && o.consumed <= PP_HEADER_MAX);
		/* Bytes taken before the verdict are exactly the ones handed back. */
		CHECK(o.result != PP_NOT_PROXY || (w.consumed == 0 && o.consumed == o.replayed));
		outcomes[o.result]++;
	}
	/* The loop reached every outcome, so it exercised more than the first byte. */
	CHECK(outcomes[PP_DONE] && outcomes[PP_BAD] && outcomes[PP_NOT_PROXY]);
	CHECK(outcomes[PP_NEED_MORE]);
}

int main(void)
{
	RUN(test_crc32c);
	RUN(test_v1_spec_example);
	RUN(test_v1_spec_lengths);
	RUN(test_v2_known);
	RUN(test_v2_unix_and_tlvs);
	RUN(test_roundtrip);
	RUN(test_splits);
	RUN(test_one_byte_consumption);
	RUN(test_malformed);
	RUN(test_bad_crc_flip);
	RUN(test_not_proxy);
	RUN(test_eof_and_deadline);
	RUN(test_builders);
	RUN(test_sockaddrs);
	RUN(test_random);
	return check_done("proxy");
}
