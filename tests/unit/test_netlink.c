/* TUN devices and rtnetlink, run against the real kernel in a private network namespace (root
 * only; otherwise the test reports nothing and passes). ip(8) is used only to cross-check what our
 * own netlink dumps claim. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <linux/rtnetlink.h>
#include <linux/virtio_net.h>
#include "check.h"
#include "netlink.h"
#include "tun.h"

enum { MAX_EVENTS = 1024, WG_TABLE = 51820, OVERRUN_ADDRS = 64, POLL_MS = 2000 };

struct events {
	struct nl_event ev[MAX_EVENTS];
	int n;
	bool overrun;
};

static struct nl nl;
static struct events mon, dump;
static int tun_fd = -1, vnet_fd = -1;
static int pt0, ptv;
static struct in_addr a4, net4, peer4, vnet_net, vnet_dst;
static struct in6_addr a6, net6, peer6;

static void record(void *ctx, const struct nl_event *ev)
{
	struct events *e = ctx;

	if (ev->type == NL_OVERRUN)
		e->overrun = true;
	if (e->n < MAX_EVENTS)
		e->ev[e->n++] = *ev;
}

static bool same_addr(const struct nl_event *ev, int family, const void *addr)
{
	size_t len = family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);

	return ev->family == family && memcmp(&ev->addr, addr, len) == 0;
}

/* Whether e holds an event of this type for ifindex; addr NULL matches any address. */
static bool saw(const struct events *e, enum nl_event_type type, int ifindex, int family,
		const void *addr, int prefixlen)
{
	for (int i = 0; i < e->n; i++) {
		const struct nl_event *ev = &e->ev[i];

		if (ev->type != type || ev->ifindex != ifindex)
			continue;
		if (!addr || (same_addr(ev, family, addr) && ev->prefixlen == prefixlen))
			return true;
	}
	return false;
}

static const struct nl_event *find_link(const struct events *e, int ifindex)
{
	for (int i = 0; i < e->n; i++) {
		if (e->ev[i].type == NL_LINK_NEW && e->ev[i].ifindex == ifindex)
			return &e->ev[i];
	}
	return NULL;
}

static void redump(unsigned int groups)
{
	memset(&dump, 0, sizeof(dump));
	CHECK(nl_dump(&nl, groups, record, &dump) > 0);
}

static void read_monitor(void)
{
	CHECK(nl_monitor_read(&nl, record, &mon) >= 0);
}

/* Whether the output of an ip(8) command contains needle. */
static bool ip_says(const char *cmd, const char *needle)
{
	static char out[65536];
	FILE *p = popen(cmd, "r");
	size_t n;

	if (!p)
		return false;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	return strstr(out, needle) != NULL;
}

/* Reads one packet from a TUN descriptor, waiting a little for it. */
static ssize_t tun_read(int fd, void *buf, size_t len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, POLL_MS) != 1)
		return -1;
	return read(fd, buf, len);
}

static int udp_socket(int family, const void *addr, uint16_t port)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};

	if (fd >= 0 && addr) {
		sin.sin_addr = *(const struct in_addr *)addr;
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static int send_udp4(const struct in_addr *dst, uint16_t port, const char *msg)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = *dst};
	int fd = udp_socket(AF_INET, NULL, 0);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return n == (ssize_t)strlen(msg) ? 0 : -1;
}

static void test_tun_open(void)
{
	char name[IFNAMSIZ] = "pt0";
	int fl;

	CHECK(tun_open(name, 0, &tun_fd) == 0);
	CHECK(strcmp(name, "pt0") == 0);
	CHECK(tun_exists("pt0"));
	CHECK(!tun_exists("lo"));
	CHECK(!tun_exists("nothere0"));
	fl = fcntl(tun_fd, F_GETFL);
	CHECK(fl >= 0 && (fl & O_NONBLOCK));
	CHECK(fcntl(tun_fd, F_GETFD) == FD_CLOEXEC);
	pt0 = (int)if_nametoindex("pt0");
	CHECK(pt0 > 0);
}

