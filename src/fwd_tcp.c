/* TCP forwarding: one state machine per connection (see enum fwd_state), one handler per state
 * and event.
 *
 * Both sockets of a connection are registered edge-triggered for reading and writing, once.
 * After any event the relay pumps each direction until it blocks: the destination would block
 * with bytes pending, or the source would block (or sent FIN) with nothing pending. A direction
 * whose buffer or pipe is full simply stops reading, so the kernel's receive window pushes back
 * on the sender; the next writable edge of the destination resumes it. A pump that is still
 * busy after FWD_PUMP_ROUNDS leaves the rest to the kick timer, so one fast connection cannot
 * starve the others.
 *
 * Bytes move as splice.c says: through a fixed buffer per direction, and through a pipe once a
 * direction turns out to be a bulk transfer, when the forward allows it. Bytes read before the
 * target was chosen (PROXY detection, the ClientHello) sit in the client -> target buffer and
 * go out first, after the PROXY header we send, untouched. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include "fwd.h"
#include "log.h"

enum { RST_CLIENT = 1, RST_TARGET = 2 };
#define CLEAN GW_ERR_MAX /* an end that is no error */

static void start_connect(struct fwd_conn *c, uint64_t now);
static void hello_readable(struct fwd_conn *c, uint64_t now);
static void connected(struct fwd_conn *c, uint64_t now);

/* ---- the end of a connection ---- */

static const char *fwd_name(const struct fwd_conn *c)
{
	return c->fwd ? c->fwd->cfg.name : fwd_group_blame(c->group)->cfg.name;
}

static void log_end(const struct fwd_conn *c, enum gateway_error err, const char *how)
{
	char client[INET6_ADDRSTRLEN + 8], target[INET6_ADDRSTRLEN + 8] = "-", line[384];
	uint64_t ms = (loop_now() - c->accepted_ns) / NSEC_PER_MSEC;

	fwd_format_pp(client, sizeof(client), &c->addr, true);
	if (c->fwd)
		fwd_format(target, sizeof(target), (const struct sockaddr *)&c->fwd->target);
	snprintf(line, sizeof(line),
		 "%s: %s -> %s %s, %llu bytes in, %llu bytes out, %llu.%03llu s", fwd_name(c),
		 client, target, how, (unsigned long long)c->up.bytes,
		 (unsigned long long)c->down.bytes, (unsigned long long)(ms / 1000),
		 (unsigned long long)(ms % 1000));
	/* Normal ends are plain lines; errors are what a remote party can cause en masse. */
	if (err == CLEAN)
		log_info("%s", line);
	else
		log_limited(LOG_LEVEL_WARN, "%s", line);
}

