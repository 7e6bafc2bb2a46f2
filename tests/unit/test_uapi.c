/* The configuration protocol: requests as `wg` sends them, errors, bounds, the get reply, and
 * the socket edge, against a real `wg` when run as root. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "check.h"
#include "encoding.h"
#include "log.h"
#include "uapi.h"
#include "uapi_sock.h"

/* Test keys (wg genkey / wg pubkey), in base64 and as `wg` sends them in hex. */
#define K1_B64	 "0O6z+wFKDI38mpPs4fI1c8h0kxldh2ertwa90EL0jmA="
#define K1_PUB	 "ifAcZ9GrBsI5cPglgeJVEGSazSA/8M/ZsshUuVvs9Qk="
#define K1_HEX	 "d0eeb3fb014a0c8dfc9a93ece1f23573c87493195d8767abb706bdd042f48e60"
#define P2_B64	 "m01nK/RrK43kjYJfjxHgGj9Kbkv6zCjDiBkVI9MfDHI="
#define P2_HEX	 "9b4d672bf46b2b8de48d825f8f11e01a3f4a6e4bfacc28c388191523d31f0c72"
#define P3_B64	 "8KryDhRUDAZBGVFU4HUwNJIw/hVS6ujOWfh9q2rucDg="
#define P3_HEX	 "f0aaf20e14540c0641195154e07530349230fe1552eae8ce59f87dab6aee7038"
#define PSK_B64	 "yhD1bmaf5uOdm2rKkvTSqyvcdV3/d14RtTYsuLX7RxY="
#define PSK_HEX	 "ca10f56e669fe6e39d9b6aca92f4d2ab2bdc755dff775e11b5362cb8b5fb4716"
#define ZERO_HEX "0000000000000000000000000000000000000000000000000000000000000000"

/* Captured from wireguard-tools v1.0.20210914: `wg set` with every option, `wg setconf`. */
static const char wg_set[] =
    "set=1\nprivate_key=" K1_HEX "\nlisten_port=51820\nfwmark=16\npublic_key=" P2_HEX
    "\npreshared_key=" PSK_HEX "\nendpoint=[2001:db8::1]:51820\n"
    "persistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.0/24\n"
    "allowed_ip=fd00::/64\npublic_key=" P3_HEX "\nremove=true\n\n";
static const char wg_setconf[] =
    "set=1\nprivate_key=" K1_HEX "\nlisten_port=1\nfwmark=0\n"
    "replace_peers=true\npublic_key=" P2_HEX "\nendpoint=192.0.2.1:1234\nreplace_allowed_ips=true\n"
    "allowed_ip=10.1.0.0/16\n\n";

static void PRINTF(3, 4) add(char *buf, size_t len, const char *f, ...)
{
	size_t off = strlen(buf);
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf + off, len - off, f, ap);
	va_end(ap);
}

static void describe_endpoint(char *buf, size_t len, const struct peer_config *p)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr_in *sin = (const void *)&p->endpoint;
	const struct sockaddr_in6 *sin6 = (const void *)&p->endpoint;

	if (p->endpoint.ss_family == AF_INET)
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
	else if (p->endpoint.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
	add(buf, len, " ep=%s,%u", ip, p->endpoint_port);
}

/* A canonical text of a change, so that two changes compare with strcmp. */
static void describe(char *buf, size_t len, const struct interface_config *c)
{
	char hex[KEY_HEX_LEN + 1];

	buf[0] = '\0';
	if (c->has_private_key) {
		key_to_hex(hex, c->private_key);
		add(buf, len, "priv=%.8s", hex);
	}
	if (c->has_listen_port)
		add(buf, len, " port=%u", c->listen_port);
	if (c->has_fwmark)
		add(buf, len, " fwmark=%u", c->fwmark);
	if (c->replace_peers)
		add(buf, len, " replace_peers");
	for (size_t i = 0; i < c->npeers; i++) {
		const struct peer_config *p = &c->peers[i];

		key_to_hex(hex, p->public_key);
		add(buf, len, "\npeer=%.8s", hex);
		if (p->has_psk) {
			key_to_hex(hex, p->preshared_key);
			add(buf, len, " psk=%.8s", hex);
		}
		if (p->has_endpoint)
			describe_endpoint(buf, len, p);
		if (p->has_keepalive)
			add(buf, len, " ka=%u", p->persistent_keepalive);
		add(buf, len, "%s%s%s", p->remove ? " remove" : "",
		    p->update_only ? " update_only" : "",
		    p->replace_allowed_ips ? " replace_ips" : "");
		for (size_t j = 0; j < p->allowed_ips.len; j++) {
			const struct allowed_ip *a = &p->allowed_ips.items[j];
			char ip[INET6_ADDRSTRLEN];

			inet_ntop(a->family, &a->addr, ip, sizeof(ip));
			add(buf, len, " %s/%u", ip, a->cidr);
		}
	}
}

