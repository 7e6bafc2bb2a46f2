/* Chained hash table of session indices. The indices are uniformly random and ours, so the low
 * bits are already a fair hash; a peer can only name an index, never choose where it lands. */
#include <errno.h>
#include <stdlib.h>
#include "crypto.h"
#include "index.h"

enum { MIN_BUCKETS = 64, MAX_BUCKETS = 1 << 20 };

static size_t bucket_count(size_t max_entries)
{
	size_t n = MIN_BUCKETS;

	while (n < max_entries / 2 && n < MAX_BUCKETS)
		n <<= 1;
	return n;
}

int index_table_init(struct index_table *t, size_t max_entries)
{
	size_t n = bucket_count(max_entries);

	t->buckets = calloc(n, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->mask = n - 1;
	t->count = 0;
	t->max = max_entries;
	return 0;
}

void index_table_free(struct index_table *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->count = 0;
}

static struct index_entry **bucket(const struct index_table *t, uint32_t index)
{
	return &t->buckets[index & t->mask];
}

struct index_entry *index_lookup(const struct index_table *t, uint32_t index, unsigned int kinds)
{
	struct index_entry *e;

	for (e = *bucket(t, index); e; e = e->next)
		if (e->index == index)
			return (e->kind & kinds) ? e : NULL;
	return NULL;
}

static void link_entry(struct index_table *t, struct index_entry *e)
{
	struct index_entry **b = bucket(t, e->index);

	e->next = *b;
	*b = e;
	e->linked = true;
	t->count++;
}

void index_remove(struct index_table *t, struct index_entry *e)
{
	struct index_entry **p;

	if (!e->linked)
		return;
	for (p = bucket(t, e->index); *p; p = &(*p)->next) {
		if (*p == e) {
			*p = e->next;
			t->count--;
			break;
		}
	}
	e->next = NULL;
	e->linked = false;
}

static int draw_unused(const struct index_table *t, uint32_t *index)
{
	int i, ret;

	for (i = 0; i < INDEX_MAX_TRIES; i++) {
		ret = crypto_random(index, sizeof(*index));
		if (ret)
			return ret;
		if (!index_lookup(t, *index, INDEX_HANDSHAKE | INDEX_KEYPAIR))
			return 0;
	}
	return -EAGAIN;
}

int index_insert(struct index_table *t, struct index_entry *e, enum index_kind kind, void *object,
		 void *owner)
{
	uint32_t index;
	int ret;

	index_remove(t, e);
	if (t->count >= t->max)
		return -ENOSPC;
	ret = draw_unused(t, &index);
	if (ret)
		return ret;
	e->index = index;
	e->kind = kind;
	e->object = object;
	e->owner = owner;
	link_entry(t, e);
	return 0;
}

bool index_replace(struct index_table *t, struct index_entry *old, struct index_entry *new_e,
		   enum index_kind kind, void *object, void *owner)
{
	struct index_entry **p;

	if (!old->linked)
		return false;
	index_remove(t, new_e);
	for (p = bucket(t, old->index); *p != old; p = &(*p)->next)
		;
	new_e->index = old->index;
	new_e->kind = kind;
	new_e->object = object;
	new_e->owner = owner;
	new_e->next = old->next;
	new_e->linked = true;
	*p = new_e;
	old->next = NULL;
	old->linked = false;
	old->index = 0;
	return true;
}