static void test_tun_names(void)
{
	char any[IFNAMSIZ] = "", pattern[IFNAMSIZ] = "pt%d", mine[IFNAMSIZ] = "pt0";
	char longname[IFNAMSIZ + 4] = "abcdefghijklmnopqrs";
	int fd1 = -1, fd2 = -1, fd3 = -1;

	CHECK(tun_open(any, 0, &fd1) == 0);
	CHECK(strncmp(any, "tun", 3) == 0);
	CHECK(tun_open(pattern, 0, &fd2) == 0);
	CHECK(strcmp(pattern, "pt1") == 0);
	CHECK(tun_exists("pt1"));
	/* pt0 is busy with a single-queue reader already. */
	CHECK(tun_open(mine, 0, &fd3) == -EBUSY);
	CHECK(tun_open(longname, 0, &fd3) == -ENAMETOOLONG);
	CHECK(tun_open(mine, 1u << 7, &fd3) == -EINVAL);
	close(fd1);
	close(fd2);
	CHECK(!tun_exists("pt1"));
}

static void test_tun_multi_queue(void)
{
	char name[IFNAMSIZ] = "ptmq";
	int q0 = -1, q1 = -1, q2 = -1;

	CHECK(tun_open(name, TUN_MULTI_QUEUE, &q0) == 0);
	CHECK(tun_open_queue("ptmq", 0, &q1) == 0);
	CHECK(q1 >= 0 && q1 != q0);
	CHECK(tun_open_queue("", 0, &q2) == -EINVAL);
	/* pt0 was made single-queue. */
	CHECK(tun_open_queue("pt0", 0, &q2) == -EINVAL);
	close(q1);
	close(q0);
}

static void test_tun_vnet(void)
{
	char name[IFNAMSIZ] = "ptv%d";
	unsigned int offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
	int hdrlen = 0;

	CHECK(tun_open(name, TUN_VNET_HDR, &vnet_fd) == 0);
	CHECK(strcmp(name, "ptv0") == 0);
	CHECK(tun_set_offload(vnet_fd, offloads) == 0);
	CHECK(ioctl(vnet_fd, TUNGETVNETHDRSZ, &hdrlen) == 0 && hdrlen == TUN_VNET_HDR_LEN);
	CHECK(tun_set_offload(vnet_fd, 1u << 31) == -EINVAL);
	CHECK(tun_set_offload(tun_fd, TUN_F_CSUM) == -EINVAL);
	CHECK(tun_set_offload(tun_fd, 0) == 0);
	CHECK(tun_set_offload(-1, TUN_F_CSUM) == -EBADF);
	ptv = (int)if_nametoindex("ptv0");
	CHECK(ptv > 0);
}

static void test_link(void)
{
	const struct nl_event *ev;

	CHECK(nl_link_set_mtu(&nl, pt0, 1420) == 0);
	CHECK(nl_link_set_up(&nl, pt0, true) == 0);
	redump(NL_GROUP_LINK);
	ev = find_link(&dump, pt0);
	CHECK(ev && ev->mtu == 1420 && (ev->flags & IFF_UP) && strcmp(ev->name, "pt0") == 0);
	CHECK(ip_says("ip -j link show dev pt0", "\"mtu\":1420"));
	CHECK(ip_says("ip -j link show dev pt0", "\"UP\""));
	CHECK(nl_link_set_up(&nl, pt0, false) == 0);
	CHECK(!ip_says("ip -j link show dev pt0", "\"UP\""));
	CHECK(nl_link_set_up(&nl, pt0, true) == 0);
	CHECK(nl_link_set_up(&nl, 1, true) == 0); /* lo, for the local sockets below */
}

