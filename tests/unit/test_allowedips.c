/* The allowed-IPs trie against hand cases and against a naive linear table of prefixes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include "check.h"
#include "allowedips.h"

static char peer_store[16];
#define P(i) ((void *)&peer_store[i])

static int fam_of(const char *s)
{
	return strchr(s, ':') ? AF_INET6 : AF_INET;
}

static uint8_t *ip(const char *s)
{
	static uint8_t buf[4][16];
	static unsigned next;
	uint8_t *b = buf[next++ % 4];

	if (inet_pton(fam_of(s), s, b) != 1)
		abort();
	return b;
}

static int ins(struct allowedips *t, const char *s, uint8_t cidr, void *peer)
{
	return allowedips_insert(t, fam_of(s), ip(s), cidr, peer);
}

static int rm(struct allowedips *t, const char *s, uint8_t cidr, void *peer)
{
	return allowedips_remove(t, fam_of(s), ip(s), cidr, peer);
}

static void *look(const struct allowedips *t, const char *s)
{
	return allowedips_lookup(t, fam_of(s), ip(s));
}

/* Collects a walk as "addr/cidr" strings joined by spaces. */
struct listing {
	char text[512];
	int calls, stop_at;
};

static int list_one(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct listing *l = ctx;
	char a[INET6_ADDRSTRLEN];
	size_t len = strlen(l->text);

	inet_ntop(family, addr, a, sizeof(a));
	snprintf(l->text + len, sizeof(l->text) - len, "%s%s/%u", len ? " " : "", a, cidr);
	return ++l->calls == l->stop_at ? 7 : 0;
}

static const char *listing(const struct allowedips *t, void *peer)
{
	static struct listing l;

	memset(&l, 0, sizeof(l));
	CHECK(allowedips_walk_by_peer(t, peer, list_one, &l) == 0);
	return l.text;
}

static void test_v4(void)
{
	struct allowedips t;

	allowedips_init(&t);
	CHECK(ins(&t, "10.0.0.0", 8, P(0)) == 0);
	CHECK(ins(&t, "10.1.0.0", 16, P(1)) == 0);
	CHECK(ins(&t, "10.1.2.0", 24, P(2)) == 0);
	CHECK(look(&t, "11.0.0.1") == NULL);
	CHECK(ins(&t, "0.0.0.0", 0, P(3)) == 0);
	CHECK(ins(&t, "10.1.2.3", 32, P(4)) == 0);

	CHECK(look(&t, "10.1.2.3") == P(4));
	CHECK(look(&t, "10.1.2.4") == P(2));
	CHECK(look(&t, "10.1.3.1") == P(1));
	CHECK(look(&t, "10.2.0.0") == P(0));
	CHECK(look(&t, "11.0.0.1") == P(3));
	CHECK(look(&t, "255.255.255.255") == P(3));
	CHECK(look(&t, "::") == NULL); /* families are separate tables */

	CHECK(rm(&t, "10.1.2.0", 24, P(1)) == -ENOENT); /* not that peer's */
	CHECK(rm(&t, "10.1.2.0", 23, P(2)) == -ENOENT); /* not that prefix */
	CHECK(rm(&t, "10.1.2.0", 24, P(2)) == 0);
	CHECK(rm(&t, "10.1.2.0", 24, P(2)) == -ENOENT);
	CHECK(look(&t, "10.1.2.4") == P(1));
	CHECK(look(&t, "10.1.2.3") == P(4));
	CHECK(rm(&t, "0.0.0.0", 0, P(3)) == 0);
	CHECK(look(&t, "11.0.0.1") == NULL);
	CHECK(look(&t, "10.200.0.1") == P(0));
	allowedips_free(&t);
	CHECK(t.root4 == NULL && t.root6 == NULL);
	CHECK(look(&t, "10.1.2.3") == NULL);
}