/* Feeds text whole, or in chunks of the given size; returns the status and describes. */
static enum uapi_status feed(struct uapi_parser *p, const char *text, size_t len, size_t chunk)
{
	enum uapi_status st = UAPI_NEED_MORE;
	size_t off = 0, used;

	while (off < len && st == UAPI_NEED_MORE) {
		st = uapi_feed(p, text + off, MIN(chunk, len - off), &used);
		off += used;
	}
	return st;
}

static const char wg_set_described[] =
    "priv=d0eeb3fb port=51820 fwmark=16\n"
    "peer=9b4d672b psk=ca10f56e ep=2001:db8::1,51820 ka=25 replace_ips 10.0.0.0/24 fd00::/64\n"
    "peer=f0aaf20e remove";

static void test_wg_set(void)
{
	struct uapi_parser p;
	char desc[1024];

	uapi_parser_init(&p);
	CHECK(feed(&p, wg_set, strlen(wg_set), SIZE_MAX) == UAPI_DONE);
	CHECK(p.op == UAPI_OP_SET && p.err == 0);
	describe(desc, sizeof(desc), &p.change);
	CHECK(!strcmp(desc, wg_set_described));
	if (strcmp(desc, wg_set_described))
		fprintf(stderr, "  got:\n%s\n", desc);
	CHECK(p.change.npeers == 2 && p.change.peers[0].endpoint_port == 51820);
	uapi_parser_free(&p);
}

static void test_wg_setconf(void)
{
	struct uapi_parser p;
	char desc[1024];
	const char *want = "priv=d0eeb3fb port=1 fwmark=0 replace_peers\n"
			   "peer=9b4d672b ep=192.0.2.1,1234 replace_ips 10.1.0.0/16";

	uapi_parser_init(&p);
	CHECK(feed(&p, wg_setconf, strlen(wg_setconf), SIZE_MAX) == UAPI_DONE);
	describe(desc, sizeof(desc), &p.change);
	CHECK(!strcmp(desc, want));
	uapi_parser_free(&p);
}

/* Every chunking gives the same change as feeding the request whole. */
static void test_chunked(void)
{
	static const size_t chunks[] = {1, 2, 3, 7, 64, 4096};
	const char *reqs[] = {wg_set, wg_setconf};

	for (size_t r = 0; r < ARRAY_SIZE(reqs); r++) {
		struct uapi_parser whole, part;
		char a[1024], b[1024];

		uapi_parser_init(&whole);
		CHECK(feed(&whole, reqs[r], strlen(reqs[r]), SIZE_MAX) == UAPI_DONE);
		describe(a, sizeof(a), &whole.change);
		for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
			uapi_parser_init(&part);
			CHECK(feed(&part, reqs[r], strlen(reqs[r]), chunks[c]) == UAPI_DONE);
			describe(b, sizeof(b), &part.change);
			CHECK(!strcmp(a, b));
			uapi_parser_free(&part);
		}
		uapi_parser_free(&whole);
	}
}