static void close_fd(struct fwd_conn *c, struct loop_fd *lfd, bool rst)
{
	static const struct linger abort_on_close = {.l_onoff = 1, .l_linger = 0};

	if (lfd->fd < 0)
		return;
	/* A zero linger turns close() into a reset, so the peer learns of the other's. */
	if (rst)
		setsockopt(lfd->fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
	/* Nobody else holds the socket, so close() takes it out of the epoll set. */
	loop_forget(c->group->gw->loop, lfd);
	close(lfd->fd);
	lfd->fd = -1;
}

static void conn_free(struct fwd_conn *c, unsigned int rst)
{
	struct fwd_group *g = c->group;

	close_fd(c, &c->client, rst & RST_CLIENT);
	close_fd(c, &c->target, rst & RST_TARGET);
	fwd_dir_close(&c->up);
	fwd_dir_close(&c->down);
	loop_timer_remove(g->gw->loop, &c->deadline);
	loop_timer_remove(g->gw->loop, &c->kick);
	if (c->fwd)
		c->fwd->stats.active--;
	LIST_REMOVE(c, entry);
	g->active--;
	free(c);
	fwd_group_resume(g);
}

/* Every end goes through here: one log line, the counters, then the sockets. */
static void conn_end(struct fwd_conn *c, enum gateway_error err, unsigned int rst, const char *how)
{
	struct fwd_forward *f = c->fwd ? c->fwd : fwd_group_blame(c->group);

	log_end(c, err, how);
	if (err != CLEAN)
		f->stats.errors[err]++;
	if (err == GW_ERR_PROXY)
		f->stats.proxy_failures++;
	conn_free(c, rst);
}

static void proxy_fail(struct fwd_conn *c, enum pp_reason reason)
{
	char how[64];

	snprintf(how, sizeof(how), "proxy header: %s", pp_reason_str(reason));
	conn_end(c, GW_ERR_PROXY, 0, how);
}

static void hello_fail(struct fwd_conn *c, const char *why)
{
	char how[64];

	snprintf(how, sizeof(how), "client hello: %s", why);
	conn_end(c, GW_ERR_SNI, 0, how);
}

void fwd_tcp_close_all(struct fwd_group *g)
{
	while (!LIST_EMPTY(&g->conns))
		conn_free(LIST_FIRST(&g->conns), 0);
}

/* ---- routing: the client's address is final, the forward chosen ---- */

static void client_sockaddr(const struct fwd_conn *c, struct sockaddr_storage *out)
{
	struct sockaddr_storage dst;

	if (!c->from_proxy || pp_addr_get(&c->addr, out, &dst) < 0)
		*out = c->peer;
}

/* AllowFrom applies to the client as the forward knows it: the address of a PROXY header
 * accepted from a trusted proxy, else the connection's source (which then must be listed, even
 * when it is a trusted proxy sending plain traffic). */
static void route(struct fwd_conn *c, struct fwd_forward *f, uint64_t now)
{
	struct sockaddr_storage client;

	c->fwd = f;
	f->stats.total++;
	f->stats.active++;
	client_sockaddr(c, &client);
	if (f->cfg.allow_from.len &&
	    !fwd_in_list(&f->cfg.allow_from, (const struct sockaddr *)&client))
		return conn_end(c, GW_ERR_DENIED, 0, "denied by AllowFrom");
	if (f->stats.active > f->cfg.max_connections)
		return conn_end(c, GW_ERR_LIMIT, 0, "max connections");
	start_connect(c, now);
}

/* A ClientHello, or what stands in its place, has been read: choose. false: need more. */
static bool hello_check(struct fwd_conn *c, uint64_t now)
{
	struct fwd_group *g = c->group;
	struct sni_extra extra;
	struct fwd_forward *f;
	size_t len;

	switch (sni_parse(c->up.buf, c->up.len, c->authority, sizeof(c->authority), &len, &extra)) {
	case SNI_NEED_MORE:
		if (c->up.len < SNI_HELLO_MAX)
			return false;
		hello_fail(c, sni_reason_str(SNI_R_TOO_LONG));
		return true;
	case SNI_FOUND:
		c->authority_len = (uint16_t)len;
		f = fwd_route(g, c->authority);
		break;
	case SNI_NONE:
		f = g->dflt;
		break;
	default:
		/* Plain traffic on an SNI port goes to the default; a broken ClientHello nowhere.
		 */
		if (extra.reason != SNI_R_NOT_TLS || !g->dflt) {
			hello_fail(c, sni_reason_str(extra.reason));
			return true;
		}
		f = g->dflt;
		break;
	}
	if (!f)
		conn_end(c, GW_ERR_SNI, 0, "no sni match");
	else
		route(c, f, now);
	return true;
}

static void proxy_settled(struct fwd_conn *c, uint64_t now)
{
	struct fwd_group *g = c->group;

	loop_timer_disarm(g->gw->loop, &c->deadline);
	if (!g->route_sni)
		return route(c, g->dflt, now);
	c->state = FWD_READ_HELLO;
	loop_timer_arm(g->gw->loop, &c->deadline, c->accepted_ns + FWD_HELLO_TIMEOUT_NS);
	hello_readable(c, now);
}

/* ---- reading before routing ---- */

/* Reads into the client -> target buffer up to limit bytes in it: >0 read, 0 would block (or
 * the limit is reached), -ENODATA at EOF, or another negative errno. As in the relay, a read
 * that returns less than asked has emptied the socket, so the next waits for the next edge
 * instead of hearing EAGAIN (unless the FIN is in: then on to the end of stream). */
static ssize_t read_early(struct fwd_conn *c, size_t limit)
{
	size_t room = limit - c->up.len;
	ssize_t n;

	if (c->up.len >= limit || !c->up.readable)
		return 0;
	n = recv(c->client.fd, c->up.buf + c->up.len, room, 0);
	if ((n < 0 && errno == EAGAIN) || (n > 0 && (size_t)n < room && !c->up.rdhup))
		c->up.readable = false;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ENODATA;
	c->up.len += (uint32_t)n;
	c->up.bytes += (uint64_t)n;
	return n;
}

static void proxy_done(struct fwd_conn *c, const struct pp_header *h, size_t consumed, uint64_t now)
{
	/* optional: plain traffic from anyone, but a header only from TrustedProxies */
	if (!c->trusted)
		return conn_end(c, GW_ERR_PROXY, 0, "proxy header from an untrusted source");
	c->up.len -= (uint32_t)consumed;
	c->up.bytes -= consumed;
	memmove(c->up.buf, c->up.buf + consumed, c->up.len);
	if (h->command == PP_CMD_PROXY && h->addr.family != AF_UNSPEC) {
		c->addr = h->addr;
		c->addr.transport = PP_TRANSPORT_STREAM;
		c->from_proxy = true;
	}
	/* A chain keeps the first proxy's AUTHORITY unless our own ClientHello names one. */
	if (h->present & PP_HAS_AUTHORITY) {
		memcpy(c->authority, h->authority, h->authority_len + 1u);
		c->authority_len = h->authority_len;
	}
	proxy_settled(c, now);
}

/* PP_NOT_PROXY: the bytes the parser took belong to the plain stream, before those just read. */
static void proxy_plain(struct fwd_conn *c, uint64_t now)
{
	size_t len;
	const uint8_t *taken = pp_parser_replay(&c->pp, &len);

	if (fwd_group_blame(c->group)->cfg.accept_proxy == ACCEPT_PROXY_REQUIRED)
		return proxy_fail(c, PP_R_NOT_HEADER);
	memmove(c->up.buf + len, c->up.buf, c->up.len);
	memcpy(c->up.buf, taken, len);
	c->up.len += (uint32_t)len;
	c->up.bytes += len;
	proxy_settled(c, now);
}

static void proxy_readable(struct fwd_conn *c, uint64_t now)
{
	struct pp_header h;
	size_t consumed;
	ssize_t n;

	for (;;) {
		c->up.len = 0; /* while undecided, the parser holds every byte */
		c->up.bytes = 0;
		n = read_early(c, FWD_EARLY_MAX - PP_DETECT_MAX);
		if (n == 0)
			return;
		if (n < 0) {
			if (pp_parser_eof(&c->pp) == PP_BAD)
				return proxy_fail(c, c->pp.reason);
			return conn_end(c, GW_ERR_IO, 0, "proxy header: read error");
		}
		switch (pp_parse(&c->pp, c->up.buf, (size_t)n, &consumed, &h)) {
		case PP_NEED_MORE:
			continue;
		case PP_DONE:
			return proxy_done(c, &h, consumed, now);
		case PP_NOT_PROXY:
			return proxy_plain(c, now);
		case PP_BAD:
			return proxy_fail(c, c->pp.reason);
		}
	}
}

static void hello_readable(struct fwd_conn *c, uint64_t now)
{
	ssize_t n;

	if (hello_check(c, now))
		return;
	do {
		n = read_early(c, SNI_HELLO_MAX);
		if (n == -ENODATA)
			return hello_fail(c, c->up.len ? "aborted" : "empty");
		if (n < 0)
			return conn_end(c, GW_ERR_RESET, 0, "reset by client");
	} while (n > 0 && !hello_check(c, now));
}

/* While connecting: keep what the client sends (leaving room for our header), and notice it
 * leaving. */
static void connecting_readable(struct fwd_conn *c)
{
	ssize_t n;

	while (!c->up.eof && (n = read_early(c, FWD_BUF_SIZE - FWD_HEADER_MAX)) != 0) {
		if (n == -ENODATA)
			c->up.eof = true;
		else if (n < 0)
			return conn_end(c, GW_ERR_RESET, 0, "reset by client");
	}
}

/* ---- connecting ---- */

static void set_nodelay(int fd)
{
	int one = 1, zero = 0;

	/* We write what we read, as it comes: Nagle would only add delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero));
}

/* Errors that a tunnel coming back (or a target starting) cures: worth another try. */
static bool transient(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ECONNRESET:
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ENETUNREACH:
	case ENETDOWN:
	case ETIMEDOUT:
	case EADDRNOTAVAIL:
	case EACCES:
	case EPERM:
		return true;
	default:
		return false;
	}
}

static void connect_failed(struct fwd_conn *c, int err, uint64_t now)
{
	char how[96];

	close_fd(c, &c->target, false);
	if (transient(err) && now + FWD_RETRY_NS < c->connect_by_ns) {
		loop_timer_arm(c->group->gw->loop, &c->kick, now + FWD_RETRY_NS);
		return;
	}
	snprintf(how, sizeof(how), "connect: %s", strerror(err));
	conn_end(c, GW_ERR_CONNECT, RST_CLIENT, how);
}

static void accept_pause(struct fwd_group *g);

static void try_connect(struct fwd_conn *c, uint64_t now)
{
	const struct fwd_forward *f = c->fwd;
	int fd = fwd_socket(f->target.ss_family, SOCK_STREAM);

	if (fd < 0) {
		struct fwd_group *g = c->group;

		conn_end(c, GW_ERR_IO, RST_CLIENT, "cannot open a socket");
		/* Out of descriptors: each further accept would be reset the same way, draining
		 * the backlog; pause instead, so waiting clients keep their place. */
		if (fd == -EMFILE || fd == -ENFILE)
			accept_pause(g);
		return;
	}
	set_nodelay(fd);
	c->target.fd = fd;
	if (loop_add(c->group->gw->loop, &c->target, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET))
		return conn_end(c, GW_ERR_IO, RST_CLIENT, "cannot watch a socket");
	if (connect(fd, (const struct sockaddr *)&f->target, f->target_len) == 0) {
		c->down.readable = true;
		return connected(c, now);
	}
	if (errno != EINPROGRESS)
		return connect_failed(c, errno, now);
}

static void start_connect(struct fwd_conn *c, uint64_t now)
{
	uint64_t timeout = c->fwd->cfg.connect_timeout_ns;

	c->state = FWD_CONNECTING;
	c->connect_by_ns = timeout ? now + timeout : UINT64_MAX;
	if (timeout)
		loop_timer_arm(c->group->gw->loop, &c->deadline, c->connect_by_ns);
	try_connect(c, now);
}

static void connect_event(struct fwd_conn *c, uint32_t events, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return;
	/* Writable without an error is connected; only a failure needs asking which. */
	if (events & (EPOLLERR | EPOLLHUP) &&
	    getsockopt(c->target.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		return connect_failed(c, err, now);
	fwd_dir_events(&c->down, events);
	connected(c, now);
}

/* ---- the relay ---- */

/* A pump failure: the side at fault reset (or broke); pass a reset on to the other. */
static void relay_fail(struct fwd_conn *c, bool at_source, bool up)
{
	bool client = at_source == up;

	conn_end(c, GW_ERR_RESET, client ? RST_TARGET : RST_CLIENT,
		 client ? "reset by client" : "reset by target");
}

static void relay(struct fwd_conn *c, uint64_t now)
{
	struct gateway_stats *st = &c->fwd->stats;
	bool again = false, moved = false, at_source;

	/* The second FIN goes with the close() that ends the relay: one call fewer. */
	c->up.close_next = c->down.shut;
	if (fwd_dir_pump(&c->up, c->client.fd, c->target.fd, &st->bytes_in, &at_source, &again,
			 &moved))
		return relay_fail(c, at_source, true);
	c->down.close_next = c->up.shut;
	if (fwd_dir_pump(&c->down, c->target.fd, c->client.fd, &st->bytes_out, &at_source, &again,
			 &moved))
		return relay_fail(c, at_source, false);
	if (c->up.pipe_failed || c->down.pipe_failed) {
		st->splice_fallbacks++;
		c->up.pipe_failed = c->down.pipe_failed = false;
	}
	if (c->up.shut && c->down.shut)
		return conn_end(c, CLEAN, 0, "closed");
	if (moved)
		c->last_ns = now;
	if (again)
		loop_timer_arm(c->group->gw->loop, &c->kick, now);
}

static int build_header(struct fwd_conn *c, uint8_t *out, size_t cap)
{
	struct pp_header h = {.command = PP_CMD_PROXY, .addr = c->addr};

	h.addr.transport = PP_TRANSPORT_STREAM;
	if (c->fwd->cfg.send_proxy == SEND_PROXY_V1) {
		h.version = 1;
		return pp_build_v1((char *)out, cap, &h);
	}
	h.version = 2;
	if (c->authority_len) {
		memcpy(h.authority, c->authority, c->authority_len + 1u);
		h.authority_len = c->authority_len;
		h.present |= PP_HAS_AUTHORITY;
	}
	fwd_unique_id(c->group->gw, h.unique_id);
	h.unique_id_len = FWD_UNIQUE_ID_LEN;
	h.present |= PP_HAS_UNIQUE_ID;
	return pp_build_v2(out, cap, &h, 0);
}

/* The header goes before the early bytes: both leave through the up buffer, header first.
 * Reading before the relay leaves FWD_HEADER_MAX free for it. */
static int queue_header(struct fwd_conn *c)
{
	uint8_t hdr[FWD_HEADER_MAX + 1]; /* v1 adds a NUL */
	int n;

	if (c->fwd->cfg.send_proxy == SEND_PROXY_OFF)
		return 0;
	n = build_header(c, hdr, sizeof(hdr));
	if (n < 0)
		return n;
	if (c->up.len + (size_t)n > FWD_BUF_SIZE)
		return -ENOSPC;
	memmove(c->up.buf + n, c->up.buf, c->up.len);
	memcpy(c->up.buf, hdr, (size_t)n);
	c->up.len += (uint32_t)n;
	return 0;
}

static void connected(struct fwd_conn *c, uint64_t now)
{
	struct loop *loop = c->group->gw->loop;
	uint64_t idle = c->fwd->cfg.idle_timeout_ns;

	c->state = FWD_RELAY;
	c->down.buf = c->down_buf; /* the PROXY parser is done with this memory */
	c->down.off = c->down.len = 0;
	c->fwd->stats.bytes_in += c->up.bytes;
	if (queue_header(c) < 0)
		return conn_end(c, GW_ERR_IO, RST_CLIENT | RST_TARGET, "cannot build the header");
	c->up.may_splice = c->down.may_splice = c->fwd->splice;
	loop_timer_disarm(loop, &c->deadline);
	c->last_ns = now;
	if (idle)
		loop_timer_arm(loop, &c->deadline, now + idle);
	relay(c, now);
}

/* ---- events ---- */

static void client_event(struct loop_fd *lfd, uint32_t events)
{
	struct fwd_conn *c = container_of(lfd, struct fwd_conn, client);
	uint64_t now = loop_now();

	fwd_dir_events(&c->up, events);
	switch (c->state) {
	case FWD_READ_PROXY:
		return proxy_readable(c, now);
	case FWD_READ_HELLO:
		return hello_readable(c, now);
	case FWD_CONNECTING:
		return connecting_readable(c);
	case FWD_RELAY:
		return relay(c, now);
	}
}

static void target_event(struct loop_fd *lfd, uint32_t events)
{
	struct fwd_conn *c = container_of(lfd, struct fwd_conn, target);
	uint64_t now = loop_now();

	if (c->state == FWD_CONNECTING)
		return connect_event(c, events, now);
	fwd_dir_events(&c->down, events);
	relay(c, now);
}

/* PROXY and ClientHello deadlines count from accept. A client that sent nothing at all by
 * then is taken for one of a protocol where the server speaks first (optional PROXY, or the
 * default of an SNI port); a partial header or ClientHello is an error. */
static void deadline_fired(struct loop_timer *t)
{
	struct fwd_conn *c = container_of(t, struct fwd_conn, deadline);
	enum fwd_accept_proxy accept = fwd_group_blame(c->group)->cfg.accept_proxy;
	uint64_t now = loop_now(), idle;

	switch (c->state) {
	case FWD_READ_PROXY:
		if (!c->pp.have && accept == ACCEPT_PROXY_OPTIONAL)
			return proxy_settled(c, now);
		if (!pp_parser_expired(&c->pp, now))
			c->pp.reason = PP_R_TIMED_OUT;
		return proxy_fail(c, c->pp.reason);
	case FWD_READ_HELLO:
		if (!c->up.len && c->group->dflt)
			return route(c, c->group->dflt, now);
		return hello_fail(c, "timed out");
	case FWD_CONNECTING:
		return conn_end(c, GW_ERR_CONNECT, RST_CLIENT, "connect timeout");
	case FWD_RELAY:
		/* Re-armed lazily here rather than on every read. */
		idle = c->fwd->cfg.idle_timeout_ns;
		if (now - c->last_ns >= idle)
			return conn_end(c, GW_ERR_IDLE, 0, "idle timeout");
		loop_timer_arm(c->group->gw->loop, &c->deadline, c->last_ns + idle);
	}
}

static void kick_fired(struct loop_timer *t)
{
	struct fwd_conn *c = container_of(t, struct fwd_conn, kick);
	uint64_t now = loop_now();

	if (c->state == FWD_CONNECTING)
		return try_connect(c, now);
	if (c->state == FWD_RELAY)
		relay(c, now);
}

/* ---- accepting ---- */

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return !memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr));
}

