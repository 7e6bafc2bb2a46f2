/* A path-compressed binary trie per address family. Each node holds a whole prefix (its bits
 * and length); a child's prefix always extends its parent's by at least one bit, and the bit
 * just past the parent's length picks the child. So a lookup visits at most one node per prefix
 * length, and the depth, which bounds the recursion below, is at most 129.
 *
 * Invariant: a node without a peer exists only to join two subtrees, so it always has two
 * children. collapse() restores this after every removal; a table left with no prefixes
 * therefore holds no nodes at all. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "allowedips.h"

enum { ADDR_MAX_BYTES = 16 };

struct allowedips_node {
	struct allowedips_node *child[2];
	void *peer;		      /* NULL for a joining node */
	uint8_t bits[ADDR_MAX_BYTES]; /* masked to cidr, zero beyond */
	uint8_t cidr;
};

static int family_bits(int family)
{
	switch (family) {
	case AF_INET:
		return 32;
	case AF_INET6:
		return 128;
	default:
		return -1;
	}
}

static struct allowedips_node **root_of(struct allowedips *t, int family)
{
	return family == AF_INET ? &t->root4 : &t->root6;
}

static unsigned bit_at(const uint8_t *a, unsigned i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

/* How many leading bits a and b share, counting at most max. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned max)
{
	for (unsigned i = 0; i * 8 < max; i++) {
		unsigned x = a[i] ^ b[i];
		if (x)
			return MIN(max, i * 8 + (unsigned)__builtin_clz(x) - 24);
	}
	return max;
}

static bool covers(const struct allowedips_node *n, const uint8_t *addr)
{
	return common_bits(n->bits, addr, n->cidr) == n->cidr;
}

static void mask(uint8_t out[ADDR_MAX_BYTES], const uint8_t *addr, unsigned cidr)
{
	memset(out, 0, ADDR_MAX_BYTES);
	memcpy(out, addr, (cidr + 7) / 8);
	if (cidr % 8)
		out[cidr / 8] &= (uint8_t)(0xff00 >> (cidr % 8));
}

static struct allowedips_node *node_new(const uint8_t *bits, unsigned cidr, void *peer)
{
	struct allowedips_node *n = calloc(1, sizeof(*n));

	if (n) {
		memcpy(n->bits, bits, ADDR_MAX_BYTES);
		n->cidr = (uint8_t)cidr;
		n->peer = peer;
	}
	return n;
}

/* Replaces a node that no longer earns its place by its only child (or nothing). */
static struct allowedips_node *collapse(struct allowedips_node *n)
{
	struct allowedips_node *child;

	if (n->peer || (n->child[0] && n->child[1]))
		return n;
	child = n->child[0] ? n->child[0] : n->child[1];
	free(n);
	return child;
}

static void free_tree(struct allowedips_node *n)
{
	if (!n)
		return;
	free_tree(n->child[0]);
	free_tree(n->child[1]);
	free(n);
}

void allowedips_init(struct allowedips *t)
{
	t->root4 = NULL;
	t->root6 = NULL;
}

void allowedips_free(struct allowedips *t)
{
	free_tree(t->root4);
	free_tree(t->root6);
	allowedips_init(t);
}

/* The slot where key/cidr belongs: empty, or holding the node that is key/cidr itself, lies
 * below it, or diverges from it. */
static struct allowedips_node **descend(struct allowedips_node **slot, const uint8_t *key,
					unsigned cidr)
{
	struct allowedips_node *n;

	while ((n = *slot) && n->cidr < cidr && covers(n, key))
		slot = &n->child[bit_at(key, n->cidr)];
	return slot;
}

/* Puts fresh at *slot, above the existing node n or beside it under a new joining node. */
static int attach(struct allowedips_node **slot, struct allowedips_node *fresh)
{
	struct allowedips_node *n = *slot, *join;
	unsigned common;

	if (!n) {
		*slot = fresh;
		return 0;
	}
	common = common_bits(fresh->bits, n->bits, fresh->cidr);
	if (common == fresh->cidr) {
		fresh->child[bit_at(n->bits, common)] = n;
		*slot = fresh;
		return 0;
	}
	join = node_new(fresh->bits, common, NULL);
	if (!join)
		return -ENOMEM;
	mask(join->bits, fresh->bits, common);
	join->child[bit_at(fresh->bits, common)] = fresh;
	join->child[bit_at(n->bits, common)] = n;
	*slot = join;
	return 0;
}

int allowedips_insert(struct allowedips *t, int family, const void *addr, uint8_t cidr, void *peer)
{
	struct allowedips_node **slot, *fresh;
	uint8_t key[ADDR_MAX_BYTES];
	int max = family_bits(family), ret;

	if (max < 0)
		return -EAFNOSUPPORT;
	if (cidr > max || !peer)
		return -EINVAL;
	mask(key, addr, cidr);
	slot = descend(root_of(t, family), key, cidr);
	if (*slot && (*slot)->cidr == cidr && covers(*slot, key)) {
		(*slot)->peer = peer;
		return 0;
	}
	fresh = node_new(key, cidr, peer);
	if (!fresh)
		return -ENOMEM;
	ret = attach(slot, fresh);
	if (ret)
		free(fresh);
	return ret;
}

/* Returns what should now stand where n stood. */
static struct allowedips_node *drop(struct allowedips_node *n, const uint8_t *key, unsigned cidr,
				    void *peer, int *ret)
{
	struct allowedips_node **child;

	if (!n || n->cidr > cidr || !covers(n, key))
		return n;
	if (n->cidr == cidr) {
		if (n->peer != peer)
			return n;
		n->peer = NULL;
		*ret = 0;
		return collapse(n);
	}
	child = &n->child[bit_at(key, n->cidr)];
	*child = drop(*child, key, cidr, peer, ret);
	return collapse(n);
}

int allowedips_remove(struct allowedips *t, int family, const void *addr, uint8_t cidr, void *peer)
{
	struct allowedips_node **root = root_of(t, family);
	uint8_t key[ADDR_MAX_BYTES];
	int max = family_bits(family), ret = -ENOENT;

	if (max < 0)
		return -EAFNOSUPPORT;
	if (cidr > max || !peer)
		return -EINVAL;
	mask(key, addr, cidr);
	*root = drop(*root, key, cidr, peer, &ret);
	return ret;
}

static struct allowedips_node *purge(struct allowedips_node *n, void *peer)
{
	if (!n)
		return NULL;
	n->child[0] = purge(n->child[0], peer);
	n->child[1] = purge(n->child[1], peer);
	if (n->peer == peer)
		n->peer = NULL;
	return collapse(n);
}

void allowedips_remove_by_peer(struct allowedips *t, void *peer)
{
	if (!peer)
		return;
	t->root4 = purge(t->root4, peer);
	t->root6 = purge(t->root6, peer);
}

void *allowedips_lookup(const struct allowedips *t, int family, const void *addr)
{
	const struct allowedips_node *n;
	void *found = NULL;
	int max = family_bits(family);

	if (max < 0)
		return NULL;
	for (n = family == AF_INET ? t->root4 : t->root6; n && covers(n, addr);
	     n = n->child[bit_at(addr, n->cidr)]) {
		if (n->peer)
			found = n->peer;
		if (n->cidr == max)
			break;
	}
	return found;
}

/* Pre-order, zero child first: that is ascending address, then ascending length. */
static int walk(const struct allowedips_node *n, void *peer, int family,
		int (*fn)(void *ctx, int family, const uint8_t *addr, uint8_t cidr), void *ctx)
{
	int ret;

	if (!n)
		return 0;
	if (n->peer == peer && (ret = fn(ctx, family, n->bits, n->cidr)))
		return ret;
	ret = walk(n->child[0], peer, family, fn, ctx);
	return ret ? ret : walk(n->child[1], peer, family, fn, ctx);
}

int allowedips_walk_by_peer(const struct allowedips *t, void *peer,
			    int (*fn)(void *ctx, int family, const uint8_t *addr, uint8_t cidr),
			    void *ctx)
{
	int ret;

	if (!peer)
		return 0;
	ret = walk(t->root4, peer, AF_INET, fn, ctx);
	return ret ? ret : walk(t->root6, peer, AF_INET6, fn, ctx);
}
