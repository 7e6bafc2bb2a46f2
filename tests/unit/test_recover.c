/* The pure parts of recovery: which netlink events matter, the kick pacing, the timers' verdict
 * that handshakes are failing, which DNS answer to move to, and names versus literals. */
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include "check.h"
#include "check_endpoint.h"
#include "recover.h"

enum { OWN = 7, ETH = 2 };

static struct nl_event ev4(enum nl_event_type type, int ifindex, const char *addr, int len)
{
	struct nl_event ev = {.type = type,
			      .ifindex = ifindex,
			      .family = AF_INET,
			      .prefixlen = (uint8_t)len,
			      .table = RT_TABLE_MAIN};

	inet_pton(AF_INET, addr, &ev.addr.v4);
	return ev;
}

static struct nl_event ev6(enum nl_event_type type, int ifindex, const char *addr, int len)
{
	struct nl_event ev = {.type = type,
			      .ifindex = ifindex,
			      .family = AF_INET6,
			      .prefixlen = (uint8_t)len,
			      .table = RT_TABLE_MAIN};

	inet_pton(AF_INET6, addr, &ev.addr.v6);
	return ev;
}

static void test_addresses(void)
{
	struct nl_event ev = ev4(NL_ADDR_NEW, ETH, "192.0.2.3", 24);

	CHECK(recover_event_matters(&ev, OWN));
	ev.type = NL_ADDR_DEL;
	CHECK(recover_event_matters(&ev, OWN));
	/* The tunnel's own addresses are ours to set, not a move of the network. */
	ev.ifindex = OWN;
	CHECK(!recover_event_matters(&ev, OWN));
	ev = ev6(NL_ADDR_NEW, ETH, "2001:db8::5", 64);
	CHECK(recover_event_matters(&ev, OWN));
	/* Not usable yet: the event that matters comes when duplicate detection is done. */
	ev.flags = IFA_F_TENTATIVE;
	CHECK(!recover_event_matters(&ev, OWN));
	ev = ev6(NL_ADDR_NEW, ETH, "fe80::1", 64);
	CHECK(!recover_event_matters(&ev, OWN));
}

static void test_routes(void)
{
	struct nl_event ev = ev4(NL_ROUTE_NEW, ETH, "0.0.0.0", 0);

	CHECK(recover_event_matters(&ev, OWN));
	ev.type = NL_ROUTE_DEL;
	CHECK(recover_event_matters(&ev, OWN));
	ev.table = 51820; /* a policy table's default route counts too */
	CHECK(recover_event_matters(&ev, OWN));
	ev.ifindex = OWN; /* wg-quick style default route through the tunnel */
	CHECK(!recover_event_matters(&ev, OWN));
	ev = ev4(NL_ROUTE_NEW, ETH, "192.0.2.0", 24);
	CHECK(!recover_event_matters(&ev, OWN));
	ev = ev4(NL_ROUTE_NEW, ETH, "0.0.0.0", 0);
	ev.table = RT_TABLE_LOCAL;
	CHECK(!recover_event_matters(&ev, OWN));
	ev.table = RT_TABLE_MAIN;
	ev.flags = RTM_F_CLONED;
	CHECK(!recover_event_matters(&ev, OWN));
	ev = ev6(NL_ROUTE_DEL, ETH, "::", 0);
	CHECK(recover_event_matters(&ev, OWN));
	ev = ev4(NL_LINK_NEW, ETH, "0.0.0.0", 0);
	CHECK(!recover_event_matters(&ev, OWN));
	ev.type = NL_OVERRUN;
	CHECK(recover_event_matters(&ev, OWN));
}

static void test_route_covers(void)
{
	struct endpoint ep = check_endpoint("192.0.2.1", 51820, 0),
			ep6 = check_endpoint("2001:db8:1::9", 51820, 0);
	struct nl_event ev = ev4(NL_ROUTE_NEW, ETH, "192.0.2.0", 24);

	CHECK(recover_route_covers(&ev, OWN, &ep));
	ev = ev4(NL_ROUTE_DEL, ETH, "192.0.2.1", 32);
	CHECK(recover_route_covers(&ev, OWN, &ep));
	ev = ev4(NL_ROUTE_NEW, ETH, "192.0.3.0", 24);
	CHECK(!recover_route_covers(&ev, OWN, &ep));
	ev = ev4(NL_ROUTE_NEW, ETH, "192.0.2.128", 25); /* the other half */
	CHECK(!recover_route_covers(&ev, OWN, &ep));
	ev = ev4(NL_ROUTE_NEW, ETH, "192.0.2.0", 31);
	CHECK(recover_route_covers(&ev, OWN, &ep));
	ev = ev4(NL_ROUTE_NEW, OWN, "192.0.2.0", 24);
	CHECK(!recover_route_covers(&ev, OWN, &ep));
	ev = ev4(NL_ADDR_NEW, ETH, "192.0.2.0", 24);
	CHECK(!recover_route_covers(&ev, OWN, &ep));
	ev = ev6(NL_ROUTE_NEW, ETH, "2001:db8::", 47);
	CHECK(recover_route_covers(&ev, OWN, &ep6));
	CHECK(!recover_route_covers(&ev, OWN, &ep));
	ev = ev6(NL_ROUTE_NEW, ETH, "2001:db8::", 48);
	CHECK(!recover_route_covers(&ev, OWN, &ep6));
}

