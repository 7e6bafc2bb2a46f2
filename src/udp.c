/* UDP sockets for the tunnel: dual-family binding, pktinfo-sticky sources, mmsg batches. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/udp.h>
#include "log.h"
#include "udp.h"

static_assert(CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)) <= UDP_CMSG_LEN,
	      "cmsg room for pktinfo plus UDP_SEGMENT or UDP_GRO");

/* Largest UDP payload in one IPv4 datagram: the bound for a UDP_SEGMENT super-datagram. */
#define UDP_GSO_MAX_BYTES (65535 - 20 - 8)

/* ---- endpoints ---- */

static bool sa_eq(const struct endpoint *a, const struct endpoint *b)
{
	if (a->addr.sa.sa_family != b->addr.sa.sa_family)
		return false;
	if (a->addr.sa.sa_family == AF_INET)
		return a->addr.in4.sin_port == b->addr.in4.sin_port &&
		       a->addr.in4.sin_addr.s_addr == b->addr.in4.sin_addr.s_addr;
	if (a->addr.sa.sa_family == AF_INET6)
		return a->addr.in6.sin6_port == b->addr.in6.sin6_port &&
		       a->addr.in6.sin6_scope_id == b->addr.in6.sin6_scope_id &&
		       IN6_ARE_ADDR_EQUAL(&a->addr.in6.sin6_addr, &b->addr.in6.sin6_addr);
	return true;
}

bool endpoint_eq(const struct endpoint *a, const struct endpoint *b)
{
	if (!sa_eq(a, b))
		return false;
	if (a->addr.sa.sa_family == AF_INET)
		return a->src4.s_addr == b->src4.s_addr;
	return IN6_ARE_ADDR_EQUAL(&a->src6, &b->src6);
}

const char *endpoint_to_string(const struct endpoint *ep, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (ep->addr.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &ep->addr.in4.sin_addr, addr, sizeof(addr));
		snprintf(buf, len, "%s:%u", addr, ntohs(ep->addr.in4.sin_port));
	} else if (ep->addr.sa.sa_family == AF_INET6 && ep->addr.in6.sin6_scope_id) {
		inet_ntop(AF_INET6, &ep->addr.in6.sin6_addr, addr, sizeof(addr));
		snprintf(buf, len, "[%s%%%u]:%u", addr, ep->addr.in6.sin6_scope_id,
			 ntohs(ep->addr.in6.sin6_port));
	} else if (ep->addr.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &ep->addr.in6.sin6_addr, addr, sizeof(addr));
		snprintf(buf, len, "[%s]:%u", addr, ntohs(ep->addr.in6.sin6_port));
	} else {
		snprintf(buf, len, "(none)");
	}
	return buf;
}

void endpoint_clear_src(struct endpoint *ep)
{
	memset(&ep->src6, 0, sizeof(ep->src6));
	ep->src_ifindex = 0;
}

bool endpoint_has_src(const struct endpoint *ep)
{
	if (ep->addr.sa.sa_family == AF_INET)
		return ep->src4.s_addr != htonl(INADDR_ANY);
	return ep->addr.sa.sa_family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(&ep->src6);
}

int endpoint_set(struct endpoint *ep, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;

	memset(ep, 0, sizeof(*ep));
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(&ep->addr.in4, addr, sizeof(ep->addr.in4));
	} else if (addr->sa_family == AF_INET6 && len >= sizeof(*in6) &&
		   IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		ep->addr.in4.sin_family = AF_INET;
		ep->addr.in4.sin_port = in6->sin6_port;
		memcpy(&ep->addr.in4.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	} else if (addr->sa_family == AF_INET6 && len >= sizeof(*in6)) {
		memcpy(&ep->addr.in6, addr, sizeof(ep->addr.in6));
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

/* ---- sockets ---- */

static int setopt(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val)) < 0 ? -errno : 0;
}

/* Large buffers absorb bursts between loop wakeups; FORCE needs CAP_NET_ADMIN, so fall back to
 * what net.core.[rw]mem_max allows. */
