/* The pure parts of status and metrics: which HTTP requests get which answer, durations as
 * `show` prints them, and the text, JSON and exposition forms of a made-up snapshot. */
#include <stdlib.h>
#include "check.h"
#include "metrics.h"
#include "status.h"

static void test_route(void)
{
	static const struct {
		const char *req;
		enum metrics_route want;
		bool head;
	} cases[] = {
	    {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", METRICS_OK, false},
	    {"GET /metrics HTTP/1.0\n\n", METRICS_OK, false},
	    {"GET /metrics?x=1 HTTP/1.1\r\n\r\n", METRICS_OK, false},
	    {"HEAD /metrics HTTP/1.1\r\n\r\n", METRICS_OK, true},
	    {"GET / HTTP/1.1\r\n\r\n", METRICS_NOT_FOUND, false},
	    {"GET /metricsx HTTP/1.1\r\n\r\n", METRICS_NOT_FOUND, false},
	    {"GET /metric HTTP/1.1\r\n\r\n", METRICS_NOT_FOUND, false},
	    {"POST /metrics HTTP/1.1\r\n\r\n", METRICS_BAD_METHOD, false},
	    {"get /metrics HTTP/1.1\r\n\r\n", METRICS_BAD_METHOD, false},
	    {"GET /metrics HTTP/1.1\r\n", METRICS_BAD, false}, /* cut short */
	    {"GET /metrics\r\n\r\n", METRICS_BAD, false},
	    {"GET  HTTP/1.1\r\n\r\n", METRICS_BAD, false},
	    {"GET /metrics SPDY/3\r\n\r\n", METRICS_BAD, false},
	    {"hello\r\n\r\n", METRICS_BAD, false},
	    {"", METRICS_BAD, false},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		bool head = !cases[i].head;
		enum metrics_route r = metrics_route(cases[i].req, strlen(cases[i].req), &head);

		CHECK(r == cases[i].want);
		CHECK(head == cases[i].head);
		if (r != cases[i].want)
			fprintf(stderr, "  case %zu: got %d\n", i, r);
	}
}

static void test_duration(void)
{
	char buf[96];

	status_duration(buf, sizeof(buf), 0);
	CHECK(!strcmp(buf, "0 seconds"));
	status_duration(buf, sizeof(buf), 1);
	CHECK(!strcmp(buf, "1 second"));
	status_duration(buf, sizeof(buf), 3723);
	CHECK(!strcmp(buf, "1 hour, 2 minutes, 3 seconds"));
	status_duration(buf, sizeof(buf), 2 * 86400 + 60);
	CHECK(!strcmp(buf, "2 days, 1 minute"));
}

static struct allowed_ip ips[2];
static struct status_peer peer;
static struct status_forward fwd;

static void make(struct status *s)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->name, "gw0");
	s->has_interface = s->has_public_key = true;
	memset(s->public_key, 0, sizeof(s->public_key));
	s->listen_port = 51820;
	s->busy_poll_us = 200;
	s->drops[DROP_MAC1] = 7;
	memset(&peer, 0, sizeof(peer));
	memset(peer.public_key, 0xff, sizeof(peer.public_key));
	strcpy(peer.endpoint, "192.0.2.2:40000");
	peer.last_handshake = 1000;
	peer.rx_bytes = 1536;
	peer.tx_bytes = 10;
	peer.persistent_keepalive = 25;
	peer.drops[DROP_REPLAY] = 2;
	ips[0].family = AF_INET;
	ips[0].addr.v4.s_addr = htonl(0x0a000002);
	ips[0].cidr = 32;
	ips[1].family = AF_INET6;
	ips[1].addr.v6.s6_addr[0] = 0xfd;
	ips[1].cidr = 64;
	peer.allowed_ips = ips;
	peer.n_allowed_ips = 2;
	s->peers = &peer;
	s->npeers = 1;
	memset(&fwd, 0, sizeof(fwd));
	strcpy(fwd.name, "we\"b");
	strcpy(fwd.listen, "0.0.0.0:443");
	strcpy(fwd.target, "10.0.0.2:443");
	fwd.stats.name = fwd.name;
	fwd.stats.active = 2;
	fwd.stats.total = 2048;
	fwd.stats.bytes_in = 100;
	fwd.stats.bytes_out = 5 << 20;
	fwd.stats.errors[GW_ERR_CONNECT] = 3;
	fwd.stats.proxy_failures = 1;
	s->forwards = &fwd;
	s->nforwards = 1;
}

typedef void (*format_fn)(const struct status *s, FILE *f);

static char *render(format_fn fn)
{
	struct status s;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	make(&s);
	fn(&s, f);
	fclose(f);
	return buf;
}

static void text_at_1065(const struct status *s, FILE *f)
{
	status_text(s, f, 1065);
}

static void json_compact(const struct status *s, FILE *f)
{
	status_json(s, f, false);
}

static void prom_at_1065(const struct status *s, FILE *f)
{
	metrics_format(s, f, 1065);
}