static void test_addr(void)
{
	CHECK(nl_addr_add(&nl, pt0, AF_INET, &a4, 24) == 0);
	CHECK(nl_addr_add(&nl, pt0, AF_INET, &a4, 24) == -EEXIST);
	CHECK(nl_addr_add(&nl, pt0, AF_INET6, &a6, 64) == 0);
	CHECK(nl_addr_add(&nl, pt0, AF_INET6, &a6, 64) == -EEXIST);
	redump(NL_GROUP_ADDR4 | NL_GROUP_ADDR6);
	CHECK(saw(&dump, NL_ADDR_NEW, pt0, AF_INET, &a4, 24));
	CHECK(saw(&dump, NL_ADDR_NEW, pt0, AF_INET6, &a6, 64));
	CHECK(!saw(&dump, NL_ADDR_NEW, pt0, AF_INET, &a4, 25));
	CHECK(ip_says("ip -j addr show dev pt0", "\"local\":\"10.99.0.1\",\"prefixlen\":24"));
	CHECK(ip_says("ip -j addr show dev pt0", "\"local\":\"fd00:99::1\",\"prefixlen\":64"));
	read_monitor();
	CHECK(saw(&mon, NL_ADDR_NEW, pt0, AF_INET, &a4, 24));
	CHECK(saw(&mon, NL_ADDR_NEW, pt0, AF_INET6, &a6, 64));
}

static void test_route(void)
{
	CHECK(nl_route_add(&nl, pt0, AF_INET, &net4, 16, 0) == 0);
	CHECK(nl_route_add(&nl, pt0, AF_INET, &net4, 16, 0) == -EEXIST);
	CHECK(nl_route_add(&nl, pt0, AF_INET6, &net6, 48, 0) == 0);
	CHECK(nl_route_add(&nl, pt0, AF_INET, &net4, 16, WG_TABLE) == 0);
	redump(NL_GROUP_ROUTE4 | NL_GROUP_ROUTE6);
	CHECK(saw(&dump, NL_ROUTE_NEW, pt0, AF_INET, &net4, 16));
	CHECK(saw(&dump, NL_ROUTE_NEW, pt0, AF_INET6, &net6, 48));
	CHECK(
	    ip_says("ip -j -4 route show table main", "\"dst\":\"10.98.0.0/16\",\"dev\":\"pt0\""));
	CHECK(
	    ip_says("ip -j -6 route show table main", "\"dst\":\"fd00:98::/48\",\"dev\":\"pt0\""));
	CHECK(ip_says("ip -j -4 route show table 51820", "\"dst\":\"10.98.0.0/16\""));
	read_monitor();
	CHECK(saw(&mon, NL_ROUTE_NEW, pt0, AF_INET, &net4, 16));
	CHECK(saw(&mon, NL_ROUTE_NEW, pt0, AF_INET6, &net6, 48));
}

static void test_route_source(void)
{
	struct in6_addr src6 = {0}, nowhere6;
	struct in_addr src4 = {0}, nowhere4;
	int oif = 0;

	CHECK(nl_route_source(&nl, AF_INET, &peer4, 0, &src4, &oif) == 0);
	CHECK(src4.s_addr == a4.s_addr && oif == pt0);
	oif = 0;
	CHECK(nl_route_source(&nl, AF_INET6, &peer6, 0, &src6, &oif) == 0);
	CHECK(memcmp(&src6, &a6, sizeof(a6)) == 0 && oif == pt0);
	inet_pton(AF_INET, "192.0.2.1", &nowhere4);
	inet_pton(AF_INET6, "2001:db8::1", &nowhere6);
	CHECK(nl_route_source(&nl, AF_INET, &nowhere4, 0, &src4, NULL) == -ENETUNREACH);
	CHECK(nl_route_source(&nl, AF_INET6, &nowhere6, 0, &src6, NULL) == -ENETUNREACH);
	CHECK(nl_route_source(&nl, AF_PACKET, &nowhere4, 0, &src4, NULL) == -EAFNOSUPPORT);
}

/* A datagram routed into the TUN comes out of its descriptor as an IP packet. */
static void test_packet_out(void)
{
	_Alignas(struct iphdr) unsigned char buf[2048];
	struct iphdr *ip = (struct iphdr *)buf;
	bool found = false;
	ssize_t n;

	CHECK(send_udp4(&peer4, 9999, "hello tun") == 0);
	/* Skip anything else the kernel sends on a fresh link, such as IPv6 solicitations. */
	for (int i = 0; i < 16 && !found; i++) {
		n = tun_read(tun_fd, buf, sizeof(buf));
		if (n < (ssize_t)sizeof(*ip))
			break;
		found = ip->version == 4 && ip->daddr == peer4.s_addr;
	}
	CHECK(found);
	CHECK(ip->protocol == IPPROTO_UDP && ip->saddr == a4.s_addr);
	CHECK(memcmp(buf + ip->ihl * 4 + sizeof(struct udphdr), "hello tun", 9) == 0);
}

