/* The gateway on loopback: a real loop in a thread, real sockets, backends in threads. TCP
 * relay both ways with half-close and megabytes checked end to end, in splice and copy mode;
 * PROXY out (v1, v2) and in (required, optional, untrusted); SNI routing with untouched
 * ClientHello bytes; connect retry and timeout; the PROXY header deadline against a dripping
 * client; MaxConnections; idle timeout; UDP flows with the v2 prefix and expiry. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include "check.h"
#include "fwd.h"
#include "gateway.h"
#include "log.h"
#include "proxy.h"

/* ---- little helpers ---- */

static uint64_t now_ms(void)
{
	return loop_now() / NSEC_PER_MSEC;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

static int port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	getsockname(fd, (struct sockaddr *)&sa, &len);
	return ntohs(sa.sin_port);
}

/* A socket bound to a free loopback port (not yet listening). */
static int bound(int type)
{
	struct sockaddr_in sa = loopback(0);
	int fd = socket(AF_INET, type, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		perror("bind");
	return fd;
}

static int free_port(int type)
{
	int fd = bound(type), port = port_of(fd);

	close(fd);
	return port;
}

static void set_timeout(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int dial(int port)
{
	struct sockaddr_in sa = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	set_timeout(fd, 5000);
	return fd;
}

static ssize_t recv_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, 0);

		if (n <= 0)
			return n < 0 ? -1 : (ssize_t)got;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static bool echoes(int fd, const void *msg, size_t len)
{
	char buf[4096];

	if (send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
		return false;
	return recv_exact(fd, buf, len) == (ssize_t)len && !memcmp(buf, msg, len);
}

/* true when the peer closed or reset within ms, with no data first. */
static bool closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, ms) != 1)
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static bool silent_for(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 0;
}

/* ---- the gateway in a thread ---- */

struct gw {
	struct porthole_config cfg;
	struct loop loop;
	struct gateway *gw;
	pthread_t th;
};

static void *gw_thread(void *arg)
{
	struct gw *g = arg;

	loop_run(&g->loop);
	return NULL;
}

