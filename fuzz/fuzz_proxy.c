/* fuzz_proxy: the PROXY v1/v2 streaming parser (src/proxy.c) over arbitrary streams fed in
 * arbitrary chunks.
 *
 * Input: byte 0 picks the versions accepted, byte 1 seeds the chunk sizes, the rest is the
 * stream. Asserted (abort() on violation):
 *   - bytes consumed never exceed what was fed, nor the header's own length once known;
 *   - PP_DONE consumes exactly the header (v1: through the first CRLF; v2: 16 + length), so the
 *     payload starts right after it; PP_NOT_PROXY consumes nothing and the replay holds exactly
 *     the bytes earlier calls took; the result sticks once final;
 *   - a parsed header rebuilds (pp_build_v1/v2) into one that parses to the same fields, and
 *     feeding it whole or byte by byte gives the same header. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_proxy: %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const uint8_t v2_sig[PP_V2_SIG_LEN] = "\r\n\r\n\0\r\nQUIT\n";

/* The header length the spec gives this stream, or 0 while it cannot be known. */
static size_t header_len(const uint8_t *s, size_t len, unsigned int version)
{
	if (version == 1) {
		for (size_t i = 1; i < len; i++)
			if (s[i - 1] == '\r' && s[i] == '\n')
				return i + 1;
		return 0;
	}
	if (len < PP_V2_HEAD)
		return 0;
	return PP_V2_HEAD + ((size_t)s[14] << 8 | s[15]);
}

static unsigned int version_of(const uint8_t *s, size_t len)
{
	if (len && s[0] == 'P')
		return 1;
	if (len && s[0] == v2_sig[0])
		return 2;
	return 0;
}

/* Fields that a header carries on the wire; skipped_tlvs and the CRC value are not rebuilt. */
static void same_header(const struct pp_header *a, const struct pp_header *b)
{
	REQUIRE(a->version == b->version);
	REQUIRE(a->command == b->command);
	REQUIRE(a->addr.family == b->addr.family);
	/* Without a usable address (AF_UNSPEC) the receiver uses the real endpoints, and the
	 * transport is only informational: a v2 UNIX header keeps its transport, while the
	 * builder sends such a header as UNSPEC. */
	if (a->addr.family == AF_INET || a->addr.family == AF_INET6) {
		size_t alen = a->addr.family == AF_INET ? 4 : 16;

		REQUIRE(a->addr.transport == b->addr.transport);
		REQUIRE(!memcmp(&a->addr.src, &b->addr.src, alen));
		REQUIRE(!memcmp(&a->addr.dst, &b->addr.dst, alen));
		REQUIRE(a->addr.src_port == b->addr.src_port);
		REQUIRE(a->addr.dst_port == b->addr.dst_port);
	}
	REQUIRE(a->present == b->present);
	REQUIRE(a->alpn_len == b->alpn_len && !memcmp(a->alpn, b->alpn, a->alpn_len));
	REQUIRE(a->authority_len == b->authority_len &&
		!memcmp(a->authority, b->authority, a->authority_len));
	REQUIRE(a->authority[a->authority_len] == '\0');
	REQUIRE(a->unique_id_len == b->unique_id_len &&
		!memcmp(a->unique_id, b->unique_id, a->unique_id_len));
}

/* Parses a complete header in one call; it must be DONE and consume all of it. */
static void parse_whole(const uint8_t *buf, size_t len, unsigned int chunk, struct pp_header *out)
{
	struct pp_parser *p = malloc(sizeof(*p));
	size_t off = 0, used;
	enum pp_result r = PP_NEED_MORE;

	REQUIRE(p);
	pp_parser_init(p, PP_ACCEPT_ANY);
	while (off < len && r == PP_NEED_MORE) {
		size_t n = MIN(chunk, len - off);

		r = pp_parse(p, buf + off, n, &used, out);
		REQUIRE(used <= n);
		off += used;
	}
	REQUIRE(r == PP_DONE);
	REQUIRE(off == len);
	free(p);
}

