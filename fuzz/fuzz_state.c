/* fuzz_state: the state file parser (src/state.c) over arbitrary files, as a crash while writing
 * or a stray edit may leave them.
 *
 * Input: the file's bytes (the parser never reads more than STATE_FILE_MAX of them). Asserted
 * (abort() on violation):
 *   - the entries it returns are at most the room given, and the counts add up: every line is
 *     taken, ignored or stale, comments and blank lines apart;
 *   - what it takes, written out again by state_format(), parses back to the same entries in the
 *     same order with nothing ignored: a file we wrote is always read whole. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_state: %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define NOW 1732600000ULL

static struct state_entry first[STATE_ENTRIES_MAX], again[STATE_ENTRIES_MAX];
static char text[STATE_FILE_MAX];

static bool same(const struct state_entry *a, const struct state_entry *b)
{
	return !memcmp(a->public_key, b->public_key, sizeof(a->public_key)) &&
	       endpoint_eq(&a->endpoint, &b->endpoint) && a->written == b->written;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_parse_stats st1 = { 0 }, st2 = { 0 };
	size_t n, m, len;

	n = state_parse((const char *)data, size, NOW, first, STATE_ENTRIES_MAX, &st1);
	REQUIRE(n <= STATE_ENTRIES_MAX);
	REQUIRE(n + st1.ignored + st1.stale <= st1.lines);
	REQUIRE(!st1.ignored || st1.first_bad);
	len = state_format(first, n, text);
	REQUIRE(len <= sizeof(text));
	m = state_parse(text, len, NOW, again, STATE_ENTRIES_MAX, &st2);
	REQUIRE(m == n);
	REQUIRE(st2.ignored == 0 && st2.stale == 0);
	for (size_t i = 0; i < n; i++)
		REQUIRE(same(&first[i], &again[i]));
	return 0;
}