static bool gw_start(struct gw *g, const char *fmt, ...)
{
	char text[4096], err[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	memset(g, 0, sizeof(*g));
	if (config_parse_string(&g->cfg, "test", text, err, sizeof(err)) < 0) {
		fprintf(stderr, "config: %s\n", err);
		return false;
	}
	if (loop_init(&g->loop) < 0)
		return false;
	if (gateway_open(&g->gw, &g->loop, &g->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "gateway: %s\n", err);
		loop_free(&g->loop);
		config_free(&g->cfg);
		return false;
	}
	pthread_create(&g->th, NULL, gw_thread, g);
	return true;
}

static void gw_pause(struct gw *g)
{
	loop_stop(&g->loop);
	pthread_join(g->th, NULL);
}

/* Counters are the loop thread's: read them with the loop stopped. */
static struct gateway_stats gw_stats(struct gw *g, size_t i)
{
	struct gateway_stats st = {0};

	gw_pause(g);
	CHECK(gateway_stats(g->gw, i, &st));
	pthread_create(&g->th, NULL, gw_thread, g);
	return st;
}

static void gw_stop(struct gw *g)
{
	gw_pause(g);
	gateway_close(g->gw);
	loop_free(&g->loop);
	config_free(&g->cfg);
}

/* ---- TCP backends: echo, optionally after reading a PROXY header ---- */

enum { BACKEND_CONNS = 16 };

struct backend {
	int fd, port, id;
	bool want_proxy;
	unsigned int listen_after_ms;
	atomic_bool stop;
	atomic_int conns;
	pthread_t th, handlers[BACKEND_CONNS];
	int nhandlers;
	pthread_mutex_t lock;
	struct pp_header hdr;
	bool got_hdr;
};

struct handler_arg {
	struct backend *b;
	int fd;
};

static bool read_header(struct backend *b, int fd, uint8_t *buf, size_t *rest)
{
	struct pp_parser p;
	struct pp_header h;
	size_t consumed;

	pp_parser_init(&p, PP_ACCEPT_ANY);
	for (;;) {
		ssize_t n = recv(fd, buf, 1, 0); /* byte by byte: never read past the header */
		enum pp_result r;

		if (n <= 0)
			return false;
		r = pp_parse(&p, buf, 1, &consumed, &h);
		if (r == PP_DONE)
			break;
		if (r != PP_NEED_MORE)
			return false;
	}
	pthread_mutex_lock(&b->lock);
	b->hdr = h;
	b->got_hdr = true;
	pthread_mutex_unlock(&b->lock);
	*rest = 0;
	return true;
}

static void *handler(void *arg)
{
	struct handler_arg *a = arg;
	static _Thread_local uint8_t buf[65536];
	size_t rest = 0;
	ssize_t n;

	set_timeout(a->fd, 10000);
	if (a->b->want_proxy && !read_header(a->b, a->fd, buf, &rest))
		goto out;
	while ((n = recv(a->fd, buf, sizeof(buf), 0)) > 0) {
		if (send(a->fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	}
	shutdown(a->fd, SHUT_WR);
out:
	close(a->fd);
	free(a);
	return NULL;
}

static void *backend_thread(void *arg)
{
	struct backend *b = arg;

	if (b->listen_after_ms) {
		sleep_ms(b->listen_after_ms);
		listen(b->fd, 16);
	}
	while (!atomic_load(&b->stop)) {
		struct pollfd p = {.fd = b->fd, .events = POLLIN};
		struct handler_arg *a;
		int fd;

		if (poll(&p, 1, 50) != 1)
			continue;
		fd = accept(b->fd, NULL, NULL);
		if (fd < 0 || b->nhandlers == BACKEND_CONNS) {
			close(fd);
			continue;
		}
		atomic_fetch_add(&b->conns, 1);
		a = malloc(sizeof(*a));
		*a = (struct handler_arg){.b = b, .fd = fd};
		pthread_create(&b->handlers[b->nhandlers++], NULL, handler, a);
	}
	return NULL;
}

static void backend_start(struct backend *b, int id, bool want_proxy, unsigned int delay_ms)
{
	memset(b, 0, sizeof(*b));
	b->id = id;
	b->want_proxy = want_proxy;
	b->listen_after_ms = delay_ms;
	pthread_mutex_init(&b->lock, NULL);
	b->fd = bound(SOCK_STREAM);
	b->port = port_of(b->fd);
	if (!delay_ms)
		listen(b->fd, 16);
	pthread_create(&b->th, NULL, backend_thread, b);
}

static void backend_stop(struct backend *b)
{
	atomic_store(&b->stop, true);
	pthread_join(b->th, NULL);
	for (int i = 0; i < b->nhandlers; i++)
		pthread_join(b->handlers[i], NULL);
	close(b->fd);
	pthread_mutex_destroy(&b->lock);
}

static struct pp_header backend_header(struct backend *b, bool *got)
{
	struct pp_header h;

	pthread_mutex_lock(&b->lock);
	h = b->hdr;
	*got = b->got_hdr;
	pthread_mutex_unlock(&b->lock);
	return h;
}

/* ---- TCP relay ---- */

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

struct bulk {
	int fd;
	size_t len;
	uint32_t sum;
};

static void *bulk_writer(void *arg)
{
	struct bulk *w = arg;
	uint8_t buf[8192];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t sent = 0;

	w->sum = 2166136261u;
	while (sent < w->len) {
		size_t n = MIN(sizeof(buf), w->len - sent);

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		w->sum = fnv(w->sum, buf, n);
		if (send(w->fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
			break;
		sent += n;
	}
	shutdown(w->fd, SHUT_WR); /* the half-close must reach the backend and come back */
	return NULL;
}

static void check_relay(bool splice)
{
	enum { BULK = 3 * 1024 * 1024 + 17 };
	struct backend b;
	struct gw g;
	struct bulk w;
	pthread_t th;
	static uint8_t buf[65536];
	uint32_t sum = 2166136261u;
	size_t got = 0;
	ssize_t n;
	int port = free_port(SOCK_STREAM), fd;
	struct gateway_stats st;

	backend_start(&b, 0, false, 0);
	if (!gw_start(&g,
		      "[Forward]\nName = plain\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		      "Splice = %s\n",
		      port, b.port, splice ? "auto" : "off")) {
		CHECK(false);
		backend_stop(&b);
		return;
	}
	fd = dial(port);
	CHECK(fd >= 0);
	CHECK(echoes(fd, "hello", 5));
	CHECK(echoes(fd, "again", 5));
	w = (struct bulk){.fd = fd, .len = BULK};
	pthread_create(&th, NULL, bulk_writer, &w);
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		sum = fnv(sum, buf, (size_t)n);
		got += (size_t)n;
	}
	pthread_join(th, NULL);
	CHECK(n == 0); /* EOF: the backend saw ours and closed its side */
	CHECK(got == BULK);
	CHECK(sum == w.sum);
	close(fd);
	sleep_ms(100);
	st = gw_stats(&g, 0);
	CHECK(st.total == 1 && st.active == 0);
	CHECK(st.bytes_in == BULK + 10 && st.bytes_out == BULK + 10);
	CHECK(st.splice_fallbacks == 0);
	for (int i = 0; i < GW_ERR_MAX; i++)
		CHECK(st.errors[i] == 0);
	gw_stop(&g);
	backend_stop(&b);
}

static void test_relay_splice(void)
{
	check_relay(true);
}

static void test_relay_copy(void)
{
	check_relay(false);
}

/* Half-close the other way: the target ends first, the client keeps sending. */
/* A connected TCP pair on loopback: *a dials, *b is accepted. */
static void tcp_pair(int *a, int *b)
{
	int l = bound(SOCK_STREAM);

	listen(l, 1);
	*a = dial(port_of(l));
	*b = accept(l, NULL, NULL);
	close(l);
}

/* A destination that stops reading fills the direction's buffer or pipe; that is back-pressure,
 * not an end of stream: nothing may be shut down, and every byte must arrive once it reads
 * again. (The bug this guards against cut uploads through a slow tunnel short.) */
static void check_pump_backpressure(bool splice, size_t chunk)
{
	enum { CHUNK = 65536, TOTAL = 64 << 20 };
	static uint8_t buf[CHUNK], dirbuf[FWD_BUF_SIZE];
	int one = 1;
	struct fwd_dir d = {.buf = dirbuf, .pipe = {-1, -1}, .may_splice = splice};
	int src_w, src_r, dst_w, dst_r, errors = 0;
	size_t sent = 0, got = 0;
	bool at_source, again, moved, full = false;
	uint64_t counter = 0;
	uint32_t sum_in = 2166136261u, sum_out = 2166136261u;

	tcp_pair(&src_w, &src_r);
	tcp_pair(&dst_w, &dst_r);
	fcntl(src_r, F_SETFL, O_NONBLOCK);
	fcntl(dst_w, F_SETFL, O_NONBLOCK);
	fcntl(src_w, F_SETFL, O_NONBLOCK);
	fcntl(dst_r, F_SETFL, O_NONBLOCK);
	/* Small segments, each its own page fragment: a pipe then runs out of slots (it counts
	 * buffers, not bytes) long before its byte capacity, and splice() says EAGAIN. */
	setsockopt(src_w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Phase 1: the source sends until everything between it and the unread destination is
	 * full, the direction's own buffer or pipe included. */
	for (int round = 0; round < 200000 && sent < TOTAL && !full; round++) {
		ssize_t n;

		bool moved_now = false;

		for (size_t i = 0; i < chunk; i++)
			buf[i] = (uint8_t)((sent + i) * 31 + 7);
		n = send(src_w, buf, chunk, MSG_NOSIGNAL);
		if (n > 0) {
			sum_in = fnv(sum_in, buf, (size_t)n);
			sent += (size_t)n;
		}
		/* An edge only when bytes arrived, as edge-triggered epoll gives them: a pump
		 * that stops reading a socket it has not emptied never hears of it again. */
		if (n > 0)
			fwd_dir_events(&d, EPOLLIN);
		errors += fwd_dir_pump(&d, src_r, dst_w, &counter, &at_source, &again,
				       &moved_now) != 0;
		/* Stuck: the source cannot send and the pump moved nothing. */
		full = n < 0 && !moved_now;
	}
	CHECK(full);
	CHECK(!d.eof && !d.shut);
	/* A bulk transfer takes a pipe when allowed, and only then. */
	CHECK(splice == (d.pipe[0] >= 0));
	/* Phase 2: the source finishes, the destination reads everything. */
	shutdown(src_w, SHUT_WR);
	for (int round = 0; round < 1000000 && !d.shut; round++) {
		ssize_t n;

		if (!round) /* the FIN's edge, once; after it only the destination's EPOLLOUT */
			fwd_dir_events(&d, EPOLLIN | EPOLLRDHUP);
		errors += fwd_dir_pump(&d, src_r, dst_w, &counter, &at_source, &again, &moved) != 0;
		while ((n = recv(dst_r, buf, sizeof(buf), 0)) > 0) {
			sum_out = fnv(sum_out, buf, (size_t)n);
			got += (size_t)n;
		}
	}
	CHECK(errors == 0);
	CHECK(d.shut);
	for (int round = 0; round < 1000; round++) {
		ssize_t n = recv(dst_r, buf, sizeof(buf), 0);

		if (n == 0)
			break;
		if (n > 0) {
			sum_out = fnv(sum_out, buf, (size_t)n);
			got += (size_t)n;
		} else {
			sleep_ms(1);
		}
	}
	CHECK(got == sent && sent > 0);
	CHECK(sum_in == sum_out);
	fwd_dir_close(&d);
	close(src_w), close(src_r), close(dst_w), close(dst_r);
}

/* A small exchange stays on the copy path: no pipe, and after a short read the source is not
 * read again until its next edge (one recv and one send per message). A FIN that came with the
 * data is still seen. */
static void test_pump_small_exchange(void)
{
	static uint8_t dirbuf[FWD_BUF_SIZE];
	struct fwd_dir d = {.buf = dirbuf, .pipe = {-1, -1}, .may_splice = true};
	int src_w, src_r, dst_w, dst_r, errors = 0;
	bool at_source, again, moved;
	uint64_t counter = 0;
	char buf[64];

	tcp_pair(&src_w, &src_r);
	tcp_pair(&dst_w, &dst_r);
	fcntl(src_r, F_SETFL, O_NONBLOCK);
	set_timeout(dst_r, 5000);
	for (int i = 0; i < 100; i++) {
		/* Loopback delivers within send(): the bytes are there when the pump runs. */
		CHECK(send(src_w, "ping", 4, 0) == 4);
		fwd_dir_events(&d, EPOLLIN);
		errors += fwd_dir_pump(&d, src_r, dst_w, &counter, &at_source, &again, &moved) != 0;
		CHECK(!d.readable);
		CHECK(recv_exact(dst_r, buf, 4) == 4 && !memcmp(buf, "ping", 4));
	}
	CHECK(errors == 0);
	CHECK(counter == 400);
	CHECK(d.pipe[0] < 0 && d.pipe[1] < 0);
	/* The last bytes and the FIN arrive together; EPOLLRDHUP says so. */
	CHECK(send(src_w, "bye", 3, 0) == 3);
	shutdown(src_w, SHUT_WR);
	sleep_ms(20);
	fwd_dir_events(&d, EPOLLIN | EPOLLRDHUP);
	CHECK(fwd_dir_pump(&d, src_r, dst_w, &counter, &at_source, &again, &moved) == 0);
	CHECK(d.eof && d.shut);
	CHECK(recv_exact(dst_r, buf, 3) == 3 && !memcmp(buf, "bye", 3));
	CHECK(recv(dst_r, buf, 1, 0) == 0);
	close(src_w), close(src_r), close(dst_w), close(dst_r);
}

static void test_pump_backpressure_splice(void)
{
	check_pump_backpressure(true, 65536);
	check_pump_backpressure(true, 1380);
}

static void test_pump_backpressure_copy(void)
{
	check_pump_backpressure(false, 65536);
}

static void test_half_close_from_target(void)
{
	int lfd = bound(SOCK_STREAM), port = free_port(SOCK_STREAM), fd, t;
	struct gw g;
	char buf[16];

	listen(lfd, 4);
	CHECK(gw_start(&g, "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n", port,
		       port_of(lfd)));
	fd = dial(port);
	t = accept(lfd, NULL, NULL);
	set_timeout(t, 5000);
	CHECK(send(t, "bye", 3, 0) == 3);
	shutdown(t, SHUT_WR);
	CHECK(recv_exact(fd, buf, 3) == 3 && !memcmp(buf, "bye", 3));
	CHECK(recv(fd, buf, 1, 0) == 0);    /* FIN passed on */
	CHECK(send(fd, "more", 4, 0) == 4); /* and the client's direction still flows */
	CHECK(recv_exact(t, buf, 4) == 4 && !memcmp(buf, "more", 4));
	close(fd);
	CHECK(recv(t, buf, 1, 0) == 0);
	close(t);
	gw_stop(&g);
	close(lfd);
}

/* A reset from the target reaches the client as a reset. */
static void test_reset_passed_on(void)
{
	static const struct linger rst = {.l_onoff = 1, .l_linger = 0};
	int lfd = bound(SOCK_STREAM), port = free_port(SOCK_STREAM), fd, t;
	struct gateway_stats st;
	struct gw g;
	char c;

	listen(lfd, 4);
	CHECK(gw_start(&g, "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n", port,
		       port_of(lfd)));
	fd = dial(port);
	t = accept(lfd, NULL, NULL);
	CHECK(send(fd, "x", 1, 0) == 1);
	CHECK(recv(t, &c, 1, 0) == 1);
	setsockopt(t, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	close(t);
	CHECK(recv(fd, &c, 1, 0) < 0 && errno == ECONNRESET);
	close(fd);
	st = gw_stats(&g, 0);
	CHECK(st.errors[GW_ERR_RESET] == 1);
	gw_stop(&g);
	close(lfd);
}

/* ---- PROXY out ---- */

static void check_send_proxy(int version)
{
	struct backend b;
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	struct pp_header h;
	struct gw g;
	bool got;
	int port = free_port(SOCK_STREAM), fd;

	backend_start(&b, 0, true, 0);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\nSendProxy = v%d\n",
		       port, b.port, version));
	fd = dial(port);
	getsockname(fd, (struct sockaddr *)&me, &len);
	CHECK(echoes(fd, "payload", 7));
	close(fd);
	h = backend_header(&b, &got);
	CHECK(got);
	CHECK(h.version == version && h.command == PP_CMD_PROXY);
	CHECK(h.addr.family == AF_INET && h.addr.transport == PP_TRANSPORT_STREAM);
	CHECK(h.addr.src.v4.s_addr == me.sin_addr.s_addr);
	CHECK(h.addr.src_port == ntohs(me.sin_port));
	CHECK(h.addr.dst_port == port);
	if (version == 2) {
		CHECK(h.present & PP_HAS_UNIQUE_ID);
		CHECK(h.unique_id_len == 16);
		CHECK(!(h.present & PP_HAS_AUTHORITY)); /* no SNI was read */
	}
	gw_stop(&g);
	backend_stop(&b);
}

static void test_send_proxy_v1(void)
{
	check_send_proxy(1);
}

static void test_send_proxy_v2(void)
{
	check_send_proxy(2);
}

/* ---- PROXY in ---- */

static const char v1_header[] = "PROXY TCP4 192.0.2.7 127.0.0.1 4321 80\r\n";

/* A forward accepting PROXY in and sending v2 out: the backend sees whose address? */
static void check_accept(const char *mode, const char *trusted, const char *send_first,
			 bool expect_ok, const char *expect_src)
{
	struct backend b;
	struct pp_header h;
	struct gw g;
	bool got;
	int port = free_port(SOCK_STREAM), fd;

	backend_start(&b, 0, true, 0);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "SendProxy = v2\nAcceptProxy = %s\nTrustedProxies = %s\n",
		       port, b.port, mode, trusted));
	fd = dial(port);
	if (send_first)
		CHECK(send(fd, send_first, strlen(send_first), MSG_NOSIGNAL) > 0);
	if (expect_ok) {
		CHECK(echoes(fd, "GET / HTTP/1.0\r\n", 16));
		h = backend_header(&b, &got);
		CHECK(got && h.addr.family == AF_INET);
		CHECK(h.addr.src.v4.s_addr == inet_addr(expect_src));
	} else {
		CHECK(closed_within(fd, 2000));
		CHECK(atomic_load(&b.conns) == 0);
	}
	close(fd);
	gw_stop(&g);
	backend_stop(&b);
}

static void test_accept_proxy(void)
{
	/* required, from a trusted proxy: the header's client is passed on */
	check_accept("required", "127.0.0.1/32", v1_header, true, "192.0.2.7");
	/* required, plain bytes: refused */
	check_accept("required", "127.0.0.1/32", "GET / HTTP/1.0\r\n", false, NULL);
	/* required, untrusted source: refused whatever it sends */
	check_accept("required", "10.0.0.0/8", v1_header, false, NULL);
	/* optional, trusted, with a header */
	check_accept("optional", "127.0.0.1/32", v1_header, true, "192.0.2.7");
	/* optional, trusted, plain: the detected bytes are replayed intact (echoes() checks) */
	check_accept("optional", "127.0.0.1/32", NULL, true, "127.0.0.1");
	/* optional, untrusted, plain: fine */
	check_accept("optional", "10.0.0.0/8", NULL, true, "127.0.0.1");
	/* optional, untrusted, with a header: refused */
	check_accept("optional", "10.0.0.0/8", v1_header, false, NULL);
}

/* A v2 header from a trusted proxy, then AllowFrom judged on the address it carries. */
static void test_accept_v2_allow_from(void)
{
	struct pp_header in = {.version = 2, .command = PP_CMD_PROXY};
	struct sockaddr_in src = loopback(1111), dst = loopback(80);
	uint8_t hdr[256];
	struct backend b;
	struct gw g;
	int port = free_port(SOCK_STREAM), fd, n;
	struct gateway_stats st;

	backend_start(&b, 0, false, 0);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "AcceptProxy = required\nTrustedProxies = 127.0.0.1\n"
		       "AllowFrom = 198.51.100.0/24\n",
		       port, b.port));
	src.sin_addr.s_addr = inet_addr("198.51.100.9");
	CHECK(pp_addr_set(&in.addr, PP_TRANSPORT_STREAM, (struct sockaddr *)&src,
			  (struct sockaddr *)&dst) == 0);
	n = pp_build_v2(hdr, sizeof(hdr), &in, 0);
	CHECK(n > 0);
	fd = dial(port);
	CHECK(send(fd, hdr, (size_t)n, 0) == n);
	CHECK(echoes(fd, "ok", 2));
	close(fd);
	/* the same header with a client outside AllowFrom */
	src.sin_addr.s_addr = inet_addr("203.0.113.9");
	CHECK(pp_addr_set(&in.addr, PP_TRANSPORT_STREAM, (struct sockaddr *)&src,
			  (struct sockaddr *)&dst) == 0);
	n = pp_build_v2(hdr, sizeof(hdr), &in, 0);
	fd = dial(port);
	CHECK(send(fd, hdr, (size_t)n, 0) == n);
	CHECK(closed_within(fd, 2000));
	close(fd);
	/* a malformed header: bad version nibble */
	hdr[12] = 0x31;
	fd = dial(port);
	CHECK(send(fd, hdr, (size_t)n, 0) == n);
	CHECK(closed_within(fd, 2000));
	close(fd);
	sleep_ms(50);
	st = gw_stats(&g, 0);
	CHECK(st.errors[GW_ERR_DENIED] == 1);
	CHECK(st.errors[GW_ERR_PROXY] == 1 && st.proxy_failures == 1);
	gw_stop(&g);
	backend_stop(&b);
}

