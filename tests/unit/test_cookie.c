/* mac1, mac2 and cookie replies: known answers from an independent implementation, then the
 * whole "under load" exchange between a checker and a maker on a fake clock. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/un.h>
#include "check.h"
#include "cookie.h"
#include "crypto.h"
#include "messages.h"
#include "noise.h"

#define SEC  NSEC_PER_SEC
#define NOW0 (5000 * SEC)

/* From the same independent Python implementation as test_noise.c's vector (written from
 * wireguard.com/protocol; XChaCha20 checked against draft-irtf-cfrg-xchacha-03's HChaCha20
 * vector): the initiation carries mac1 under the responder key of private bytes 33..64
 * (clamped); the reply encrypts cookie bytes 200..215 under nonce bytes 10..33 for that mac1;
 * mac2 is that cookie's MAC over the same initiation. */
static const char vec_init[] =
    "010000001122334464b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466158a0e"
    "4ca242d151ca97ab90159a98b67e616625e68b4065d357376b6598e644ad7d678c0295d22de4cb43d51355"
    "81ed36346bfa7cf42a122039f893501235c77785d75a8d36b556be2b6dca9d56eb539ce819ddb9d1f6ff67"
    "381fb200000000000000000000000000000000";
static const char vec_reply[] =
    "03000000112233440a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20218f42d9128518e8cccc424a"
    "87e41a38aa33d82eea6e7ee0bb691f23c8bcaba0e4";
static const char vec_cookie[] = "c8c9cacbcccdcecfd0d1d2d3d4d5d6d7";
static const char vec_mac2[] = "0be68ad61592802471159f2aeeeb8744";

enum { MAC1_AT = 116, MAC2_AT = 132, INIT_LEN = 148, RESP_LEN = 92 };

static uint8_t responder_public[32];

static void responder_key(void)
{
	uint8_t priv[32];

	for (int i = 0; i < 32; i++)
		priv[i] = (uint8_t)(33 + i);
	curve25519_clamp(priv);
	curve25519_generate_public(responder_public, priv);
}

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};

	inet_pton(AF_INET, ip, &sin.sin_addr);
	return sin;
}

static struct sockaddr_in6 v6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

	inet_pton(AF_INET6, ip, &sin6.sin6_addr);
	return sin6;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void test_vector(void)
{
	struct cookie_checker checker;
	struct cookie_maker maker;
	struct message_handshake_cookie reply;
	_Alignas(8) uint8_t init[INIT_LEN], mine[INIT_LEN], want[16];
	struct sockaddr_in src = v4("192.0.2.1", 51820);
	enum drop_reason r;

	CHECK(check_unhex(init, vec_init) == INIT_LEN);
	CHECK(cookie_checker_init(&checker, responder_public, NOW0) == 0);
	CHECK(cookie_validate_packet(&checker, init, INIT_LEN, SA(src), false, NOW0) ==
	      VALID_MAC_BUT_NO_COOKIE);

	/* The maker computes the same mac1 and remembers it. */
	cookie_maker_init(&maker, responder_public);
	memcpy(mine, init, INIT_LEN);
	memset(mine + MAC1_AT, 0, 32);
	cookie_add_mac_to_packet(mine, INIT_LEN, &maker, NOW0);
	CHECK_MEM(mine, init, INIT_LEN);
	CHECK_MEM(maker.last_mac1_sent, init + MAC1_AT, 16);

	/* The reply decrypts to the vector's cookie, and the next mac2 matches. */
	CHECK(check_unhex((uint8_t *)&reply, vec_reply) == sizeof(reply));
	CHECK(cookie_message_consume(&reply, &maker, NOW0, &r) && r == DROP_NONE);
	check_unhex(want, vec_cookie);
	CHECK(maker.is_valid && memcmp(maker.cookie, want, 16) == 0);
	cookie_add_mac_to_packet(mine, INIT_LEN, &maker, NOW0 + SEC);
	check_unhex(want, vec_mac2);
	CHECK_MEM(mine + MAC2_AT, want, 16);
	CHECK_MEM(mine, init, MAC2_AT);
	cookie_checker_clear(&checker);
	cookie_maker_clear(&maker);
}

