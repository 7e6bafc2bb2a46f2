/* mac1 proves the sender knows our public key; mac2 proves it can receive at its source address,
 * by echoing a cookie we derived from that address and a secret that rotates every
 * COOKIE_SECRET_MAX_AGE. The cookie travels encrypted to the peer's static key, bound to the mac1
 * it answers, so that only the real initiator can use it. */
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include "cookie.h"
#include "crypto.h"

/* FUZZ_NO_AUTH (fuzz/fuzz_wg_receive_noauth only) lets any mac1, mac2 and cookie reply through,
 * so that the fuzzer reaches what lies behind them. Only the fuzz build defines the macro that
 * allows it; a production build with it does not compile. */
#if defined(FUZZ_NO_AUTH) && !defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
#error "FUZZ_NO_AUTH turns authentication off: for fuzz builds only"
#endif

enum { LABEL_LEN = 8, SOURCE_MAX_LEN = 16 + 2 };

static const uint8_t mac1_label[LABEL_LEN] = {'m', 'a', 'c', '1', '-', '-', '-', '-'};
static const uint8_t cookie_label[LABEL_LEN] = {'c', 'o', 'o', 'k', 'i', 'e', '-', '-'};

static bool expired(uint64_t birthdate, uint64_t seconds, uint64_t now)
{
	return birthdate + seconds * NSEC_PER_SEC <= now;
}

/* key = HASH(label || public) */
static void derive(uint8_t key[NOISE_SYMMETRIC_KEY_LEN], const uint8_t label[LABEL_LEN],
		   const uint8_t pub[NOISE_PUBLIC_KEY_LEN])
{
	uint8_t buf[LABEL_LEN + NOISE_PUBLIC_KEY_LEN];

	memcpy(buf, label, LABEL_LEN);
	memcpy(buf + LABEL_LEN, pub, NOISE_PUBLIC_KEY_LEN);
	blake2s256(key, buf, sizeof(buf));
}

/* mac1 covers the message up to itself, mac2 up to itself (mac1 included). */
static void compute_mac1(uint8_t mac[COOKIE_LEN], const void *msg, size_t len,
			 const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	len = len - sizeof(struct message_macs) + offsetof(struct message_macs, mac1);
	blake2s_keyed(mac, COOKIE_LEN, msg, len, key, NOISE_SYMMETRIC_KEY_LEN);
}

static void compute_mac2(uint8_t mac[COOKIE_LEN], const void *msg, size_t len,
			 const uint8_t cookie[COOKIE_LEN])
{
	len = len - sizeof(struct message_macs) + offsetof(struct message_macs, mac2);
	blake2s_keyed(mac, COOKIE_LEN, msg, len, cookie, COOKIE_LEN);
}

static const struct message_macs *macs_of(const void *msg, size_t len)
{
	return (const struct message_macs *)((const uint8_t *)msg + len -
					     sizeof(struct message_macs));
}

/* IP address bytes then the port, both in network byte order; 0 for other families. */
static size_t source_bytes(uint8_t out[SOURCE_MAX_LEN], const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	switch (sa->sa_family) {
	case AF_INET:
		memcpy(out, &sin->sin_addr, 4);
		memcpy(out + 4, &sin->sin_port, 2);
		return 4 + 2;
	case AF_INET6:
		memcpy(out, &sin6->sin6_addr, 16);
		memcpy(out + 16, &sin6->sin6_port, 2);
		return 16 + 2;
	default:
		return 0;
	}
}

/* A failed draw keeps the old secret one more round rather than failing the packet. */
static void refresh_secret(struct cookie_checker *checker, uint64_t now)
{
	if (!expired(checker->secret_birthdate, COOKIE_SECRET_MAX_AGE, now))
		return;
	if (crypto_random(checker->secret, sizeof(checker->secret)) == 0)
		checker->secret_birthdate = now;
}

static bool make_cookie(uint8_t cookie[COOKIE_LEN], const struct sockaddr *src,
			struct cookie_checker *checker, uint64_t now)
{
	uint8_t source[SOURCE_MAX_LEN];
	size_t n = source_bytes(source, src);

	if (!n)
		return false;
	refresh_secret(checker, now);
	blake2s_keyed(cookie, COOKIE_LEN, source, n, checker->secret, sizeof(checker->secret));
	return true;
}

void cookie_checker_set_public(struct cookie_checker *checker, const uint8_t *our_public)
{
	if (!our_public) {
		crypto_wipe(checker->cookie_encryption_key, NOISE_SYMMETRIC_KEY_LEN);
		crypto_wipe(checker->message_mac1_key, NOISE_SYMMETRIC_KEY_LEN);
		return;
	}
	derive(checker->cookie_encryption_key, cookie_label, our_public);
	derive(checker->message_mac1_key, mac1_label, our_public);
}

