/* UDP forwarding: a flow per client address on a UDP Listen. Each flow has its own connected
 * socket to the target, so the target's replies come back on it and are sent to the client from
 * the listening socket, from the address the client wrote to (IP_PKTINFO), as a wildcard
 * Listen on a host with several addresses must.
 *
 * The flow table is a fixed array of hash buckets sized at open and bounded by MaxConnections,
 * which is the flow limit; a datagram that would need a flow past it is dropped and counted.
 * Flows end after IdleTimeout without a datagram either way (60 s unless configured). With
 * SendProxy = v2 every datagram to the target starts with a v2 header (transport DGRAM), built
 * once per flow; replies pass back untouched. Datagrams are never allocated: one receive buffer
 * per listener serves every flow. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include "fwd.h"
#include "log.h"

enum {
	UDP_BUCKETS_MIN = 16,
	UDP_BUCKETS_MAX = 1 << 16,
	UDP_HDR_MAX = 16 + 36, /* v2, IPv6 addresses, no TLVs */
};

struct fwd_flow {
	LIST_ENTRY(fwd_flow) entry;
	struct fwd_udp *u;
	struct loop_fd lfd; /* connected to the target */
	struct loop_timer expiry;
	struct sockaddr_storage client, local; /* the local address the client wrote to */
	socklen_t client_len;
	uint64_t created_ns, last_ns, bytes_in, bytes_out;
	uint16_t hdr_len;
	uint8_t hdr[UDP_HDR_MAX];
};

struct fwd_udp {
	struct fwd_group *g;
	struct fwd_forward *f;
	LIST_HEAD(fwd_flow_list, fwd_flow) * buckets;
	uint32_t nbuckets, nflows;
	uint8_t buf[FWD_UDP_MAX];
};

/* ---- the table ---- */

/* FNV-1a over address and port. Not keyed: the table is bounded, so a crafted collision can
 * only lengthen one chain up to MaxConnections, never grow memory. */
static uint32_t bucket_of(const struct fwd_udp *u, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *s4 = (const void *)ss;
	const struct sockaddr_in6 *s6 = (const void *)ss;
	const uint8_t *p = ss->ss_family == AF_INET ? (const uint8_t *)&s4->sin_addr
						    : (const uint8_t *)&s6->sin6_addr;
	size_t len = ss->ss_family == AF_INET ? 4 : 16;
	uint16_t port = ss->ss_family == AF_INET ? s4->sin_port : s6->sin6_port;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	h = (h ^ (port & 0xff)) * 16777619u;
	h = (h ^ (port >> 8)) * 16777619u;
	return h & (u->nbuckets - 1);
}

static struct fwd_flow *lookup(const struct fwd_udp *u, const struct sockaddr_storage *client)
{
	struct fwd_flow *fl;

	LIST_FOREACH(fl, &u->buckets[bucket_of(u, client)], entry)
	{
		if (sockaddr_equal(&fl->client, client))
			return fl;
	}
	return NULL;
}

static void flow_free(struct fwd_flow *fl)
{
	struct fwd_udp *u = fl->u;

	loop_del(u->g->gw->loop, &fl->lfd);
	close(fl->lfd.fd);
	loop_timer_remove(u->g->gw->loop, &fl->expiry);
	LIST_REMOVE(fl, entry);
	u->nflows--;
	u->f->stats.active--;
	free(fl);
}

static void flow_end(struct fwd_flow *fl, const char *how)
{
	struct fwd_forward *f = fl->u->f;
	char client[INET6_ADDRSTRLEN + 8], target[INET6_ADDRSTRLEN + 8];
	uint64_t ms = (loop_now() - fl->created_ns) / NSEC_PER_MSEC;

	fwd_format(client, sizeof(client), (const struct sockaddr *)&fl->client);
	fwd_format(target, sizeof(target), (const struct sockaddr *)&f->target);
	log_info("%s: %s -> %s udp %s, %llu bytes in, %llu bytes out, %llu.%03llu s", f->cfg.name,
		 client, target, how, (unsigned long long)fl->bytes_in,
		 (unsigned long long)fl->bytes_out, (unsigned long long)(ms / 1000),
		 (unsigned long long)(ms % 1000));
	flow_free(fl);
}

/* ---- replies: target -> client ---- */

static void set_source(struct msghdr *msg, void *cbuf, size_t cap, const struct sockaddr_storage *l)
{
	struct cmsghdr *cm;

	msg->msg_control = cbuf;
	msg->msg_controllen = cap;
	cm = CMSG_FIRSTHDR(msg);
	if (l->ss_family == AF_INET) {
		struct in_pktinfo pi = {.ipi_spec_dst = ((const struct sockaddr_in *)l)->sin_addr};

		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		msg->msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = {.ipi6_addr = ((const struct sockaddr_in6 *)l)->sin6_addr};

		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		msg->msg_controllen = CMSG_SPACE(sizeof(pi));
	}
}