/* MaxConnectionsPerSource counts connections by their real source; trusted proxies, which
 * carry many clients each, are exempt. */
static bool over_source_limit(const struct fwd_conn *c, uint32_t limit)
{
	const struct fwd_conn *o;
	uint32_t n = 0;

	if (!limit || c->trusted)
		return false;
	LIST_FOREACH(o, &c->group->conns, entry)
	{
		if (o != c && o->per_source && same_host(&o->peer, &c->peer) && ++n >= limit)
			return true;
	}
	return false;
}

/* A shared Listen takes its PROXY settings and MaxConnectionsPerSource from its default (or
 * first) forward; the configuration makes forwards sharing a Listen agree on AcceptProxy. */
static void admit(struct fwd_conn *c, uint64_t now)
{
	const struct forward_config *cfg = &fwd_group_blame(c->group)->cfg;

	c->trusted = cfg->accept_proxy != ACCEPT_PROXY_OFF &&
		     fwd_in_list(&cfg->trusted_proxies, (const struct sockaddr *)&c->peer);
	if (over_source_limit(c, cfg->max_connections_per_source))
		return conn_end(c, GW_ERR_LIMIT, 0, "max connections per source");
	c->per_source = !c->trusted;
	if (cfg->accept_proxy == ACCEPT_PROXY_OFF)
		return proxy_settled(c, now);
	if (cfg->accept_proxy == ACCEPT_PROXY_REQUIRED && !c->trusted) {
		fwd_group_blame(c->group)->stats.proxy_failures++;
		return conn_end(c, GW_ERR_DENIED, 0, "not a trusted proxy");
	}
	c->state = FWD_READ_PROXY;
	pp_parser_init(&c->pp, PP_ACCEPT_ANY);
	c->pp.started_ns = c->accepted_ns;
	loop_timer_arm(c->group->gw->loop, &c->deadline, c->accepted_ns + FWD_PROXY_TIMEOUT_NS);
}