/* The deadline runs from accept: one byte a second does not extend it. */
static void test_proxy_deadline(void)
{
	struct backend b;
	struct gw g;
	int port = free_port(SOCK_STREAM), fd;
	uint64_t start;
	bool closed = false;

	backend_start(&b, 0, false, 0);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "AcceptProxy = required\nTrustedProxies = 127.0.0.1\n",
		       port, b.port));
	fd = dial(port);
	start = now_ms();
	for (size_t i = 0; i < 10 && !closed; i++) {
		if (send(fd, &v1_header[i], 1, MSG_NOSIGNAL) != 1)
			break;
		closed = closed_within(fd, 1000);
	}
	CHECK(closed);
	CHECK(now_ms() - start >= 2900 && now_ms() - start < 4500);
	close(fd);
	gw_stop(&g);
	backend_stop(&b);
}

/* ---- SNI routing ---- */

/* A minimal TLS 1.2 ClientHello naming host (none when NULL). */
static size_t client_hello(uint8_t *out, const char *host)
{
	size_t hl = host ? strlen(host) : 0, ext = host ? 9 + hl : 0;
	size_t body = 2 + 32 + 1 + 4 + 2 + 2 + ext, p = 0;

	out[p++] = 0x16, out[p++] = 3, out[p++] = 1;
	out[p++] = (uint8_t)((body + 4) >> 8), out[p++] = (uint8_t)(body + 4);
	out[p++] = 1, out[p++] = 0, out[p++] = (uint8_t)(body >> 8), out[p++] = (uint8_t)body;
	out[p++] = 3, out[p++] = 3;
	memset(out + p, 0x5a, 32), p += 32;
	out[p++] = 0;						      /* session id */
	out[p++] = 0, out[p++] = 2, out[p++] = 0x13, out[p++] = 0x01; /* cipher suites */
	out[p++] = 1, out[p++] = 0;				      /* compression */
	out[p++] = (uint8_t)(ext >> 8), out[p++] = (uint8_t)ext;
	if (host) {
		out[p++] = 0, out[p++] = 0; /* server_name */
		out[p++] = (uint8_t)((hl + 5) >> 8), out[p++] = (uint8_t)(hl + 5);
		out[p++] = (uint8_t)((hl + 3) >> 8), out[p++] = (uint8_t)(hl + 3);
		out[p++] = 0;
		out[p++] = (uint8_t)(hl >> 8), out[p++] = (uint8_t)hl;
		memcpy(out + p, host, hl), p += hl;
	}
	return p;
}