static void grow_buffers(int fd)
{
	if (setopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, UDP_SOCK_BUF))
		(void)setopt(fd, SOL_SOCKET, SO_RCVBUF, UDP_SOCK_BUF);
	if (setopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, UDP_SOCK_BUF))
		(void)setopt(fd, SOL_SOCKET, SO_SNDBUF, UDP_SOCK_BUF);
}

static int configure(int fd, int family, uint32_t fwmark)
{
	int ret;

	if (family == AF_INET6) {
		ret = setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
		if (!ret)
			ret = setopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	} else {
		ret = setopt(fd, IPPROTO_IP, IP_PKTINFO, 1);
	}
	if (!ret && fwmark)
		ret = setopt(fd, SOL_SOCKET, SO_MARK, (int)fwmark);
	grow_buffers(fd);
	return ret;
}

/* Returns the bound fd, its port in *bound, or a negative errno. */
static int bind_one(int family, uint16_t port, uint32_t fwmark, uint16_t *bound)
{
	struct endpoint any = {0};
	socklen_t len = family == AF_INET ? sizeof(any.addr.in4) : sizeof(any.addr.in6);
	int fd, ret;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	ret = configure(fd, family, fwmark);
	if (ret)
		goto err;
	/* The port sits at the same offset in both families' sockaddrs. */
	any.addr.sa.sa_family = (sa_family_t)family;
	any.addr.in4.sin_port = htons(port);
	if (bind(fd, &any.addr.sa, len) < 0 || getsockname(fd, &any.addr.sa, &len) < 0) {
		ret = -errno;
		goto err;
	}
	*bound = ntohs(any.addr.in4.sin_port);
	return fd;
err:
	close(fd);
	return ret;
}

/* The host lacks this family (no IPv6 stack, say): carry on with the other one. */
static bool missing(int err)
{
	return err == -EAFNOSUPPORT || err == -EPROTONOSUPPORT || err == -EADDRNOTAVAIL;
}

static int bind_pair(struct udp_socks *s, uint16_t port, uint32_t fwmark)
{
	uint16_t bound = port;
	int fd4, fd6;

	s->fd4 = s->fd6 = -1;
	fd4 = bind_one(AF_INET, port, fwmark, &bound);
	if (fd4 < 0 && !missing(fd4))
		return fd4;
	/* With port 0 the IPv4 socket picked the port; IPv6 must take the same one. */
	fd6 = bind_one(AF_INET6, bound, fwmark, &bound);
	if (fd6 < 0 && (!missing(fd6) || fd4 < 0)) {
		if (fd4 >= 0)
			close(fd4);
		return fd6;
	}
	s->fd4 = MAX(fd4, -1);
	s->fd6 = MAX(fd6, -1);
	s->port = bound;
	return 0;
}

int udp_open(struct udp_socks *s, uint16_t port, uint32_t fwmark)
{
	int ret;

	s->gso = s->gro = false;
	s->port = 0;
	/* A kernel-chosen IPv4 port may be taken in IPv6: try again, as wireguard-go does. */
	for (int i = 0; i < UDP_BIND_RETRIES; i++) {
		ret = bind_pair(s, port, fwmark);
		if (ret != -EADDRINUSE || port)
			break;
	}
	return ret;
}

void udp_close(struct udp_socks *s)
{
	if (s->fd4 >= 0)
		close(s->fd4);
	if (s->fd6 >= 0)
		close(s->fd6);
	s->fd4 = s->fd6 = -1;
	s->port = 0;
}

int udp_set_fwmark(struct udp_socks *s, uint32_t fwmark)
{
	int ret = 0;

	if (s->fd4 >= 0)
		ret = setopt(s->fd4, SOL_SOCKET, SO_MARK, (int)fwmark);
	if (!ret && s->fd6 >= 0)
		ret = setopt(s->fd6, SOL_SOCKET, SO_MARK, (int)fwmark);
	return ret;
}

int udp_rebind(struct udp_socks *s, uint16_t port, uint32_t fwmark)
{
	struct udp_socks fresh;
	int ret;

	if (port && port == s->port)
		return 0;
	ret = udp_open(&fresh, port, fwmark);
	if (ret)
		return ret;
	fresh.gso = s->gso;
	if (s->gro && udp_set_gro(&fresh, true) < 0)
		fresh.gro = false;
	udp_close(s);
	*s = fresh;
	return 0;
}

