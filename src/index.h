/* The device-wide table of local session indices: the random 32-bit numbers we hand peers as
 * sender_index and find again in their receiver_index and data key_idx fields (WireGuard paper,
 * section 5.4.2). Each entry is embedded in the handshake or keypair it names, so inserting and
 * looking up never allocate.
 *
 * Single-threaded: the caller serialises every call on one table. */
#ifndef PORTHOLE_INDEX_H
#define PORTHOLE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compat.h"

enum index_kind {
	INDEX_HANDSHAKE = 1U << 0,
	INDEX_KEYPAIR = 1U << 1,
};

enum index_limits {
	/* Each peer holds at most a handshake and three keypairs, and the handshake's index
	 * passes to its keypair, so three live indices per peer is the ceiling in practice. */
	INDEX_PER_PEER = 3,
	INDEX_MAX_TRIES = 64, /* random draws before giving up on a crowded table */
};

struct index_entry {
	struct index_entry *next; /* bucket chain */
	void *object;		  /* the struct noise_handshake or struct noise_keypair */
	void *owner;		  /* the engine's peer */
	uint32_t index;		  /* as on the wire: opaque, compared bytewise */
	enum index_kind kind;
	bool linked;
};

struct index_table {
	struct index_entry **buckets;
	size_t mask; /* bucket count - 1 */
	size_t count;
	size_t max;
};

/* Sizes the table for max_entries live indices (e.g. peers * INDEX_PER_PEER): 0 or -errno. */
int index_table_init(struct index_table *t, size_t max_entries) WARN_UNUSED;
/* Frees the buckets; entries still linked are only forgotten, not touched. */
void index_table_free(struct index_table *t);

/* Links e under a fresh random index (unlinking it first if it was linked): 0, -ENOSPC when the
 * table is full, or -errno from the random source. */
int index_insert(struct index_table *t, struct index_entry *e, enum index_kind kind, void *object,
		 void *owner) WARN_UNUSED;
/* new takes over old's index and slot; old is left unlinked. false when old was not linked. */
bool index_replace(struct index_table *t, struct index_entry *old, struct index_entry *new_e,
		   enum index_kind kind, void *object, void *owner) WARN_UNUSED;
void index_remove(struct index_table *t, struct index_entry *e);
/* The entry for index whose kind is in the kinds mask, or NULL. */
struct index_entry *index_lookup(const struct index_table *t, uint32_t index, unsigned int kinds);

#endif
