/* What wg-quick does with `ip` after the interface exists, done through netlink: MTU,
 * addresses, link up, a route per allowed IP, and for a default route (/0) the fwmark policy
 * rules that keep the tunnel's own datagrams out of the tunnel. */
#ifndef PORTHOLE_NETCONF_H
#define PORTHOLE_NETCONF_H

#include <stdbool.h>
#include "compat.h"
#include "config.h"
#include "netlink.h"

enum { NETCONF_DEFAULT_TABLE = 51820 };

/* What netconf_up() changed beyond the interface itself, so netconf_down() can undo it. */
struct netconf_state {
	bool rules4, rules6;
	uint32_t table;
};

/* The fwmark the device's sockets need when a peer routes a /0 (0 when none does). */
uint32_t netconf_fwmark(const struct interface_config *cfg);
/* 0 or -errno; *what names the step that failed. */
int netconf_up(struct nl *nl, int ifindex, const struct interface_config *cfg,
	       struct netconf_state *st, const char **what) WARN_UNUSED;
void netconf_down(struct nl *nl, struct netconf_state *st);
/* A reload: changes what netconf_up(old) set into what netconf_up(new) would, by difference, so
 * that unchanged addresses and routes are never absent. 0 or -errno; *what names the step. */
int netconf_reload(struct nl *nl, int ifindex, const struct interface_config *old,
		   const struct interface_config *new, struct netconf_state *st,
		   const char **what) WARN_UNUSED;

#endif