static void test_mac1(void)
{
	struct cookie_checker checker, other;
	struct cookie_maker maker;
	struct sockaddr_in src = v4("198.51.100.7", 4000);
	_Alignas(8) uint8_t msg[RESP_LEN], bad[RESP_LEN];
	uint8_t other_public[32];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	CHECK(cookie_checker_init(&checker, responder_public, NOW0) == 0);
	cookie_maker_init(&maker, responder_public);
	CHECK(cookie_validate_packet(&checker, msg, sizeof(msg), SA(src), false, NOW0) ==
	      INVALID_MAC);
	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, NOW0);
	CHECK(crypto_is_zero(msg + RESP_LEN - 16, 16)); /* no cookie yet: mac2 zero */
	CHECK(cookie_validate_packet(&checker, msg, sizeof(msg), SA(src), false, NOW0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(cookie_validate_packet(&checker, msg, sizeof(msg), SA(src), true, NOW0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	/* every byte mac1 covers, and mac1 itself */
	bool all = true;
	for (size_t i = 0; i < RESP_LEN - 16; i++) {
		memcpy(bad, msg, sizeof(bad));
		bad[i] ^= 0x20;
		all &= cookie_validate_packet(&checker, bad, sizeof(bad), SA(src), false, NOW0) ==
		       INVALID_MAC;
	}
	CHECK(all);
	/* mac2 is not mac1's business */
	memcpy(bad, msg, sizeof(bad));
	bad[RESP_LEN - 1] ^= 1;
	CHECK(cookie_validate_packet(&checker, bad, sizeof(bad), SA(src), false, NOW0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	/* a device with another key, or one with none */
	CHECK(curve25519_generate_private(other_public) == 0);
	curve25519_generate_public(other_public, other_public);
	CHECK(cookie_checker_init(&other, other_public, NOW0) == 0);
	CHECK(cookie_validate_packet(&other, msg, sizeof(msg), SA(src), false, NOW0) ==
	      INVALID_MAC);
	cookie_checker_set_public(&other, responder_public);
	CHECK(cookie_validate_packet(&other, msg, sizeof(msg), SA(src), false, NOW0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	cookie_checker_set_public(&other, NULL);
	CHECK(cookie_validate_packet(&other, msg, sizeof(msg), SA(src), false, NOW0) ==
	      INVALID_MAC);
	CHECK(cookie_validate_packet(&checker, msg, 20, SA(src), false, NOW0) == INVALID_MAC);
}

/* The responder under load answers with a cookie; the initiator's next message proves it can
 * receive at its address. */
static void test_cookie_exchange(const struct sockaddr *src, const struct sockaddr *elsewhere)
{
	struct cookie_checker checker;
	struct cookie_maker maker;
	struct message_handshake_cookie reply, bad;
	_Alignas(8) uint8_t msg[INIT_LEN], old[INIT_LEN];
	enum drop_reason r;
	enum message_type t;
	uint32_t sender = 0x01020304;
	uint64_t now = NOW0;

	memset(msg, 0x5a, sizeof(msg));
	memcpy(msg + 4, &sender, 4);
	CHECK(cookie_checker_init(&checker, responder_public, now) == 0);
	cookie_maker_init(&maker, responder_public);

	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, now);
	CHECK(cookie_validate_packet(&checker, msg, sizeof(msg), src, true, now) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(cookie_message_create(&reply, msg, sizeof(msg), sender, src, &checker, now) == 0);
	CHECK(sizeof(reply) == 64);
	t = noise_message_type(&reply, sizeof(reply), &r);
	CHECK(t == MESSAGE_HANDSHAKE_COOKIE && reply.receiver_index == sender);

	/* A reply with a bad tag, or a replayed one, teaches nothing. */
	bad = reply;
	bad.encrypted_cookie[31] ^= 1;
	CHECK(!cookie_message_consume(&bad, &maker, now, &r) && r == DROP_DECRYPT);
	bad = reply;
	bad.nonce[0] ^= 1;
	CHECK(!cookie_message_consume(&bad, &maker, now, &r) && r == DROP_DECRYPT);
	CHECK(!maker.is_valid);
	CHECK(cookie_message_consume(&reply, &maker, now, &r) && r == DROP_NONE);
	CHECK(!cookie_message_consume(&reply, &maker, now, &r) && r == DROP_STATE);

	/* The next message carries mac2, valid only from the same address and port. */
	now += SEC;
	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, now);
	CHECK(!crypto_is_zero(msg + MAC2_AT, 16));
	CHECK(cookie_validate_packet(&checker, msg, sizeof(msg), src, true, now) ==
	      VALID_MAC_WITH_COOKIE);
	CHECK(cookie_validate_packet(&checker, msg, sizeof(msg), elsewhere, true, now) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(cookie_validate_packet(&checker, msg, sizeof(msg), src, false, now) ==
	      VALID_MAC_BUT_NO_COOKIE);
	memcpy(old, msg, sizeof(old));
	old[MAC2_AT + 3] ^= 1;
	CHECK(cookie_validate_packet(&checker, old, sizeof(old), src, true, now) ==
	      VALID_MAC_BUT_NO_COOKIE);

	/* A reply to an older mac1 does not authenticate against the latest one. */
	CHECK(cookie_message_create(&reply, msg, sizeof(msg), sender, src, &checker, now) == 0);
	msg[10] ^= 1;
	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, now);
	CHECK(!cookie_message_consume(&reply, &maker, now, &r) && r == DROP_DECRYPT);
	msg[10] ^= 1;

	/* The secret rotates after two minutes: cookies made before stop validating. */
	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, now);
	memcpy(old, msg, sizeof(old));
	CHECK(cookie_validate_packet(&checker, old, sizeof(old), src, true, NOW0 + 119 * SEC) ==
	      VALID_MAC_WITH_COOKIE);
	CHECK(cookie_validate_packet(&checker, old, sizeof(old), src, true, NOW0 + 120 * SEC) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(checker.secret_birthdate == NOW0 + 120 * SEC);
	/* The maker stops sending mac2 a little before that could happen. */
	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, NOW0 + 114 * SEC);
	CHECK(!crypto_is_zero(msg + MAC2_AT, 16));
	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, NOW0 + 115 * SEC);
	CHECK(crypto_is_zero(msg + MAC2_AT, 16));
	/* A fresh cookie under the new secret works again. */
	now = NOW0 + 121 * SEC;
	CHECK(cookie_message_create(&reply, msg, sizeof(msg), sender, src, &checker, now) == 0);
	CHECK(cookie_message_consume(&reply, &maker, now, &r));
	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, now);
	CHECK(cookie_validate_packet(&checker, msg, sizeof(msg), src, true, now) ==
	      VALID_MAC_WITH_COOKIE);
	cookie_checker_clear(&checker);
	CHECK(crypto_is_zero(&checker, sizeof(checker)));
}

static void test_exchange_v4(void)
{
	struct sockaddr_in a = v4("203.0.113.5", 40000), b = v4("203.0.113.5", 40001);
	struct sockaddr_in c = v4("203.0.113.6", 40000);

	test_cookie_exchange(SA(a), SA(b));
	test_cookie_exchange(SA(a), SA(c));
}

static void test_exchange_v6(void)
{
	struct sockaddr_in6 a = v6("2001:db8::1", 51820), b = v6("2001:db8::2", 51820);
	struct sockaddr_in c = v4("203.0.113.5", 51820);

	test_cookie_exchange(SA(a), SA(b));
	test_cookie_exchange(SA(a), SA(c));
}

static void test_other_family(void)
{
	struct cookie_checker checker;
	struct cookie_maker maker;
	struct message_handshake_cookie reply;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	_Alignas(8) uint8_t msg[INIT_LEN] = {1};

	CHECK(cookie_checker_init(&checker, responder_public, NOW0) == 0);
	cookie_maker_init(&maker, responder_public);
	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, NOW0);
	CHECK(cookie_message_create(&reply, msg, sizeof(msg), 1, SA(un), &checker, NOW0) ==
	      -EAFNOSUPPORT);
	CHECK(cookie_validate_packet(&checker, msg, sizeof(msg), SA(un), true, NOW0) ==
	      VALID_MAC_BUT_NO_COOKIE);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static void test_fuzz_reply(void)
{
	struct cookie_checker checker;
	struct cookie_maker maker;
	struct message_handshake_cookie reply, m;
	struct sockaddr_in src = v4("192.0.2.9", 9);
	_Alignas(8) uint8_t msg[RESP_LEN] = {2};
	enum drop_reason r;
	unsigned int accepted = 0;

	CHECK(cookie_checker_init(&checker, responder_public, NOW0) == 0);
	cookie_maker_init(&maker, responder_public);
	cookie_add_mac_to_packet(msg, sizeof(msg), &maker, NOW0);
	CHECK(cookie_message_create(&reply, msg, sizeof(msg), 7, SA(src), &checker, NOW0) == 0);
	/* Everything but the header and index is authenticated. */
	for (int i = 0; i < 2000; i++) {
		m = reply;
		((uint8_t *)&m)[8 + rnd() % (sizeof(m) - 8)] ^= (uint8_t)(1 + rnd() % 255);
		accepted += cookie_message_consume(&m, &maker, NOW0, &r);
	}
	CHECK(accepted == 0 && !maker.is_valid);
	CHECK(cookie_message_consume(&reply, &maker, NOW0, &r));
}

int main(void)
{
	if (crypto_init())
		return 1;
	responder_key();
	RUN(test_vector);
	RUN(test_mac1);
	RUN(test_exchange_v4);
	RUN(test_exchange_v6);
	RUN(test_other_family);
	RUN(test_fuzz_reply);
	return check_done("cookie");
}