/* Sends bytes, expects them echoed untouched; returns which backend got the connection. */
static int sni_reaches(int port, const uint8_t *msg, size_t len, struct backend *bs, int nb)
{
	int before[3], fd = dial(port), who = -1;

	for (int i = 0; i < nb; i++)
		before[i] = atomic_load(&bs[i].conns);
	if (fd < 0)
		return -2;
	if (!echoes(fd, msg, len)) {
		close(fd);
		return -1;
	}
	close(fd);
	for (int i = 0; i < nb; i++) {
		if (atomic_load(&bs[i].conns) != before[i])
			who = i;
	}
	return who;
}

static void test_sni(void)
{
	struct backend bs[3];
	uint8_t hello[512];
	struct gw g, g2;
	int port = free_port(SOCK_STREAM), port2 = free_port(SOCK_STREAM), fd;
	size_t n;
	struct gateway_stats st;

	for (int i = 0; i < 3; i++)
		backend_start(&bs[i], i, false, 0);
	CHECK(gw_start(&g,
		       "[Forward]\nName = a\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "ServerName = a.example.org\n"
		       "[Forward]\nName = b\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "ServerName = *.b.example.org\nSendProxy = off\n"
		       "[Forward]\nName = dflt\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n",
		       port, bs[0].port, port, bs[1].port, port, bs[2].port));
	n = client_hello(hello, "a.example.org");
	CHECK(sni_reaches(port, hello, n, bs, 3) == 0);
	n = client_hello(hello, "x.y.B.example.org");
	CHECK(sni_reaches(port, hello, n, bs, 3) == 1);
	n = client_hello(hello, "other.example.net");
	CHECK(sni_reaches(port, hello, n, bs, 3) == 2);
	n = client_hello(hello, NULL);
	CHECK(sni_reaches(port, hello, n, bs, 3) == 2);
	CHECK(sni_reaches(port, (const uint8_t *)"SSH-2.0-x\r\n", 11, bs, 3) == 2);
	/* a ClientHello split in three writes still routes */
	n = client_hello(hello, "a.example.org");
	fd = dial(port);
	for (size_t off = 0; off < n; off += 20) {
		CHECK(send(fd, hello + off, MIN((size_t)20, n - off), 0) > 0);
		sleep_ms(20);
	}
	CHECK(recv_exact(fd, hello + 256, n) == (ssize_t)n && !memcmp(hello, hello + 256, n));
	close(fd);
	/* a malformed ClientHello is closed, not routed to the default */
	n = client_hello(hello, "a..example.org"); /* an empty label */
	fd = dial(port);
	CHECK(send(fd, hello, n, 0) == (ssize_t)n);
	CHECK(closed_within(fd, 2000));
	close(fd);
	sleep_ms(50);
	st = gw_stats(&g, 2);
	CHECK(st.errors[GW_ERR_SNI] == 1);
	st = gw_stats(&g, 0);
	CHECK(st.total == 2);
	gw_stop(&g);

	/* no default: no match is closed */
	CHECK(gw_start(&g2,
		       "[Forward]\nName = a\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "ServerName = a.example.org\nSendProxy = v2\n",
		       port2, bs[0].port));
	n = client_hello(hello, "b.example.org");
	CHECK(sni_reaches(port2, hello, n, bs, 3) == -1);
	CHECK(sni_reaches(port2, (const uint8_t *)"plain", 5, bs, 3) == -1);
	gw_stop(&g2);
	for (int i = 0; i < 3; i++)
		backend_stop(&bs[i]);
}

