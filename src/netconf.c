#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "netconf.h"

static bool routes_default(const struct interface_config *cfg, int family)
{
	for (size_t p = 0; p < cfg->npeers; p++) {
		const struct ip_list *l = &cfg->peers[p].allowed_ips;

		for (size_t i = 0; i < l->len; i++) {
			if (l->items[i].family == family && l->items[i].cidr == 0)
				return true;
		}
	}
	return false;
}

uint32_t netconf_fwmark(const struct interface_config *cfg)
{
	if (!routes_default(cfg, AF_INET) && !routes_default(cfg, AF_INET6))
		return 0;
	return cfg->has_fwmark && cfg->fwmark ? cfg->fwmark : NETCONF_DEFAULT_TABLE;
}

static int add_addresses(struct nl *nl, int ifindex, const struct interface_config *cfg)
{
	for (size_t i = 0; i < cfg->addresses.len; i++) {
		const struct allowed_ip *a = &cfg->addresses.items[i];
		int ret = nl_addr_add(nl, ifindex, a->family, &a->addr, a->cidr);

		if (ret < 0 && ret != -EEXIST)
			return ret;
	}
	return 0;
}

/* A /0 goes into its own table, reached by the rules; every other prefix into main. */
static int add_routes(struct nl *nl, int ifindex, const struct interface_config *cfg,
		      uint32_t table)
{
	for (size_t p = 0; p < cfg->npeers; p++) {
		const struct ip_list *l = &cfg->peers[p].allowed_ips;

		for (size_t i = 0; i < l->len; i++) {
			const struct allowed_ip *a = &l->items[i];
			int ret = nl_route_add(nl, ifindex, a->family, &a->addr, a->cidr,
					       a->cidr ? 0 : table);

			if (ret < 0 && ret != -EEXIST)
				return ret;
		}
	}
	return 0;
}

/* wg-quick's pair: packets without our mark use the tunnel's table, and the main table is
 * consulted first for everything but its own default route. */
static int add_rules(struct nl *nl, int family, uint32_t table)
{
	struct nl_rule not_marked = { .family = family, .fwmark = table, .invert = true,
				      .table = table, .suppress_prefixlen = -1 };
	struct nl_rule main_first = { .family = family, .table = 254, .suppress_prefixlen = 0 };
	int ret = nl_rule_add(nl, &not_marked);

	return ret < 0 ? ret : nl_rule_add(nl, &main_first);
}

static void del_rules(struct nl *nl, int family, uint32_t table)
{
	struct nl_rule not_marked = { .family = family, .fwmark = table, .invert = true,
				      .table = table, .suppress_prefixlen = -1 };
	struct nl_rule main_first = { .family = family, .table = 254, .suppress_prefixlen = 0 };

	nl_rule_del(nl, &not_marked);
	nl_rule_del(nl, &main_first);
}

int netconf_up(struct nl *nl, int ifindex, const struct interface_config *cfg,
	       struct netconf_state *st, const char **what)
{
	int ret;

	memset(st, 0, sizeof(*st));
	st->table = netconf_fwmark(cfg);
	*what = "setting the MTU";
	ret = nl_link_set_mtu(nl, ifindex, cfg->mtu);
	if (ret < 0)
		return ret;
	*what = "adding an address";
	ret = add_addresses(nl, ifindex, cfg);
	if (ret < 0)
		return ret;
	*what = "bringing the link up";
	ret = nl_link_set_up(nl, ifindex, true);
	if (ret < 0)
		return ret;
	*what = "adding a route";
	ret = add_routes(nl, ifindex, cfg, st->table);
	if (ret < 0)
		return ret;
	*what = "adding a routing rule";
	if (routes_default(cfg, AF_INET)) {
		ret = add_rules(nl, AF_INET, st->table);
		st->rules4 = true;
	}
	if (!ret && routes_default(cfg, AF_INET6)) {
		ret = add_rules(nl, AF_INET6, st->table);
		st->rules6 = true;
	}
	return ret;
}

void netconf_down(struct nl *nl, struct netconf_state *st)
{
	if (st->rules4)
		del_rules(nl, AF_INET, st->table);
	if (st->rules6)
		del_rules(nl, AF_INET6, st->table);
	memset(st, 0, sizeof(*st));
}

/* ---- reload ---- */

