/* A WireGuard peer: its handshake, sessions, timers, endpoint and counters. Peers live in their
 * device's table (by public key) and list (in the order they were added). Everything here runs
 * on the device's thread. */
#ifndef PORTHOLE_PEER_H
#define PORTHOLE_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include "compat.h"
#include "cookie.h"
#include "loop.h"
#include "messages.h"
#include "noise.h"
#include "timers.h"
#include "udp.h"

struct wg_device;

/* A packet waiting for a session. The buffer has WG_HEADROOM before data and WG_TAILROOM after
 * data + len, so it can be sealed in place once a session exists. */
struct wg_staged {
	uint8_t *buf;
	size_t len;
};

struct wg_peer {
	struct wg_device *device;
	struct wg_peer *hash_next;
	struct wg_peer *prev, *next; /* device list, in the order peers were added */
	uint64_t id;                 /* for log lines: never the key */

	uint8_t public_key[NOISE_PUBLIC_KEY_LEN];
	struct noise_handshake handshake;
	struct noise_keypairs keypairs;
	struct cookie_maker cookie;
	struct timers timers;
	struct loop_timer timer; /* armed by the daemon at timers_next_deadline() */

	struct endpoint endpoint;
	bool has_endpoint;
	uint16_t persistent_keepalive; /* seconds, 0 = off */

	uint64_t last_sent_handshake; /* monotonic ns; meaningful once sent_handshake */
	bool sent_handshake;
	bool sent_lastminute_handshake; /* the one rekey near REJECT_AFTER_TIME was sent */
	uint64_t last_handshake_wall; /* Unix ns of the last completed handshake, 0 = never */

	struct wg_staged staged[MAX_STAGED_PACKETS];
	unsigned int staged_head, staged_count;

	uint64_t rx_bytes, tx_bytes;
	uint64_t rx_packets, tx_packets;
	uint64_t drops[DROP__MAX];
};

/* Creates a peer with that public key and links it into the device (no allowed IPs, no endpoint):
 * 0, -EEXIST, -ENOSPC past MAX_PEERS_PER_DEVICE, or -ENOMEM. */
int peer_create(struct wg_device *dev, const uint8_t public_key[NOISE_PUBLIC_KEY_LEN],
		struct wg_peer **out) WARN_UNUSED;
/* Unlinks the peer, drops its sessions, routes and staged packets, wipes and frees it. */
void peer_remove(struct wg_peer *peer);
struct wg_peer *peer_lookup(struct wg_device *dev, const uint8_t public_key[NOISE_PUBLIC_KEY_LEN]);

void peer_drop(struct wg_peer *peer, enum drop_reason reason);
/* Forgets every session and the handshake in flight. */
void peer_clear_sessions(struct wg_peer *peer);
void peer_purge_staged(struct wg_peer *peer);
void peer_set_endpoint(struct wg_peer *peer, const struct endpoint *ep);
/* Runs the timer actions due at now; the daemon calls it when peer->timer fires. */
void peer_timers_expire(struct wg_peer *peer, uint64_t now);
/* Tells the daemon that the peer's earliest timer deadline may have moved. */
void peer_timers_changed(struct wg_peer *peer);

#endif