/* SendProxy v2 behind SNI routing carries the name as AUTHORITY. */
static void test_sni_authority(void)
{
	struct backend b;
	uint8_t hello[256], back[256];
	struct pp_header h;
	struct gw g;
	bool got;
	int port = free_port(SOCK_STREAM), fd;
	size_t n = client_hello(hello, "git.example.com");

	backend_start(&b, 0, true, 0);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "ServerName = git.example.com\nSendProxy = v2\n",
		       port, b.port));
	fd = dial(port);
	CHECK(send(fd, hello, n, 0) == (ssize_t)n);
	CHECK(recv_exact(fd, back, n) == (ssize_t)n && !memcmp(back, hello, n));
	close(fd);
	h = backend_header(&b, &got);
	CHECK(got && (h.present & PP_HAS_AUTHORITY));
	CHECK(!strcmp(h.authority, "git.example.com"));
	gw_stop(&g);
	backend_stop(&b);
}

/* ---- connecting ---- */

static void test_connect_retry(void)
{
	struct backend b;
	struct gw g;
	int port = free_port(SOCK_STREAM), fd;

	backend_start(&b, 0, false, 500); /* refuses for half a second */
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "ConnectTimeout = 3s\n",
		       port, b.port));
	fd = dial(port);
	CHECK(echoes(fd, "late", 4));
	close(fd);
	gw_stop(&g);
	backend_stop(&b);
}