int udp_set_gso(struct udp_socks *s, bool on)
{
	int fd = s->fd4 >= 0 ? s->fd4 : s->fd6;
	int seg;
	socklen_t len = sizeof(seg);

	s->gso = false;
	if (!on)
		return 0;
	if (getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &len) < 0)
		return -EOPNOTSUPP;
	s->gso = true;
	return 0;
}

int udp_set_gro(struct udp_socks *s, bool on)
{
	int fds[2] = { s->fd4, s->fd6 }, v = on;

	s->gro = false;
	for (int i = 0; i < 2; i++) {
		if (fds[i] >= 0 && setsockopt(fds[i], SOL_UDP, UDP_GRO, &v, sizeof(v)) < 0)
			return on ? -EOPNOTSUPP : 0;
	}
	s->gro = on;
	return 0;
}

/* ---- batches ---- */

int udp_batch_init(struct udp_batch *b, unsigned int cap, uint32_t pkt_cap)
{
	memset(b, 0, sizeof(*b));
	if (!cap || cap > UDP_BATCH_MAX || !pkt_cap)
		return -EINVAL;
	b->buf = calloc((size_t)cap * (pkt_cap + UDP_PKT_ROOM) + UDP_PKT_ROOM, 1);
	if (!b->buf)
		return -ENOMEM;
	b->cap = cap;
	for (unsigned int i = 0; i < cap; i++) {
		b->pkts[i].data = b->buf + UDP_PKT_ROOM + (size_t)i * (pkt_cap + UDP_PKT_ROOM);
		b->pkts[i].cap = pkt_cap;
	}
	return 0;
}

void udp_batch_free(struct udp_batch *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

static void read_cmsgs(struct msghdr *mh, struct udp_pkt *pkt)
{
	struct endpoint *ep = &pkt->ep;

	endpoint_clear_src(ep);
	pkt->gso_size = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			/* spec_dst is the local address a reply should come from. */
			ep->src4 = pi.ipi_spec_dst;
			ep->src_ifindex = pi.ipi_ifindex;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			ep->src6 = pi.ipi6_addr;
			ep->src_ifindex = (int)pi.ipi6_ifindex;
		}
		else if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
			int size;

			memcpy(&size, CMSG_DATA(cm), sizeof(size));
			pkt->gso_size = size > 0 && size < UINT16_MAX ? (uint16_t)size : 0;
		}
	}
}

int udp_recv_batch(int fd, struct udp_batch *b)
{
	int n;

	b->count = 0;
	for (unsigned int i = 0; i < b->cap; i++) {
		struct msghdr *mh = &b->msgs[i].msg_hdr;

		b->iovs[i] = (struct iovec){b->pkts[i].data, b->pkts[i].cap};
		*mh = (struct msghdr){
		    .msg_name = &b->pkts[i].ep.addr,
		    .msg_namelen = sizeof(b->pkts[i].ep.addr),
		    .msg_iov = &b->iovs[i],
		    .msg_iovlen = 1,
		    .msg_control = b->cmsgs[i].buf,
		    .msg_controllen = sizeof(b->cmsgs[i].buf),
		};
	}
	n = recvmmsg(fd, b->msgs, b->cap, MSG_DONTWAIT, NULL);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct msghdr *mh = &b->msgs[i].msg_hdr;

		b->pkts[i].len = mh->msg_flags & MSG_TRUNC ? 0 : b->msgs[i].msg_len;
		read_cmsgs(mh, &b->pkts[i]);
	}
	b->count = (unsigned int)n;
	return n;
}

static void put_cmsg(uint8_t *at, int level, int type, const void *data, size_t len)
{
	struct cmsghdr cm = {.cmsg_len = CMSG_LEN(len), .cmsg_level = level, .cmsg_type = type};

	memcpy(at, &cm, sizeof(cm));
	memcpy(at + CMSG_LEN(0), data, len);
}

