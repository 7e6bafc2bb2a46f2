/* Cryptokey routing (WireGuard paper, section 2): which peer owns an inner address, by longest
 * prefix match over IPv4 and IPv6 prefixes. Single-threaded: the caller serialises every call,
 * including lookups against changes. */
#ifndef PORTHOLE_ALLOWEDIPS_H
#define PORTHOLE_ALLOWEDIPS_H

#include <stdint.h>
#include "compat.h"

struct allowedips_node;

struct allowedips {
	struct allowedips_node *root4;
	struct allowedips_node *root6;
};

void allowedips_init(struct allowedips *t);
/* Frees every node; the table is empty (and reusable) afterwards. */
void allowedips_free(struct allowedips *t);

/* family is AF_INET (addr is 4 bytes) or AF_INET6 (16 bytes), in network order. Bits of addr
 * beyond cidr are ignored. Inserting a prefix that exists moves it to peer.
 * 0, -EINVAL (cidr too long, peer NULL), -EAFNOSUPPORT or -ENOMEM (table unchanged). */
int allowedips_insert(struct allowedips *t, int family, const void *addr, uint8_t cidr,
		      void *peer) WARN_UNUSED;
/* Removes the prefix only if it maps to peer: 0, -ENOENT, -EINVAL or -EAFNOSUPPORT. */
int allowedips_remove(struct allowedips *t, int family, const void *addr, uint8_t cidr, void *peer);
void allowedips_remove_by_peer(struct allowedips *t, void *peer);

/* The peer of the longest prefix containing addr, or NULL. Does not allocate: packet path. */
void *allowedips_lookup(const struct allowedips *t, int family, const void *addr);

/* Calls fn for each prefix of peer: IPv4 before IPv6, each in ascending address order with the
 * shorter prefix first on equal addresses. addr is masked to cidr. A non-zero return from fn
 * stops the walk and is returned. The table must not change during the walk. */
int allowedips_walk_by_peer(const struct allowedips *t, void *peer,
			    int (*fn)(void *ctx, int family, const uint8_t *addr, uint8_t cidr),
			    void *ctx);

#endif
