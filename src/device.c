/* The device: identity, peer set and configuration, as the configuration protocol changes and
 * reports them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "device.h"

enum { INDEX_BUCKET_HINT = 8192 };

static struct noise_handshake *handshake_by_public(void *ctx, const uint8_t pub[NOISE_PUBLIC_KEY_LEN])
{
	struct wg_peer *peer = peer_lookup(ctx, pub);

	return peer ? &peer->handshake : NULL;
}

int wg_device_init(struct wg_device *dev, const struct wg_device_ops *ops, uint64_t now)
{
	int ret;

	memset(dev, 0, sizeof(*dev));
	dev->ops = *ops;
	dev->mtu = CONFIG_DEFAULT_MTU;
	dev->lookup.by_public = handshake_by_public;
	dev->lookup.ctx = dev;
	allowedips_init(&dev->allowedips);
	ret = index_table_init(&dev->index, INDEX_BUCKET_HINT);
	if (ret < 0)
		return ret;
	/* The buckets are sized for the usual few peers; the ceiling is the protocol's. */
	dev->index.max = (size_t)MAX_PEERS_PER_DEVICE * INDEX_PER_PEER;
	ret = cookie_checker_init(&dev->cookie_checker, NULL, now);
	if (ret < 0)
		goto err_index;
	ret = ratelimiter_init(&dev->ratelimiter);
	if (ret < 0)
		goto err_cookie;
	dev->jobs = calloc(MAX_QUEUED_INCOMING_HANDSHAKES, sizeof(*dev->jobs));
	if (!dev->jobs) {
		ret = -ENOMEM;
		goto err_ratelimiter;
	}
	return 0;
err_ratelimiter:
	ratelimiter_free(&dev->ratelimiter);
err_cookie:
	cookie_checker_clear(&dev->cookie_checker);
err_index:
	index_table_free(&dev->index);
	return ret;
}

void wg_device_free(struct wg_device *dev)
{
	while (dev->first)
		peer_remove(dev->first);
	allowedips_free(&dev->allowedips);
	index_table_free(&dev->index);
	cookie_checker_clear(&dev->cookie_checker);
	/* Processed jobs were wiped as they went: only the queued ones are left to wipe, which
	 * spares touching (and faulting in) the whole queue at every teardown. */
	for (unsigned int i = 0; dev->jobs && i < dev->jobs_count; i++)
		crypto_wipe(&dev->jobs[(dev->jobs_head + i) % MAX_QUEUED_INCOMING_HANDSHAKES],
			    sizeof(*dev->jobs));
	free(dev->jobs);
	ratelimiter_free(&dev->ratelimiter);
	noise_static_identity_clear(&dev->identity);
	crypto_wipe(dev, sizeof(*dev));
}

/* Runs the sealing or opening of the batch so far (ops->crypt may spread it over threads). */
void wg_device_crypt(struct wg_device *dev)
{
	if (dev->ops.crypt)
		dev->ops.crypt(dev->ops.ctx, dev->aead, dev->naead);
	else
		for (unsigned int i = 0; i < dev->naead; i++)
			noise_aead_run(dev->aead[i]);
	dev->naead = 0;
}

void wg_device_set_up(struct wg_device *dev, bool up, uint64_t now)
{
	struct wg_peer *peer;

	dev->up = up;
	for (peer = dev->first; peer; peer = peer->next) {
		if (up) {
			timers_start(&peer->timers);
			if (peer->persistent_keepalive)
				wg_send_keepalive(peer, now);
		} else {
			timers_stop(&peer->timers);
			peer_clear_sessions(peer);
			peer_purge_staged(peer);
		}
		peer_timers_changed(peer);
	}
}

/* A new private key: every peer's static-static secret changes and their sessions end. A peer
 * whose public key is our own new one is removed, as the reference implementations do. */
static void set_private_key(struct wg_device *dev, const uint8_t key[NOISE_PUBLIC_KEY_LEN],
			    uint64_t now)
{
	struct wg_peer *peer, *next;

	if (crypto_is_zero(key, NOISE_PUBLIC_KEY_LEN)) {
		noise_static_identity_clear(&dev->identity);
		cookie_checker_set_public(&dev->cookie_checker, NULL);
	} else {
		if (dev->identity.has_identity &&
		    crypto_equal(dev->identity.static_private, key, NOISE_PUBLIC_KEY_LEN))
			return;
		noise_static_identity_set(&dev->identity, key);
		cookie_checker_set_public(&dev->cookie_checker, dev->identity.static_public);
	}
	for (peer = dev->first; peer; peer = next) {
		next = peer->next;
		if (dev->identity.has_identity &&
		    !memcmp(peer->public_key, dev->identity.static_public, NOISE_PUBLIC_KEY_LEN)) {
			peer_remove(peer);
			continue;
		}
		(void)noise_handshake_precompute(&peer->handshake);
		peer_clear_sessions(peer);
	}
}