static void test_flags(void)
{
	static const char req[] =
	    "set=1\nprivate_key=" ZERO_HEX "\nfwmark=0\npublic_key=" P2_HEX
	    "\nupdate_only=true\npreshared_key=" ZERO_HEX
	    "\nprotocol_version=1\nendpoint=1.2.3.4:5\n"
	    "persistent_keepalive_interval=0\npublic_key=" P3_HEX "\nreplace_allowed_ips=true\n\n";
	const char *want = "priv=00000000 fwmark=0\n"
			   "peer=9b4d672b psk=00000000 ep=1.2.3.4,5 ka=0 update_only\n"
			   "peer=f0aaf20e replace_ips";
	struct uapi_parser p;
	char desc[1024];

	uapi_parser_init(&p);
	CHECK(feed(&p, req, strlen(req), SIZE_MAX) == UAPI_DONE);
	describe(desc, sizeof(desc), &p.change);
	CHECK(!strcmp(desc, want));
	if (strcmp(desc, want))
		fprintf(stderr, "  got:\n%s\n", desc);
	/* A zero private key is a request to clear it, not an absent key. */
	CHECK(p.change.has_private_key && crypto_is_zero(p.change.private_key, 32));
	CHECK(!p.change.replace_peers && !p.change.has_listen_port);
	uapi_parser_free(&p);
}

static void test_get_request(void)
{
	struct uapi_parser p;
	size_t used;

	uapi_parser_init(&p);
	CHECK(uapi_feed(&p, "get=1\n", 6, &used) == UAPI_NEED_MORE && used == 6);
	CHECK(uapi_feed(&p, "\nget=1\n\n", 8, &used) == UAPI_DONE && used == 1);
	CHECK(p.op == UAPI_OP_GET);
	/* A second request on the same connection, after a reset. */
	uapi_parser_reset(&p);
	CHECK(uapi_feed(&p, "get=1\n\n", 7, &used) == UAPI_DONE && used == 7);
	uapi_parser_reset(&p);
	CHECK(feed(&p, "set=1\n\n", 7, SIZE_MAX) == UAPI_DONE);
	CHECK(p.op == UAPI_OP_SET && p.change.npeers == 0 && !p.change.has_private_key);
	uapi_parser_free(&p);
}

static const struct {
	const char *req;
	int err;
} bad_requests[] = {
    {"put=1\n", EPROTO},
    {"\n", EPROTO},
    {"get=1\nx\n", EINVAL},
    {"get=2\n\n", EPROTO},
    {"set=1\nlisten_port=65536\n", EINVAL},
    {"set=1\nlisten_port=-1\n", EINVAL},
    {"set=1\nlisten_port=\n", EINVAL},
    {"set=1\nfwmark=4294967296\n", EINVAL},
    {"set=1\nfwmark=0x10\n", EINVAL},
    {"set=1\nprivate_key=" K1_B64 "\n", EINVAL},
    {"set=1\nprivate_key=" K1_HEX "0\n", EINVAL},
    {"set=1\nreplace_peers=false\n", EINVAL},
    {"set=1\nfoo=bar\n", EPROTO},
    {"set=1\nlisten_port 1\n", EPROTO},
    {"set=1\nLISTEN_PORT=1\n", EPROTO},
    {"set=1\nallowed_ip=10.0.0.0/8\n", EPROTO},
    {"set=1\npublic_key=" P2_HEX "\nlisten_port=1\n", EPROTO},
    {"set=1\npublic_key=xyz\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nprotocol_version=2\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nendpoint=host.example:1\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nendpoint=2001:db8::1:1\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nendpoint=1.2.3.4:0\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nallowed_ip=10.0.0.1\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nallowed_ip=10.0.0.0/33\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nallowed_ip=::/129\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nremove=1\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nupdate_only=yes\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\nreplace_allowed_ips=\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\npersistent_keepalive_interval=65536\n", EINVAL},
    {"set=1\npublic_key=" P2_HEX "\npreshared_key=" PSK_B64 "\n", EINVAL},
};

static void test_bad_requests(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_requests); i++) {
		for (size_t chunk = 1; chunk <= 4096; chunk *= 4096) {
			struct uapi_parser p;
			const char *req = bad_requests[i].req;
			enum uapi_status st;

			uapi_parser_init(&p);
			st = feed(&p, req, strlen(req), chunk);
			CHECK(st == UAPI_BAD && p.err == bad_requests[i].err);
			if (st != UAPI_BAD || p.err != bad_requests[i].err)
				fprintf(stderr, "  request %zu: status %d errno %d\n", i, st,
					p.err);
			/* Once bad, it stays bad. */
			CHECK(uapi_feed(&p, "\n", 1, NULL) == UAPI_BAD);
			uapi_parser_free(&p);
		}
	}
}