static void test_v6(void)
{
	struct allowedips t;

	allowedips_init(&t);
	CHECK(ins(&t, "2001:db8::", 32, P(0)) == 0);
	CHECK(ins(&t, "2001:db8:1::", 48, P(1)) == 0);
	CHECK(ins(&t, "2001:db8:1::1", 128, P(2)) == 0);
	CHECK(ins(&t, "fe80::", 10, P(3)) == 0);
	CHECK(look(&t, "2001:db8:1::1") == P(2));
	CHECK(look(&t, "2001:db8:1::2") == P(1));
	CHECK(look(&t, "2001:db8:2::1") == P(0));
	CHECK(look(&t, "2001:db9::1") == NULL);
	CHECK(look(&t, "febf:ffff::1") == P(3));
	CHECK(look(&t, "fec0::1") == NULL);
	CHECK(ins(&t, "::", 0, P(4)) == 0);
	CHECK(look(&t, "2001:db9::1") == P(4));
	CHECK(look(&t, "0.0.0.0") == NULL);
	CHECK(rm(&t, "2001:db8:1::1", 128, P(2)) == 0);
	CHECK(look(&t, "2001:db8:1::1") == P(1));
	allowedips_free(&t);
}

static void test_masking_and_moves(void)
{
	struct allowedips t;

	allowedips_init(&t);
	CHECK(ins(&t, "192.168.1.77", 24, P(0)) == 0);
	CHECK(look(&t, "192.168.1.1") == P(0));
	CHECK(strcmp(listing(&t, P(0)), "192.168.1.0/24") == 0);
	CHECK(rm(&t, "192.168.1.200", 24, P(0)) == 0); /* host bits ignored here too */
	CHECK(t.root4 == NULL);

	CHECK(ins(&t, "172.16.0.0", 12, P(0)) == 0);
	CHECK(ins(&t, "172.31.255.255", 12, P(1)) == 0); /* same prefix: moves */
	CHECK(look(&t, "172.20.0.1") == P(1));
	CHECK(rm(&t, "172.16.0.0", 12, P(0)) == -ENOENT);
	CHECK(strcmp(listing(&t, P(0)), "") == 0);
	CHECK(strcmp(listing(&t, P(1)), "172.16.0.0/12") == 0);

	CHECK(ins(&t, "1.2.3.4", 33, P(0)) == -EINVAL);
	CHECK(allowedips_insert(&t, AF_INET6, ip("::1"), 129, P(0)) == -EINVAL);
	CHECK(ins(&t, "1.2.3.4", 32, NULL) == -EINVAL);
	CHECK(allowedips_insert(&t, AF_UNIX, ip("1.2.3.4"), 8, P(0)) == -EAFNOSUPPORT);
	CHECK(allowedips_remove(&t, AF_UNIX, ip("1.2.3.4"), 8, P(0)) == -EAFNOSUPPORT);
	CHECK(allowedips_lookup(&t, AF_UNIX, ip("1.2.3.4")) == NULL);
	CHECK(rm(&t, "172.16.0.0", 12, NULL) == -EINVAL);
	allowedips_free(&t);
}

/* Two /16s share a joining /14 node; inserting that /14 makes it real, removing it again
 * restores the join, and removing everything leaves no node behind. */
static void test_join_nodes(void)
{
	struct allowedips t;

	allowedips_init(&t);
	CHECK(ins(&t, "10.1.0.0", 16, P(0)) == 0);
	CHECK(ins(&t, "10.2.0.0", 16, P(1)) == 0);
	CHECK(look(&t, "10.3.0.0") == NULL);
	CHECK(look(&t, "10.0.0.0") == NULL);
	CHECK(strcmp(listing(&t, P(0)), "10.1.0.0/16") == 0);
	CHECK(ins(&t, "10.0.0.0", 14, P(2)) == 0);
	CHECK(look(&t, "10.3.0.0") == P(2));
	CHECK(look(&t, "10.1.0.9") == P(0));
	CHECK(rm(&t, "10.0.0.0", 14, P(2)) == 0);
	CHECK(look(&t, "10.3.0.0") == NULL);
	CHECK(rm(&t, "10.0.0.0", 14, P(2)) == -ENOENT);
	CHECK(look(&t, "10.2.3.4") == P(1));
	CHECK(rm(&t, "10.1.0.0", 16, P(0)) == 0);
	CHECK(rm(&t, "10.2.0.0", 16, P(1)) == 0);
	CHECK(t.root4 == NULL);

	/* A shorter prefix inserted after a longer one goes above it. */
	CHECK(ins(&t, "10.1.2.3", 32, P(0)) == 0);
	CHECK(ins(&t, "10.0.0.0", 8, P(1)) == 0);
	CHECK(look(&t, "10.1.2.3") == P(0));
	CHECK(look(&t, "10.1.2.4") == P(1));
	allowedips_free(&t);
}