static uint16_t ip_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* An IP packet written into the TUN is delivered to a local socket. */
static void test_packet_in(void)
{
	_Alignas(struct iphdr) unsigned char pkt[64] = {0};
	unsigned char got[64];
	struct iphdr *ip = (struct iphdr *)pkt;
	struct udphdr *udp = (struct udphdr *)(pkt + sizeof(*ip));
	const char msg[] = "from the tunnel";
	struct sockaddr_in from;
	socklen_t fromlen = sizeof(from);
	size_t len = sizeof(*ip) + sizeof(*udp) + sizeof(msg);
	struct pollfd pfd = {.events = POLLIN};

	pfd.fd = udp_socket(AF_INET, &a4, 5000);
	CHECK(pfd.fd >= 0);
	*ip = (struct iphdr){.version = 4,
			     .ihl = 5,
			     .tot_len = htons((uint16_t)len),
			     .ttl = 64,
			     .protocol = IPPROTO_UDP,
			     .saddr = peer4.s_addr,
			     .daddr = a4.s_addr};
	ip->check = ip_checksum(ip, sizeof(*ip));
	*udp = (struct udphdr){.source = htons(4000),
			       .dest = htons(5000),
			       .len = htons((uint16_t)(len - sizeof(*ip)))};
	memcpy(udp + 1, msg, sizeof(msg));
	CHECK(write(tun_fd, pkt, len) == (ssize_t)len);
	CHECK(poll(&pfd, 1, POLL_MS) == 1);
	CHECK(recvfrom(pfd.fd, got, sizeof(got), MSG_DONTWAIT, (struct sockaddr *)&from,
		       &fromlen) == (ssize_t)sizeof(msg));
	CHECK(memcmp(got, msg, sizeof(msg)) == 0);
	CHECK(from.sin_addr.s_addr == peer4.s_addr && from.sin_port == htons(4000));
	close(pfd.fd);
}

