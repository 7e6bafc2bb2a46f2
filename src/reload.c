/* What a reload changes: comparisons of the running and the new configuration, and the tunnel
 * side of applying the difference. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "reload.h"

bool reload_same_prefix(const struct allowed_ip *a, const struct allowed_ip *b)
{
	return a->family == b->family && a->cidr == b->cidr &&
	       !memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16);
}

bool reload_same_ips(const struct ip_list *a, const struct ip_list *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++) {
		if (!reload_same_prefix(&a->items[i], &b->items[i]))
			return false;
	}
	return true;
}

static bool same_strings(const struct string_list *a, const struct string_list *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++) {
		if (strcmp(a->items[i], b->items[i]))
			return false;
	}
	return true;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	size_t len = a->ss_family == AF_INET	? sizeof(struct sockaddr_in)
		     : a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						: 0;

	return a->ss_family == b->ss_family && !memcmp(a, b, len);
}

static bool same_target(const struct forward_config *a, const struct forward_config *b)
{
	return !strcmp(a->target_host, b->target_host) && a->target_port == b->target_port &&
	       a->has_target_addr == b->has_target_addr &&
	       (!a->has_target_addr || same_addr(&a->target, &b->target));
}

bool reload_same_forward(const struct forward_config *a, const struct forward_config *b)
{
	return !strcmp(a->name, b->name) && a->protocol == b->protocol &&
	       same_addr(&a->listen, &b->listen) && same_target(a, b) &&
	       a->send_proxy == b->send_proxy && a->accept_proxy == b->accept_proxy &&
	       reload_same_ips(&a->trusted_proxies, &b->trusted_proxies) &&
	       same_strings(&a->server_names, &b->server_names) &&
	       reload_same_ips(&a->allow_from, &b->allow_from) &&
	       a->max_connections == b->max_connections &&
	       a->max_connections_per_source == b->max_connections_per_source &&
	       a->connect_timeout_ns == b->connect_timeout_ns &&
	       a->idle_timeout_ns == b->idle_timeout_ns && a->splice_off == b->splice_off;
}

/* ---- the tunnel's change ---- */

static const struct peer_config *find_peer(const struct interface_config *c, const uint8_t *key)
{
	for (size_t i = 0; i < c->npeers; i++) {
		if (!memcmp(c->peers[i].public_key, key, CRYPTO_KEY_LEN))
			return &c->peers[i];
	}
	return NULL;
}

static int copy_ips(struct ip_list *dst, const struct ip_list *src)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < src->len; i++)
		ret = ip_list_add(dst, &src->items[i], SIZE_MAX);
	return ret;
}

/* By the file's text: a name that now resolves elsewhere is re-resolution's business. */
static bool endpoint_changed(const struct peer_config *old, const struct peer_config *new)
{
	return !old->has_endpoint || strcmp(old->endpoint_host, new->endpoint_host) ||
	       old->endpoint_port != new->endpoint_port;
}

static bool psk_changed(const struct peer_config *old, const struct peer_config *new)
{
	return old->has_psk != new->has_psk ||
	       (new->has_psk &&
		!crypto_equal(old->preshared_key, new->preshared_key, CRYPTO_KEY_LEN));
}

/* A peer in both files: only what differs, so its sessions and roamed endpoint stay. */
static int peer_update(struct peer_config *pc, const struct peer_config *old,
		       const struct peer_config *new)
{
	if (psk_changed(old, new)) {
		pc->has_psk = true;
		memcpy(pc->preshared_key, new->preshared_key, CRYPTO_KEY_LEN);
	}
	if (new->has_endpoint && endpoint_changed(old, new)) {
		pc->has_endpoint = true;
		pc->endpoint = new->endpoint;
	}
	if (old->persistent_keepalive != new->persistent_keepalive) {
		pc->has_keepalive = true;
		pc->persistent_keepalive = new->persistent_keepalive;
	}
	if (reload_same_ips(&old->allowed_ips, &new->allowed_ips))
		return 0;
	pc->replace_allowed_ips = true;
	return copy_ips(&pc->allowed_ips, &new->allowed_ips);
}

static int peer_add(struct peer_config *pc, const struct peer_config *new)
{
	pc->has_psk = new->has_psk;
	memcpy(pc->preshared_key, new->preshared_key, CRYPTO_KEY_LEN);
	pc->has_endpoint = new->has_endpoint;
	pc->endpoint = new->endpoint;
	pc->has_keepalive = new->has_keepalive;
	pc->persistent_keepalive = new->persistent_keepalive;
	pc->replace_allowed_ips = true;
	return copy_ips(&pc->allowed_ips, &new->allowed_ips);
}

static int peers_change(struct interface_config *change, const struct interface_config *old,
			const struct interface_config *new)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < old->npeers; i++) {
		struct peer_config *pc;

		if (find_peer(new, old->peers[i].public_key))
			continue;
		pc = config_add_peer(change);
		if (!pc)
			return -ENOMEM;
		memcpy(pc->public_key, old->peers[i].public_key, CRYPTO_KEY_LEN);
		pc->remove = true;
	}
	for (size_t i = 0; !ret && i < new->npeers; i++) {
		const struct peer_config *was = find_peer(old, new->peers[i].public_key);
		struct peer_config *pc = config_add_peer(change);

		if (!pc)
			return -ENOMEM;
		memcpy(pc->public_key, new->peers[i].public_key, CRYPTO_KEY_LEN);
		pc->has_public_key = true;
		ret = was ? peer_update(pc, was, &new->peers[i]) : peer_add(pc, &new->peers[i]);
	}
	return ret;
}

/* A key or a mark the new file leaves out is cleared; a listen port it leaves out stays as
 * chosen, since changing it would only cost the peers a roam. */
static void interface_change(struct interface_config *change, const struct interface_config *old,
			     const struct interface_config *new)
{
	if (old->has_private_key != new->has_private_key ||
	    !crypto_equal(old->private_key, new->private_key, CRYPTO_KEY_LEN)) {
		change->has_private_key = true;
		memcpy(change->private_key, new->private_key, CRYPTO_KEY_LEN);
	}
	if (new->has_listen_port &&
	    (!old->has_listen_port || old->listen_port != new->listen_port)) {
		change->has_listen_port = true;
		change->listen_port = new->listen_port;
	}
	if (old->has_fwmark != new->has_fwmark || old->fwmark != new->fwmark) {
		change->has_fwmark = true;
		change->fwmark = new->has_fwmark ? new->fwmark : 0;
	}
	if (old->mtu != new->mtu) {
		change->has_mtu = true;
		change->mtu = new->mtu;
	}
}

int reload_tunnel_change(struct interface_config *change, const struct interface_config *old,
			 const struct interface_config *new)
{
	int ret;

	memset(change, 0, sizeof(*change));
	change->mtu = old->mtu;
	interface_change(change, old, new);
	ret = peers_change(change, old, new);
	if (ret < 0)
		config_interface_free(change);
	return ret;
}

int reload_apply_tunnel(struct tunnel *t, struct netconf_state *st,
			const struct interface_config *old, const struct interface_config *new,
			char *err, size_t errlen)
{
	struct interface_config change;
	const char *what = "configuring the device";
	int ret = reload_tunnel_change(&change, old, new);

	if (!ret)
		ret = tunnel_configure(t, &change);
	if (!ret)
		ret = netconf_reload(&t->nl, t->ifindex, old, new, st, &what);
	if (ret < 0)
		snprintf(err, errlen, "%s: %s: %s", t->ifname, what, strerror(-ret));
	config_interface_free(&change);
	return ret;
}
