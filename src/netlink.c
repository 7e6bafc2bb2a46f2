#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/rtnetlink.h>
#include "netlink.h"

enum {
	NL_REQ_SIZE = 1024,	 /* the largest request we build is a few attributes */
	NL_RECV_SIZE = 32768,	 /* a dump datagram; larger ones would come truncated */
	NL_MON_RCVBUF = 1 << 20, /* fewer overruns when routes churn */
	TB_MAX = 64,		 /* above every IFLA_, IFA_ and RTA_ type we read */
};

#define NL_BUF(name, size) _Alignas(struct nlmsghdr) char name[size]

/* Passes parsed events on to the caller and counts them. */
struct relay {
	nl_event_fn *cb;
	void *ctx;
	int count;
};

static size_t addr_len(int family)
{
	switch (family) {
	case AF_INET:
		return sizeof(struct in_addr);
	case AF_INET6:
		return sizeof(struct in6_addr);
	default:
		return 0;
	}
}

static int check_prefix(int family, unsigned int prefixlen)
{
	size_t len = addr_len(family);

	if (!len)
		return -EAFNOSUPPORT;
	return prefixlen > len * 8 ? -EINVAL : 0;
}

static ssize_t receive(struct mnl_socket *sock, char *buf, size_t len)
{
	ssize_t n;

	do
		n = mnl_socket_recvfrom(sock, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Sends one request and reads answers until the kernel ends it: with an ACK, NLMSG_DONE, or an
 * error, which becomes the return value. */
static int exchange(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	NL_BUF(buf, NL_RECV_SIZE);
	ssize_t n;
	int ret;

	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = receive(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, nl->portid, cb, data);
	} while (ret == MNL_CB_OK);
	return ret < 0 ? -errno : 0;
}

static int talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	nlh->nlmsg_flags |= NLM_F_ACK;
	return exchange(nl, nlh, cb, data);
}

static void *start(char *buf, uint16_t type, uint16_t flags, size_t hdrlen)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return mnl_nlmsg_put_extra_header(nlh, hdrlen);
}

int nl_open(struct nl *nl)
{
	int one = 1;
	int ret;

	memset(nl, 0, sizeof(*nl));
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	/* Errors need not echo our request back; older kernels lack this, which is harmless. */
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
err:
	mnl_socket_close(nl->sock);
	nl->sock = NULL;
	return ret;
}

void nl_close(struct nl *nl)
{
	if (nl->mon)
		mnl_socket_close(nl->mon);
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->mon = NULL;
	nl->sock = NULL;
}

static struct ifinfomsg *link_msg(char *buf, uint16_t type, int ifindex)
{
	struct ifinfomsg *ifi = start(buf, type, 0, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return ifi;
}

int nl_link_set_mtu(struct nl *nl, int ifindex, unsigned int mtu)
{
	NL_BUF(buf, NL_REQ_SIZE);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;

	link_msg(buf, RTM_NEWLINK, ifindex);
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return talk(nl, nlh, NULL, NULL);
}

int nl_link_set_up(struct nl *nl, int ifindex, bool up)
{
	NL_BUF(buf, NL_REQ_SIZE);
	struct ifinfomsg *ifi = link_msg(buf, RTM_NEWLINK, ifindex);

	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	return talk(nl, (struct nlmsghdr *)buf, NULL, NULL);
}

int nl_link_delete(struct nl *nl, int ifindex)
{
	NL_BUF(buf, NL_REQ_SIZE);

	link_msg(buf, RTM_DELLINK, ifindex);
	return talk(nl, (struct nlmsghdr *)buf, NULL, NULL);
}

static void put_link(struct nlmsghdr *nlh, const char *name, int nsfd)
{
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (nsfd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)nsfd);
}

int nl_veth_add(struct nl *nl, const char *name, int nsfd, const char *peer, int peer_nsfd)
{
	NL_BUF(buf, NL_REQ_SIZE);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct nlattr *info, *data, *end;
	struct ifinfomsg *ifi;

	start(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	put_link(nlh, name, nsfd);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	/* The peer is a whole link message of its own: a header, then its attributes. */
	end = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	put_link(nlh, peer, peer_nsfd);
	mnl_attr_nest_end(nlh, end);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return talk(nl, nlh, NULL, NULL);
}

static int index_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type == RTM_NEWLINK && nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(*ifi)))
		*(int *)data = ifi->ifi_index;
	return MNL_CB_OK;
}

