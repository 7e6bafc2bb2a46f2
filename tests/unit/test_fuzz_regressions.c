/* Regression tests for what the fuzz harnesses (fuzz/) found: each input that once crashed a
 * harness or broke one of its assertions, replayed through the production code in the way the
 * harness fed it, with the behaviour the fix settled on. Also guards that this (production)
 * build checks mac1 and tags, which the fuzz-only FUZZ_NO_AUTH build skips. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cookie.h"
#include "noise.h"
#include "proxy.h"

/* Feeds a stream in chunks of the given size, as fuzz_proxy does; returns the last result. */
static enum pp_result feed(const uint8_t *in, size_t len, size_t chunk, size_t *taken,
			   struct pp_header *h)
{
	struct pp_parser *p = malloc(sizeof(*p));
	enum pp_result r = PP_NEED_MORE;
	size_t off = 0, used;

	pp_parser_init(p, PP_ACCEPT_ANY);
	*taken = 0;
	while (off < len && r == PP_NEED_MORE) {
		size_t n = MIN(chunk, len - off);

		r = pp_parse(p, in + off, n, &used, h);
		*taken += used;
		off += n;
	}
	free(p);
	return r;
}

/* fuzz_proxy, proxy-crash-9539b9f7: a v2 PROXY header whose family byte is 0x10 (AF_INET with
 * an UNSPEC transport) parsed as an AF_INET header without a transport, which pp_build_v2()
 * rightly refuses, so parse(build(x)) failed. The spec says the receiver should ignore the
 * addresses of an UNSPEC transport: the header now carries none (AF_UNSPEC) and rebuilds. */
static void test_proxy_v2_unspec_transport(void)
{
	static const char *const inputs[] = {
	    /* the crash input after its two control bytes: 192.0.2.1:53 -> 192.0.2.2:53 */
	    "0d0a0d0a000d0a515549540a 21 10 000c c0000201 c0000202 0035 0035",
	    /* the same for IPv6 */
	    "0d0a0d0a000d0a515549540a 21 20 0024 20010db8000000000000000000000001"
	    "20010db8000000000000000000000002 0035 0035",
	};

	for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
		uint8_t in[64], out[PP_HEADER_MAX];
		struct pp_header h, again;
		size_t len = check_unhex(in, inputs[i]), taken;
		int n;

		CHECK(feed(in, len, 1, &taken, &h) == PP_DONE && taken == len);
		CHECK(feed(in, len, len, &taken, &h) == PP_DONE && taken == len);
		CHECK(h.version == 2 && h.command == PP_CMD_PROXY);
		CHECK(h.addr.family == AF_UNSPEC);
		CHECK(h.addr.src_port == 0 && h.addr.dst_port == 0);
		n = pp_build_v2(out, sizeof(out), &h, 0);
		CHECK(n == PP_V2_HEAD);
		CHECK(feed(out, (size_t)(n > 0 ? n : 0), 7, &taken, &again) == PP_DONE);
		CHECK(again.addr.family == AF_UNSPEC && again.command == PP_CMD_PROXY);
		n = pp_build_v1((char *)out, sizeof(out), &h);
		CHECK(n == 15 && !memcmp(out, "PROXY UNKNOWN\r\n", 15));
	}
}

/* The fix must not lose addresses that have a transport: 0x11 and 0x22 still carry them. */
static void test_proxy_v2_transport_keeps_addresses(void)
{
	uint8_t in[64];
	struct pp_header h;
	size_t len, taken;

	len = check_unhex(in, "0d0a0d0a000d0a515549540a 21 11 000c c0000201 c0000202 0035 01bb");
	CHECK(feed(in, len, 3, &taken, &h) == PP_DONE && taken == len);
	CHECK(h.addr.family == AF_INET && h.addr.transport == PP_TRANSPORT_STREAM);
	CHECK(h.addr.src_port == 53 && h.addr.dst_port == 443);
	CHECK(!memcmp(&h.addr.src.v4, "\xc0\x00\x02\x01", 4));
}

/* The unit tests link the production objects: mac1 and tags are checked there. */
static void test_auth_is_on(void)
{
	struct cookie_checker checker;
	struct message_handshake_initiation msg;
	struct sockaddr_in src = {.sin_family = AF_INET};
	uint8_t pub[NOISE_PUBLIC_KEY_LEN];
	uint8_t data[sizeof(struct message_data) + NOISE_AUTHTAG_LEN + 16] = {4};
	struct noise_keypair kp;
	enum drop_reason reason;
	size_t outlen;

	memset(pub, 0x42, sizeof(pub));
	CHECK(cookie_checker_init(&checker, pub, 0) == 0);
	memset(&msg, 0x5a, sizeof(msg));
	CHECK(cookie_validate_packet(&checker, &msg, sizeof(msg), (struct sockaddr *)&src, false,
				     0) == INVALID_MAC);
	cookie_checker_clear(&checker);

	memset(&kp, 0, sizeof(kp));
	atomic_init(&kp.receiving_valid, true);
	atomic_init(&kp.refcount, 1);
	kp.entry.index = 7;
	data[4] = 7;
	CHECK(!noise_data_open(data + sizeof(struct message_data), &outlen, data, sizeof(data), &kp,
			       0, &reason));
	CHECK(reason == DROP_DECRYPT);
}

int main(void)
{
	if (crypto_init()) {
		fprintf(stderr, "crypto_init failed\n");
		return 1;
	}
	RUN(test_proxy_v2_unspec_transport);
	RUN(test_proxy_v2_transport_keeps_addresses);
	RUN(test_auth_is_on);
	return check_done("fuzz_regressions");
}
