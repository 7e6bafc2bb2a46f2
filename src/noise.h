/* The Noise_IKpsk2 handshake of WireGuard (paper, section 5.4; wireguard.com/protocol) and the
 * transport-data keys it yields. Pure: callers pass the clock (now = monotonic ns, wall = Unix
 * ns) and serialise every handshake, index-table and rotation call; only the keypair calls
 * marked "any thread" may run concurrently (data-path workers holding keypair references).
 *
 * Receive order for a handshake message: noise_message_type() (exact size), then
 * cookie_validate_packet() (mac1, then cookie under load), then noise_handshake_consume_*(). */
#ifndef PORTHOLE_NOISE_H
#define PORTHOLE_NOISE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compat.h"
#include "index.h"
#include "messages.h"
#include "replay.h"

struct noise_static_identity {
	uint8_t static_public[NOISE_PUBLIC_KEY_LEN];
	uint8_t static_private[NOISE_PUBLIC_KEY_LEN];
	bool has_identity;
};

enum noise_handshake_state {
	HANDSHAKE_ZEROED,
	HANDSHAKE_CREATED_INITIATION,
	HANDSHAKE_CONSUMED_INITIATION,
	HANDSHAKE_CREATED_RESPONSE,
	HANDSHAKE_CONSUMED_RESPONSE,
};

/* One per peer. */
struct noise_handshake {
	struct index_entry entry; /* local index while a handshake is in flight */
	const struct noise_static_identity *static_identity;
	enum noise_handshake_state state;
	bool initiation_consumed;	      /* last_initiation_consumption is meaningful */
	uint64_t last_initiation_consumption; /* now, ns */

	uint8_t remote_static[NOISE_PUBLIC_KEY_LEN];
	uint8_t remote_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t precomputed_static_static[NOISE_PUBLIC_KEY_LEN]; /* all zero: unusable peer */
	uint8_t preshared_key[NOISE_SYMMETRIC_KEY_LEN];		 /* all zero when none */
	uint8_t ephemeral_private[NOISE_PUBLIC_KEY_LEN];
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t chaining_key[NOISE_HASH_LEN];
	uint8_t latest_timestamp[NOISE_TIMESTAMP_LEN];

	uint32_t remote_index;
	void *owner;
};

struct noise_keypair {
	struct index_entry entry; /* entry.index is our local index */
	uint8_t sending_key[NOISE_SYMMETRIC_KEY_LEN];
	atomic_uint_fast64_t sending_counter;
	atomic_bool sending_valid;
	uint8_t receiving_key[NOISE_SYMMETRIC_KEY_LEN];
	atomic_bool receiving_valid;
	struct replay_window receiving_replay; /* the caller's, in per-peer order */
	uint64_t birthdate;		       /* now, ns */
	bool i_am_initiator;
	uint32_t remote_index;
	atomic_uint refcount;
	void *owner;
};

/* A peer's sessions. The lock guards only the three pointers, so that workers can take a
 * reference to current while the handshake thread rotates. */
struct noise_keypairs {
	struct noise_keypair *current;
	struct noise_keypair *previous;
	struct noise_keypair *next;
	pthread_mutex_t lock;
};

/* Looks a peer's handshake up by its static public key, for consuming an initiation. */
struct noise_lookup {
	struct noise_handshake *(*by_public)(void *ctx, const uint8_t pub[NOISE_PUBLIC_KEY_LEN]);
	void *ctx;
};

/* Clamps private, derives the public key; a NULL private clears the identity. Peers'
 * handshakes must be recomputed with noise_handshake_precompute() afterwards. */
void noise_static_identity_set(struct noise_static_identity *id,
			       const uint8_t private_key[NOISE_PUBLIC_KEY_LEN]);
void noise_static_identity_clear(struct noise_static_identity *id);

void noise_handshake_init(struct noise_handshake *hs, const struct noise_static_identity *id,
			  const uint8_t remote_public[NOISE_PUBLIC_KEY_LEN],
			  const uint8_t *psk_or_null, void *owner);
/* Recomputes the static-static DH after the identity changed; false marks the peer unusable. */
bool noise_handshake_precompute(struct noise_handshake *hs);
void noise_handshake_set_psk(struct noise_handshake *hs, const uint8_t *psk_or_null);
/* Forgets the handshake in flight (keeps the replay and flood memory) and frees its index. */
void noise_handshake_clear(struct noise_handshake *hs, struct index_table *t);

/* Returns the message type of a received datagram when its type field and length fit, else
 * MESSAGE_INVALID with *reason DROP_TYPE or DROP_SIZE. */
enum message_type noise_message_type(const void *buf, size_t len,
				     enum drop_reason *reason) WARN_UNUSED;

/* The handshake messages, without mac1/mac2 (cookie_add_mac_to_packet() adds them). */
bool noise_handshake_create_initiation(struct message_handshake_initiation *msg,
				       struct noise_handshake *hs, struct index_table *t,
				       uint64_t wall) WARN_UNUSED;
struct noise_handshake *noise_handshake_consume_initiation(
    const struct message_handshake_initiation *msg, const struct noise_static_identity *id,
    const struct noise_lookup *lookup, uint64_t now, enum drop_reason *reason) WARN_UNUSED;
