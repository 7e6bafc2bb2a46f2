/* UDP sockets on loopback: dual-family port-0 binding, batches in and out, the local destination
 * learned from pktinfo and honoured as the reply's source, stale sources, fwmark, GSO. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "udp.h"

static struct udp_batch tx, rx;
static bool have_v6;

static struct endpoint ep4(const char *addr, uint16_t port)
{
	struct endpoint ep = {0};

	ep.addr.in4.sin_family = AF_INET;
	ep.addr.in4.sin_port = htons(port);
	inet_pton(AF_INET, addr, &ep.addr.in4.sin_addr);
	return ep;
}

static struct endpoint ep6(const char *addr, uint16_t port)
{
	struct endpoint ep = {0};

	ep.addr.in6.sin6_family = AF_INET6;
	ep.addr.in6.sin6_port = htons(port);
	inet_pton(AF_INET6, addr, &ep.addr.in6.sin6_addr);
	return ep;
}

static uint32_t size_of(int i)
{
	return 1 + (uint32_t)(i * 977) % 1500;
}

static void fill(struct udp_pkt *p, int i, const struct endpoint *to)
{
	p->len = size_of(i);
	for (uint32_t k = 0; k < p->len; k++)
		p->data[k] = (uint8_t)(i + k);
	p->ep = *to;
}

static bool pattern_ok(const struct udp_pkt *p, int i)
{
	for (uint32_t k = 0; k < p->len; k++)
		if (p->data[k] != (uint8_t)(i + k))
			return false;
	return p->len == size_of(i);
}

/* Receives until want datagrams arrived or a second passed; calls fn on each. */
static int recv_all(int fd, int want, void (*fn)(const struct udp_pkt *, int idx))
{
	int got = 0;

	while (got < want) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n;

		if (poll(&pfd, 1, 1000) <= 0)
			break;
		n = udp_recv_batch(fd, &rx);
		CHECK(n > 0 || n == -EAGAIN);
		for (int i = 0; i < n; i++)
			fn(&rx.pkts[i], got++);
	}
	return got;
}

