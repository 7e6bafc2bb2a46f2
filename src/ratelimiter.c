#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "crypto.h"
#include "ratelimiter.h"

enum {
	PACKET_COST = NSEC_PER_SEC / RATELIMITER_PER_SECOND,
	TOKEN_MAX = PACKET_COST * RATELIMITER_BURST,
};
#define GC_AGE NSEC_PER_SEC

int ratelimiter_init(struct ratelimiter *rl)
{
	memset(rl, 0, sizeof(*rl));
	rl->pool = calloc(RATELIMITER_ENTRIES, sizeof(*rl->pool));
	if (!rl->pool)
		return -ENOMEM;
	for (unsigned int i = 0; i < RATELIMITER_ENTRIES; i++) {
		rl->pool[i].next = rl->free;
		rl->free = &rl->pool[i];
	}
	/* A secret seed keeps senders from choosing addresses that share a bucket. */
	return crypto_random(&rl->seed, sizeof(rl->seed));
}

void ratelimiter_free(struct ratelimiter *rl)
{
	free(rl->pool);
	memset(rl, 0, sizeof(*rl));
}

/* IPv4 addresses count whole; IPv6 by their /64, which one host usually holds entirely. */
static bool key_of(const struct sockaddr *src, uint64_t key[2])
{
	key[0] = key[1] = 0;
	if (src->sa_family == AF_INET) {
		memcpy(&key[0], &((const struct sockaddr_in *)src)->sin_addr, 4);
		key[1] = 4;
		return true;
	}
	if (src->sa_family == AF_INET6) {
		memcpy(&key[0], &((const struct sockaddr_in6 *)src)->sin6_addr, 8);
		key[1] = 6;
		return true;
	}
	return false;
}

static unsigned int bucket_of(const struct ratelimiter *rl, const uint64_t key[2])
{
	uint64_t h = (key[0] ^ rl->seed) * 0x9e3779b97f4a7c15ULL;

	h ^= (h >> 29) ^ key[1];
	h *= 0xbf58476d1ce4e5b9ULL;
	return (unsigned int)((h >> 32) % RATELIMITER_BUCKETS);
}

/* Forgets sources quiet for GC_AGE: their buckets would be full again anyway. */
static void gc(struct ratelimiter *rl, uint64_t now)
{
	if (now - rl->last_gc < GC_AGE)
		return;
	rl->last_gc = now;
	for (unsigned int b = 0; b < RATELIMITER_BUCKETS; b++) {
		struct rl_entry **pp = &rl->buckets[b];

		while (*pp) {
			struct rl_entry *e = *pp;

			if (now - e->last < GC_AGE) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			e->next = rl->free;
			rl->free = e;
			rl->count--;
		}
	}
}

static struct rl_entry *find(struct ratelimiter *rl, unsigned int b, const uint64_t key[2])
{
	for (struct rl_entry *e = rl->buckets[b]; e; e = e->next) {
		if (e->key[0] == key[0] && e->key[1] == key[1])
			return e;
	}
	return NULL;
}

bool ratelimiter_allow(struct ratelimiter *rl, const struct sockaddr *src, uint64_t now)
{
	uint64_t key[2];
	struct rl_entry *e;
	unsigned int b;

	if (!key_of(src, key))
		return false;
	gc(rl, now);
	b = bucket_of(rl, key);
	e = find(rl, b, key);
	if (e) {
		e->tokens = MIN(TOKEN_MAX, e->tokens + (now - e->last));
		e->last = now;
		if (e->tokens < PACKET_COST)
			return false;
		e->tokens -= PACKET_COST;
		return true;
	}
	if (!rl->free)
		return false;
	e = rl->free;
	rl->free = e->next;
	e->key[0] = key[0];
	e->key[1] = key[1];
	e->last = now;
	e->tokens = TOKEN_MAX - PACKET_COST;
	e->next = rl->buckets[b];
	rl->buckets[b] = e;
	rl->count++;
	return true;
}
