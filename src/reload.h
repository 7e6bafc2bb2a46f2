/* Reloading a running daemon's file: what changed between the running configuration and the new
 * one, as the change to apply. The comparisons and the change description are pure (no sockets,
 * no netlink), so they are unit-tested; reload_apply_tunnel() is the edge that applies them.
 *
 * The tunnel side follows `wg syncconf`: peers missing from the new file are removed, the others
 * are updated in place (their sessions survive), with their allowed IPs replaced and their
 * endpoint set only when the file's endpoint changed, so that a roamed peer is not pulled back. */
#ifndef PORTHOLE_RELOAD_H
#define PORTHOLE_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include "compat.h"
#include "config.h"
#include "netconf.h"
#include "tunnel.h"

bool reload_same_prefix(const struct allowed_ip *a, const struct allowed_ip *b) WARN_UNUSED;
/* Same prefixes in the same order. */
bool reload_same_ips(const struct ip_list *a, const struct ip_list *b) WARN_UNUSED;
/* Every setting but the line number; a changed forward is removed and added again. */
bool reload_same_forward(const struct forward_config *a,
			 const struct forward_config *b) WARN_UNUSED;

/* The configuration-protocol change that turns the running [Interface] and [Peer]s into the new
 * ones: only what differs is set, removed peers carry remove. fwmark is the effective one
 * (netconf_fwmark() applied). 0 or -ENOMEM; free with config_interface_free(). */
int reload_tunnel_change(struct interface_config *change, const struct interface_config *old,
			 const struct interface_config *new) WARN_UNUSED;

/* Applies the change to the device, then the interface's MTU, addresses, routes and policy
 * rules (what netconf_up() set) by difference. 0 or -errno with err filled in. */
int reload_apply_tunnel(struct tunnel *t, struct netconf_state *st,
			const struct interface_config *old, const struct interface_config *new,
			char *err, size_t errlen) WARN_UNUSED;

#endif
