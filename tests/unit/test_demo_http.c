/* The demo's home service: PROXY v2 and v1 headers, plain requests, split feeds, bad input. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include "check.h"
#include "demo_http.h"

static const char get[] = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";

static void sin_of(struct sockaddr_in *s, const char *ip, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, ip, &s->sin_addr);
}

/* A PROXY v2 header for 198.51.100.2:40000 -> 198.51.100.1:8080, then get. */
static size_t v2_request(uint8_t *out, size_t cap)
{
	struct pp_header hdr = {.version = 2, .command = PP_CMD_PROXY};
	struct sockaddr_in src, dst;
	int n;

	sin_of(&src, "198.51.100.2", 40000);
	sin_of(&dst, "198.51.100.1", 8080);
	CHECK(!pp_addr_set(&hdr.addr, PP_TRANSPORT_STREAM, (struct sockaddr *)&src,
			   (struct sockaddr *)&dst));
	n = pp_build_v2(out, cap, &hdr, 0);
	CHECK(n > 0);
	memcpy(out + n, get, sizeof(get) - 1);
	return (size_t)n + sizeof(get) - 1;
}

static void seen_from(struct demo_http *h, struct demo_http_seen *seen)
{
	struct sockaddr_in peer, local;

	sin_of(&peer, "10.200.1.1", 33333);
	sin_of(&local, "10.200.1.2", 8080);
	demo_http_seen(h, (struct sockaddr *)&peer, (struct sockaddr *)&local, seen);
}

static void test_v2_whole_and_split(void)
{
	struct demo_http *h = malloc(sizeof(*h));
	struct demo_http_seen seen;
	char answer[DEMO_HTTP_ANSWER_MAX], addr[64];
	uint8_t buf[256];
	size_t len = v2_request(buf, sizeof(buf));

	/* Every split point: the answer must not depend on how the bytes arrive. */
	for (size_t cut = 0; cut <= len; cut++) {
		demo_http_init(h);
		enum demo_http_result r = demo_http_feed(h, buf, cut);

		CHECK(r == (cut == len ? DEMO_HTTP_DONE : DEMO_HTTP_NEED_MORE));
		if (cut < len)
			CHECK(demo_http_feed(h, buf + cut, len - cut) == DEMO_HTTP_DONE);
	}
	seen_from(h, &seen);
	CHECK(seen.proxied);
	demo_http_addr_str(&seen.client, addr, sizeof(addr));
	CHECK(!strcmp(addr, "198.51.100.2:40000"));
	demo_http_addr_str(&seen.to, addr, sizeof(addr));
	CHECK(!strcmp(addr, "198.51.100.1:8080"));
	demo_http_addr_str(&seen.peer, addr, sizeof(addr));
	CHECK(!strcmp(addr, "10.200.1.1:33333"));
	CHECK(demo_http_answer(&seen, answer, sizeof(answer)) > 0);
	CHECK(!strncmp(answer, "HTTP/1.0 200 OK\r\n", 17));
	CHECK(strstr(answer, "\r\n\r\nhello from home, you are 198.51.100.2:40000\n") != NULL);
	CHECK(demo_http_answer(&seen, answer, 40) == -ENOSPC);
	free(h);
}

static void test_v1(void)
{
	static const char req[] = "PROXY TCP4 203.0.113.9 198.51.100.1 5555 8080\r\n"
				  "GET / HTTP/1.0\r\n\r\n";
	struct demo_http *h = malloc(sizeof(*h));
	struct demo_http_seen seen;
	char addr[64];

	demo_http_init(h);
	CHECK(demo_http_feed(h, (const uint8_t *)req, sizeof(req) - 1) == DEMO_HTTP_DONE);
	seen_from(h, &seen);
	demo_http_addr_str(&seen.client, addr, sizeof(addr));
	CHECK(seen.proxied && !strcmp(addr, "203.0.113.9:5555"));
	free(h);
}

/* Without a header the peer is the client, and the answer says the header was missing. */
static void test_plain(void)
{
	struct demo_http *h = malloc(sizeof(*h));
	struct demo_http_seen seen;
	char answer[DEMO_HTTP_ANSWER_MAX];

	demo_http_init(h);
	CHECK(demo_http_feed(h, (const uint8_t *)"GE", 2) == DEMO_HTTP_NEED_MORE);
	CHECK(demo_http_feed(h, (const uint8_t *)get + 2, sizeof(get) - 3) == DEMO_HTTP_DONE);
	CHECK(!strncmp(h->req, get, sizeof(get) - 1)); /* the detection's bytes came back */
	seen_from(h, &seen);
	CHECK(!seen.proxied);
	CHECK(demo_http_answer(&seen, answer, sizeof(answer)) > 0);
	CHECK(strstr(answer, "you are 10.200.1.1:33333 (no PROXY header") != NULL);
	free(h);
}

static void test_bad(void)
{
	static const uint8_t bad_v2[16] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
					   0x55, 0x49, 0x54, 0x0a, 0x99, 0x11, 0x00, 0x0c};
	struct demo_http *h = malloc(sizeof(*h));
	uint8_t big[DEMO_HTTP_REQ_MAX];

	demo_http_init(h);
	CHECK(demo_http_feed(h, bad_v2, sizeof(bad_v2)) == DEMO_HTTP_BAD);
	memset(big, 'a', sizeof(big));
	demo_http_init(h);
	CHECK(demo_http_feed(h, big, 100) == DEMO_HTTP_NEED_MORE);
	CHECK(demo_http_feed(h, big, sizeof(big)) == DEMO_HTTP_BAD);
	free(h);
}

static void test_v6_addr_str(void)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char addr[64];

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(443);
	inet_pton(AF_INET6, "2001:db8::7", &s6->sin6_addr);
	demo_http_addr_str(&ss, addr, sizeof(addr));
	CHECK(!strcmp(addr, "[2001:db8::7]:443"));
}

int main(void)
{
	RUN(test_v2_whole_and_split);
	RUN(test_v1);
	RUN(test_plain);
	RUN(test_bad);
	RUN(test_v6_addr_str);
	return check_done("demo_http");
}