int nl_link_index(struct nl *nl, const char *name)
{
	NL_BUF(buf, NL_REQ_SIZE);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	int ifindex = 0;
	int ret;

	link_msg(buf, RTM_GETLINK, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	ret = talk(nl, nlh, index_cb, &ifindex);
	if (ret)
		return ret;
	return ifindex > 0 ? ifindex : -ENODEV;
}

static int addr_change(struct nl *nl, uint16_t type, uint16_t flags, int ifindex, int family,
		       const void *addr, uint8_t prefixlen)
{
	NL_BUF(buf, NL_REQ_SIZE);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct ifaddrmsg *ifa;
	int ret = check_prefix(family, prefixlen);

	if (ret)
		return ret;
	ifa = start(buf, type, flags, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, addr_len(family), addr);
	mnl_attr_put(nlh, IFA_ADDRESS, addr_len(family), addr);
	return talk(nl, nlh, NULL, NULL);
}

int nl_addr_add(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen)
{
	return addr_change(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, family, addr,
			   prefixlen);
}

int nl_addr_del(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen)
{
	return addr_change(nl, RTM_DELADDR, 0, ifindex, family, addr, prefixlen);
}

/* The header holds 8 bits of table id; the attribute holds all 32 (wg-quick uses 51820). */
static void set_table(struct nlmsghdr *nlh, unsigned char *hdr_table, uint16_t attr, uint32_t table)
{
	if (!table)
		table = RT_TABLE_MAIN;
	*hdr_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, attr, table);
}

/* Deletion leaves protocol, scope and type as wildcards, as ip-route(8) does, so that a route
 * someone else added the same way is found too. */
static int route_change(struct nl *nl, bool add, int ifindex, int family, const void *dst,
			uint8_t prefixlen, uint32_t table)
{
	NL_BUF(buf, NL_REQ_SIZE);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct rtmsg *rtm;
	int ret = check_prefix(family, prefixlen);

	if (ret)
		return ret;
	rtm = start(buf, add ? RTM_NEWROUTE : RTM_DELROUTE, add ? NLM_F_CREATE | NLM_F_EXCL : 0,
		    sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = prefixlen;
	rtm->rtm_protocol = add ? RTPROT_STATIC : RTPROT_UNSPEC;
	rtm->rtm_scope = add ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
	rtm->rtm_type = add ? RTN_UNICAST : RTN_UNSPEC;
	set_table(nlh, &rtm->rtm_table, RTA_TABLE, table);
	mnl_attr_put(nlh, RTA_DST, addr_len(family), dst);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return talk(nl, nlh, NULL, NULL);
}

int nl_route_add(struct nl *nl, int ifindex, int family, const void *dst, uint8_t prefixlen,
		 uint32_t table)
{
	return route_change(nl, true, ifindex, family, dst, prefixlen, table);
}

int nl_route_del(struct nl *nl, int ifindex, int family, const void *dst, uint8_t prefixlen,
		 uint32_t table)
{
	return route_change(nl, false, ifindex, family, dst, prefixlen, table);
}

static int rule_change(struct nl *nl, uint16_t type, uint16_t flags, const struct nl_rule *rule)
{
	NL_BUF(buf, NL_REQ_SIZE);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct fib_rule_hdr *frh;
	int ret = check_prefix(rule->family, (unsigned int)MAX(rule->suppress_prefixlen, 0));

	if (ret)
		return ret;
	frh = start(buf, type, flags, sizeof(*frh));
	frh->family = (uint8_t)rule->family;
	frh->action = FR_ACT_TO_TBL;
	frh->flags = rule->invert ? FIB_RULE_INVERT : 0;
	set_table(nlh, &frh->table, FRA_TABLE, rule->table);
	if (rule->priority)
		mnl_attr_put_u32(nlh, FRA_PRIORITY, rule->priority);
	if (rule->fwmark)
		mnl_attr_put_u32(nlh, FRA_FWMARK, rule->fwmark);
	if (rule->suppress_prefixlen >= 0)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, (uint32_t)rule->suppress_prefixlen);
	return talk(nl, nlh, NULL, NULL);
}

int nl_rule_add(struct nl *nl, const struct nl_rule *rule)
{
	return rule_change(nl, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rule);
}

int nl_rule_del(struct nl *nl, const struct nl_rule *rule)
{
	return rule_change(nl, RTM_DELRULE, 0, rule);
}

static int collect(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type < TB_MAX)
		tb[type] = attr;
	return MNL_CB_OK;
}

static bool attrs(const struct nlmsghdr *nlh, size_t hdrlen, const struct nlattr **tb)
{
	memset(tb, 0, TB_MAX * sizeof(*tb));
	if (nlh->nlmsg_len < mnl_nlmsg_size(hdrlen))
		return false;
	return mnl_attr_parse(nlh, (unsigned int)hdrlen, collect, tb) >= 0;
}

