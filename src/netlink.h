/* rtnetlink through libmnl: the daemon configures its interface (MTU, up, addresses, routes,
 * wg-quick-style policy rules) and watches link, address and route changes. porthole never runs
 * ip(8); everything it changes in the kernel goes through here.
 *
 * Requests go one at a time, each acknowledged: an operation returns 0 or the negative errno the
 * kernel put in its NLMSG_ERROR (-EEXIST when an address, route or rule is already there, -ESRCH
 * or -EADDRNOTAVAIL when deleting one that is not, -ENODEV for a bad ifindex). Not thread-safe: one
 * struct nl per thread. */
#ifndef PORTHOLE_NETLINK_H
#define PORTHOLE_NETLINK_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include <netinet/in.h>
#include "compat.h"

struct mnl_socket;

struct nl {
	struct mnl_socket *sock; /* requests, answered by ACKs */
	struct mnl_socket *mon;	 /* multicast events, non-blocking; NULL until nl_monitor_open() */
	uint32_t seq;
	uint32_t portid;
};

int nl_open(struct nl *nl) WARN_UNUSED;
void nl_close(struct nl *nl);

int nl_link_set_mtu(struct nl *nl, int ifindex, unsigned int mtu);
int nl_link_set_up(struct nl *nl, int ifindex, bool up);
int nl_link_delete(struct nl *nl, int ifindex);
/* A veth pair: name in the namespace open at nsfd, its peer in peer_nsfd (-1: the socket's own
 * namespace for either), both down and without addresses. */
int nl_veth_add(struct nl *nl, const char *name, int nsfd, const char *peer, int peer_nsfd);
/* The index of the link called name, or -ENODEV. */
int nl_link_index(struct nl *nl, const char *name);

/* family is AF_INET or AF_INET6 and addr points at a struct in_addr or in6_addr. No IPv4 broadcast
 * is set: porthole's links are point-to-point. */
int nl_addr_add(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen);
int nl_addr_del(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen);

/* A route to dst/prefixlen out of ifindex, no gateway; table 0 means main. */
int nl_route_add(struct nl *nl, int ifindex, int family, const void *dst, uint8_t prefixlen,
		 uint32_t table);
int nl_route_del(struct nl *nl, int ifindex, int family, const void *dst, uint8_t prefixlen,
		 uint32_t table);

/* The local address and interface the kernel would use to reach dst from a socket carrying mark
 * (0 for none), so that a roaming endpoint can be answered from the new address at once. src gets
 * an in_addr or in6_addr; oif may be NULL. -ENETUNREACH when there is no route. */
int nl_route_source(struct nl *nl, int family, const void *dst, uint32_t mark, void *src, int *oif);

/* A policy rule, for wg-quick-style default routes:
 *	not fwmark M lookup T		{ .fwmark = M, .invert = true, .table = T }
 *	lookup main suppress_prefixlength 0	{ .table = RT_TABLE_MAIN, .suppress_prefixlen = 0 }
 * Unset fields are zero, except suppress_prefixlen, which is -1 when unused. Without a priority
 * the kernel picks a fresh one each time, so adding a rule twice adds it twice; with one, the
 *second add is -EEXIST. */
struct nl_rule {
	int family;
	uint32_t priority; /* 0: the kernel chooses */
	uint32_t fwmark;   /* 0: match every packet */
	bool invert;
	uint32_t table; /* 0: main */
	int suppress_prefixlen;
};

int nl_rule_add(struct nl *nl, const struct nl_rule *rule);
int nl_rule_del(struct nl *nl, const struct nl_rule *rule);

/* Monitoring. NL_OVERRUN means the kernel dropped events (ENOBUFS): state is unknown and the caller
 * must resynchronise with nl_dump(). */
enum nl_event_type {
	NL_LINK_NEW,
	NL_LINK_DEL,
	NL_ADDR_NEW,
	NL_ADDR_DEL,
	NL_ROUTE_NEW,
	NL_ROUTE_DEL,
	NL_OVERRUN,
};

struct nl_event {
	enum nl_event_type type;
	int ifindex; /* for routes, the output interface (0 when there is none) */
	int family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr; /* address, or route destination */
	uint8_t prefixlen;
	unsigned int flags;  /* IFF_* for links, IFA_F_* for addresses, RTM_F_* for routes */
	uint32_t table;	     /* routes only */
	unsigned int mtu;    /* links only */
	char name[IFNAMSIZ]; /* links only */
};

enum nl_group {
	NL_GROUP_LINK = 1 << 0,
	NL_GROUP_ADDR4 = 1 << 1,
	NL_GROUP_ADDR6 = 1 << 2,
	NL_GROUP_ROUTE4 = 1 << 3,
	NL_GROUP_ROUTE6 = 1 << 4,
};

typedef void nl_event_fn(void *ctx, const struct nl_event *ev);

/* groups is a mask of enum nl_group. */
int nl_monitor_open(struct nl *nl, unsigned int groups) WARN_UNUSED;
/* For poll(): readable when nl_monitor_read() has events to deliver. */
int nl_monitor_fd(const struct nl *nl);
/* Delivers every event queued now, without blocking; returns how many or -errno. */
int nl_monitor_read(struct nl *nl, nl_event_fn *cb, void *ctx);
/* Delivers the current links, addresses and routes selected by groups as *_NEW events; returns
 * how many or -errno. */
int nl_dump(struct nl *nl, unsigned int groups, nl_event_fn *cb, void *ctx);

#endif