static void test_nul_and_line_bound(void)
{
	char line[UAPI_LINE_MAX + 64];
	struct uapi_parser p;

	uapi_parser_init(&p);
	CHECK(feed(&p, "set=1\nfw\0mark=1\n", 17, SIZE_MAX) == UAPI_BAD && p.err == EPROTO);
	uapi_parser_reset(&p);
	/* Exactly UAPI_LINE_MAX is read and judged on its merits; one more is too long. */
	memset(line, '1', sizeof(line));
	memcpy(line, "fwmark=", 7);
	CHECK(feed(&p, "set=1\n", 6, SIZE_MAX) == UAPI_NEED_MORE);
	CHECK(feed(&p, line, UAPI_LINE_MAX, SIZE_MAX) == UAPI_NEED_MORE);
	CHECK(feed(&p, "\n", 1, SIZE_MAX) == UAPI_BAD && p.err == EINVAL);
	uapi_parser_reset(&p);
	CHECK(feed(&p, "set=1\n", 6, SIZE_MAX) == UAPI_NEED_MORE);
	CHECK(feed(&p, line, UAPI_LINE_MAX + 1, SIZE_MAX) == UAPI_BAD && p.err == EMSGSIZE);
	uapi_parser_free(&p);
}

/* A client that never ends its request is cut off at UAPI_REQUEST_MAX bytes. */
static void test_request_bound(void)
{
	static char chunk[8192];
	struct uapi_parser p;
	enum uapi_status st = UAPI_NEED_MORE;
	size_t total = 6, used;

	for (size_t i = 0; i + 9 <= sizeof(chunk); i += 9)
		memcpy(chunk + i, "fwmark=1\n", 9);
	uapi_parser_init(&p);
	CHECK(uapi_feed(&p, "set=1\n", 6, NULL) == UAPI_NEED_MORE);
	while (st == UAPI_NEED_MORE) {
		size_t n = sizeof(chunk) - sizeof(chunk) % 9;

		st = uapi_feed(&p, chunk, n, &used);
		total += used;
	}
	CHECK(st == UAPI_BAD && p.err == EMSGSIZE);
	CHECK(total == (size_t)UAPI_REQUEST_MAX + 1);
	uapi_parser_free(&p);
}

static void test_allowed_ip_bound(void)
{
	struct uapi_parser p;
	char line[64];
	enum uapi_status st = UAPI_NEED_MORE;
	size_t n = 0;

	uapi_parser_init(&p);
	static const char head[] = "set=1\npublic_key=" P2_HEX "\n";

	CHECK(feed(&p, head, strlen(head), SIZE_MAX) == UAPI_NEED_MORE);
	while (st == UAPI_NEED_MORE && n <= CONFIG_MAX_ALLOWED_IPS) {
		int len = snprintf(line, sizeof(line), "allowed_ip=10.%zu.%zu.0/24\n", n >> 8 & 255,
				   n & 255);

		st = feed(&p, line, (size_t)len, SIZE_MAX);
		n++;
	}
	CHECK(st == UAPI_BAD && p.err == E2BIG && n == CONFIG_MAX_ALLOWED_IPS + 1);
	uapi_parser_free(&p);
}

/* The fake device that get reports. */
static struct allowed_ip fake_ips[2];
static struct uapi_peer_view fake_peers[2];
static struct uapi_device_view fake_dev;