static void test_connect_timeout(void)
{
	int port = free_port(SOCK_STREAM), dead = free_port(SOCK_STREAM), fd;
	struct gateway_stats st;
	struct gw g;
	uint64_t start;

	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "ConnectTimeout = 1s\n",
		       port, dead));
	fd = dial(port);
	start = now_ms();
	CHECK(closed_within(fd, 3000));
	CHECK(now_ms() - start >= 800 && now_ms() - start < 2000);
	close(fd);
	st = gw_stats(&g, 0);
	CHECK(st.errors[GW_ERR_CONNECT] == 1 && st.active == 0);
	gw_stop(&g);
}

/* ---- limits and timeouts ---- */

static void test_max_connections(void)
{
	struct backend b;
	struct gw g;
	int port = free_port(SOCK_STREAM), fd[3];
	struct gateway_stats st;
	char buf[2];

	backend_start(&b, 0, false, 0);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "MaxConnections = 2\n",
		       port, b.port));
	fd[0] = dial(port);
	fd[1] = dial(port);
	CHECK(echoes(fd[0], "1", 1) && echoes(fd[1], "2", 1));
	fd[2] = dial(port); /* completes in the kernel backlog */
	CHECK(fd[2] >= 0);
	CHECK(send(fd[2], "3", 1, 0) == 1);
	CHECK(silent_for(fd[2], 300));
	close(fd[0]);
	CHECK(recv_exact(fd[2], buf, 1) == 1 && buf[0] == '3');
	st = gw_stats(&g, 0);
	CHECK(st.active == 2 && st.total == 3);
	close(fd[1]);
	close(fd[2]);
	gw_stop(&g);
	backend_stop(&b);
}