int cookie_checker_init(struct cookie_checker *checker, const uint8_t *our_public, uint64_t now)
{
	int ret;

	memset(checker, 0, sizeof(*checker));
	ret = crypto_random(checker->secret, sizeof(checker->secret));
	if (ret)
		return ret;
	checker->secret_birthdate = now;
	cookie_checker_set_public(checker, our_public);
	return 0;
}

void cookie_checker_clear(struct cookie_checker *checker)
{
	crypto_wipe(checker, sizeof(*checker));
}

void cookie_maker_init(struct cookie_maker *maker,
		       const uint8_t remote_public[NOISE_PUBLIC_KEY_LEN])
{
	memset(maker, 0, sizeof(*maker));
	derive(maker->cookie_decryption_key, cookie_label, remote_public);
	derive(maker->message_mac1_key, mac1_label, remote_public);
}

void cookie_maker_clear(struct cookie_maker *maker)
{
	crypto_wipe(maker, sizeof(*maker));
}

enum cookie_mac_state cookie_validate_packet(struct cookie_checker *checker, const void *msg,
					     size_t len, const struct sockaddr *src,
					     bool check_cookie, uint64_t now)
{
	const struct message_macs *macs;
	uint8_t computed[COOKIE_LEN], cookie[COOKIE_LEN];
	enum cookie_mac_state ret = INVALID_MAC;

	if (len < sizeof(struct message_header) + sizeof(struct message_macs))
		goto out;
	macs = macs_of(msg, len);
	compute_mac1(computed, msg, len, checker->message_mac1_key);
#ifndef FUZZ_NO_AUTH
	if (!crypto_equal(computed, macs->mac1, COOKIE_LEN))
		goto out;
#else
	(void)macs;
#endif
	ret = VALID_MAC_BUT_NO_COOKIE;
	if (!check_cookie || !make_cookie(cookie, src, checker, now))
		goto out;
	compute_mac2(computed, msg, len, cookie);
#ifndef FUZZ_NO_AUTH
	if (!crypto_equal(computed, macs->mac2, COOKIE_LEN))
		goto out;
#endif
	ret = VALID_MAC_WITH_COOKIE;
out:
	crypto_wipe(cookie, sizeof(cookie));
	return ret;
}

int cookie_message_create(struct message_handshake_cookie *reply, const void *msg, size_t len,
			  uint32_t sender_index, const struct sockaddr *src,
			  struct cookie_checker *checker, uint64_t now)
{
	uint8_t cookie[COOKIE_LEN];
	int ret;

	memset(reply, 0, sizeof(*reply));
	reply->header.type = htole32(MESSAGE_HANDSHAKE_COOKIE);
	reply->receiver_index = sender_index;
	ret = crypto_random(reply->nonce, sizeof(reply->nonce));
	if (ret)
		goto out;
	ret = -EAFNOSUPPORT;
	if (!make_cookie(cookie, src, checker, now))
		goto out;
	/* The triggering mac1 as associated data binds the reply to that one message. */
	xchacha20poly1305_seal(reply->encrypted_cookie, cookie, COOKIE_LEN, macs_of(msg, len)->mac1,
			       COOKIE_LEN, reply->nonce, checker->cookie_encryption_key);
	ret = 0;
out:
	crypto_wipe(cookie, sizeof(cookie));
	return ret;
}

void cookie_add_mac_to_packet(void *msg, size_t len, struct cookie_maker *maker, uint64_t now)
{
	struct message_macs *macs = (struct message_macs *)macs_of(msg, len);

	compute_mac1(macs->mac1, msg, len, maker->message_mac1_key);
	memcpy(maker->last_mac1_sent, macs->mac1, COOKIE_LEN);
	maker->have_sent_mac1 = true;
	/* Stop using a cookie a little before the responder's secret could have rotated. */
	if (maker->is_valid &&
	    !expired(maker->birthdate, COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY, now))
		compute_mac2(macs->mac2, msg, len, maker->cookie);
	else
		memset(macs->mac2, 0, COOKIE_LEN);
}

bool cookie_message_consume(const struct message_handshake_cookie *reply,
			    struct cookie_maker *maker, uint64_t now, enum drop_reason *reason)
{
	uint8_t cookie[COOKIE_LEN];
	bool ret = false;

	*reason = DROP_STATE;
	if (!maker->have_sent_mac1)
		goto out;
	*reason = DROP_DECRYPT;
	if (!xchacha20poly1305_open(cookie, reply->encrypted_cookie,
				    sizeof(reply->encrypted_cookie), maker->last_mac1_sent,
				    COOKIE_LEN, reply->nonce, maker->cookie_decryption_key)) {
#ifndef FUZZ_NO_AUTH
		goto out;
#endif
	}
	memcpy(maker->cookie, cookie, COOKIE_LEN);
	maker->birthdate = now;
	maker->is_valid = true;
	/* One cookie per mac1 sent: a replayed reply cannot refresh the birthdate. */
	maker->have_sent_mac1 = false;
	*reason = DROP_NONE;
	ret = true;
out:
	crypto_wipe(cookie, sizeof(cookie));
	return ret;
}