bool noise_handshake_create_response(struct message_handshake_response *msg,
				     struct noise_handshake *hs, struct index_table *t) WARN_UNUSED;
struct noise_handshake *
noise_handshake_consume_response(const struct message_handshake_response *msg,
				 const struct noise_static_identity *id,
				 const struct index_table *t, enum drop_reason *reason) WARN_UNUSED;
/* After creating a response or consuming one: derives the keypair, installs it in keypairs
 * (current for the initiator, next for the responder) and hands it the handshake's index. */
bool noise_handshake_begin_session(struct noise_handshake *hs, struct noise_keypairs *keypairs,
				   struct index_table *t, uint64_t now) WARN_UNUSED;

void noise_keypairs_init(struct noise_keypairs *keypairs);
/* Call after kp authenticated a data message: true when it was next and became current. */
bool noise_received_with_keypair(struct noise_keypairs *keypairs, struct noise_keypair *kp,
				 struct index_table *t);
/* Drops all three keypairs and their indices; keypairs stays usable. */
void noise_keypairs_clear(struct noise_keypairs *keypairs, struct index_table *t);
void noise_keypairs_destroy(struct noise_keypairs *keypairs, struct index_table *t);
/* A counted reference to the current keypair, or NULL. Any thread. */
struct noise_keypair *noise_keypairs_current(struct noise_keypairs *keypairs);
/* A counted reference to the keypair a data message names, or NULL. */
struct noise_keypair *noise_keypair_lookup(const struct index_table *t, uint32_t index);

/* Any thread. get and put accept NULL; the last put wipes and frees. */
struct noise_keypair *noise_keypair_get(struct noise_keypair *kp);
void noise_keypair_put(struct noise_keypair *kp);

/* Any thread. Reserves the next sending nonce; false when the key is past REJECT_AFTER_TIME or
 * REJECT_AFTER_MESSAGES (and from then on invalid). */
bool noise_keypair_next_counter(struct noise_keypair *kp, uint64_t now,
				uint64_t *counter) WARN_UNUSED;
/* Whether the engine should start a handshake (paper, section 6.2). */
bool noise_keypair_should_rekey_on_send(struct noise_keypair *kp, uint64_t now) WARN_UNUSED;
bool noise_keypair_should_rekey_on_receive(struct noise_keypair *kp, uint64_t now) WARN_UNUSED;

/* The ChaCha20-Poly1305 part of sealing or opening one data message, prepared by
 * noise_data_seal_prepare() or noise_data_open_prepare() on the thread that owns the keypairs,
 * and run by noise_aead_run() on any thread: it reads only the key and its own buffers, so a
 * batch of them may run in parallel while the keypair is held (a reference, or the owning thread
 * waiting for the batch). */
struct noise_aead {
	uint8_t *body;		 /* in place: plaintext in and ciphertext out, or the reverse */
	size_t len;		 /* seal: padded plaintext; open: ciphertext with its tag */
	const uint8_t *key;
	uint64_t counter;
	bool seal;
	bool room;		 /* seal: CRYPTO_SEAL_ROOM of the caller's own before and after body
				  * (after body + len), for chacha20poly1305_seal_in_room() */
	bool ok;		 /* open: authentic (set by noise_aead_run) */
	uint8_t *out;		 /* open: NULL (in place), or where the plaintext goes, with the
				  * rooms of chacha20poly1305_open_from_room() */
};
void noise_aead_run(struct noise_aead *job);

/* Bytes noise_data_seal() writes for len bytes of plaintext. */
size_t noise_data_sealed_len(size_t len, unsigned int mtu);
/* noise_data_seal() without the encryption: header and padding written, the rest in *job.
 * Returns the sealed length, as noise_data_seal(). */
size_t noise_data_seal_prepare(uint8_t *out, const uint8_t *plain, size_t len,
			       const struct noise_keypair *kp, uint64_t counter, unsigned int mtu,
			       struct noise_aead *job);
/* Any thread, with any reserved counter. Writes header, padded ciphertext and tag to out
 * (noise_data_sealed_len() bytes; plain may be out + 16) and returns that length. len 0 is a
 * keepalive; mtu 0 pads only to MESSAGE_PADDING_MULTIPLE. */
size_t noise_data_seal(uint8_t *out, const uint8_t *plain, size_t len, struct noise_keypair *kp,
		       uint64_t counter, unsigned int mtu);
/* Any thread. Authenticates and decrypts a data message into out (msglen - 32 bytes, may be
 * msg + 16), padding included. The caller then runs replay_check() on the counter in per-peer
 * order before trusting the packet. */
bool noise_data_open(uint8_t *out, size_t *outlen, const uint8_t *msg, size_t msglen,
		     struct noise_keypair *kp, uint64_t now, enum drop_reason *reason) WARN_UNUSED;
/* noise_data_open() in two steps, decrypting in place (msg + 16): the checks, then (after
 * noise_aead_run()) the verdict. The plaintext is msglen - 32 bytes, padding included. */
bool noise_data_open_prepare(uint8_t *msg, size_t msglen, struct noise_keypair *kp, uint64_t now,
			     struct noise_aead *job, enum drop_reason *reason) WARN_UNUSED;
/* The counter of a data message (after noise_message_type() accepted it). */
uint64_t noise_data_counter(const uint8_t *msg);

#endif
