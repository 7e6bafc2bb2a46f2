/* WireGuard's wire formats and protocol constants (WireGuard paper, sections 5 and 6;
 * wireguard.com/protocol). Every multi-byte integer on the wire is little-endian. */
#ifndef PORTHOLE_MESSAGES_H
#define PORTHOLE_MESSAGES_H

#include <assert.h>
#include <stdint.h>
#include "compat.h"
#include "crypto.h"

enum noise_lengths {
	NOISE_PUBLIC_KEY_LEN = 32,
	NOISE_SYMMETRIC_KEY_LEN = 32,
	NOISE_TIMESTAMP_LEN = 12,
	NOISE_AUTHTAG_LEN = 16,
	NOISE_HASH_LEN = 32,
};
#define noise_encrypted_len(plain_len) ((plain_len) + NOISE_AUTHTAG_LEN)

enum cookie_values {
	COOKIE_SECRET_MAX_AGE = 2 * 60,  /* seconds */
	COOKIE_SECRET_LATENCY = 5,       /* seconds */
	COOKIE_NONCE_LEN = 24,
	COOKIE_LEN = 16,
};

enum counter_values {
	COUNTER_BITS_TOTAL = 8192, /* anti-replay window, as the kernel */
	COUNTER_REDUNDANT_BITS = 64,
	COUNTER_WINDOW_SIZE = COUNTER_BITS_TOTAL - COUNTER_REDUNDANT_BITS,
};

/* Timers of the paper's section 6.1, in seconds unless named otherwise. */
enum limits {
	REKEY_AFTER_TIME = 120,
	REJECT_AFTER_TIME = 180,
	REKEY_ATTEMPT_TIME = 90,
	REKEY_TIMEOUT = 5,
	REKEY_TIMEOUT_JITTER_MAX_MS = 334,
	KEEPALIVE_TIMEOUT = 10,
	MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT,
	INITIATIONS_PER_SECOND = 50,
	MAX_PEERS_PER_DEVICE = 1 << 20,
	MAX_QUEUED_INCOMING_HANDSHAKES = 4096,
	MAX_STAGED_PACKETS = 128,
	MAX_QUEUED_PACKETS = 1024,
};
#define REKEY_AFTER_MESSAGES  (1ULL << 60)
#define REJECT_AFTER_MESSAGES (UINT64_MAX - COUNTER_WINDOW_SIZE - 1)

enum message_type {
	MESSAGE_INVALID = 0,
	MESSAGE_HANDSHAKE_INITIATION = 1,
	MESSAGE_HANDSHAKE_RESPONSE = 2,
	MESSAGE_HANDSHAKE_COOKIE = 3,
	MESSAGE_DATA = 4,
};

/* The type byte is followed by three zero bytes; read as a little-endian u32 it is the type. */
struct message_header {
	uint32_t type;
};

struct message_macs {
	uint8_t mac1[COOKIE_LEN];
	uint8_t mac2[COOKIE_LEN];
};

struct message_handshake_initiation {
	struct message_header header;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_static[noise_encrypted_len(NOISE_PUBLIC_KEY_LEN)];
	uint8_t encrypted_timestamp[noise_encrypted_len(NOISE_TIMESTAMP_LEN)];
	struct message_macs macs;
};

struct message_handshake_response {
	struct message_header header;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_nothing[noise_encrypted_len(0)];
	struct message_macs macs;
};

struct message_handshake_cookie {
	struct message_header header;
	uint32_t receiver_index;
	uint8_t nonce[COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[noise_encrypted_len(COOKIE_LEN)];
};

struct message_data {
	struct message_header header;
	uint32_t key_idx;
	uint64_t counter;
	uint8_t encrypted_data[];
};

static_assert(sizeof(struct message_handshake_initiation) == 148, "initiation is 148 bytes");
static_assert(sizeof(struct message_handshake_response) == 92, "response is 92 bytes");
static_assert(sizeof(struct message_handshake_cookie) == 64, "cookie reply is 64 bytes");
static_assert(sizeof(struct message_data) == 16, "data header is 16 bytes");

#define message_data_len(plain_len) (noise_encrypted_len(plain_len) + sizeof(struct message_data))

enum message_alignments {
	MESSAGE_PADDING_MULTIPLE = 16,
	MESSAGE_MINIMUM_LENGTH = message_data_len(0),
};

/* Largest UDP payload we ever build: a 64 KiB IP packet padded, plus the data header and tag. */
#define MESSAGE_MAX_LEN 65535

/* Why a packet was dropped: counted per peer/device and shown in metrics. Every layer that
 * refuses a packet reports one of these. */
enum drop_reason {
	DROP_NONE = 0,
	DROP_SIZE,          /* wrong length for its type */
	DROP_TYPE,          /* unknown message type or non-zero reserved bytes */
	DROP_MAC1,          /* mac1 does not verify */
	DROP_COOKIE,        /* under load and no valid mac2: answered with a cookie reply */
	DROP_RATELIMIT,     /* handshake rate limit for the source */
	DROP_UNKNOWN_PEER,  /* initiation from a static key we do not know */
	DROP_DECRYPT,       /* AEAD tag does not verify */
	DROP_TIMESTAMP,     /* replayed or old initiation timestamp */
	DROP_FLOOD,         /* initiations from one peer faster than INITIATIONS_PER_SECOND */
	DROP_UNKNOWN_INDEX, /* receiver index matches no session */
	DROP_STATE,         /* message arrived in a handshake state that cannot take it */
	DROP_REPLAY,        /* data counter already seen or behind the window */
	DROP_KEY_EXPIRED,   /* keypair past REJECT_AFTER_TIME or REJECT_AFTER_MESSAGES */
	DROP_ALLOWED_IPS,   /* inner source address not allowed for the sending peer */
	DROP_BAD_PACKET,    /* inner packet is not well-formed IPv4/IPv6 */
	DROP_NO_ROUTE,      /* no peer's allowed IPs cover the destination */
	DROP_NO_ENDPOINT,   /* peer has no endpoint to send to */
	DROP_QUEUE_FULL,    /* a bounded queue was full */
	DROP_DOWN,          /* the interface is down */
	DROP__MAX
};

static inline const char *drop_reason_str(enum drop_reason r)
{
	static const char *const names[DROP__MAX] = {
		[DROP_NONE] = "none",
		[DROP_SIZE] = "bad_size",
		[DROP_TYPE] = "bad_type",
		[DROP_MAC1] = "bad_mac1",
		[DROP_COOKIE] = "cookie_sent",
		[DROP_RATELIMIT] = "ratelimited",
		[DROP_UNKNOWN_PEER] = "unknown_peer",
		[DROP_DECRYPT] = "bad_tag",
		[DROP_TIMESTAMP] = "replayed_initiation",
		[DROP_FLOOD] = "initiation_flood",
		[DROP_UNKNOWN_INDEX] = "unknown_index",
		[DROP_STATE] = "bad_state",
		[DROP_REPLAY] = "replayed_counter",
		[DROP_KEY_EXPIRED] = "key_expired",
		[DROP_ALLOWED_IPS] = "source_not_allowed",
		[DROP_BAD_PACKET] = "bad_inner_packet",
		[DROP_NO_ROUTE] = "no_route",
		[DROP_NO_ENDPOINT] = "no_endpoint",
		[DROP_QUEUE_FULL] = "queue_full",
		[DROP_DOWN] = "interface_down",
	};
	return (unsigned)r < DROP__MAX ? names[r] : "unknown";
}

#endif
