/* A minimal test harness: each unit-test binary includes this once, uses CHECK* in its test
 * functions, and returns check_done() from main. The closing line is what CI counts. */
#ifndef PORTHOLE_CHECK_H
#define PORTHOLE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (cond) {                                                                \
			check_passed++;                                                    \
		} else {                                                                   \
			check_failed++;                                                    \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                          \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

/* A named test case: runs fn, then notes it on stderr if it added failures. */
#define RUN(fn)                                                                    \
	do {                                                                       \
		int before_ = check_failed;                                        \
		fn();                                                              \
		if (check_failed != before_)                                       \
			fprintf(stderr, "  in %s\n", #fn);                         \
	} while (0)

static inline int check_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

/* Decodes a hex string into out; returns the byte count. */
static inline size_t check_unhex(unsigned char *out, const char *hex)
{
	size_t n = 0;
	for (; hex[0] && hex[1]; hex += 2) {
		while (*hex == ' ' || *hex == '\n' || *hex == ':')
			hex++;
		if (!hex[0] || !hex[1])
			break;
		unsigned int b;
		sscanf(hex, "%2x", &b);
		out[n++] = (unsigned char)b;
	}
	return n;
}

#endif