static void reply(struct fwd_flow *fl, size_t len)
{
	struct fwd_udp *u = fl->u;
	struct iovec iov = {.iov_base = u->buf, .iov_len = len};
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} cbuf = {0};
	struct msghdr msg = {.msg_name = &fl->client,
			     .msg_namelen = fl->client_len,
			     .msg_iov = &iov,
			     .msg_iovlen = 1};

	set_source(&msg, cbuf.buf, sizeof(cbuf.buf), &fl->local);
	if (sendmsg(u->g->lfd.fd, &msg, MSG_DONTWAIT) < 0) {
		u->f->stats.errors[GW_ERR_IO]++;
		return;
	}
	fl->bytes_out += len;
	u->f->stats.bytes_out += len;
}

static void flow_readable(struct loop_fd *lfd, uint32_t events)
{
	struct fwd_flow *fl = container_of(lfd, struct fwd_flow, lfd);

	for (int i = 0; i < FWD_UDP_BATCH; i++) {
		ssize_t n = recv(lfd->fd, fl->u->buf, sizeof(fl->u->buf), MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN)
			break;
		/* An ICMP error from the target (port unreachable) is not the flow's end: the
		 * service may come back; the flow expires if it does not. */
		if (n < 0)
			continue;
		fl->last_ns = loop_now();
		reply(fl, (size_t)n);
	}
}

static void flow_expired(struct loop_timer *t)
{
	struct fwd_flow *fl = container_of(t, struct fwd_flow, expiry);
	uint64_t idle = fl->u->f->cfg.idle_timeout_ns, now = loop_now();

	if (now - fl->last_ns >= idle)
		return flow_end(fl, "expired");
	loop_timer_arm(fl->u->g->gw->loop, &fl->expiry, fl->last_ns + idle);
}

/* ---- datagrams from clients ---- */

static int flow_header(struct fwd_flow *fl)
{
	struct pp_header h = {.version = 2, .command = PP_CMD_PROXY};
	int n;

	if (fl->u->f->cfg.send_proxy != SEND_PROXY_V2)
		return 0;
	n = pp_addr_set(&h.addr, PP_TRANSPORT_DGRAM, (const struct sockaddr *)&fl->client,
			(const struct sockaddr *)&fl->local);
	if (n == 0)
		n = pp_build_v2(fl->hdr, sizeof(fl->hdr), &h, 0);
	if (n < 0)
		return n;
	fl->hdr_len = (uint16_t)n;
	return 0;
}

static int flow_open(struct fwd_flow *fl)
{
	struct fwd_forward *f = fl->u->f;
	struct loop *loop = fl->u->g->gw->loop;
	int ret = flow_header(fl);

	if (ret < 0)
		return ret;
	fl->lfd.fd = fwd_socket(f->target.ss_family, SOCK_DGRAM);
	if (fl->lfd.fd < 0)
		return fl->lfd.fd;
	fl->lfd.cb = flow_readable;
	ret = connect(fl->lfd.fd, (const struct sockaddr *)&f->target, f->target_len) < 0 ? -errno
											  : 0;
	if (!ret)
		ret = loop_timer_add(loop, &fl->expiry, flow_expired);
	if (ret < 0) {
		close(fl->lfd.fd);
		return ret;
	}
	ret = loop_add(loop, &fl->lfd, EPOLLIN);
	if (ret < 0) {
		loop_timer_remove(loop, &fl->expiry);
		close(fl->lfd.fd);
	}
	return ret;
}

static void refuse(struct fwd_udp *u, const struct sockaddr_storage *client, enum gateway_error e,
		   const char *why)
{
	char who[INET6_ADDRSTRLEN + 8];

	fwd_format(who, sizeof(who), (const struct sockaddr *)client);
	u->f->stats.errors[e]++;
	log_limited(LOG_LEVEL_WARN, "%s: %s udp datagram dropped: %s", u->f->cfg.name, who, why);
}