static int set_allowed_ips(struct wg_device *dev, struct wg_peer *peer,
			   const struct peer_config *pc)
{
	int ret;

	if (pc->replace_allowed_ips)
		allowedips_remove_by_peer(&dev->allowedips, peer);
	for (size_t i = 0; i < pc->allowed_ips.len; i++) {
		const struct allowed_ip *ip = &pc->allowed_ips.items[i];

		ret = allowedips_insert(&dev->allowedips, ip->family, &ip->addr, ip->cidr, peer);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int apply_peer(struct wg_device *dev, const struct peer_config *pc, uint64_t now)
{
	struct wg_peer *peer = peer_lookup(dev, pc->public_key);
	struct endpoint ep;
	int ret;

	if (pc->remove) {
		if (peer)
			peer_remove(peer);
		return 0;
	}
	/* Our own public key is not a peer: skipped silently, as wireguard-go does. */
	if (dev->identity.has_identity &&
	    !memcmp(pc->public_key, dev->identity.static_public, NOISE_PUBLIC_KEY_LEN))
		return 0;
	if (!peer) {
		if (pc->update_only)
			return 0;
		ret = peer_create(dev, pc->public_key, &peer);
		if (ret < 0)
			return ret;
	}
	if (pc->has_psk)
		noise_handshake_set_psk(&peer->handshake,
					crypto_is_zero(pc->preshared_key, CRYPTO_KEY_LEN) ?
						NULL :
						pc->preshared_key);
	if (pc->has_endpoint && pc->endpoint.ss_family != AF_UNSPEC) {
		ret = endpoint_set(&ep, (const struct sockaddr *)&pc->endpoint, sizeof(pc->endpoint));
		if (ret < 0)
			return ret;
		peer_set_endpoint(peer, &ep);
	}
	ret = set_allowed_ips(dev, peer, pc);
	if (ret < 0)
		return ret;
	if (pc->has_keepalive) {
		peer->persistent_keepalive = pc->persistent_keepalive;
		if (timers_set_persistent_keepalive(&peer->timers, pc->persistent_keepalive) &&
		    dev->up)
			wg_send_keepalive(peer, now);
	}
	peer_timers_changed(peer);
	return 0;
}

int wg_device_apply(struct wg_device *dev, const struct interface_config *change, uint64_t now)
{
	int ret;

	if (change->has_private_key)
		set_private_key(dev, change->private_key, now);
	if (change->has_listen_port)
		dev->listen_port = change->listen_port;
	if (change->has_fwmark)
		dev->fwmark = change->fwmark;
	if (change->has_mtu)
		dev->mtu = change->mtu;
	if (change->replace_peers) {
		while (dev->first)
			peer_remove(dev->first);
	}
	for (size_t i = 0; i < change->npeers; i++) {
		ret = apply_peer(dev, &change->peers[i], now);
		if (ret < 0)
			return ret;
	}
	return 0;
}

struct ip_collect {
	struct allowed_ip *items;
	size_t len, cap;
};

static int collect_ip(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct ip_collect *c = ctx;
	struct allowed_ip *ip;

	if (c->len == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct allowed_ip *items = realloc(c->items, cap * sizeof(*items));

		if (!items)
			return -ENOMEM;
		c->items = items;
		c->cap = cap;
	}
	ip = &c->items[c->len++];
	memset(ip, 0, sizeof(*ip));
	ip->family = family;
	memcpy(&ip->addr, addr, family == AF_INET ? 4 : 16);
	ip->cidr = cidr;
	return 0;
}

static int view_peer(struct wg_device *dev, struct wg_peer *peer, struct uapi_peer_view *pv)
{
	struct ip_collect c = { 0 };
	int ret;

	memcpy(pv->public_key, peer->public_key, NOISE_PUBLIC_KEY_LEN);
	memcpy(pv->preshared_key, peer->handshake.preshared_key, NOISE_SYMMETRIC_KEY_LEN);
	pv->endpoint.ss_family = AF_UNSPEC;
	if (peer->has_endpoint)
		memcpy(&pv->endpoint, &peer->endpoint.addr,
		       peer->endpoint.addr.sa.sa_family == AF_INET ? sizeof(struct sockaddr_in) :
								     sizeof(struct sockaddr_in6));
	pv->last_handshake_sec = peer->last_handshake_wall / NSEC_PER_SEC;
	pv->last_handshake_nsec = peer->last_handshake_wall % NSEC_PER_SEC;
	pv->tx_bytes = peer->tx_bytes;
	pv->rx_bytes = peer->rx_bytes;
	pv->persistent_keepalive_interval = peer->persistent_keepalive;
	ret = allowedips_walk_by_peer(&dev->allowedips, peer, collect_ip, &c);
	pv->allowed_ips = c.items;
	pv->n_allowed_ips = c.len;
	return ret;
}

int wg_device_view(struct wg_device *dev, struct uapi_device_view *view)
{
	struct uapi_peer_view *peers;
	struct wg_peer *peer;
	size_t i = 0;
	int ret;

	memset(view, 0, sizeof(*view));
	view->has_private_key = dev->identity.has_identity;
	if (view->has_private_key)
		memcpy(view->private_key, dev->identity.static_private, NOISE_PUBLIC_KEY_LEN);
	view->listen_port = dev->listen_port;
	view->fwmark = dev->fwmark;
	peers = calloc(dev->npeers ? dev->npeers : 1, sizeof(*peers));
	if (!peers)
		return -ENOMEM;
	view->peers = peers;
	for (peer = dev->first; peer; peer = peer->next) {
		view->npeers = i + 1;
		ret = view_peer(dev, peer, &peers[i++]);
		if (ret < 0) {
			wg_device_view_free(view);
			return ret;
		}
	}
	return 0;
}

void wg_device_view_free(struct uapi_device_view *view)
{
	struct uapi_peer_view *peers = (struct uapi_peer_view *)view->peers;

	for (size_t i = 0; i < view->npeers; i++) {
		free((void *)peers[i].allowed_ips);
		crypto_wipe(peers[i].preshared_key, sizeof(peers[i].preshared_key));
	}
	free(peers);
	crypto_wipe(view, sizeof(*view));
}
