/* Peer lifecycle and the device's peer table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "device.h"
#include "peer.h"
#include "secmem.h"

static size_t bucket_of(const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	uint32_t h;

	/* Public keys are uniformly random and only the administrator adds peers, so their
	 * first bytes are a fine hash. */
	memcpy(&h, public_key, sizeof(h));
	return h % WG_PEER_BUCKETS;
}

struct wg_peer *peer_lookup(struct wg_device *dev, const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	struct wg_peer *p;

	for (p = dev->buckets[bucket_of(public_key)]; p; p = p->hash_next) {
		if (!memcmp(p->public_key, public_key, NOISE_PUBLIC_KEY_LEN))
			return p;
	}
	return NULL;
}

static void link_peer(struct wg_device *dev, struct wg_peer *peer)
{
	size_t b = bucket_of(peer->public_key);

	peer->hash_next = dev->buckets[b];
	dev->buckets[b] = peer;
	peer->prev = dev->last;
	if (dev->last)
		dev->last->next = peer;
	else
		dev->first = peer;
	dev->last = peer;
	dev->npeers++;
}

static void unlink_peer(struct wg_device *dev, struct wg_peer *peer)
{
	struct wg_peer **pp = &dev->buckets[bucket_of(peer->public_key)];

	while (*pp != peer)
		pp = &(*pp)->hash_next;
	*pp = peer->hash_next;
	if (peer->prev)
		peer->prev->next = peer->next;
	else
		dev->first = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	else
		dev->last = peer->prev;
	dev->npeers--;
}

int peer_create(struct wg_device *dev, const uint8_t public_key[NOISE_PUBLIC_KEY_LEN],
		struct wg_peer **out)
{
	struct wg_peer *peer;
	uint64_t seed;

	if (peer_lookup(dev, public_key))
		return -EEXIST;
	if (dev->npeers >= MAX_PEERS_PER_DEVICE)
		return -ENOSPC;
	peer = secmem_calloc(1, sizeof(*peer)); /* locked: preshared key, handshake state */
	if (!peer)
		return -ENOMEM;
	if (crypto_random(&seed, sizeof(seed)) < 0)
		seed = dev->next_peer_id * 0x9e3779b97f4a7c15ULL;
	peer->device = dev;
	peer->id = ++dev->next_peer_id;
	memcpy(peer->public_key, public_key, NOISE_PUBLIC_KEY_LEN);
	noise_handshake_init(&peer->handshake, &dev->identity, public_key, NULL, peer);
	noise_keypairs_init(&peer->keypairs);
	cookie_maker_init(&peer->cookie, public_key);
	timers_init(&peer->timers, seed);
	if (!dev->up)
		timers_stop(&peer->timers);
	peer->timer.heap_idx = LOOP_TIMER_IDLE;
	link_peer(dev, peer);
	if (dev->ops.peer_added)
		dev->ops.peer_added(dev->ops.ctx, peer);
	*out = peer;
	return 0;
}

void peer_purge_staged(struct wg_peer *peer)
{
	while (peer->staged_count) {
		struct wg_staged *s = &peer->staged[peer->staged_head];

		free(s->buf);
		s->buf = NULL;
		peer->staged_head = (peer->staged_head + 1) % MAX_STAGED_PACKETS;
		peer->staged_count--;
	}
}

void peer_clear_sessions(struct wg_peer *peer)
{
	noise_handshake_clear(&peer->handshake, &peer->device->index);
	noise_keypairs_clear(&peer->keypairs, &peer->device->index);
}

void peer_remove(struct wg_peer *peer)
{
	struct wg_device *dev = peer->device;

	if (dev->ops.peer_removed)
		dev->ops.peer_removed(dev->ops.ctx, peer);
	timers_stop(&peer->timers);
	allowedips_remove_by_peer(&dev->allowedips, peer);
	noise_handshake_clear(&peer->handshake, &dev->index);
	noise_keypairs_destroy(&peer->keypairs, &dev->index);
	peer_purge_staged(peer);
	unlink_peer(dev, peer);
	cookie_maker_clear(&peer->cookie);
	secmem_free(peer); /* wipes it */
}

void peer_drop(struct wg_peer *peer, enum drop_reason reason)
{
	peer->drops[reason]++;
}

void peer_set_endpoint(struct wg_peer *peer, const struct endpoint *ep)
{
	if (peer->has_endpoint && endpoint_eq(&peer->endpoint, ep))
		return;
	peer->endpoint = *ep;
	peer->has_endpoint = true;
}

void peer_timers_changed(struct wg_peer *peer)
{
	struct wg_device *dev = peer->device;

	if (dev->ops.timers_changed)
		dev->ops.timers_changed(dev->ops.ctx, peer);
}

void peer_timers_expire(struct wg_peer *peer, uint64_t now)
{
	unsigned int due = timers_expire(&peer->timers, now);

	if (due & TIMER_CLEAR_ENDPOINT_SOURCE)
		endpoint_clear_src(&peer->endpoint);
	if (due & TIMER_GIVE_UP)
		peer_purge_staged(peer);
	if (due & TIMER_ZERO_KEYS)
		peer_clear_sessions(peer);
	/* A retry keeps the attempt count; a fresh initiation after silence starts it again,
	 * which the timers did themselves before returning the action. */
	if (due & TIMER_SEND_INITIATION)
		wg_send_handshake_initiation(peer, now, true);
	if (due & (TIMER_SEND_KEEPALIVE | TIMER_SEND_PERSISTENT_KEEPALIVE))
		wg_send_keepalive(peer, now);
	peer_timers_changed(peer);
}