static void test_pace(void)
{
	const uint64_t ms = NSEC_PER_MSEC, t0 = 1000 * ms;
	struct recover_pace p = {0};

	/* A burst: the first event arms the timer a settle time away, the rest ride along. */
	CHECK(recover_pace_event(&p, t0) == t0 + RECOVER_SETTLE_MS * ms);
	CHECK(recover_pace_event(&p, t0 + 1 * ms) == 0);
	CHECK(recover_pace_event(&p, t0 + 5 * ms) == 0);
	recover_pace_kicked(&p, t0 + 10 * ms);
	/* Right after a kick: the next waits for the interval, and comes (the last state). */
	CHECK(recover_pace_event(&p, t0 + 20 * ms) == t0 + (10 + RECOVER_INTERVAL_MS) * ms);
	CHECK(recover_pace_event(&p, t0 + 30 * ms) == 0);
	recover_pace_kicked(&p, t0 + 110 * ms);
	/* Long after: only the settle time. */
	CHECK(recover_pace_event(&p, t0 + 5000 * ms) == t0 + (5000 + RECOVER_SETTLE_MS) * ms);
}

static void test_initiation_due(void)
{
	struct timers t;

	timers_init(&t, 1);
	CHECK(!recover_initiation_due(&t, 1));
	timers_handshake_initiated(&t, 0);
	CHECK(!recover_initiation_due(&t, t.retransmit_handshake - 1));
	CHECK(recover_initiation_due(&t, t.retransmit_handshake));
	timers_handshake_complete(&t, 1);
	CHECK(!recover_initiation_due(&t, 100 * NSEC_PER_SEC));
	/* Data went out and nothing came back. */
	timers_data_sent(&t, 0);
	CHECK(!recover_initiation_due(&t, t.new_handshake - 1));
	CHECK(recover_initiation_due(&t, t.new_handshake));
	/* A persistent keepalive is not a failing handshake. */
	timers_init(&t, 1);
	CHECK(timers_set_persistent_keepalive(&t, 25));
	timers_any_authenticated_packet_traversal(&t, 0);
	CHECK(!recover_initiation_due(&t, 30 * NSEC_PER_SEC));
}

static struct sockaddr_storage ss_of(const char *addr, uint16_t port)
{
	struct endpoint ep = check_endpoint(addr, port, 0);
	struct sockaddr_storage ss = {0};

	memcpy(&ss, &ep.addr, sizeof(ep.addr));
	return ss;
}

static void test_pick(void)
{
	struct endpoint cur = check_endpoint("192.0.2.1", 51820, 0);
	struct sockaddr_storage a[3];

	a[0] = ss_of("192.0.2.1", 51820);
	CHECK(recover_pick(&cur, a, 1) == -1);
	a[0] = ss_of("192.0.2.11", 51820);
	CHECK(recover_pick(&cur, a, 1) == 0);
	/* The current address among several answers: stay, no flapping between them. */
	a[1] = ss_of("192.0.2.1", 51820);
	CHECK(recover_pick(&cur, a, 2) == -1);
	/* Same address, other port: a move. */
	a[0] = ss_of("192.0.2.1", 51821);
	CHECK(recover_pick(&cur, a, 1) == 0);
	/* Unusable answers are skipped. */
	memset(&a[0], 0, sizeof(a[0]));
	a[0].ss_family = AF_UNIX;
	a[1] = ss_of("2001:db8::1", 51820);
	CHECK(recover_pick(&cur, a, 2) == 1);
	CHECK(recover_pick(&cur, a, 1) == -1);
	CHECK(recover_pick(&cur, a, 0) == -1);
	cur = check_endpoint("2001:db8::1", 51820, 0);
	CHECK(recover_pick(&cur, a, 2) == -1);
}

static void test_is_name(void)
{
	CHECK(recover_is_name("vps.example.org"));
	CHECK(recover_is_name("localhost"));
	CHECK(recover_is_name("1.2.3.4.example"));
	CHECK(!recover_is_name("192.0.2.1"));
	CHECK(!recover_is_name("2001:db8::1"));
	CHECK(!recover_is_name("fe80::1%eth0"));
	CHECK(!recover_is_name(""));
}

int main(void)
{
	RUN(test_addresses);
	RUN(test_routes);
	RUN(test_route_covers);
	RUN(test_pace);
	RUN(test_initiation_due);
	RUN(test_pick);
	RUN(test_is_name);
	return check_done("recover");
}