/* Attribute readers that refuse short payloads instead of reading past them. */
static void get_u32(const struct nlattr *attr, uint32_t *out)
{
	if (attr && mnl_attr_get_payload_len(attr) >= sizeof(*out))
		*out = mnl_attr_get_u32(attr);
}

static bool get_addr(const struct nlattr *attr, int family, void *out)
{
	size_t len = addr_len(family);

	if (!attr || !len || mnl_attr_get_payload_len(attr) != len)
		return false;
	memcpy(out, mnl_attr_get_payload(attr), len);
	return true;
}

static void get_name(const struct nlattr *attr, char out[IFNAMSIZ])
{
	size_t len;

	if (!attr)
		return;
	len = strnlen(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
	len = MIN(len, IFNAMSIZ - 1);
	memcpy(out, mnl_attr_get_payload(attr), len);
	out[len] = '\0';
}

static bool parse_link(const struct nlmsghdr *nlh, struct nl_event *ev)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[TB_MAX];

	if (!attrs(nlh, sizeof(*ifi), tb))
		return false;
	ev->ifindex = ifi->ifi_index;
	ev->family = ifi->ifi_family;
	ev->flags = ifi->ifi_flags;
	get_u32(tb[IFLA_MTU], &ev->mtu);
	get_name(tb[IFLA_IFNAME], ev->name);
	return true;
}

static bool parse_addr(const struct nlmsghdr *nlh, struct nl_event *ev)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[TB_MAX];

	if (!attrs(nlh, sizeof(*ifa), tb) || !addr_len(ifa->ifa_family))
		return false;
	ev->ifindex = (int)ifa->ifa_index;
	ev->family = ifa->ifa_family;
	ev->prefixlen = ifa->ifa_prefixlen;
	ev->flags = ifa->ifa_flags;
	get_u32(tb[IFA_FLAGS], &ev->flags);
	/* IFA_ADDRESS is the peer on point-to-point links; IFA_LOCAL, when present, is ours. */
	get_addr(tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], ev->family, &ev->addr);
	return true;
}

static bool parse_route(const struct nlmsghdr *nlh, struct nl_event *ev)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[TB_MAX];
	uint32_t oif = 0;

	if (!attrs(nlh, sizeof(*rtm), tb) || !addr_len(rtm->rtm_family))
		return false;
	ev->family = rtm->rtm_family;
	ev->prefixlen = rtm->rtm_dst_len;
	ev->flags = rtm->rtm_flags;
	ev->table = rtm->rtm_table;
	get_u32(tb[RTA_TABLE], &ev->table);
	get_u32(tb[RTA_OIF], &oif);
	ev->ifindex = (int)oif;
	get_addr(tb[RTA_DST], ev->family, &ev->addr);
	return true;
}

static bool parse(const struct nlmsghdr *nlh, struct nl_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		ev->type = nlh->nlmsg_type == RTM_NEWLINK ? NL_LINK_NEW : NL_LINK_DEL;
		return parse_link(nlh, ev);
	case RTM_NEWADDR:
	case RTM_DELADDR:
		ev->type = nlh->nlmsg_type == RTM_NEWADDR ? NL_ADDR_NEW : NL_ADDR_DEL;
		return parse_addr(nlh, ev);
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		ev->type = nlh->nlmsg_type == RTM_NEWROUTE ? NL_ROUTE_NEW : NL_ROUTE_DEL;
		return parse_route(nlh, ev);
	default:
		return false;
	}
}

static int relay_cb(const struct nlmsghdr *nlh, void *data)
{
	struct relay *r = data;
	struct nl_event ev;

	if (parse(nlh, &ev)) {
		r->cb(r->ctx, &ev);
		r->count++;
	}
	return MNL_CB_OK;
}

struct source {
	void *src;
	int family;
	bool found;
	uint32_t oif;
};

static int source_cb(const struct nlmsghdr *nlh, void *data)
{
	struct source *s = data;
	const struct nlattr *tb[TB_MAX];

	if (nlh->nlmsg_type != RTM_NEWROUTE || !attrs(nlh, sizeof(struct rtmsg), tb))
		return MNL_CB_OK;
	if (get_addr(tb[RTA_PREFSRC], s->family, s->src))
		s->found = true;
	get_u32(tb[RTA_OIF], &s->oif);
	return MNL_CB_OK;
}