/* With offloads on, the kernel leaves the UDP checksum to us and says so in the virtio header. */
static void test_packet_vnet(void)
{
	unsigned char buf[2048];
	struct virtio_net_hdr vh = {0};
	struct iphdr ip = {0};
	bool found = false;
	ssize_t n;

	CHECK(nl_link_set_up(&nl, ptv, true) == 0);
	CHECK(nl_route_add(&nl, ptv, AF_INET, &vnet_net, 16, 0) == 0);
	CHECK(send_udp4(&vnet_dst, 9999, "hello vnet") == 0);
	for (int i = 0; i < 16 && !found; i++) {
		n = tun_read(vnet_fd, buf, sizeof(buf));
		if (n < TUN_VNET_HDR_LEN + (ssize_t)sizeof(ip))
			break;
		memcpy(&vh, buf, sizeof(vh));
		memcpy(&ip, buf + TUN_VNET_HDR_LEN, sizeof(ip));
		found = ip.version == 4 && ip.daddr == vnet_dst.s_addr;
	}
	CHECK(found);
	CHECK(vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK(vh.csum_start == sizeof(ip) && vh.csum_offset == offsetof(struct udphdr, check));
	CHECK(vh.gso_type == VIRTIO_NET_HDR_GSO_NONE);
}

static void check_rules(int family, const char *cmd, bool present)
{
	struct nl_rule fw = {.family = family,
			     .priority = 32000,
			     .fwmark = WG_TABLE,
			     .invert = true,
			     .table = WG_TABLE,
			     .suppress_prefixlen = -1};
	struct nl_rule main_rule = {
	    .family = family, .table = RT_TABLE_MAIN, .suppress_prefixlen = 0};

	if (present) {
		CHECK(nl_rule_add(&nl, &fw) == 0);
		CHECK(nl_rule_add(&nl, &fw) == -EEXIST);
		CHECK(nl_rule_add(&nl, &main_rule) == 0);
	} else {
		CHECK(nl_rule_del(&nl, &fw) == 0);
		CHECK(nl_rule_del(&nl, &fw) == -ENOENT);
		CHECK(nl_rule_del(&nl, &main_rule) == 0);
	}
	CHECK(ip_says(cmd, "32000:\tnot from all fwmark 0xca6c lookup 51820") == present);
	CHECK(ip_says(cmd, "from all lookup main suppress_prefixlength 0") == present);
}

static void test_rules(void)
{
	struct nl_rule bad = {.family = AF_INET, .suppress_prefixlen = 33};

	check_rules(AF_INET, "ip -4 rule show", true);
	check_rules(AF_INET6, "ip -6 rule show", true);
	check_rules(AF_INET, "ip -4 rule show", false);
	check_rules(AF_INET6, "ip -6 rule show", false);
	CHECK(nl_rule_add(&nl, &bad) == -EINVAL);
	bad.family = AF_UNIX;
	CHECK(nl_rule_add(&nl, &bad) == -EAFNOSUPPORT);
}

static void test_errors(void)
{
	struct nl closed;

	CHECK(nl_link_set_mtu(&nl, 9999, 1420) == -ENODEV);
	CHECK(nl_link_set_up(&nl, 9999, true) == -ENODEV);
	CHECK(nl_link_delete(&nl, 9999) == -ENODEV);
	CHECK(nl_addr_add(&nl, 9999, AF_INET, &a4, 24) == -ENODEV);
	CHECK(nl_route_add(&nl, 9999, AF_INET, &net4, 16, 0) == -ENODEV);
	CHECK(nl_link_set_mtu(&nl, pt0, 10) == -EINVAL);
	CHECK(nl_addr_add(&nl, pt0, AF_INET, &a4, 33) == -EINVAL);
	CHECK(nl_addr_add(&nl, pt0, AF_UNIX, &a4, 8) == -EAFNOSUPPORT);
	CHECK(nl_route_add(&nl, pt0, AF_INET6, &net6, 129, 0) == -EINVAL);
	/* Host bits set beyond the prefix. */
	CHECK(nl_route_add(&nl, pt0, AF_INET, &a4, 8, 0) == -EINVAL);
	CHECK(nl_addr_del(&nl, pt0, AF_INET, &peer4, 24) == -EADDRNOTAVAIL);
	CHECK(nl_route_del(&nl, pt0, AF_INET, &peer4, 32, 0) == -ESRCH);
	CHECK(nl_open(&closed) == 0);
	CHECK(nl_monitor_fd(&closed) == -1);
	CHECK(nl_monitor_read(&closed, record, &mon) == -EBADF);
	nl_close(&closed);
	nl_close(&closed);
}

static void test_delete(void)
{
	CHECK(nl_route_del(&nl, pt0, AF_INET, &net4, 16, 0) == 0);
	CHECK(nl_route_del(&nl, pt0, AF_INET6, &net6, 48, 0) == 0);
	CHECK(nl_route_del(&nl, pt0, AF_INET, &net4, 16, WG_TABLE) == 0);
	CHECK(nl_addr_del(&nl, pt0, AF_INET, &a4, 24) == 0);
	CHECK(nl_addr_del(&nl, pt0, AF_INET6, &a6, 64) == 0);
	redump(NL_GROUP_LINK | NL_GROUP_ADDR4 | NL_GROUP_ADDR6 | NL_GROUP_ROUTE4 | NL_GROUP_ROUTE6);
	CHECK(find_link(&dump, pt0) != NULL);
	CHECK(!saw(&dump, NL_ADDR_NEW, pt0, AF_INET, &a4, 24));
	CHECK(!saw(&dump, NL_ADDR_NEW, pt0, AF_INET6, &a6, 64));
	CHECK(!saw(&dump, NL_ROUTE_NEW, pt0, AF_INET, &net4, 16));
	CHECK(!saw(&dump, NL_ROUTE_NEW, pt0, AF_INET6, &net6, 48));
	CHECK(!ip_says("ip -j addr show dev pt0", "10.99.0.1"));
	CHECK(!ip_says("ip -j route show table all", "10.98.0.0"));
	CHECK(!ip_says("ip -j -6 route show", "fd00:98::"));
	read_monitor();
	CHECK(saw(&mon, NL_ADDR_DEL, pt0, AF_INET, &a4, 24));
	CHECK(saw(&mon, NL_ADDR_DEL, pt0, AF_INET6, &a6, 64));
	CHECK(saw(&mon, NL_ROUTE_DEL, pt0, AF_INET, &net4, 16));
}

/* Deleting a link, or closing the last descriptor of a TUN, is seen as NL_LINK_DEL. */
static void test_link_gone(void)
{
	CHECK(nl_link_delete(&nl, pt0) == 0);
	CHECK(!tun_exists("pt0"));
	close(tun_fd);
	close(vnet_fd);
	CHECK(!tun_exists("ptv0"));
	read_monitor();
	CHECK(saw(&mon, NL_LINK_DEL, pt0, 0, NULL, 0));
	CHECK(saw(&mon, NL_LINK_DEL, ptv, 0, NULL, 0));
	CHECK(!mon.overrun);
}

/* A monitor that falls behind is told so, and a dump brings it back in step. */
static void test_overrun(void)
{
	char name[IFNAMSIZ] = "ptov";
	struct events ev = {0};
	struct nl slow;
	struct in_addr addr;
	int fd = -1, ifindex, rcvbuf = 0, count = 0;

	CHECK(tun_open(name, 0, &fd) == 0);
	ifindex = (int)if_nametoindex("ptov");
	CHECK(nl_open(&slow) == 0);
	CHECK(nl_monitor_open(&slow, NL_GROUP_ADDR4) == 0);
	CHECK(nl_monitor_open(&slow, NL_GROUP_ADDR4) == -EALREADY);
	CHECK(setsockopt(nl_monitor_fd(&slow), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) ==
	      0);
	for (uint32_t i = 1; i <= OVERRUN_ADDRS; i++) {
		addr.s_addr = htonl(0x0a5f0000 | i); /* 10.95.0.i */
		CHECK(nl_addr_add(&slow, ifindex, AF_INET, &addr, 32) == 0);
	}
	CHECK(nl_monitor_read(&slow, record, &ev) > 0);
	CHECK(ev.overrun);
	CHECK(ev.n < OVERRUN_ADDRS + 1);
	memset(&ev, 0, sizeof(ev));
	CHECK(nl_dump(&slow, NL_GROUP_ADDR4, record, &ev) > 0);
	for (int i = 0; i < ev.n; i++)
		count += ev.ev[i].ifindex == ifindex;
	CHECK(count == OVERRUN_ADDRS);
	nl_close(&slow);
	close(fd);
}

static void setup_addrs(void)
{
	inet_pton(AF_INET, "10.99.0.1", &a4);
	inet_pton(AF_INET, "10.98.0.0", &net4);
	inet_pton(AF_INET, "10.98.1.2", &peer4);
	inet_pton(AF_INET, "10.97.0.0", &vnet_net);
	inet_pton(AF_INET, "10.97.0.1", &vnet_dst);
	inet_pton(AF_INET6, "fd00:99::1", &a6);
	inet_pton(AF_INET6, "fd00:98::", &net6);
	inet_pton(AF_INET6, "fd00:98::5", &peer6);
}

int main(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "test_netlink: skipped, needs root to make a network namespace\n");
		return check_done("test_netlink");
	}
	setup_addrs();
	if (nl_open(&nl) != 0 || nl_monitor_open(&nl, ~0u) != 0) {
		fprintf(stderr, "test_netlink: cannot open rtnetlink\n");
		return 1;
	}
	RUN(test_tun_open);
	RUN(test_tun_names);
	RUN(test_tun_multi_queue);
	RUN(test_tun_vnet);
	RUN(test_link);
	RUN(test_addr);
	RUN(test_route);
	RUN(test_route_source);
	RUN(test_packet_out);
	RUN(test_packet_in);
	RUN(test_packet_vnet);
	RUN(test_rules);
	RUN(test_errors);
	RUN(test_delete);
	RUN(test_link_gone);
	RUN(test_overrun);
	nl_close(&nl);
	return check_done("test_netlink");
}