static struct fwd_flow *flow_new(struct fwd_udp *u, const struct sockaddr_storage *client,
				 socklen_t client_len, const struct sockaddr_storage *local,
				 uint64_t now)
{
	const struct forward_config *cfg = &u->f->cfg;
	struct fwd_flow *fl;

	if (cfg->allow_from.len &&
	    !fwd_in_list(&cfg->allow_from, (const struct sockaddr *)client)) {
		refuse(u, client, GW_ERR_DENIED, "denied by AllowFrom");
		return NULL;
	}
	if (u->nflows >= cfg->max_connections) {
		refuse(u, client, GW_ERR_LIMIT, "flow table full");
		return NULL;
	}
	fl = calloc(1, sizeof(*fl));
	if (!fl) {
		refuse(u, client, GW_ERR_IO, "out of memory");
		return NULL;
	}
	*fl = (struct fwd_flow){.u = u,
				.client = *client,
				.local = *local,
				.client_len = client_len,
				.created_ns = now,
				.last_ns = now};
	if (flow_open(fl) < 0) {
		free(fl);
		refuse(u, client, GW_ERR_IO, "cannot open a flow socket");
		return NULL;
	}
	LIST_INSERT_HEAD(&u->buckets[bucket_of(u, client)], fl, entry);
	u->nflows++;
	u->f->stats.active++;
	u->f->stats.total++;
	loop_timer_arm(u->g->gw->loop, &fl->expiry, now + cfg->idle_timeout_ns);
	return fl;
}

static void forward(struct fwd_flow *fl, size_t len)
{
	struct fwd_udp *u = fl->u;
	struct iovec iov[2] = {{.iov_base = fl->hdr, .iov_len = fl->hdr_len},
			       {.iov_base = u->buf, .iov_len = len}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

	if (sendmsg(fl->lfd.fd, &msg, MSG_DONTWAIT) < 0) {
		u->f->stats.errors[GW_ERR_IO]++;
		return;
	}
	fl->bytes_in += len;
	u->f->stats.bytes_in += len;
}

/* The local address the datagram was sent to, with the Listen port. */
static void local_of(struct fwd_udp *u, struct msghdr *msg, struct sockaddr_storage *local)
{
	struct cmsghdr *cm;

	*local = u->g->listen;
	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			((struct sockaddr_in *)local)->sin_addr = pi.ipi_addr;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			((struct sockaddr_in6 *)local)->sin6_addr = pi.ipi6_addr;
		}
	}
}

static void listener_readable(struct loop_fd *lfd, uint32_t events)
{
	struct fwd_group *g = container_of(lfd, struct fwd_group, lfd);
	struct fwd_udp *u = g->udp;
	uint64_t now = loop_now();

	for (int i = 0; i < FWD_UDP_BATCH; i++) {
		struct sockaddr_storage client, local;
		struct iovec iov = {.iov_base = u->buf, .iov_len = sizeof(u->buf)};
		union {
			struct cmsghdr align;
			uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64];
		} cbuf;
		struct msghdr msg = {.msg_name = &client,
				     .msg_namelen = sizeof(client),
				     .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cbuf.buf,
				     .msg_controllen = sizeof(cbuf.buf)};
		ssize_t n = recvmsg(lfd->fd, &msg, MSG_DONTWAIT);
		struct fwd_flow *fl;

		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			continue;
		fl = lookup(u, &client);
		if (!fl) {
			local_of(u, &msg, &local);
			fl = flow_new(u, &client, msg.msg_namelen, &local, now);
		}
		if (!fl)
			continue;
		fl->last_ns = now;
		forward(fl, (size_t)n);
	}
}

/* ---- lifecycle ---- */

static int want_pktinfo(int fd, int family)
{
	int one = 1;

	if (family == AF_INET)
		return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
}

static uint32_t buckets_for(uint32_t flows)
{
	uint32_t n = UDP_BUCKETS_MIN;

	while (n < flows && n < UDP_BUCKETS_MAX)
		n <<= 1;
	return n;
}

int fwd_udp_open(struct fwd_group *g)
{
	struct fwd_udp *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	g->udp = u;
	u->g = g;
	u->f = g->fwds[0]; /* the configuration allows one forward per UDP Listen */
	u->nbuckets = buckets_for(u->f->cfg.max_connections);
	u->buckets = calloc(u->nbuckets, sizeof(*u->buckets));
	if (!u->buckets)
		return -ENOMEM;
	for (uint32_t i = 0; i < u->nbuckets; i++)
		LIST_INIT(&u->buckets[i]);
	if (want_pktinfo(g->lfd.fd, g->listen.ss_family) < 0)
		return -errno;
	g->lfd.cb = listener_readable;
	return loop_add(g->gw->loop, &g->lfd, EPOLLIN);
}

void fwd_udp_close(struct fwd_group *g)
{
	struct fwd_udp *u = g->udp;

	if (!u)
		return;
	for (uint32_t i = 0; u->buckets && i < u->nbuckets; i++) {
		while (!LIST_EMPTY(&u->buckets[i]))
			flow_free(LIST_FIRST(&u->buckets[i]));
	}
	if (g->lfd.fd >= 0)
		loop_del(g->gw->loop, &g->lfd);
	free(u->buckets);
	free(u);
	g->udp = NULL;
}