static bool same_prefix(const struct allowed_ip *a, const struct allowed_ip *b)
{
	return a->family == b->family && a->cidr == b->cidr &&
	       !memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16);
}

static bool in_list(const struct ip_list *l, const struct allowed_ip *ip)
{
	for (size_t i = 0; i < l->len; i++) {
		if (same_prefix(&l->items[i], ip))
			return true;
	}
	return false;
}

static bool routed(const struct interface_config *cfg, const struct allowed_ip *ip)
{
	for (size_t p = 0; p < cfg->npeers; p++) {
		if (in_list(&cfg->peers[p].allowed_ips, ip))
			return true;
	}
	return false;
}

/* Addresses in old but not in new go (del set), or in new but not in old come (add set). */
static int sync_addresses(struct nl *nl, int ifindex, const struct ip_list *from,
			  const struct ip_list *to, bool add)
{
	for (size_t i = 0; i < from->len; i++) {
		const struct allowed_ip *a = &from->items[i];
		int ret;

		if (in_list(to, a))
			continue;
		ret = add ? nl_addr_add(nl, ifindex, a->family, &a->addr, a->cidr)
			  : nl_addr_del(nl, ifindex, a->family, &a->addr, a->cidr);
		if (ret < 0 && ret != (add ? -EEXIST : -EADDRNOTAVAIL))
			return ret;
	}
	return 0;
}

/* A /0 whose table changed counts as changed, so it moves to the new table. */
static int sync_routes(struct nl *nl, int ifindex, const struct interface_config *from,
		       uint32_t from_table, const struct interface_config *to, uint32_t to_table,
		       bool add)
{
	for (size_t p = 0; p < from->npeers; p++) {
		const struct ip_list *l = &from->peers[p].allowed_ips;

		for (size_t i = 0; i < l->len; i++) {
			const struct allowed_ip *a = &l->items[i];
			uint32_t table = a->cidr ? 0 : from_table;
			int ret;

			if (routed(to, a) && (a->cidr || from_table == to_table))
				continue;
			ret = add ? nl_route_add(nl, ifindex, a->family, &a->addr, a->cidr, table)
				  : nl_route_del(nl, ifindex, a->family, &a->addr, a->cidr, table);
			if (ret < 0 && ret != (add ? -EEXIST : -ESRCH))
				return ret;
		}
	}
	return 0;
}

static int sync_rules(struct nl *nl, const struct interface_config *new, struct netconf_state *st)
{
	uint32_t table = netconf_fwmark(new);
	bool want4 = routes_default(new, AF_INET), want6 = routes_default(new, AF_INET6);
	int ret = 0;

	if (st->rules4 && (!want4 || table != st->table)) {
		del_rules(nl, AF_INET, st->table);
		st->rules4 = false;
	}
	if (st->rules6 && (!want6 || table != st->table)) {
		del_rules(nl, AF_INET6, st->table);
		st->rules6 = false;
	}
	st->table = table;
	if (want4 && !st->rules4) {
		ret = add_rules(nl, AF_INET, table);
		st->rules4 = true;
	}
	if (!ret && want6 && !st->rules6) {
		ret = add_rules(nl, AF_INET6, table);
		st->rules6 = true;
	}
	return ret;
}

int netconf_reload(struct nl *nl, int ifindex, const struct interface_config *old,
		   const struct interface_config *new, struct netconf_state *st, const char **what)
{
	uint32_t old_table = st->table, new_table = netconf_fwmark(new);
	int ret = 0;

	*what = "setting the MTU";
	if (old->mtu != new->mtu)
		ret = nl_link_set_mtu(nl, ifindex, new->mtu);
	*what = "adding an address";
	if (!ret)
		ret = sync_addresses(nl, ifindex, &new->addresses, &old->addresses, true);
	*what = "adding a route";
	if (!ret)
		ret = sync_routes(nl, ifindex, new, new_table, old, old_table, true);
	*what = "changing the routing rules";
	if (!ret)
		ret = sync_rules(nl, new, st);
	*what = "removing a route";
	if (!ret)
		ret = sync_routes(nl, ifindex, old, old_table, new, new_table, false);
	*what = "removing an address";
	if (!ret)
		ret = sync_addresses(nl, ifindex, &old->addresses, &new->addresses, false);
	return ret;
}