static void test_max_per_source(void)
{
	struct backend b;
	struct gw g;
	int port = free_port(SOCK_STREAM), fd[3];
	struct gateway_stats st;

	backend_start(&b, 0, false, 0);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "MaxConnectionsPerSource = 2\n",
		       port, b.port));
	fd[0] = dial(port);
	fd[1] = dial(port);
	CHECK(echoes(fd[0], "1", 1) && echoes(fd[1], "2", 1));
	fd[2] = dial(port);
	CHECK(closed_within(fd[2], 2000));
	close(fd[2]);
	close(fd[0]);
	sleep_ms(50);
	fd[2] = dial(port); /* below the limit again */
	CHECK(echoes(fd[2], "3", 1));
	st = gw_stats(&g, 0);
	CHECK(st.errors[GW_ERR_LIMIT] == 1);
	close(fd[1]);
	close(fd[2]);
	gw_stop(&g);
	backend_stop(&b);
}

static void test_idle_timeout(void)
{
	struct backend b;
	struct gw g;
	int port = free_port(SOCK_STREAM), fd;
	struct gateway_stats st;
	uint64_t start;

	backend_start(&b, 0, false, 0);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nTarget = 127.0.0.1:%d\n"
		       "IdleTimeout = 1s\n",
		       port, b.port));
	fd = dial(port);
	for (int i = 0; i < 3; i++) { /* activity keeps it alive past the timeout */
		CHECK(echoes(fd, "k", 1));
		sleep_ms(500);
	}
	start = now_ms();
	CHECK(closed_within(fd, 3000));
	CHECK(now_ms() - start >= 400 && now_ms() - start < 1600);
	close(fd);
	st = gw_stats(&g, 0);
	CHECK(st.errors[GW_ERR_IDLE] == 1);
	gw_stop(&g);
	backend_stop(&b);
}

/* ---- UDP ---- */

struct udp_backend {
	int fd;
	bool want_proxy;
	atomic_bool stop;
	pthread_t th;
	struct pp_header hdr;
	atomic_bool got_hdr;
};

static void *udp_backend_thread(void *arg)
{
	struct udp_backend *u = arg;
	static uint8_t buf[65536];

	while (!atomic_load(&u->stop)) {
		struct sockaddr_storage from;
		socklen_t len = sizeof(from);
		struct pollfd p = {.fd = u->fd, .events = POLLIN};
		struct pp_parser pp;
		struct pp_header h;
		size_t consumed = 0;
		ssize_t n;

		if (poll(&p, 1, 50) != 1)
			continue;
		n = recvfrom(u->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		if (n < 0)
			continue;
		if (u->want_proxy) {
			pp_parser_init(&pp, PP_ACCEPT_V2);
			if (pp_parse(&pp, buf, (size_t)n, &consumed, &h) != PP_DONE)
				continue; /* no header, no answer */
			if (!atomic_load(&u->got_hdr)) {
				u->hdr = h;
				atomic_store(&u->got_hdr, true);
			}
		}
		sendto(u->fd, buf + consumed, (size_t)n - consumed, 0, (struct sockaddr *)&from,
		       len);
	}
	return NULL;
}

static bool udp_echoes(int fd, int port, const char *msg)
{
	struct sockaddr_in to = loopback(port);
	char buf[256];
	ssize_t n;

	sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&to, sizeof(to));
	n = recv(fd, buf, sizeof(buf), 0);
	return n == (ssize_t)strlen(msg) && !memcmp(buf, msg, (size_t)n);
}

