/* mac1, mac2 and cookie replies: WireGuard's defence against handshake floods (paper, section
 * 5.3; wireguard.com/protocol, "Cookie MACs"). The checker is the responder's side, one per
 * device; the maker is the initiator's side, one per peer. Pure: the clock is passed in (now,
 * monotonic ns) and callers serialise calls on one checker or maker. */
#ifndef PORTHOLE_COOKIE_H
#define PORTHOLE_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "compat.h"
#include "messages.h"

struct cookie_checker {
	uint8_t secret[NOISE_HASH_LEN];
	uint64_t secret_birthdate;
	uint8_t cookie_encryption_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
};

struct cookie_maker {
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t cookie_decryption_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t cookie[COOKIE_LEN];
	uint64_t birthdate;
	bool is_valid;
	uint8_t last_mac1_sent[COOKIE_LEN];
	bool have_sent_mac1;
};

enum cookie_mac_state {
	INVALID_MAC,
	VALID_MAC_BUT_NO_COOKIE,
	VALID_MAC_WITH_COOKIE,
};

/* our_public is the device's static public key, or NULL while it has none: 0 or -errno. */
int cookie_checker_init(struct cookie_checker *checker, const uint8_t *our_public,
			uint64_t now) WARN_UNUSED;
/* Call when the device's static key changes. */
void cookie_checker_set_public(struct cookie_checker *checker, const uint8_t *our_public);
void cookie_checker_clear(struct cookie_checker *checker);

/* remote_public is the peer's static public key. */
void cookie_maker_init(struct cookie_maker *maker,
		       const uint8_t remote_public[NOISE_PUBLIC_KEY_LEN]);
void cookie_maker_clear(struct cookie_maker *maker);

/* msg is a whole handshake initiation or response (len bytes, macs last) from src. mac2 is
 * checked only when check_cookie (the device is under load). */
enum cookie_mac_state cookie_validate_packet(struct cookie_checker *checker, const void *msg,
					     size_t len, const struct sockaddr *src,
					     bool check_cookie, uint64_t now) WARN_UNUSED;
/* Answers msg (from src) with a cookie reply to its sender index: 0, -EAFNOSUPPORT for a
 * source that is neither IPv4 nor IPv6, or -errno from the random source. */
int cookie_message_create(struct message_handshake_cookie *reply, const void *msg, size_t len,
			  uint32_t sender_index, const struct sockaddr *src,
			  struct cookie_checker *checker, uint64_t now) WARN_UNUSED;

/* Fills mac1 and, while a fresh cookie is held, mac2 of an outgoing handshake message. */
void cookie_add_mac_to_packet(void *msg, size_t len, struct cookie_maker *maker, uint64_t now);
/* Takes the cookie from a reply to our last mac1: false with *reason DROP_STATE when we sent
 * nothing it could answer, DROP_DECRYPT when it does not authenticate. */
bool cookie_message_consume(const struct message_handshake_cookie *reply,
			    struct cookie_maker *maker, uint64_t now,
			    enum drop_reason *reason) WARN_UNUSED;

#endif