int nl_route_source(struct nl *nl, int family, const void *dst, uint32_t mark, void *src, int *oif)
{
	NL_BUF(buf, NL_REQ_SIZE);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct source s = {.src = src, .family = family};
	struct rtmsg *rtm;
	int ret;

	if (!addr_len(family))
		return -EAFNOSUPPORT;
	rtm = start(buf, RTM_GETROUTE, 0, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = (unsigned char)(addr_len(family) * 8);
	mnl_attr_put(nlh, RTA_DST, addr_len(family), dst);
	if (mark)
		mnl_attr_put_u32(nlh, RTA_MARK, mark);
	ret = talk(nl, nlh, source_cb, &s);
	if (ret)
		return ret;
	if (!s.found)
		return -EADDRNOTAVAIL;
	if (oif)
		*oif = (int)s.oif;
	return 0;
}

static int join(struct mnl_socket *mon, int group)
{
	return mnl_socket_setsockopt(mon, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) ? -errno
											 : 0;
}

int nl_monitor_open(struct nl *nl, unsigned int groups)
{
	static const struct {
		unsigned int mask;
		int group;
	} map[] = {
	    {NL_GROUP_LINK, RTNLGRP_LINK},	   {NL_GROUP_ADDR4, RTNLGRP_IPV4_IFADDR},
	    {NL_GROUP_ADDR6, RTNLGRP_IPV6_IFADDR}, {NL_GROUP_ROUTE4, RTNLGRP_IPV4_ROUTE},
	    {NL_GROUP_ROUTE6, RTNLGRP_IPV6_ROUTE},
	};
	struct mnl_socket *mon;
	int rcvbuf = NL_MON_RCVBUF;
	int ret = 0;
	size_t i;

	if (nl->mon)
		return -EALREADY;
	mon = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!mon)
		return -errno;
	/* Bind first: binding sets the first 32 groups to its (empty) mask. */
	if (mnl_socket_bind(mon, 0, MNL_SOCKET_AUTOPID) < 0)
		ret = -errno;
	for (i = 0; i < ARRAY_SIZE(map) && !ret; i++) {
		if (groups & map[i].mask)
			ret = join(mon, map[i].group);
	}
	if (ret)
		goto err;
	/* Best effort: a small buffer only means earlier NL_OVERRUN events. */
	setsockopt(mnl_socket_get_fd(mon), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	nl->mon = mon;
	return 0;
err:
	mnl_socket_close(mon);
	return ret;
}

int nl_monitor_fd(const struct nl *nl)
{
	return nl->mon ? mnl_socket_get_fd(nl->mon) : -1;
}

static void overrun(struct relay *r)
{
	struct nl_event ev = {.type = NL_OVERRUN};

	r->cb(r->ctx, &ev);
	r->count++;
}

int nl_monitor_read(struct nl *nl, nl_event_fn *cb, void *ctx)
{
	NL_BUF(buf, NL_RECV_SIZE);
	struct relay r = {.cb = cb, .ctx = ctx};
	ssize_t n;

	if (!nl->mon)
		return -EBADF;
	for (;;) {
		n = receive(nl->mon, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return r.count;
		if (n < 0 && errno == ENOBUFS)
			overrun(&r);
		else if (n < 0)
			return -errno;
		else if (mnl_cb_run(buf, (size_t)n, 0, 0, relay_cb, &r) < 0)
			return -errno;
	}
}

static int dump_one(struct nl *nl, uint16_t type, int family, size_t hdrlen, struct relay *r)
{
	NL_BUF(buf, NL_REQ_SIZE);
	/* Every rtnetlink header starts with its family byte. */
	unsigned char *hdr = start(buf, type, NLM_F_DUMP, hdrlen);

	hdr[0] = (unsigned char)family;
	return exchange(nl, (struct nlmsghdr *)buf, relay_cb, r);
}

int nl_dump(struct nl *nl, unsigned int groups, nl_event_fn *cb, void *ctx)
{
	static const struct {
		unsigned int mask;
		uint16_t type;
		int family;
		size_t hdrlen;
	} kinds[] = {
	    {NL_GROUP_LINK, RTM_GETLINK, AF_UNSPEC, sizeof(struct ifinfomsg)},
	    {NL_GROUP_ADDR4, RTM_GETADDR, AF_INET, sizeof(struct ifaddrmsg)},
	    {NL_GROUP_ADDR6, RTM_GETADDR, AF_INET6, sizeof(struct ifaddrmsg)},
	    {NL_GROUP_ROUTE4, RTM_GETROUTE, AF_INET, sizeof(struct rtmsg)},
	    {NL_GROUP_ROUTE6, RTM_GETROUTE, AF_INET6, sizeof(struct rtmsg)},
	};
	struct relay r = {.cb = cb, .ctx = ctx};
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (!(groups & kinds[i].mask))
			continue;
		ret = dump_one(nl, kinds[i].type, kinds[i].family, kinds[i].hdrlen, &r);
		if (ret)
			return ret;
	}
	return r.count;
}