static void fake_init(void)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&fake_peers[0].endpoint;
	bool ok = key_from_base64(fake_dev.private_key, K1_B64) &&
		  key_from_base64(fake_peers[0].public_key, P2_B64) &&
		  key_from_base64(fake_peers[0].preshared_key, PSK_B64) &&
		  key_from_base64(fake_peers[1].public_key, P3_B64);

	CHECK(ok);
	fake_dev.has_private_key = true;
	fake_dev.listen_port = 51820;
	fake_dev.fwmark = 16;
	fake_dev.peers = fake_peers;
	fake_dev.npeers = 2;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(51820);
	inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
	fake_peers[0].last_handshake_sec = 1700000000;
	fake_peers[0].last_handshake_nsec = 5;
	fake_peers[0].tx_bytes = 1000;
	fake_peers[0].rx_bytes = 2000;
	fake_peers[0].persistent_keepalive_interval = 25;
	fake_ips[0] = (struct allowed_ip){.family = AF_INET, .cidr = 24};
	inet_pton(AF_INET, "10.0.0.0", &fake_ips[0].addr.v4);
	fake_ips[1] = (struct allowed_ip){.family = AF_INET6, .cidr = 64};
	inet_pton(AF_INET6, "fd00::", &fake_ips[1].addr.v6);
	fake_peers[0].allowed_ips = fake_ips;
	fake_peers[0].n_allowed_ips = 2;
}

static const char fake_get[] = "private_key=" K1_HEX "\n"
			       "listen_port=51820\n"
			       "fwmark=16\n"
			       "public_key=" P2_HEX "\n"
			       "preshared_key=" PSK_HEX "\n"
			       "protocol_version=1\n"
			       "endpoint=192.0.2.1:51820\n"
			       "last_handshake_time_sec=1700000000\n"
			       "last_handshake_time_nsec=5\n"
			       "tx_bytes=1000\n"
			       "rx_bytes=2000\n"
			       "persistent_keepalive_interval=25\n"
			       "allowed_ip=10.0.0.0/24\n"
			       "allowed_ip=fd00::/64\n"
			       "public_key=" P3_HEX "\n"
			       "preshared_key=" ZERO_HEX "\n"
			       "protocol_version=1\n"
			       "last_handshake_time_sec=0\n"
			       "last_handshake_time_nsec=0\n"
			       "tx_bytes=0\n"
			       "rx_bytes=0\n"
			       "persistent_keepalive_interval=0\n"
			       "errno=0\n\n";

static void test_format_get(void)
{
	struct uapi_device_view empty = {0};
	struct uapi_peer_view v6 = {0};
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&v6.endpoint;
	char *out;
	size_t len;

	CHECK(uapi_format_get(&out, &len, &fake_dev) == 0);
	CHECK(len == strlen(fake_get) && !strcmp(out, fake_get));
	if (strcmp(out, fake_get))
		fprintf(stderr, "  got:\n%s", out);
	free(out);
	/* Nothing set: only the status line. */
	CHECK(uapi_format_get(&out, &len, &empty) == 0);
	CHECK(!strcmp(out, "errno=0\n\n") && len == 9);
	free(out);
	/* IPv6 endpoints are bracketed; a scope is kept numerically. */
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(7);
	sin6->sin6_scope_id = 3;
	inet_pton(AF_INET6, "fe80::1", &sin6->sin6_addr);
	empty.peers = &v6;
	empty.npeers = 1;
	CHECK(uapi_format_get(&out, &len, &empty) == 0);
	CHECK(strstr(out, "\nendpoint=[fe80::1%3]:7\n") != NULL);
	free(out);
}

static void test_format_errno(void)
{
	char buf[UAPI_REPLY_ERRNO_MAX];

	CHECK(uapi_format_errno(buf, 0) == 9 && !strcmp(buf, "errno=0\n\n"));
	CHECK(uapi_format_errno(buf, EINVAL) == 11 && !strcmp(buf, "errno=-22\n\n"));
	CHECK(uapi_format_errno(buf, -EPROTO) == 11 && !strcmp(buf, "errno=-71\n\n"));
}

/* The socket edge: a server thread with an epoll loop, as the daemon will have. */

struct server {
	int listen_fd, stop_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	char last_set[2048];
	int set_result;
	int sets, gets, frees;
};

static int fake_get_cb(void *ctx, struct uapi_device_view *out)
{
	struct server *s = ctx;

	pthread_mutex_lock(&s->lock);
	s->gets++;
	pthread_mutex_unlock(&s->lock);
	*out = fake_dev;
	return 0;
}

