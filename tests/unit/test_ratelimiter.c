/* The handshake rate limiter, against a naive token bucket per source. */
#include <arpa/inet.h>
#include <stdlib.h>
#include "check.h"
#include "crypto.h"
#include "ratelimiter.h"

#define MS (NSEC_PER_SEC / 1000)

static struct sockaddr_in v4(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	sa.sin_addr.s_addr = htonl(addr);
	return sa;
}

static void test_burst_then_rate(void)
{
	static struct ratelimiter rl;
	struct sockaddr_in a = v4(0xc0000201, 1), b = v4(0xc0000202, 1);
	uint64_t now = 1000 * NSEC_PER_SEC;
	int allowed = 0;

	CHECK(ratelimiter_init(&rl) == 0);
	for (int i = 0; i < 10; i++)
		allowed += ratelimiter_allow(&rl, (struct sockaddr *)&a, now);
	CHECK(allowed == RATELIMITER_BURST);
	/* Another source is not affected, and the port does not matter. */
	CHECK(ratelimiter_allow(&rl, (struct sockaddr *)&b, now));
	a.sin_port = htons(2);
	CHECK(!ratelimiter_allow(&rl, (struct sockaddr *)&a, now));
	/* Over the next second, about PER_SECOND more get through, one per 50 ms. */
	allowed = 0;
	for (int ms = 1; ms <= 1000; ms++)
		allowed += ratelimiter_allow(&rl, (struct sockaddr *)&a, now + ms * MS);
	CHECK(allowed == RATELIMITER_PER_SECOND);
	ratelimiter_free(&rl);
}

static void test_ipv6_prefix(void)
{
	static struct ratelimiter rl;
	struct sockaddr_in6 x = { .sin6_family = AF_INET6 }, y;
	int allowed = 0;

	CHECK(ratelimiter_init(&rl) == 0);
	inet_pton(AF_INET6, "2001:db8:1:2::1", &x.sin6_addr);
	y = x;
	for (int i = 0; i < 10; i++) {
		y.sin6_addr.s6_addr[15] = (uint8_t)i; /* same /64, different hosts */
		allowed += ratelimiter_allow(&rl, (struct sockaddr *)&y, NSEC_PER_SEC);
	}
	CHECK(allowed == RATELIMITER_BURST);
	y.sin6_addr.s6_addr[7] ^= 1; /* another /64 */
	CHECK(ratelimiter_allow(&rl, (struct sockaddr *)&y, NSEC_PER_SEC));
	ratelimiter_free(&rl);
}

/* Compares with a naive bucket per source over random traffic from a few sources. */
static void test_against_naive(void)
{
	static struct ratelimiter rl;
	enum { SOURCES = 16 };
	uint64_t tokens[SOURCES], last[SOURCES];
	bool seen[SOURCES] = { 0 };
	uint64_t now = NSEC_PER_SEC;
	int mismatches = 0;

	CHECK(ratelimiter_init(&rl) == 0);
	srand(3);
	for (int i = 0; i < 100000; i++) {
		int s = rand() % SOURCES;
		struct sockaddr_in sa = v4(0x0a000000 + (uint32_t)s, 9);
		const uint64_t cost = NSEC_PER_SEC / RATELIMITER_PER_SECOND;
		bool expect;

		now += (uint64_t)(rand() % 20) * MS / 4;
		if (!seen[s] || now - last[s] >= NSEC_PER_SEC) {
			/* new, or forgotten after a quiet second: a full bucket */
			seen[s] = true;
			tokens[s] = cost * RATELIMITER_BURST - cost;
			expect = true;
		} else {
			tokens[s] = MIN(cost * RATELIMITER_BURST, tokens[s] + now - last[s]);
			expect = tokens[s] >= cost;
			if (expect)
				tokens[s] -= cost;
		}
		last[s] = now;
		mismatches += ratelimiter_allow(&rl, (struct sockaddr *)&sa, now) != expect;
	}
	CHECK(mismatches == 0);
	ratelimiter_free(&rl);
}

static void test_bounded(void)
{
	static struct ratelimiter rl;
	int refused = 0;

	CHECK(ratelimiter_init(&rl) == 0);
	for (uint32_t i = 0; i < RATELIMITER_ENTRIES + 100; i++) {
		struct sockaddr_in sa = v4(0x0b000000 + i, 1);

		refused += !ratelimiter_allow(&rl, (struct sockaddr *)&sa, NSEC_PER_SEC);
	}
	CHECK(refused == 100);
	CHECK(rl.count == RATELIMITER_ENTRIES);
	/* A second later the quiet sources are forgotten and room returns. */
	struct sockaddr_in late = v4(0x0c000001, 1);
	CHECK(ratelimiter_allow(&rl, (struct sockaddr *)&late, 2 * NSEC_PER_SEC + 1));
	CHECK(rl.count == 1);
	struct sockaddr un = { .sa_family = AF_UNIX };
	CHECK(!ratelimiter_allow(&rl, &un, 3 * NSEC_PER_SEC));
	ratelimiter_free(&rl);
}

int main(void)
{
	if (crypto_init() < 0)
		return 1;
	RUN(test_burst_then_rate);
	RUN(test_ipv6_prefix);
	RUN(test_against_naive);
	RUN(test_bounded);
	return check_done("test_ratelimiter");
}