static void test_by_peer(void)
{
	struct allowedips t;
	struct listing l = {.stop_at = 2};

	allowedips_init(&t);
	CHECK(ins(&t, "10.0.0.0", 24, P(0)) == 0);
	CHECK(ins(&t, "::1", 128, P(0)) == 0);
	CHECK(ins(&t, "10.0.0.0", 8, P(0)) == 0);
	CHECK(ins(&t, "10.0.0.0", 16, P(1)) == 0);
	CHECK(ins(&t, "9.0.0.0", 8, P(0)) == 0);
	CHECK(ins(&t, "10.0.0.128", 25, P(0)) == 0);
	CHECK(ins(&t, "::", 0, P(0)) == 0);
	CHECK(ins(&t, "2001:db8::", 32, P(1)) == 0);
	CHECK(strcmp(listing(&t, P(0)),
		     "9.0.0.0/8 10.0.0.0/8 10.0.0.0/24 10.0.0.128/25 ::/0 ::1/128") == 0);
	CHECK(strcmp(listing(&t, P(1)), "10.0.0.0/16 2001:db8::/32") == 0);
	CHECK(strcmp(listing(&t, P(2)), "") == 0);
	CHECK(allowedips_walk_by_peer(&t, P(0), list_one, &l) == 7);
	CHECK(l.calls == 2);

	allowedips_remove_by_peer(&t, P(0));
	CHECK(strcmp(listing(&t, P(0)), "") == 0);
	CHECK(look(&t, "10.0.0.1") == P(1));
	CHECK(look(&t, "10.1.0.1") == NULL);
	CHECK(look(&t, "::1") == NULL);
	CHECK(look(&t, "2001:db8::1") == P(1));
	allowedips_remove_by_peer(&t, P(1));
	CHECK(t.root4 == NULL && t.root6 == NULL);
	allowedips_free(&t);
}

/* The naive reference: a flat array of prefixes, searched exhaustively bit by bit. */
enum { NAIVE_MAX = 8192, NPEERS = 12 };

struct entry {
	int family;
	uint8_t addr[16];
	uint8_t cidr;
	void *peer;
};

static struct entry naive[NAIVE_MAX];
static size_t naive_n;