static void fake_view_free(void *ctx, struct uapi_device_view *view)
{
	struct server *s = ctx;

	pthread_mutex_lock(&s->lock);
	s->frees++;
	pthread_mutex_unlock(&s->lock);
}

static int fake_set_cb(void *ctx, const struct interface_config *change)
{
	struct server *s = ctx;
	int ret;

	pthread_mutex_lock(&s->lock);
	describe(s->last_set, sizeof(s->last_set), change);
	s->sets++;
	ret = s->set_result;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static void conn_event(int ep, struct uapi_conn *c, const struct uapi_ops *ops, uint32_t events)
{
	struct epoll_event ev = {.data.ptr = c};
	enum uapi_conn_status st =
	    events & EPOLLOUT ? uapi_conn_writable(c, ops) : uapi_conn_readable(c, ops);

	if (st == UAPI_CONN_CLOSED) {
		epoll_ctl(ep, EPOLL_CTL_DEL, uapi_conn_fd(c), NULL);
		uapi_conn_close(c);
		return;
	}
	ev.events = st == UAPI_CONN_DONE ? EPOLLOUT : EPOLLIN;
	epoll_ctl(ep, EPOLL_CTL_MOD, uapi_conn_fd(c), &ev);
}

static void accept_all(int ep, int listen_fd)
{
	struct uapi_conn *c;

	for (;;) {
		c = uapi_conn_accept(listen_fd);
		if (!c && errno == EBUSY)
			continue;
		if (!c)
			return;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_ADD, uapi_conn_fd(c), &ev);
	}
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	const struct uapi_ops ops = {fake_get_cb, fake_view_free, fake_set_cb, s};
	struct epoll_event ev = {.events = EPOLLIN}, evs[16];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ev.data.ptr = &s->listen_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, s->listen_fd, &ev);
	ev.data.ptr = &s->stop_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, s->stop_fd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 16, -1);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &s->stop_fd)
				goto out;
			if (evs[i].data.ptr == &s->listen_fd)
				accept_all(ep, s->listen_fd);
			else
				conn_event(ep, evs[i].data.ptr, &ops, evs[i].events);
		}
	}
out:
	/* Connections still open leak here; the tests close theirs first. */
	close(ep);
	return NULL;
}

static void server_start(struct server *s, int listen_fd)
{
	memset(s, 0, sizeof(*s));
	s->listen_fd = listen_fd;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	pthread_mutex_init(&s->lock, NULL);
	pthread_create(&s->thread, NULL, server_main, s);
}

static void server_stop(struct server *s)
{
	uint64_t one = 1;

	CHECK(write(s->stop_fd, &one, sizeof(one)) == sizeof(one));
	pthread_join(s->thread, NULL);
	close(s->stop_fd);
	close(s->listen_fd);
	pthread_mutex_destroy(&s->lock);
}

static int client(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = 5};

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Sends req, reads until the reply's blank line (or EOF); returns malloc'ed text. */
static char *ask(int fd, const char *req, size_t reqlen)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	ssize_t n;

	if (send(fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen) {
		free(buf);
		return NULL;
	}
	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		/* Only a reply's end has an empty line. */
		if (len >= 2 && !strcmp(buf + len - 2, "\n\n"))
			break;
	}
	buf[len] = '\0';
	return buf;
}

static bool at_eof(int fd)
{
	char c;

	return read(fd, &c, 1) == 0;
}

static void test_sock_listen(void)
{
	char dir[] = "/tmp/porthole-uapi-XXXXXX", path[128];
	struct stat st;
	int fd, fd2;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/t0.sock", dir);
	CHECK(uapi_sock_listen_path(path, &fd) == 0);
	CHECK(!stat(path, &st) && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
	/* A live daemon owns it. */
	CHECK(uapi_sock_listen_path(path, &fd2) == -EADDRINUSE);
	CHECK(!stat(path, &st));
	/* A dead one left it behind: replaced. */
	close(fd);
	CHECK(uapi_sock_listen_path(path, &fd) == 0);
	close(fd);
	unlink(path);
	/* Something that is not a socket is never removed. */
	fd2 = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd2);
	CHECK(uapi_sock_listen_path(path, &fd) == -EEXIST);
	CHECK(!stat(path, &st) && S_ISREG(st.st_mode));
	unlink(path);
	CHECK(uapi_sock_listen("../x", &fd) == -EINVAL);
	CHECK(uapi_sock_listen("", &fd) == -EINVAL);
	CHECK(uapi_sock_listen("0123456789abcdef", &fd) == -EINVAL);
	rmdir(dir);
}