static int conn_init(struct fwd_conn *c, int fd, uint64_t now)
{
	struct loop *loop = c->group->gw->loop;
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	int ret = 0;

	c->client = (struct loop_fd){.fd = fd, .cb = client_event};
	c->target = (struct loop_fd){.fd = -1, .cb = target_event};
	c->up.pipe[0] = c->up.pipe[1] = c->down.pipe[0] = c->down.pipe[1] = -1;
	c->up.buf = c->up_buf;
	c->up.readable = true;
	c->accepted_ns = c->last_ns = now;
	if (c->group->wildcard)
		ret = getsockname(fd, (struct sockaddr *)&local, &len) < 0 ? -errno : 0;
	else
		local = c->group->listen; /* bound to one address: that is the local one */
	if (ret < 0)
		return ret;
	ret = pp_addr_set(&c->addr, PP_TRANSPORT_STREAM, (struct sockaddr *)&c->peer,
			  (struct sockaddr *)&local);
	if (ret < 0)
		return ret;
	ret = loop_timer_add(loop, &c->deadline, deadline_fired);
	if (ret < 0)
		return ret;
	ret = loop_timer_add(loop, &c->kick, kick_fired);
	if (ret < 0)
		goto err_deadline;
	ret = loop_add(loop, &c->client, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	if (ret < 0)
		goto err_kick;
	return 0;

err_kick:
	loop_timer_remove(loop, &c->kick);
err_deadline:
	loop_timer_remove(loop, &c->deadline);
	return ret;
}

static void accepted(struct fwd_group *g, int fd, const struct sockaddr_storage *peer, uint64_t now)
{
	struct fwd_forward *blame = fwd_group_blame(g);
	struct fwd_conn *c = malloc(sizeof(*c));

	if (c) {
		/* The buffers need no zeroing: only the fields before them are cleared. */
		memset(c, 0, offsetof(struct fwd_conn, up_buf));
		c->group = g;
		c->peer = *peer;
	}
	if (!c || conn_init(c, fd, now) < 0) {
		log_limited(LOG_LEVEL_WARN, "%s: cannot take a connection: out of memory",
			    blame->cfg.name);
		blame->stats.errors[GW_ERR_IO]++;
		close(fd);
		free(c);
		return;
	}
	LIST_INSERT_HEAD(&g->conns, c, entry);
	if (++g->active >= g->limit)
		fwd_group_pause(g);
	admit(c, now);
}

/* Out of descriptors: stop accepting for a moment rather than spin on the listener. A
 * connection that ends meanwhile resumes it at once (conn_free). */
static void accept_pause(struct fwd_group *g)
{
	fwd_group_pause(g);
	loop_timer_arm(g->gw->loop, &g->resume, loop_now() + FWD_RETRY_NS);
}

static void accept_failed(struct fwd_group *g, int err)
{
	log_limited(LOG_LEVEL_WARN, "%s: accept: %s", fwd_group_blame(g)->cfg.name, strerror(err));
	fwd_group_blame(g)->stats.errors[GW_ERR_IO]++;
	accept_pause(g);
}

void fwd_tcp_acceptable(struct loop_fd *lfd, uint32_t events)
{
	struct fwd_group *g = container_of(lfd, struct fwd_group, lfd);
	uint64_t now = loop_now();

	for (int i = 0; i < FWD_ACCEPT_BATCH && !g->paused; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd =
		    accept4(lfd->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0)
			accepted(g, fd, &peer, now);
		else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			return accept_failed(g, errno);
		else if (errno != ECONNABORTED && errno != EINTR)
			return;
	}
}