static void rebuild(const struct pp_header *h)
{
	struct pp_header again;
	uint8_t out[PP_HEADER_MAX + 1];
	int n;

	if (h->version == 1) {
		n = pp_build_v1((char *)out, sizeof(out), h);
	} else {
		n = pp_build_v2(out, sizeof(out), h,
				(h->present & PP_HAS_CRC32C) ? PP_BUILD_CRC32C : 0);
	}
	/* Whatever the parser accepts, the builder can express. */
	REQUIRE(n > 0 && (size_t)n <= PP_HEADER_MAX);
	parse_whole(out, (size_t)n, (unsigned int)n, &again);
	same_header(h, &again);
	parse_whole(out, (size_t)n, 1, &again);
	same_header(h, &again);
	/* A v1 header means the same in v2. */
	if (h->version == 1) {
		struct pp_header as_v2 = *h;

		n = pp_build_v2(out, sizeof(out), h, 0);
		REQUIRE(n > 0);
		parse_whole(out, (size_t)n, (unsigned int)n, &again);
		as_v2.version = 2;
		same_header(&as_v2, &again);
	}
}

/* Chunk sizes from a tiny generator seeded by the input, so they replay with it. */
static size_t next_chunk(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	switch ((*state >> 16) & 3) {
	case 0:
		return 1;
	case 1:
		return 1 + ((*state >> 18) & 7);
	case 2:
		return 1 + ((*state >> 18) & 127);
	default:
		return 4096;
	}
}

static const unsigned int accepts[] = {PP_ACCEPT_ANY, PP_ACCEPT_V1, PP_ACCEPT_V2, PP_ACCEPT_ANY};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pp_parser p;
	struct pp_header h;
	const uint8_t *s;
	size_t len, fed = 0, taken = 0, replay_len, hlen;
	enum pp_result r = PP_NEED_MORE, last = PP_NEED_MORE;
	unsigned int accept;
	uint32_t state;

	if (size < 2)
		return 0;
	accept = accepts[data[0] & 3];
	state = data[1];
	s = data + 2;
	len = size - 2;
	pp_parser_init(&p, accept);

	while (fed < len) {
		size_t want = next_chunk(&state), n = MIN(want, len - fed), used = 99999;
		/* An exact-size copy, so that ASan sees any read past the chunk. */
		uint8_t *chunk = malloc(n);

		REQUIRE(chunk);
		memcpy(chunk, s + fed, n);
		r = pp_parse(&p, chunk, n, &used, &h);
		free(chunk);
		REQUIRE(used <= n);
		if (last != PP_NEED_MORE) { /* final results stick and take nothing */
			REQUIRE(r == last && used == 0);
		} else if (r == PP_NEED_MORE) {
			REQUIRE(used == n);
		} else if (r == PP_NOT_PROXY) {
			REQUIRE(used == 0);
			REQUIRE(pp_parser_replay(&p, &replay_len) != NULL);
			REQUIRE(replay_len == taken && replay_len < PP_DETECT_MAX);
			REQUIRE(!memcmp(pp_parser_replay(&p, &replay_len), s, replay_len));
		}
		taken += used;
		fed += n;
		hlen = header_len(s, fed, version_of(s, fed));
		REQUIRE(!hlen || taken <= hlen);
		REQUIRE(taken <= PP_HEADER_MAX);
		last = r;
	}
	if (r == PP_DONE) {
		REQUIRE(taken == header_len(s, len, h.version));
		REQUIRE(h.version == version_of(s, len));
		REQUIRE(accept & (1u << h.version));
		rebuild(&h);
	}
	if (r == PP_NEED_MORE)
		REQUIRE(pp_parser_eof(&p) == PP_BAD);
	REQUIRE(pp_reason_str(p.reason) != NULL);
	return 0;
}