static void test_sock_serve(void)
{
	char dir[] = "/tmp/porthole-uapi-XXXXXX", path[128];
	struct server s;
	char *r;
	int fd, lfd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/t1.sock", dir);
	CHECK(uapi_sock_listen_path(path, &lfd) == 0);
	server_start(&s, lfd);

	/* get, then set, on one connection; then the client hangs up. */
	fd = client(path);
	r = ask(fd, "get=1\n\n", 7);
	CHECK(r && !strcmp(r, fake_get));
	free(r);
	r = ask(fd, wg_set, strlen(wg_set));
	CHECK(r && !strcmp(r, "errno=0\n\n"));
	free(r);
	close(fd);
	pthread_mutex_lock(&s.lock);
	CHECK(s.gets == 1 && s.frees == 1 && s.sets == 1);
	CHECK(!strcmp(s.last_set, wg_set_described));
	s.set_result = -EADDRINUSE;
	pthread_mutex_unlock(&s.lock);

	/* The daemon's refusal goes back as wireguard-go's negative errno. */
	fd = client(path);
	r = ask(fd, wg_setconf, strlen(wg_setconf));
	CHECK(r && !strcmp(r, "errno=-98\n\n"));
	free(r);
	close(fd);

	/* Malformed: an errno reply, then the connection is closed; the server goes on. */
	fd = client(path);
	r = ask(fd, "set=1\nbogus=1\nlisten_port=1\n\n", 30);
	CHECK(r && !strcmp(r, "errno=-71\n\n"));
	CHECK(at_eof(fd));
	free(r);
	close(fd);
	fd = client(path);
	r = ask(fd, "hello\n", 6);
	CHECK(r && !strcmp(r, "errno=-71\n\n"));
	CHECK(at_eof(fd));
	free(r);
	close(fd);

	/* Two requests in one write are both served, in order. */
	fd = client(path);
	r = ask(fd, "get=1\n\nget=1\n\n", 14);
	if (r && strlen(r) < 2 * strlen(fake_get)) {
		char *more = ask(fd, "", 0);
		char *both = malloc(strlen(r) + strlen(more ? more : "") + 1);

		strcpy(both, r);
		strcat(both, more ? more : "");
		free(more);
		free(r);
		r = both;
	}
	CHECK(r && strlen(r) == 2 * strlen(fake_get) && !strncmp(r, fake_get, strlen(fake_get)));
	free(r);
	close(fd);

	server_stop(&s);
	unlink(path);
	rmdir(dir);
}

/* At most UAPI_MAX_CONNS at once; the next one is turned away, and a freed slot is reused. */
static void test_sock_bound(void)
{
	char dir[] = "/tmp/porthole-uapi-XXXXXX", path[128];
	int fds[UAPI_MAX_CONNS + 1], lfd, extra;
	struct server s;
	char *r;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/t2.sock", dir);
	CHECK(uapi_sock_listen_path(path, &lfd) == 0);
	server_start(&s, lfd);
	for (int i = 0; i < UAPI_MAX_CONNS; i++) {
		fds[i] = client(path);
		/* Served, so accepted before the next one connects. */
		r = ask(fds[i], "get=1\n\n", 7);
		CHECK(r && !strcmp(r, fake_get));
		free(r);
	}
	fds[UAPI_MAX_CONNS] = client(path);
	CHECK(fds[UAPI_MAX_CONNS] >= 0 && at_eof(fds[UAPI_MAX_CONNS]));
	close(fds[UAPI_MAX_CONNS]);
	close(fds[0]);
	usleep(100 * 1000);
	extra = client(path);
	r = ask(extra, "get=1\n\n", 7);
	CHECK(r && !strcmp(r, fake_get));
	free(r);
	close(extra);
	for (int i = 1; i < UAPI_MAX_CONNS; i++)
		close(fds[i]);
	usleep(100 * 1000);
	server_stop(&s);
	unlink(path);
	rmdir(dir);
}