static unsigned bit(const uint8_t *a, unsigned i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

static bool naive_matches(const struct entry *e, int family, const uint8_t *addr)
{
	if (e->family != family)
		return false;
	for (unsigned i = 0; i < e->cidr; i++)
		if (bit(e->addr, i) != bit(addr, i))
			return false;
	return true;
}

static void naive_mask(uint8_t out[16], const uint8_t *addr, uint8_t cidr)
{
	memset(out, 0, 16);
	for (unsigned i = 0; i < cidr; i++)
		out[i / 8] |= (uint8_t)(bit(addr, i) << (7 - i % 8));
}

static struct entry *naive_find(int family, const uint8_t *addr, uint8_t cidr)
{
	uint8_t m[16];

	naive_mask(m, addr, cidr);
	for (size_t i = 0; i < naive_n; i++)
		if (naive[i].family == family && naive[i].cidr == cidr &&
		    memcmp(naive[i].addr, m, 16) == 0)
			return &naive[i];
	return NULL;
}

static void naive_insert(int family, const uint8_t *addr, uint8_t cidr, void *peer)
{
	struct entry *e = naive_find(family, addr, cidr);

	if (!e) {
		e = &naive[naive_n++];
		e->family = family;
		e->cidr = cidr;
		naive_mask(e->addr, addr, cidr);
	}
	e->peer = peer;
}

static int naive_remove(int family, const uint8_t *addr, uint8_t cidr, void *peer)
{
	struct entry *e = naive_find(family, addr, cidr);

	if (!e || e->peer != peer)
		return -ENOENT;
	*e = naive[--naive_n];
	return 0;
}

static void naive_remove_by_peer(void *peer)
{
	for (size_t i = 0; i < naive_n;)
		if (naive[i].peer == peer)
			naive[i] = naive[--naive_n];
		else
			i++;
}

static void *naive_lookup(int family, const uint8_t *addr)
{
	const struct entry *best = NULL;

	for (size_t i = 0; i < naive_n; i++)
		if (naive_matches(&naive[i], family, addr) && (!best || naive[i].cidr > best->cidr))
			best = &naive[i];
	return best ? best->peer : NULL;
}

static int entry_order(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family == AF_INET ? -1 : 1;
	c = memcmp(x->addr, y->addr, 16);
	return c ? c : x->cidr - y->cidr;
}

/* The trie's walk, gathered into entries to compare with the sorted naive ones. */
struct gathered {
	struct entry e[NAIVE_MAX];
	size_t n;
	void *peer;
};

static int gather(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct gathered *g = ctx;
	struct entry *e = &g->e[g->n++];

	e->family = family;
	e->cidr = cidr;
	e->peer = g->peer;
	memset(e->addr, 0, 16);
	memcpy(e->addr, addr, family == AF_INET ? 4 : 16);
	return 0;
}

static unsigned walk_mismatches(const struct allowedips *t, void *peer)
{
	static struct gathered g;
	static struct entry want[NAIVE_MAX];
	size_t n = 0;

	g.n = 0;
	g.peer = peer;
	if (allowedips_walk_by_peer(t, peer, gather, &g))
		return 1;
	for (size_t i = 0; i < naive_n; i++)
		if (naive[i].peer == peer)
			want[n++] = naive[i];
	qsort(want, n, sizeof(want[0]), entry_order);
	if (n != g.n)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (entry_order(&want[i], &g.e[i]) != 0)
			return 1;
	return 0;
}

static uint64_t rng_state = 0xa11c0ed1b5ULL;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Addresses drawn near a few bases so that prefixes overlap and nest often. */
static void random_addr(uint8_t out[16], int family)
{
	static const uint8_t bases[4][16] = {
	    {10, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8},
	    {192, 168, 1, 0, 0xfe, 0x80},
	    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	    {0},
	};
	unsigned len = family == AF_INET ? 4 : 16;

	memcpy(out, bases[rnd() % 4], 16);
	/* Perturb one to three random bits or bytes; sometimes the whole address. */
	if (rnd() % 8 == 0) {
		for (unsigned i = 0; i < len; i++)
			out[i] = (uint8_t)rnd();
		return;
	}
	for (int k = (int)(rnd() % 3); k >= 0; k--) {
		unsigned i = (unsigned)(rnd() % (len * 8));
		if (rnd() % 2)
			out[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
		else
			out[i / 8] = (uint8_t)rnd();
	}
}

static uint8_t random_cidr(int family)
{
	unsigned max = family == AF_INET ? 32 : 128;

	/* Nothing very short: a /0 or /1 would answer almost every lookup and hide misses. The
	 * hand cases cover those. */
	switch (rnd() % 4) {
	case 0:
		return (uint8_t)(max / 8 + rnd() % (max / 4));
	case 1:
		return (uint8_t)(max - rnd() % 4);
	default:
		return (uint8_t)(max / 8 + rnd() % (max - max / 8 + 1));
	}
}

/* A lookup address: usually inside a prefix that is in the table, so that hits are common. */
static void lookup_addr(uint8_t out[16], int *family)
{
	if (naive_n == 0 || rnd() % 4 == 0) {
		*family = rnd() % 2 ? AF_INET : AF_INET6;
		if (rnd() % 2)
			random_addr(out, *family);
		else
			for (unsigned i = 0; i < 16; i++)
				out[i] = (uint8_t)rnd();
		return;
	}
	const struct entry *e = &naive[rnd() % naive_n];
	unsigned max = e->family == AF_INET ? 32 : 128;

	*family = e->family;
	memcpy(out, e->addr, 16);
	for (unsigned i = e->cidr; i < max; i++)
		if (rnd() % 2)
			out[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

static void test_against_naive(void)
{
	struct allowedips t;
	unsigned bad_insert = 0, bad_remove = 0, bad_lookup = 0, bad_walk = 0;
	unsigned hits = 0, lookups = 0, removed = 0;

	allowedips_init(&t);
	naive_n = 0;
	for (int round = 0; round < 20000; round++) {
		int family = rnd() % 2 ? AF_INET : AF_INET6;
		void *peer = P(rnd() % NPEERS);
		uint8_t a[16];
		uint8_t cidr = random_cidr(family);
		unsigned op = (unsigned)(rnd() % 1000);

		random_addr(a, family);
		if (op < 700 && naive_n < NAIVE_MAX) {
			naive_insert(family, a, cidr, peer);
			bad_insert += allowedips_insert(&t, family, a, cidr, peer) != 0;
		} else if (op < 850 && naive_n) {
			/* An existing prefix, with its own peer most of the time. */
			const struct entry e = naive[rnd() % naive_n];
			void *who = rnd() % 5 ? e.peer : peer;
			int want = naive_remove(e.family, e.addr, e.cidr, who);
			bad_remove += allowedips_remove(&t, e.family, e.addr, e.cidr, who) != want;
			removed += want == 0;
		} else if (op < 998) {
			int want = naive_remove(family, a, cidr, peer);
			bad_remove += allowedips_remove(&t, family, a, cidr, peer) != want;
		} else {
			naive_remove_by_peer(peer);
			allowedips_remove_by_peer(&t, peer);
		}
		for (int k = 0; k < 3; k++) {
			int f;
			lookup_addr(a, &f);
			void *want = naive_lookup(f, a);
			bad_lookup += allowedips_lookup(&t, f, a) != want;
			hits += want != NULL;
			lookups++;
		}
		if (round % 1000 == 999)
			for (int p = 0; p < NPEERS; p++)
				bad_walk += walk_mismatches(&t, P(p));
	}
	CHECK(bad_insert == 0);
	CHECK(bad_remove == 0);
	CHECK(bad_lookup == 0);
	CHECK(bad_walk == 0);
	/* The mix must have exercised hits, misses and removals to mean anything. */
	CHECK(hits > lookups / 2 && lookups - hits > lookups / 20);
	CHECK(removed > 1500);
	CHECK(naive_n > 1000);

	for (int p = 0; p < NPEERS; p++)
		allowedips_remove_by_peer(&t, P(p));
	CHECK(t.root4 == NULL && t.root6 == NULL);
	allowedips_free(&t);
}

/* Filling and then emptying a table by single removals leaves no node behind. */
static void test_empties_completely(void)
{
	struct allowedips t;
	uint8_t addrs[600][16];
	uint8_t cidrs[600];
	int fams[600];
	unsigned bad = 0;

	allowedips_init(&t);
	for (int i = 0; i < 600; i++) {
		fams[i] = i % 2 ? AF_INET : AF_INET6;
		random_addr(addrs[i], fams[i]);
		cidrs[i] = random_cidr(fams[i]);
		bad += allowedips_insert(&t, fams[i], addrs[i], cidrs[i], P(i % 3)) != 0;
	}
	/* Duplicates among the random prefixes were moved to a later peer; ignore which. */
	for (int i = 599; i >= 0; i--)
		for (int p = 0; p < 3; p++)
			(void)allowedips_remove(&t, fams[i], addrs[i], cidrs[i], P(p));
	CHECK(bad == 0);
	CHECK(t.root4 == NULL && t.root6 == NULL);
	allowedips_free(&t);
}

int main(void)
{
	RUN(test_v4);
	RUN(test_v6);
	RUN(test_masking_and_moves);
	RUN(test_join_nodes);
	RUN(test_by_peer);
	RUN(test_against_naive);
	RUN(test_empties_completely);
	return check_done("allowedips");
}