static void test_endpoint(void)
{
	struct endpoint a = ep4("192.0.2.7", 51820), b = a, c;
	char buf[ENDPOINT_STRLEN];

	CHECK(strcmp(endpoint_to_string(&a, buf, sizeof(buf)), "192.0.2.7:51820") == 0);
	c = ep6("2001:db8::1", 51820);
	CHECK(strcmp(endpoint_to_string(&c, buf, sizeof(buf)), "[2001:db8::1]:51820") == 0);
	c = ep6("fe80::1", 1);
	c.addr.in6.sin6_scope_id = 2;
	CHECK(strcmp(endpoint_to_string(&c, buf, sizeof(buf)), "[fe80::1%2]:1") == 0);
	c = ep6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	c.addr.in6.sin6_scope_id = UINT32_MAX;
	endpoint_to_string(&c, buf, sizeof(buf));
	CHECK(strcmp(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535") == 0);

	CHECK(endpoint_eq(&a, &b));
	b.addr.in4.sin_port = htons(51821);
	CHECK(!endpoint_eq(&a, &b));
	b = a;
	inet_pton(AF_INET, "10.0.0.1", &b.src4);
	CHECK(!endpoint_eq(&a, &b) && endpoint_has_src(&b) && !endpoint_has_src(&a));
	b.src_ifindex = 3;
	endpoint_clear_src(&b);
	CHECK(endpoint_eq(&a, &b) && !endpoint_has_src(&b) && b.src_ifindex == 0);
	CHECK(!endpoint_eq(&a, &c));

	/* A v4-mapped IPv6 address becomes plain IPv4. */
	c = ep6("::ffff:192.0.2.7", 51820);
	CHECK(endpoint_set(&b, &c.addr.sa, sizeof(c.addr.in6)) == 0);
	CHECK(endpoint_eq(&a, &b));
	c.addr.sa.sa_family = AF_UNIX;
	CHECK(endpoint_set(&b, &c.addr.sa, sizeof(c.addr.in6)) == -EAFNOSUPPORT);
}

static uint16_t local_port(int fd)
{
	struct endpoint ep;
	socklen_t len = sizeof(ep.addr);

	CHECK(getsockname(fd, &ep.addr.sa, &len) == 0);
	return ntohs(ep.addr.in4.sin_port);
}

static void test_open(void)
{
	struct udp_socks a, b;
	int v6only = 0, rcvbuf = 0;
	socklen_t len = sizeof(int);

	CHECK(udp_open(&a, 0, 0) == 0);
	CHECK(a.fd4 >= 0 && a.port != 0);
	CHECK(local_port(a.fd4) == a.port);
	CHECK(fcntl(a.fd4, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(a.fd4, F_GETFD) & FD_CLOEXEC);
	CHECK(getsockopt(a.fd4, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0);
	if (geteuid() == 0)
		CHECK(rcvbuf >= UDP_SOCK_BUF); /* FORCE works for root */
	have_v6 = a.fd6 >= 0;
	if (have_v6) {
		CHECK(local_port(a.fd6) == a.port);
		CHECK(getsockopt(a.fd6, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == 0 && v6only);
		CHECK(fcntl(a.fd6, F_GETFL) & O_NONBLOCK);
	} else {
		fprintf(stderr, "udp: no IPv6, skipping its cases\n");
	}
	/* A fixed port already taken fails rather than silently moving. */
	CHECK(udp_open(&b, a.port, 0) == -EADDRINUSE);
	CHECK(b.fd4 == -1 && b.fd6 == -1);

	/* Nothing waiting: EAGAIN, not a block. */
	CHECK(udp_recv_batch(a.fd4, &rx) == -EAGAIN && rx.count == 0);
	if (have_v6)
		CHECK(udp_recv_batch(a.fd6, &rx) == -EAGAIN);
	udp_close(&a);
	CHECK(a.fd4 == -1 && a.fd6 == -1);
}

/* Ports picked by the kernel always match across families, over many opens. */
static void test_port_zero_many(void)
{
	static struct udp_socks s[40];
	int ok = 1;

	for (int i = 0; i < 40; i++) {
		if (udp_open(&s[i], 0, 0) != 0) {
			ok = 0;
			continue;
		}
		if (s[i].fd6 >= 0 && local_port(s[i].fd6) != local_port(s[i].fd4))
			ok = 0;
	}
	CHECK(ok);
	for (int i = 0; i < 40; i++)
		udp_close(&s[i]);
}

static struct endpoint want_from;
static const char *want_dst;
static int matched;

static void expect(const struct udp_pkt *p, int i)
{
	char src[INET6_ADDRSTRLEN] = "";

	if (p->ep.addr.sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &p->ep.src4, src, sizeof(src));
	else
		inet_ntop(AF_INET6, &p->ep.src6, src, sizeof(src));
	if (pattern_ok(p, i) && endpoint_eq(&(struct endpoint){.addr = p->ep.addr}, &want_from) &&
	    strcmp(src, want_dst) == 0 && p->ep.src_ifindex == (int)if_nametoindex("lo"))
		matched++;
}

/* a sends 50 datagrams of varying sizes to b at dst; b must learn a's address and dst. */
static void batch_one_way(struct udp_socks *a, struct udp_socks *b, struct endpoint to,
			  struct endpoint from, const char *dst)
{
	int fd = to.addr.sa.sa_family == AF_INET ? b->fd4 : b->fd6;

	tx.count = 50;
	for (int i = 0; i < 50; i++)
		fill(&tx.pkts[i], i, &to);
	CHECK(udp_send_batch(a, &tx) == 50);
	want_from = from;
	want_dst = dst;
	matched = 0;
	CHECK(recv_all(fd, 50, expect) == 50);
	CHECK(matched == 50);
}

static void test_batch_v4(void)
{
	struct udp_socks a, b;

	CHECK(udp_open(&a, 0, 0) == 0 && udp_open(&b, 0, 0) == 0);
	batch_one_way(&a, &b, ep4("127.0.0.1", b.port), ep4("127.0.0.1", a.port), "127.0.0.1");
	udp_close(&a);
	udp_close(&b);
}

static void test_batch_v6(void)
{
	struct udp_socks a, b;

	if (!have_v6)
		return;
	CHECK(udp_open(&a, 0, 0) == 0 && udp_open(&b, 0, 0) == 0);
	batch_one_way(&a, &b, ep6("::1", b.port), ep6("::1", a.port), "::1");
	udp_close(&a);
	udp_close(&b);
}

/* b is reached at 127.0.0.2 and must answer from 127.0.0.2, though routing alone would pick
 * 127.0.0.1 for a wildcard socket talking to 127.0.0.1. */
static void test_reply_from_learned_source(void)
{
	struct udp_socks a, b;
	struct endpoint learned;

	CHECK(udp_open(&a, 0, 0) == 0 && udp_open(&b, 0, 0) == 0);
	batch_one_way(&a, &b, ep4("127.0.0.2", b.port), ep4("127.0.0.1", a.port), "127.0.0.2");
	learned = rx.pkts[rx.count - 1].ep;
	CHECK(learned.src4.s_addr == htonl(0x7f000002));

	tx.count = 50;
	for (int i = 0; i < 50; i++)
		fill(&tx.pkts[i], i, &learned);
	CHECK(udp_send_batch(&b, &tx) == 50);
	CHECK(endpoint_eq(&tx.pkts[0].ep, &learned)); /* the source was valid: kept */
	want_from = ep4("127.0.0.2", b.port);
	want_dst = "127.0.0.1";
	matched = 0;
	CHECK(recv_all(a.fd4, 50, expect) == 50);
	CHECK(matched == 50);

	/* And for a single datagram. */
	CHECK(udp_send_one(&b, &learned, tx.pkts[3].data, tx.pkts[3].len) == 0);
	matched = 0;
	CHECK(recv_all(a.fd4, 1, expect) == 1);
	CHECK(matched == 0 && rx.pkts[0].len == size_of(3));
	CHECK(rx.pkts[0].ep.addr.in4.sin_addr.s_addr == htonl(0x7f000002));
	udp_close(&a);
	udp_close(&b);
}

/* A source that is no longer a local address is cleared and the packet still goes out. */
static void test_stale_source(void)
{
	struct udp_socks a, b;
	struct endpoint to;

	CHECK(udp_open(&a, 0, 0) == 0 && udp_open(&b, 0, 0) == 0);
	to = ep4("127.0.0.1", b.port);
	inet_pton(AF_INET, "192.0.2.1", &to.src4);
	tx.count = 50;
	for (int i = 0; i < 50; i++)
		fill(&tx.pkts[i], i, &to);
	CHECK(udp_send_batch(&a, &tx) == 50);
	for (int i = 0; i < 50; i++)
		CHECK(!endpoint_has_src(&tx.pkts[i].ep));
	want_from = ep4("127.0.0.1", a.port);
	want_dst = "127.0.0.1";
	matched = 0;
	CHECK(recv_all(b.fd4, 50, expect) == 50);
	CHECK(matched == 50);

	CHECK(udp_send_one(&a, &to, tx.pkts[0].data, tx.pkts[0].len) == 0);
	CHECK(!endpoint_has_src(&to));
	CHECK(recv_all(b.fd4, 1, expect) == 1);
	if (have_v6) {
		to = ep6("::1", b.port);
		inet_pton(AF_INET6, "2001:db8::99", &to.src6);
		CHECK(udp_send_one(&a, &to, tx.pkts[0].data, tx.pkts[0].len) == 0);
		CHECK(!endpoint_has_src(&to));
		CHECK(recv_all(b.fd6, 1, expect) == 1);
	}
	udp_close(&a);
	udp_close(&b);
}

static int got4, got6;

static void count_family(const struct udp_pkt *p, int i)
{
	if (p->ep.addr.sa.sa_family == AF_INET)
		got4 += p->len == size_of(p->data[0]);
	else
		got6 += p->len == size_of(p->data[0]);
}

/* One batch alternating families goes out through both sockets. */
static void test_mixed_families(void)
{
	struct udp_socks a, b;
	struct endpoint to4, to6;

	if (!have_v6)
		return;
	CHECK(udp_open(&a, 0, 0) == 0 && udp_open(&b, 0, 0) == 0);
	to4 = ep4("127.0.0.1", b.port);
	to6 = ep6("::1", b.port);
	tx.count = 40;
	for (int i = 0; i < 40; i++)
		fill(&tx.pkts[i], i, (i / 4) % 2 ? &to6 : &to4);
	CHECK(udp_send_batch(&a, &tx) == 40);
	got4 = got6 = 0;
	CHECK(recv_all(b.fd4, 20, count_family) == 20);
	CHECK(recv_all(b.fd6, 20, count_family) == 20);
	CHECK(got4 == 20 && got6 == 20);
	udp_close(&a);
	udp_close(&b);
}

static void test_truncated(void)
{
	static struct udp_batch small;
	struct udp_socks a, b;
	struct endpoint to;
	struct pollfd pfd;

	CHECK(udp_batch_init(&small, 4, 100) == 0);
	CHECK(udp_open(&a, 0, 0) == 0 && udp_open(&b, 0, 0) == 0);
	to = ep4("127.0.0.1", b.port);
	CHECK(udp_send_one(&a, &to, tx.buf, 200) == 0);
	CHECK(udp_send_one(&a, &to, tx.buf, 100) == 0);
	pfd = (struct pollfd){.fd = b.fd4, .events = POLLIN};
	CHECK(poll(&pfd, 1, 1000) == 1);
	usleep(10000);
	CHECK(udp_recv_batch(b.fd4, &small) == 2);
	CHECK(small.pkts[0].len == 0 && small.pkts[1].len == 100);
	udp_batch_free(&small);
	CHECK(udp_batch_init(&small, UDP_BATCH_MAX + 1, 100) == -EINVAL && !small.buf);
	udp_close(&a);
	udp_close(&b);
}

static void test_fwmark(void)
{
	struct udp_socks s;
	int mark = 0;
	socklen_t len = sizeof(mark);

	if (geteuid() != 0) {
		CHECK(udp_open(&s, 0, 0x1234) == -EPERM);
		return;
	}
	CHECK(udp_open(&s, 0, 0x1234) == 0);
	CHECK(getsockopt(s.fd4, SOL_SOCKET, SO_MARK, &mark, &len) == 0 && mark == 0x1234);
	if (s.fd6 >= 0)
		CHECK(getsockopt(s.fd6, SOL_SOCKET, SO_MARK, &mark, &len) == 0 && mark == 0x1234);
	CHECK(udp_set_fwmark(&s, 0x51820) == 0);
	CHECK(getsockopt(s.fd4, SOL_SOCKET, SO_MARK, &mark, &len) == 0 && mark == 0x51820);
	CHECK(udp_set_fwmark(&s, 0) == 0);
	CHECK(getsockopt(s.fd4, SOL_SOCKET, SO_MARK, &mark, &len) == 0 && mark == 0);
	udp_close(&s);
}

static void test_rebind(void)
{
	struct udp_socks s, other;
	uint16_t old;
	int fd4;

	CHECK(udp_open(&s, 0, 0) == 0);
	old = s.port;
	fd4 = s.fd4;
	CHECK(udp_rebind(&s, old, 0) == 0 && s.fd4 == fd4 && s.port == old);
	CHECK(udp_rebind(&s, 0, 0) == 0 && s.port != old && local_port(s.fd4) == s.port);
	/* A port in use leaves the current sockets working. */
	CHECK(udp_open(&other, 0, 0) == 0);
	old = s.port;
	CHECK(udp_rebind(&s, other.port, 0) == -EADDRINUSE);
	CHECK(s.port == old && local_port(s.fd4) == old);
	udp_close(&other);
	udp_close(&s);
}

static const uint32_t *gso_lens;
static int gso_seen;
/* A send batch holds more datagrams than its buffers: the rest point here. */
static uint8_t gso_bufs[UDP_SEND_MAX][2048];

static void expect_gso(const struct udp_pkt *p, int i)
{
	gso_seen += p->len == gso_lens[i] && p->data[0] == (uint8_t)i;
}

/* Sends lens[] to b (entries with bit 0x10000 set go to 127.0.0.2, a different endpoint) and
 * expects exactly those datagrams back, in order. */
static void gso_case(struct udp_socks *a, struct udp_socks *b, const uint32_t *lens, int n)
{
	struct endpoint to = ep4("127.0.0.1", b->port), other = ep4("127.0.0.2", b->port);
	static uint32_t plain[UDP_SEND_MAX];

	tx.count = (unsigned int)n;
	for (int i = 0; i < n; i++) {
		if (i >= UDP_BATCH_MAX)
			tx.pkts[i].data = gso_bufs[i];
		plain[i] = lens[i] & 0xffff;
		tx.pkts[i].ep = lens[i] & 0x10000 ? other : to;
		tx.pkts[i].len = plain[i];
		memset(tx.pkts[i].data, i, plain[i]);
	}
	CHECK(udp_send_batch(a, &tx) == n);
	CHECK(a->gso);
	gso_lens = plain;
	gso_seen = 0;
	CHECK(recv_all(b->fd4, n, expect_gso) == n);
	CHECK(gso_seen == n);
}

/* Runs of equal datagrams to one endpoint leave as UDP_SEGMENT sends and arrive as the original
 * datagrams; a shorter one, a longer one or another endpoint must end a run. */
static void test_gso(void)
{
	static const uint32_t tail[] = {[0 ... 49] = 1200, [50] = 300};
	static const uint32_t mixed[] = {1200,
					 1200,
					 1200,
					 800,
					 1200,
					 1200 | 0x10000,
					 1200 | 0x10000,
					 1200,
					 1400,
					 1400,
					 1400,
					 100,
					 100,
					 1,
					 1,
					 64,
					 1500,
					 1500};
	static uint32_t many[UDP_SEND_MAX];
	struct udp_socks a, b;

	CHECK(udp_open(&a, 0, 0) == 0 && udp_open(&b, 0, 0) == 0);
	if (udp_set_gso(&a, true) != 0) {
		fprintf(stderr, "udp: no UDP GSO, skipping\n");
		goto out;
	}
	gso_case(&a, &b, tail, ARRAY_SIZE(tail));
	gso_case(&a, &b, mixed, ARRAY_SIZE(mixed));
	/* More than fit one super-datagram (64 KiB) must split into several. */
	for (int i = 0; i < UDP_SEND_MAX; i++)
		many[i] = 1400;
	gso_case(&a, &b, many, UDP_BATCH_MAX);
	/* A send batch of more datagrams than one sendmmsg takes messages: runs of 44, and then
	 * more single datagrams (sizes alternate) than one call carries. */
	gso_case(&a, &b, many, UDP_SEND_MAX);
	for (int i = 0; i < UDP_SEND_MAX; i++)
		many[i] = 100 + (uint32_t)(i % 2);
	gso_case(&a, &b, many, UDP_SEND_MAX);
	CHECK(udp_set_gso(&a, false) == 0 && !a.gso);
out:
	udp_close(&a);
	udp_close(&b);
}

int main(void)
{
	if (udp_batch_init(&tx, UDP_BATCH_MAX, 2048) || udp_batch_init(&rx, UDP_BATCH_MAX, 2048))
		return 1;
	RUN(test_endpoint);
	RUN(test_open);
	RUN(test_port_zero_many);
	RUN(test_batch_v4);
	RUN(test_batch_v6);
	RUN(test_reply_from_learned_source);
	RUN(test_stale_source);
	RUN(test_mixed_families);
	RUN(test_truncated);
	RUN(test_fwmark);
	RUN(test_rebind);
	RUN(test_gso);
	udp_batch_free(&tx);
	udp_batch_free(&rx);
	return check_done("udp");
}
