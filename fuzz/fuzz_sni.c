/* fuzz_sni: the ClientHello reader (src/sni.c) over arbitrary bytes, whole and truncated.
 *
 * sni.h promises that SNI_NEED_MORE means "a valid prefix of a ClientHello" and that the caller
 * may call again on a longer prefix until another answer comes. So over the prefixes of one
 * input, the answers are NEED_MORE up to some length and then one final answer that never
 * changes (same result, reason, name and hello_len) however many bytes follow; a FOUND or NONE
 * answer reads exactly hello_len bytes, so its prefix one byte shorter is NEED_MORE. Also: the
 * name fits the caller's buffer or the answer is BAD "name too long", names are lower case
 * and match themselves. Violations abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_sni: %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct answer {
	enum sni_result result;
	struct sni_extra extra;
	char name[SNI_NAME_MAX + 1];
	size_t namelen;
};

/* Parses the first len bytes from an exact-size copy, so that ASan sees any overread. */
static void parse(const uint8_t *s, size_t len, struct answer *a)
{
	uint8_t *copy = malloc(len ? len : 1);

	REQUIRE(copy);
	memcpy(copy, s, len);
	memset(a, 0, sizeof(*a));
	a->result = sni_parse(copy, len, a->name, sizeof(a->name), &a->namelen, &a->extra);
	free(copy);
	REQUIRE(a->result <= SNI_BAD);
	REQUIRE((a->result == SNI_BAD) == (a->extra.reason != SNI_R_NONE));
	REQUIRE(sni_reason_str(a->extra.reason) != NULL);
	REQUIRE(a->extra.alpn_len <= SNI_ALPN_MAX);
	if (a->result == SNI_FOUND || a->result == SNI_NONE)
		REQUIRE(a->extra.hello_len > 0 && a->extra.hello_len <= len &&
			a->extra.hello_len <= SNI_HELLO_MAX);
	else
		REQUIRE(!a->extra.alpn_present);
	if (a->result != SNI_FOUND)
		return;
	REQUIRE(a->namelen > 0 && a->namelen <= SNI_NAME_MAX);
	REQUIRE(strlen(a->name) == a->namelen);
	for (size_t i = 0; i < a->namelen; i++)
		REQUIRE(a->name[i] < 'A' || a->name[i] > 'Z');
	REQUIRE(sni_match(a->name, a->name));
	REQUIRE(sni_match("*", a->name));
}

static void same(const struct answer *a, const struct answer *b)
{
	REQUIRE(a->result == b->result);
	REQUIRE(a->extra.reason == b->extra.reason);
	REQUIRE(a->extra.hello_len == b->extra.hello_len);
	REQUIRE(a->extra.alpn_present == b->extra.alpn_present);
	REQUIRE(a->extra.alpn_len == b->extra.alpn_len &&
		!memcmp(a->extra.alpn, b->extra.alpn, a->extra.alpn_len));
	if (a->result == SNI_FOUND)
		REQUIRE(a->namelen == b->namelen && !strcmp(a->name, b->name));
}

/* The same name into a buffer of cap bytes: it fits, or the answer is "name too long". */
static void small_buffer(const uint8_t *s, size_t len, const struct answer *full, size_t cap)
{
	char *name = malloc(cap);
	size_t namelen = 0;
	enum sni_result r;
	struct sni_extra x;

	REQUIRE(name);
	r = sni_parse(s, len, name, cap, &namelen, &x);
	if (full->namelen < cap) {
		REQUIRE(r == SNI_FOUND && namelen == full->namelen && !strcmp(name, full->name));
	} else {
		REQUIRE(r == SNI_BAD && x.reason == SNI_R_NAME_TOO_LONG);
	}
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct answer full, part;
	size_t cut, first_final;

	parse(data, size, &full);
	if (full.result == SNI_NEED_MORE) {
		/* Every prefix of a valid prefix is one too. */
		for (unsigned int i = 0; i < 8 && size; i++) {
			parse(data, (size * i) / 8, &part);
			REQUIRE(part.result == SNI_NEED_MORE);
		}
		return 0;
	}
	/* Bytes after the ClientHello are never read. */
	if (full.result != SNI_BAD) {
		parse(data, full.extra.hello_len, &part);
		same(&full, &part);
		parse(data, full.extra.hello_len - 1, &part);
		REQUIRE(part.result == SNI_NEED_MORE);
		if (full.result == SNI_FOUND)
			small_buffer(data, size, &full, 1 + data[size - 1] % (full.namelen + 2));
		return 0;
	}
	/* BAD: find where the answer became final by bisection, then check around it. */
	size_t lo = 0, hi = size;
	while (lo < hi) {
		cut = lo + (hi - lo) / 2;
		parse(data, cut, &part);
		if (part.result == SNI_NEED_MORE)
			lo = cut + 1;
		else
			hi = cut;
	}
	first_final = lo;
	parse(data, first_final, &part);
	same(&full, &part);
	if (first_final) {
		parse(data, first_final - 1, &part);
		REQUIRE(part.result == SNI_NEED_MORE);
	}
	for (unsigned int i = 1; i < 4; i++) {
		cut = first_final + (size - first_final) * i / 4;
		parse(data, cut, &part);
		same(&full, &part);
		cut = first_final * i / 4;
		parse(data, cut, &part);
		REQUIRE(part.result == SNI_NEED_MORE);
	}
	return 0;
}