static char *run(const char *cmd)
{
	static char out[8192];
	FILE *f = popen(cmd, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	return pclose(f) == 0 ? out : NULL;
}

/* Against the real `wg` (root only: it looks in /var/run/wireguard alone). */
static void test_real_wg(void)
{
	char ifname[IFNAMSIZ], cmd[512], path[128], want[1024];
	struct server s;
	struct stat st;
	char *out;
	int lfd;

	if (geteuid() != 0 || system("wg --version >/dev/null 2>&1")) {
		fprintf(stderr, "  skipping wg interoperability: needs root and wg(8)\n");
		return;
	}
	snprintf(ifname, sizeof(ifname), "ptest%d", (int)getpid() % 100000);
	snprintf(path, sizeof(path), UAPI_SOCK_DIR "/%s.sock", ifname);
	CHECK(uapi_sock_listen(ifname, &lfd) == 0);
	server_start(&s, lfd);

	snprintf(cmd, sizeof(cmd), "wg show %s dump", ifname);
	out = run(cmd);
	snprintf(want, sizeof(want),
		 K1_B64
		 "\t" K1_PUB "\t51820\t0x10\n" P2_B64 "\t" PSK_B64
		 "\t192.0.2.1:51820\t10.0.0.0/24,fd00::/64\t1700000000\t2000\t1000\t25\n" P3_B64
		 "\t(none)\t(none)\t(none)\t0\t0\t0\toff\n");
	CHECK(out && !strcmp(out, want));
	if (!out || strcmp(out, want))
		fprintf(stderr, "  wg show dump gave:\n%s", out ? out : "(failed)\n");

	snprintf(
	    cmd, sizeof(cmd),
	    "wg set %s listen-port 4500 peer " P3_B64
	    " allowed-ips 10.9.0.0/16,fd09::/48 persistent-keepalive 7 endpoint [2001:db8::9]:99",
	    ifname);
	CHECK(run(cmd) != NULL);
	pthread_mutex_lock(&s.lock);
	CHECK(!strcmp(s.last_set, " port=4500\npeer=f0aaf20e ep=2001:db8::9,99 ka=7 replace_ips "
				  "10.9.0.0/16 fd09::/48"));
	if (strcmp(s.last_set, " port=4500\npeer=f0aaf20e ep=2001:db8::9,99 ka=7 replace_ips "
			       "10.9.0.0/16 fd09::/48"))
		fprintf(stderr, "  got: %s\n", s.last_set);
	s.set_result = -EINVAL;
	pthread_mutex_unlock(&s.lock);
	snprintf(cmd, sizeof(cmd), "wg set %s peer " P2_B64 " remove 2>&1", ifname);
	out = run(cmd);
	CHECK(out == NULL); /* wg reports the daemon's error and exits non-zero */
	snprintf(cmd, sizeof(cmd), "wg set %s peer " P2_B64 " remove 2>&1; true", ifname);
	out = run(cmd);
	CHECK(out && strstr(out, "Invalid argument"));

	server_stop(&s);
	uapi_sock_unlink(ifname);
	CHECK(stat(path, &st) && errno == ENOENT);
}

int main(void)
{
	if (crypto_init() < 0)
		return 1;
	log_set_level(LOG_LEVEL_ERR);
	fake_init();
	RUN(test_wg_set);
	RUN(test_wg_setconf);
	RUN(test_chunked);
	RUN(test_flags);
	RUN(test_get_request);
	RUN(test_bad_requests);
	RUN(test_nul_and_line_bound);
	RUN(test_request_bound);
	RUN(test_allowed_ip_bound);
	RUN(test_format_get);
	RUN(test_format_errno);
	RUN(test_sock_listen);
	RUN(test_sock_serve);
	RUN(test_sock_bound);
	RUN(test_real_wg);
	return check_done("uapi");
}
