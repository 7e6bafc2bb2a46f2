/* Per-source rate limit for handshake messages under load, as the kernel module applies it:
 * a token bucket per source address (IPv4, or the /64 of IPv6) of PACKETS_PER_SECOND with a
 * burst of RATELIMITER_BURST. Sources that have been quiet for a second are forgotten. Pure: the
 * clock is passed in; the table is a fixed pool, so a flood of sources cannot grow memory. */
#ifndef PORTHOLE_RATELIMITER_H
#define PORTHOLE_RATELIMITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "compat.h"

enum ratelimiter_limits {
	RATELIMITER_PER_SECOND = 20,
	RATELIMITER_BURST = 5,
	RATELIMITER_ENTRIES = 8192, /* sources tracked at once; past that, new ones are refused */
	RATELIMITER_BUCKETS = 2048,
};

struct rl_entry {
	struct rl_entry *next;
	uint64_t key[2];
	uint64_t last; /* ns */
	uint64_t tokens;
};

struct ratelimiter {
	struct rl_entry *buckets[RATELIMITER_BUCKETS];
	struct rl_entry *pool, *free;
	uint64_t seed;
	uint64_t last_gc;
	unsigned int count;
};

int ratelimiter_init(struct ratelimiter *rl) WARN_UNUSED;
void ratelimiter_free(struct ratelimiter *rl);
/* true when one more handshake message from src may be processed at now. */
bool ratelimiter_allow(struct ratelimiter *rl, const struct sockaddr *src, uint64_t now)
	WARN_UNUSED;

#endif