static void check_udp(bool proxy)
{
	struct udp_backend u = {.want_proxy = proxy};
	int port = free_port(SOCK_DGRAM), c = bound(SOCK_DGRAM), c2 = bound(SOCK_DGRAM);
	struct gateway_stats st;
	struct gw g;

	u.fd = bound(SOCK_DGRAM);
	pthread_create(&u.th, NULL, udp_backend_thread, &u);
	set_timeout(c, 2000);
	set_timeout(c2, 2000);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nProtocol = udp\n"
		       "Target = 127.0.0.1:%d\nSendProxy = %s\nIdleTimeout = 1s\n",
		       port, port_of(u.fd), proxy ? "v2" : "off"));
	CHECK(udp_echoes(c, port, "one"));
	CHECK(udp_echoes(c, port, "two"));
	CHECK(udp_echoes(c2, port, "three"));
	if (proxy) {
		CHECK(atomic_load(&u.got_hdr));
		CHECK(u.hdr.addr.transport == PP_TRANSPORT_DGRAM);
		CHECK(u.hdr.addr.src_port == port_of(c));
		CHECK(u.hdr.addr.dst_port == port);
		CHECK(u.hdr.addr.src.v4.s_addr == htonl(INADDR_LOOPBACK));
	}
	st = gw_stats(&g, 0);
	CHECK(st.active == 2 && st.total == 2);
	CHECK(st.bytes_in == 11 && st.bytes_out == 11);
	sleep_ms(1600);
	st = gw_stats(&g, 0);
	CHECK(st.active == 0); /* both flows expired */
	CHECK(udp_echoes(c, port, "back"));
	st = gw_stats(&g, 0);
	CHECK(st.active == 1 && st.total == 3);
	gw_stop(&g);
	atomic_store(&u.stop, true);
	pthread_join(u.th, NULL);
	close(u.fd);
	close(c);
	close(c2);
}

static void test_udp(void)
{
	check_udp(false);
}

static void test_udp_proxy(void)
{
	check_udp(true);
}

static void test_udp_flow_limit(void)
{
	struct udp_backend u = {0};
	int port = free_port(SOCK_DGRAM), c = bound(SOCK_DGRAM), c2 = bound(SOCK_DGRAM);
	struct gateway_stats st;
	struct gw g;

	u.fd = bound(SOCK_DGRAM);
	pthread_create(&u.th, NULL, udp_backend_thread, &u);
	set_timeout(c, 2000);
	set_timeout(c2, 500);
	CHECK(gw_start(&g,
		       "[Forward]\nListen = 127.0.0.1:%d\nProtocol = udp\n"
		       "Target = 127.0.0.1:%d\nMaxConnections = 1\n",
		       port, port_of(u.fd)));
	CHECK(udp_echoes(c, port, "one"));
	CHECK(!udp_echoes(c2, port, "two"));
	st = gw_stats(&g, 0);
	CHECK(st.active == 1 && st.errors[GW_ERR_LIMIT] == 1);
	gw_stop(&g);
	atomic_store(&u.stop, true);
	pthread_join(u.th, NULL);
	close(u.fd);
	close(c);
	close(c2);
}

/* ---- setup errors ---- */

static void test_open_errors(void)
{
	struct porthole_config cfg = {0};
	struct gateway *gw = NULL;
	struct loop loop;
	char text[256], err[256] = "";
	int fd = bound(SOCK_STREAM);

	listen(fd, 1);
	CHECK(loop_init(&loop) == 0);
	/* the port is taken: the error names the forward and the address */
	snprintf(text, sizeof(text),
		 "[Forward]\nName = busy\nListen = 127.0.0.1:%d\n"
		 "Target = 127.0.0.1:1\n",
		 port_of(fd));
	CHECK(config_parse_string(&cfg, "t", text, err, sizeof(err)) == 0);
	CHECK(gateway_open(&gw, &loop, &cfg, err, sizeof(err)) == -EADDRINUSE);
	CHECK(strstr(err, "busy") && strstr(err, "127.0.0.1"));
	config_free(&cfg);
	loop_free(&loop);
	close(fd);
}

int main(void)
{
	log_set_level(LOG_LEVEL_ERR);
	RUN(test_relay_splice);
	RUN(test_relay_copy);
	RUN(test_pump_small_exchange);
	RUN(test_pump_backpressure_splice);
	RUN(test_pump_backpressure_copy);
	RUN(test_half_close_from_target);
	RUN(test_reset_passed_on);
	RUN(test_send_proxy_v1);
	RUN(test_send_proxy_v2);
	RUN(test_accept_proxy);
	RUN(test_accept_v2_allow_from);
	RUN(test_proxy_deadline);
	RUN(test_sni);
	RUN(test_sni_authority);
	RUN(test_connect_retry);
	RUN(test_connect_timeout);
	RUN(test_max_connections);
	RUN(test_max_per_source);
	RUN(test_idle_timeout);
	RUN(test_udp);
	RUN(test_udp_proxy);
	RUN(test_udp_flow_limit);
	RUN(test_open_errors);
	return check_done("gateway");
}