/* Writes the source pktinfo (if any) and the GSO segment size (if any); returns the length. */
static size_t put_cmsgs(uint8_t *buf, const struct endpoint *ep, uint16_t gso_size)
{
	size_t n = 0;

	memset(buf, 0, UDP_CMSG_LEN);
	if (endpoint_has_src(ep) && ep->addr.sa.sa_family == AF_INET) {
		/* Source address only: routing still picks the interface, as in the kernel. */
		struct in_pktinfo pi = {.ipi_spec_dst = ep->src4};

		put_cmsg(buf, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
		n += CMSG_SPACE(sizeof(pi));
	} else if (endpoint_has_src(ep)) {
		struct in6_pktinfo pi = {.ipi6_addr = ep->src6};

		if (IN6_IS_ADDR_LINKLOCAL(&ep->src6))
			pi.ipi6_ifindex = (unsigned int)ep->src_ifindex;
		put_cmsg(buf, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
		n += CMSG_SPACE(sizeof(pi));
	}
	if (gso_size) {
		put_cmsg(buf + n, SOL_UDP, UDP_SEGMENT, &gso_size, sizeof(gso_size));
		n += CMSG_SPACE(sizeof(gso_size));
	}
	return n;
}

static int fd_for(const struct udp_socks *s, const struct endpoint *ep)
{
	if (ep->addr.sa.sa_family == AF_INET)
		return s->fd4;
	return ep->addr.sa.sa_family == AF_INET6 ? s->fd6 : -1;
}

/* The kernel refuses a source address that is no longer ours (EINVAL, EADDRNOTAVAIL, or no route
 * from it: ENETUNREACH); send without it instead, and the next packet from the peer teaches a
 * fresh one. */
static bool stale_src(int err, const struct endpoint *ep)
{
	return (err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH) &&
	       endpoint_has_src(ep);
}

/* How many packets from first can share one UDP_SEGMENT send: equal sizes to one endpoint, a
 * shorter packet only last, within the kernel's segment and byte limits. */
static unsigned int gso_run(const struct udp_batch *b, unsigned int first)
{
	const struct udp_pkt *p = &b->pkts[first];
	uint32_t bytes = p->len;
	unsigned int n = 1;

	if (!p->len)
		return 1;
	while (first + n < b->count && n < UDP_GSO_MAX_SEGS && p[n - 1].len == p->len) {
		if (!endpoint_eq(&p[n].ep, &p->ep) || !p[n].len || p[n].len > p->len ||
		    bytes + p[n].len > UDP_GSO_MAX_BYTES)
			break;
		bytes += p[n].len;
		n++;
	}
	return n;
}

struct run {
	bool gso;         /* segments may share a message */
	bool too_big;     /* a segment exceeded the path MTU: no GSO for the rest of the batch */
	unsigned int first; /* packet index of msgs[0] */
	unsigned int nmsgs, npkts;
	uint8_t segs[UDP_BATCH_MAX]; /* packets carried by each message */
};

static void fill_msg(struct udp_batch *b, struct run *r, unsigned int m, unsigned int pkt)
{
	struct udp_pkt *p = &b->pkts[pkt];
	struct msghdr *mh = &b->msgs[m].msg_hdr;
	uint16_t gso_size = r->segs[m] > 1 ? (uint16_t)p->len : 0;

	*mh = (struct msghdr){
	    .msg_name = &p->ep.addr,
	    .msg_namelen = p->ep.addr.sa.sa_family == AF_INET ? sizeof(p->ep.addr.in4)
							      : sizeof(p->ep.addr.in6),
	    .msg_iov = &b->iovs[pkt],
	    .msg_iovlen = r->segs[m],
	    .msg_control = b->cmsgs[m].buf,
	    .msg_controllen = put_cmsgs(b->cmsgs[m].buf, &p->ep, gso_size),
	};
	if (!mh->msg_controllen)
		mh->msg_control = NULL;
}

/* Lays out messages for the packets from first that share its family, as many as one sendmmsg
 * takes. */
static void build_run(struct udp_socks *s, struct udp_batch *b, struct run *r, unsigned int first)
{
	sa_family_t family = b->pkts[first].ep.addr.sa.sa_family;
	unsigned int i = first;

	r->first = first;
	r->nmsgs = 0;
	while (i < b->count && r->nmsgs < UDP_BATCH_MAX &&
	       b->pkts[i].ep.addr.sa.sa_family == family) {
		unsigned int n = r->gso ? gso_run(b, i) : 1;

		for (unsigned int k = i; k < i + n; k++)
			b->iovs[k] = (struct iovec){b->pkts[k].data, b->pkts[k].len};
		r->segs[r->nmsgs] = (uint8_t)n;
		fill_msg(b, r, r->nmsgs++, i);
		i += n;
	}
	r->npkts = i - first;
}

/* Clears a refused source from message m on, so one bad address costs one failed call. */
static void forget_src(struct udp_batch *b, struct run *r, unsigned int m, unsigned int pkt)
{
	struct endpoint stale = b->pkts[pkt].ep;

	for (; m < r->nmsgs; pkt += r->segs[m++]) {
		if (!endpoint_eq(&b->pkts[pkt].ep, &stale))
			continue;
		for (unsigned int k = pkt; k < pkt + r->segs[m]; k++)
			endpoint_clear_src(&b->pkts[k].ep);
		fill_msg(b, r, m, pkt);
	}
}

/* Sends one run; returns packets consumed (sent or dropped), counting sent ones into *sent.
 * Stops early, with the rest to be rebuilt, when GSO had to be turned off. */
static unsigned int send_run(struct udp_socks *s, struct udp_batch *b, struct run *r, int *sent)
{
	int fd = fd_for(s, &b->pkts[r->first].ep);
	unsigned int m = 0, pkt = r->first;

	if (fd < 0)
		return r->npkts;
	while (m < r->nmsgs) {
		int n = sendmmsg(fd, &b->msgs[m], r->nmsgs - m, MSG_DONTWAIT);
		int err = errno;

		for (; n > 0; n--, m++) {
			*sent += r->segs[m];
			pkt += r->segs[m];
		}
		if (n == 0)
			continue;
		if (r->segs[m] > 1 && err == EMSGSIZE) {
			/* Segments bigger than the route's MTU: they go one by one, and the
			 * kernel fragments them, as it would without GSO. */
			r->too_big = true;
			return pkt - r->first;
		}
		if (r->segs[m] > 1 && (err == EIO || err == EINVAL)) {
			/* No checksum offload on the route, or a segment over its MTU. */
			log_limited(LOG_LEVEL_INFO, "udp: UDP GSO send failed, turning it off");
			s->gso = false;
			return pkt - r->first;
		}
		if (stale_src(err, &b->pkts[pkt].ep)) {
			forget_src(b, r, m, pkt);
			continue;
		}
		if (err == EAGAIN || err == ENOBUFS)
			break;
		pkt += r->segs[m++];
	}
	return r->npkts;
}

int udp_send_batch(struct udp_socks *s, struct udp_batch *b)
{
	struct run r;
	unsigned int i = 0;
	int sent = 0;

	r.gso = s->gso;
	r.too_big = false;
	while (i < b->count) {
		build_run(s, b, &r, i);
		i += send_run(s, b, &r, &sent);
		r.gso = s->gso && !r.too_big;
	}
	return sent;
}

int udp_send_one(struct udp_socks *s, struct endpoint *ep, const uint8_t *data, uint32_t len)
{
	union {
		struct cmsghdr align;
		uint8_t buf[UDP_CMSG_LEN];
	} c;
	struct iovec iov = {(void *)data, len};
	struct msghdr mh = {
	    .msg_name = &ep->addr,
	    .msg_namelen =
		ep->addr.sa.sa_family == AF_INET ? sizeof(ep->addr.in4) : sizeof(ep->addr.in6),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	};
	int fd = fd_for(s, ep);

	if (fd < 0)
		return -EAFNOSUPPORT;
	for (;;) {
		mh.msg_controllen = put_cmsgs(c.buf, ep, 0);
		mh.msg_control = mh.msg_controllen ? c.buf : NULL;
		if (sendmsg(fd, &mh, MSG_DONTWAIT) >= 0)
			return 0;
		if (!stale_src(errno, ep))
			return -errno;
		endpoint_clear_src(ep);
	}
}