static void test_text(void)
{
	char *t = render(text_at_1065);

	CHECK(strstr(
	    t, "interface: gw0\n  public key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"));
	CHECK(strstr(t, "  listening port: 51820\n  busy poll: 200 us\n  dropped: bad_mac1 7\n"));
	CHECK(strstr(t, "\npeer: //////////////////////////////////////////8=\n"));
	CHECK(strstr(t, "  allowed ips: 10.0.0.2/32, fd00::/64\n"));
	CHECK(strstr(t, "  latest handshake: 1 minute, 5 seconds ago\n"));
	CHECK(strstr(t, "  transfer: 1.50 KiB received, 10 B sent\n"));
	CHECK(strstr(t, "  persistent keepalive: every 25 seconds\n"));
	CHECK(strstr(t, "  dropped: replayed_counter 2\n"));
	CHECK(strstr(
	    t, "  we\"b       0.0.0.0:443        10.0.0.2:443           2   2.0K   100  5.0M\n"));
	CHECK(strstr(t, "    errors: connect 3; PROXY failures 1\n"));
	for (char *line = t, *nl; (nl = strchr(line, '\n')); line = nl + 1)
		CHECK(nl - line <= 80);
	free(t);
}

static void test_json(void)
{
	char *t = render(json_compact);

	CHECK(!strncmp(t, "{\"name\":\"gw0\",\"interface\":{\"public_key\":\"AAAA", 44));
	CHECK(strstr(t, "\"listen_port\":51820,\"busy_poll_us\":200,\"drops\":{\"bad_mac1\":7},"
		     "\"peers\":[{"));
	CHECK(strstr(t,
		     "\"endpoint\":\"192.0.2.2:40000\",\"latest_handshake\":1000,\"rx_bytes\":1536,"
		     "\"tx_bytes\":10,\"persistent_keepalive\":25,\"allowed_ips\":[\"10.0.0.2/32\","
		     "\"fd00::/64\"],\"drops\":{\"replayed_counter\":2}}]}"));
	CHECK(strstr(t, "\"forwards\":[{\"name\":\"we\\\"b\",\"protocol\":\"tcp\",\"listen\":"
			"\"0.0.0.0:443\",\"target\":\"10.0.0.2:443\",\"active\":2,\"total\":2048,"
			"\"bytes_in\":100,\"bytes_out\":5242880,\"errors\":{\"connect\":3},"
			"\"proxy_failures\":1}]}"));
	free(t);
}

static void test_prometheus(void)
{
	char *t = render(prom_at_1065);
	const char *pk = "public_key=\"//////////////////////////////////////////8=\"";
	char want[256];

	snprintf(want, sizeof(want),
		 "porthole_peer_last_handshake_seconds{interface=\"gw0\",%s} 1000\n", pk);
	CHECK(strstr(t, want));
	snprintf(want, sizeof(want),
		 "porthole_peer_handshake_age_seconds{interface=\"gw0\",%s} 65\n", pk);
	CHECK(strstr(t, want));
	snprintf(want, sizeof(want), "porthole_peer_rx_bytes_total{interface=\"gw0\",%s} 1536\n",
		 pk);
	CHECK(strstr(t, want));
	snprintf(
	    want, sizeof(want),
	    "porthole_dropped_packets_total{interface=\"gw0\",%s,reason=\"replayed_counter\"} 2\n",
	    pk);
	CHECK(strstr(t, want));
	CHECK(
	    strstr(t, "porthole_dropped_packets_total{interface=\"gw0\",reason=\"bad_mac1\"} 7\n"));
	CHECK(
	    strstr(t, "porthole_dropped_packets_total{interface=\"gw0\",reason=\"bad_tag\"} 0\n"));
	/* The quote in the forward's name is escaped in the label. */
	CHECK(strstr(t, "porthole_forward_connections_active{interface=\"gw0\",forward=\"we\\\"b\","
			"protocol=\"tcp\"} 2\n"));
	CHECK(strstr(t, "porthole_forward_connections_total{interface=\"gw0\",forward=\"we\\\"b\","
			"protocol=\"tcp\"} 2048\n"));
	CHECK(strstr(t, "porthole_forward_bytes_out_total{interface=\"gw0\",forward=\"we\\\"b\","
			"protocol=\"tcp\"} 5242880\n"));
	CHECK(strstr(t, "porthole_forward_errors_total{interface=\"gw0\",forward=\"we\\\"b\","
			"protocol=\"tcp\",kind=\"connect\"} 3\n"));
	CHECK(strstr(t,
		     "porthole_forward_proxy_failures_total{interface=\"gw0\",forward=\"we\\\"b\","
		     "protocol=\"tcp\"} 1\n"));
	CHECK(strstr(t, "# TYPE porthole_forward_connections_active gauge\n"));
	CHECK(strstr(t, "# TYPE porthole_peer_rx_bytes_total counter\n"));
	free(t);
}

int main(void)
{
	RUN(test_route);
	RUN(test_duration);
	RUN(test_text);
	RUN(test_json);
	RUN(test_prometheus);
	return check_done("status");
}
