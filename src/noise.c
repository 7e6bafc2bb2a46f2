/* Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (paper, section 5.4;
 * wireguard.com/protocol). Each step is labelled by its Noise token. Every function leaves by one
 * exit that wipes the temporaries holding keys. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include "crypto.h"
#include "bytes.h"
#include "noise.h"
#include "secmem.h"

/* FUZZ_NO_AUTH (fuzz/fuzz_wg_receive_noauth only) overlooks failed tags, see aead_open(). Only
 * the fuzz build defines the macro that allows it; a production build with it does not compile. */
#if defined(FUZZ_NO_AUTH) && !defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
#error "FUZZ_NO_AUTH turns authentication off: for fuzz builds only"
#endif

static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";

/* Timestamps are rounded down to this many ns so that they leak no fine timing and a peer sees
 * at most INITIATIONS_PER_SECOND distinct values a second: 2^24 is the power of two just below
 * NSEC_PER_SEC / INITIATIONS_PER_SECOND, as the kernel's tai64n_now() does. */
#define TIMESTAMP_GRAIN (1ULL << 24)
static_assert(TIMESTAMP_GRAIN <= NSEC_PER_SEC / INITIATIONS_PER_SECOND, "grain above flood gap");

static bool expired(uint64_t birthdate, uint64_t seconds, uint64_t now)
{
	return birthdate + seconds * NSEC_PER_SEC <= now;
}

/* --- the symmetric state: chaining key ck and transcript hash h --- */

static void handshake_start(uint8_t ck[NOISE_HASH_LEN], uint8_t hash[NOISE_HASH_LEN],
			    const uint8_t responder_static[NOISE_PUBLIC_KEY_LEN])
{
	blake2s256(ck, construction, sizeof(construction) - 1);
	memcpy(hash, ck, NOISE_HASH_LEN);
	blake2s256_mix(hash, identifier, sizeof(identifier) - 1);
	blake2s256_mix(hash, responder_static, NOISE_PUBLIC_KEY_LEN);
}

/* ck, key = KDF2(ck, input); key may be NULL for KDF1. */
static void mix_key(uint8_t ck[NOISE_HASH_LEN], uint8_t *key, const uint8_t *in, size_t len)
{
	uint8_t next[NOISE_HASH_LEN];

	kdf(next, key, NULL, ck, in, len);
	memcpy(ck, next, NOISE_HASH_LEN);
	crypto_wipe(next, sizeof(next));
}

static void mix_ephemeral(uint8_t ck[NOISE_HASH_LEN], uint8_t hash[NOISE_HASH_LEN],
			  const uint8_t ephemeral[NOISE_PUBLIC_KEY_LEN])
{
	blake2s256_mix(hash, ephemeral, NOISE_PUBLIC_KEY_LEN);
	mix_key(ck, NULL, ephemeral, NOISE_PUBLIC_KEY_LEN);
}

static bool mix_dh(uint8_t ck[NOISE_HASH_LEN], uint8_t *key,
		   const uint8_t priv[NOISE_PUBLIC_KEY_LEN],
		   const uint8_t pub[NOISE_PUBLIC_KEY_LEN])
{
	uint8_t dh[NOISE_PUBLIC_KEY_LEN];
	bool ok = curve25519(dh, priv, pub);

	if (ok)
		mix_key(ck, key, dh, sizeof(dh));
	crypto_wipe(dh, sizeof(dh));
	return ok;
}

static bool mix_precomputed(uint8_t ck[NOISE_HASH_LEN], uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			    const uint8_t ss[NOISE_PUBLIC_KEY_LEN])
{
	if (crypto_is_zero(ss, NOISE_PUBLIC_KEY_LEN))
		return false;
	mix_key(ck, key, ss, NOISE_PUBLIC_KEY_LEN);
	return true;
}

static void mix_psk(uint8_t ck[NOISE_HASH_LEN], uint8_t hash[NOISE_HASH_LEN],
		    uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
		    const uint8_t psk[NOISE_SYMMETRIC_KEY_LEN])
{
	uint8_t next[NOISE_HASH_LEN], tau[NOISE_HASH_LEN];

	kdf(next, tau, key, ck, psk, NOISE_SYMMETRIC_KEY_LEN);
	memcpy(ck, next, NOISE_HASH_LEN);
	blake2s256_mix(hash, tau, sizeof(tau));
	crypto_wipe(next, sizeof(next));
	crypto_wipe(tau, sizeof(tau));
}

static void encrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			     uint8_t hash[NOISE_HASH_LEN])
{
	chacha20poly1305_seal(dst, src, len, hash, NOISE_HASH_LEN, 0, key);
	blake2s256_mix(hash, dst, noise_encrypted_len(len));
}

/* Every tag a peer sends is checked here. Under FUZZ_NO_AUTH a failed tag is overlooked and the
 * ciphertext taken as the plaintext, so that the fuzzer can steer what lies behind it (a real
 * tag still decrypts, so seeds from real handshakes keep working). */
static bool aead_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		      uint64_t nonce, const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
#ifdef FUZZ_NO_AUTH
	uint8_t copy[MESSAGE_MAX_LEN];

	memcpy(copy, src, len); /* open works in place and wipes on failure */
	if (!chacha20poly1305_open(dst, src, len, ad, adlen, nonce, key))
		memcpy(dst, copy, len - NOISE_AUTHTAG_LEN);
	return true;
#else
	return chacha20poly1305_open(dst, src, len, ad, adlen, nonce, key);
#endif
}

static bool decrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t src_len,
			     const uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			     uint8_t hash[NOISE_HASH_LEN])
{
	if (!aead_open(dst, src, src_len, hash, NOISE_HASH_LEN, 0, key))
		return false;
	blake2s256_mix(hash, src, src_len);
	return true;
}

static void stamp(uint8_t out[NOISE_TIMESTAMP_LEN], uint64_t wall)
{
	uint64_t ns = wall % NSEC_PER_SEC;

	tai64n(out, wall - ns + (ns & ~(TIMESTAMP_GRAIN - 1)));
}

static void handshake_zero(struct noise_handshake *hs)
{
	crypto_wipe(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	crypto_wipe(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	crypto_wipe(hs->hash, sizeof(hs->hash));
	crypto_wipe(hs->chaining_key, sizeof(hs->chaining_key));
	hs->remote_index = 0;
	hs->state = HANDSHAKE_ZEROED;
}

/* --- identity and per-peer setup --- */

void noise_static_identity_set(struct noise_static_identity *id,
			       const uint8_t private_key[NOISE_PUBLIC_KEY_LEN])
{
	if (!private_key) {
		noise_static_identity_clear(id);
		return;
	}
	memcpy(id->static_private, private_key, NOISE_PUBLIC_KEY_LEN);
	curve25519_clamp(id->static_private);
	curve25519_generate_public(id->static_public, id->static_private);
	id->has_identity = !crypto_is_zero(id->static_public, NOISE_PUBLIC_KEY_LEN);
}

void noise_static_identity_clear(struct noise_static_identity *id)
{
	crypto_wipe(id, sizeof(*id));
}

bool noise_handshake_precompute(struct noise_handshake *hs)
{
	const struct noise_static_identity *id = hs->static_identity;

	/* An all-zero result (a low-order remote key) is kept: it marks the peer unusable. */
	if (id->has_identity &&
	    curve25519(hs->precomputed_static_static, id->static_private, hs->remote_static))
		return true;
	crypto_wipe(hs->precomputed_static_static, sizeof(hs->precomputed_static_static));
	return false;
}

void noise_handshake_set_psk(struct noise_handshake *hs, const uint8_t *psk_or_null)
{
	if (psk_or_null)
		memcpy(hs->preshared_key, psk_or_null, NOISE_SYMMETRIC_KEY_LEN);
	else
		crypto_wipe(hs->preshared_key, sizeof(hs->preshared_key));
}

void noise_handshake_init(struct noise_handshake *hs, const struct noise_static_identity *id,
			  const uint8_t remote_public[NOISE_PUBLIC_KEY_LEN],
			  const uint8_t *psk_or_null, void *owner)
{
	memset(hs, 0, sizeof(*hs));
	hs->static_identity = id;
	hs->owner = owner;
	memcpy(hs->remote_static, remote_public, NOISE_PUBLIC_KEY_LEN);
	noise_handshake_set_psk(hs, psk_or_null);
	(void)noise_handshake_precompute(hs);
}

void noise_handshake_clear(struct noise_handshake *hs, struct index_table *t)
{
	index_remove(t, &hs->entry);
	handshake_zero(hs);
}

/* --- framing --- */

static bool size_fits(uint32_t type, size_t len)
{
	switch (type) {
	case MESSAGE_HANDSHAKE_INITIATION:
		return len == sizeof(struct message_handshake_initiation);
	case MESSAGE_HANDSHAKE_RESPONSE:
		return len == sizeof(struct message_handshake_response);
	case MESSAGE_HANDSHAKE_COOKIE:
		return len == sizeof(struct message_handshake_cookie);
	default:
		return len >= MESSAGE_MINIMUM_LENGTH && len <= MESSAGE_MAX_LEN;
	}
}

enum message_type noise_message_type(const void *buf, size_t len, enum drop_reason *reason)
{
	uint32_t type;

	*reason = DROP_SIZE;
	if (len < sizeof(struct message_header))
		return MESSAGE_INVALID;
	/* Read whole, so that non-zero reserved bytes make the type unknown. */
	type = get_le32(buf);
	*reason = DROP_TYPE;
	if (type < MESSAGE_HANDSHAKE_INITIATION || type > MESSAGE_DATA)
		return MESSAGE_INVALID;
	*reason = DROP_SIZE;
	if (!size_fits(type, len))
		return MESSAGE_INVALID;
	*reason = DROP_NONE;
	return (enum message_type)type;
}

/* --- the handshake --- */

bool noise_handshake_create_initiation(struct message_handshake_initiation *msg,
				       struct noise_handshake *hs, struct index_table *t,
				       uint64_t wall)
{
	uint8_t timestamp[NOISE_TIMESTAMP_LEN];
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	bool ret = false;

	memset(msg, 0, sizeof(*msg));
	if (!hs->static_identity->has_identity)
		goto out;
	msg->header.type = htole32(MESSAGE_HANDSHAKE_INITIATION);
	handshake_start(hs->chaining_key, hs->hash, hs->remote_static);

	/* e */
	if (curve25519_generate_private(hs->ephemeral_private))
		goto out;
	curve25519_generate_public(msg->unencrypted_ephemeral, hs->ephemeral_private);
	mix_ephemeral(hs->chaining_key, hs->hash, msg->unencrypted_ephemeral);

	/* es */
	if (!mix_dh(hs->chaining_key, key, hs->ephemeral_private, hs->remote_static))
		goto out;

	/* s */
	encrypt_and_hash(msg->encrypted_static, hs->static_identity->static_public,
			 NOISE_PUBLIC_KEY_LEN, key, hs->hash);

	/* ss */
	if (!mix_precomputed(hs->chaining_key, key, hs->precomputed_static_static))
		goto out;

	/* {t} */
	stamp(timestamp, wall);
	encrypt_and_hash(msg->encrypted_timestamp, timestamp, NOISE_TIMESTAMP_LEN, key, hs->hash);

	if (index_insert(t, &hs->entry, INDEX_HANDSHAKE, hs, hs->owner))
		goto out;
	msg->sender_index = hs->entry.index;
	hs->state = HANDSHAKE_CREATED_INITIATION;
	ret = true;
out:
	if (!ret)
		noise_handshake_clear(hs, t);
	crypto_wipe(key, sizeof(key));
	return ret;
}

/* Replay: the timestamp must grow strictly. Flood: even fresh initiations are taken at most
 * INITIATIONS_PER_SECOND times a second, as each costs us DH work and a response. */
static enum drop_reason freshness(const struct noise_handshake *hs,
				  const uint8_t t[NOISE_TIMESTAMP_LEN], uint64_t now)
{
	if (memcmp(t, hs->latest_timestamp, NOISE_TIMESTAMP_LEN) <= 0)
		return DROP_TIMESTAMP;
	if (hs->initiation_consumed &&
	    hs->last_initiation_consumption + NSEC_PER_SEC / INITIATIONS_PER_SECOND > now)
		return DROP_FLOOD;
	return DROP_NONE;
}

static void accept_initiation(struct noise_handshake *hs,
			      const struct message_handshake_initiation *msg,
			      const uint8_t e[NOISE_PUBLIC_KEY_LEN],
			      const uint8_t t[NOISE_TIMESTAMP_LEN],
			      const uint8_t ck[NOISE_HASH_LEN], const uint8_t hash[NOISE_HASH_LEN],
			      uint64_t now)
{
	memcpy(hs->remote_ephemeral, e, NOISE_PUBLIC_KEY_LEN);
	memcpy(hs->latest_timestamp, t, NOISE_TIMESTAMP_LEN);
	memcpy(hs->chaining_key, ck, NOISE_HASH_LEN);
	memcpy(hs->hash, hash, NOISE_HASH_LEN);
	/* Any initiation of ours in flight is superseded: its response would find the wrong state.
	 */
	crypto_wipe(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	hs->remote_index = msg->sender_index;
	if (!hs->initiation_consumed || now > hs->last_initiation_consumption)
		hs->last_initiation_consumption = now;
	hs->initiation_consumed = true;
	hs->state = HANDSHAKE_CONSUMED_INITIATION;
}

struct noise_handshake *noise_handshake_consume_initiation(
    const struct message_handshake_initiation *msg, const struct noise_static_identity *id,
    const struct noise_lookup *lookup, uint64_t now, enum drop_reason *reason)
{
	struct noise_handshake *hs, *ret = NULL;
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t ck[NOISE_HASH_LEN], hash[NOISE_HASH_LEN];
	uint8_t s[NOISE_PUBLIC_KEY_LEN], e[NOISE_PUBLIC_KEY_LEN];
	uint8_t t[NOISE_TIMESTAMP_LEN];

	*reason = DROP_STATE;
	if (!id->has_identity)
		goto out;
	handshake_start(ck, hash, id->static_public);

	/* e */
	memcpy(e, msg->unencrypted_ephemeral, sizeof(e));
	mix_ephemeral(ck, hash, e);

	/* es */
	*reason = DROP_DECRYPT;
	if (!mix_dh(ck, key, id->static_private, e))
		goto out;

	/* s */
	if (!decrypt_and_hash(s, msg->encrypted_static, sizeof(msg->encrypted_static), key, hash))
		goto out;
	*reason = DROP_UNKNOWN_PEER;
	hs = lookup->by_public(lookup->ctx, s);
	if (!hs)
		goto out;

	/* ss */
	*reason = DROP_STATE;
	if (!mix_precomputed(ck, key, hs->precomputed_static_static))
		goto out;

	/* {t} */
	*reason = DROP_DECRYPT;
	if (!decrypt_and_hash(t, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp), key,
			      hash))
		goto out;
	*reason = freshness(hs, t, now);
	if (*reason != DROP_NONE)
		goto out;

	accept_initiation(hs, msg, e, t, ck, hash, now);
	ret = hs;
out:
	crypto_wipe(key, sizeof(key));
	crypto_wipe(ck, sizeof(ck));
	crypto_wipe(hash, sizeof(hash));
	crypto_wipe(e, sizeof(e));
	crypto_wipe(t, sizeof(t));
	return ret;
}

bool noise_handshake_create_response(struct message_handshake_response *msg,
				     struct noise_handshake *hs, struct index_table *t)
{
	uint8_t ephemeral_private[NOISE_PUBLIC_KEY_LEN];
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t nothing[1];
	bool ret = false;

	memset(msg, 0, sizeof(*msg));
	if (hs->state != HANDSHAKE_CONSUMED_INITIATION)
		return false;
	msg->header.type = htole32(MESSAGE_HANDSHAKE_RESPONSE);
	msg->receiver_index = hs->remote_index;

	/* e: the responder needs its ephemeral only here, so it never leaves this frame. */
	if (curve25519_generate_private(ephemeral_private))
		goto out;
	curve25519_generate_public(msg->unencrypted_ephemeral, ephemeral_private);
	mix_ephemeral(hs->chaining_key, hs->hash, msg->unencrypted_ephemeral);

	/* ee */
	if (!mix_dh(hs->chaining_key, NULL, ephemeral_private, hs->remote_ephemeral))
		goto out;

	/* se */
	if (!mix_dh(hs->chaining_key, NULL, ephemeral_private, hs->remote_static))
		goto out;

	/* psk */
	mix_psk(hs->chaining_key, hs->hash, key, hs->preshared_key);

	/* {} */
	encrypt_and_hash(msg->encrypted_nothing, nothing, 0, key, hs->hash);

	if (index_insert(t, &hs->entry, INDEX_HANDSHAKE, hs, hs->owner))
		goto out;
	msg->sender_index = hs->entry.index;
	hs->state = HANDSHAKE_CREATED_RESPONSE;
	ret = true;
out:
	if (!ret)
		noise_handshake_clear(hs, t);
	crypto_wipe(ephemeral_private, sizeof(ephemeral_private));
	crypto_wipe(key, sizeof(key));
	return ret;
}

struct noise_handshake *
noise_handshake_consume_response(const struct message_handshake_response *msg,
				 const struct noise_static_identity *id,
				 const struct index_table *t, enum drop_reason *reason)
{
	struct noise_handshake *hs, *ret = NULL;
	struct index_entry *entry;
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t ck[NOISE_HASH_LEN], hash[NOISE_HASH_LEN];
	uint8_t e[NOISE_PUBLIC_KEY_LEN];
	uint8_t nothing[1];

	*reason = DROP_UNKNOWN_INDEX;
	entry = index_lookup(t, msg->receiver_index, INDEX_HANDSHAKE);
	if (!entry)
		goto out;
	hs = entry->object;
	*reason = DROP_STATE;
	if (!id->has_identity || hs->state != HANDSHAKE_CREATED_INITIATION)
		goto out;
	/* Worked on copies: a forged response must leave the initiation in flight intact. */
	memcpy(ck, hs->chaining_key, sizeof(ck));
	memcpy(hash, hs->hash, sizeof(hash));

	/* e */
	memcpy(e, msg->unencrypted_ephemeral, sizeof(e));
	mix_ephemeral(ck, hash, e);

	/* ee */
	*reason = DROP_DECRYPT;
	if (!mix_dh(ck, NULL, hs->ephemeral_private, e))
		goto out;

	/* se */
	if (!mix_dh(ck, NULL, id->static_private, e))
		goto out;

	/* psk */
	mix_psk(ck, hash, key, hs->preshared_key);

	/* {} */
	if (!decrypt_and_hash(nothing, msg->encrypted_nothing, sizeof(msg->encrypted_nothing), key,
			      hash))
		goto out;

	memcpy(hs->remote_ephemeral, e, sizeof(e));
	memcpy(hs->chaining_key, ck, sizeof(ck));
	memcpy(hs->hash, hash, sizeof(hash));
	crypto_wipe(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	hs->remote_index = msg->sender_index;
	hs->state = HANDSHAKE_CONSUMED_RESPONSE;
	*reason = DROP_NONE;
	ret = hs;
out:
	crypto_wipe(key, sizeof(key));
	crypto_wipe(ck, sizeof(ck));
	crypto_wipe(hash, sizeof(hash));
	return ret;
}

/* --- keypairs --- */

struct noise_keypair *noise_keypair_get(struct noise_keypair *kp)
{
	if (kp)
		atomic_fetch_add_explicit(&kp->refcount, 1, memory_order_relaxed);
	return kp;
}

void noise_keypair_put(struct noise_keypair *kp)
{
	if (!kp || atomic_fetch_sub_explicit(&kp->refcount, 1, memory_order_acq_rel) != 1)
		return;
	secmem_free(kp); /* wipes it */
}

/* Unlinks a keypair that left the rotation: new data naming its index is then unknown, while
 * workers holding references finish with it. */
static void retire(struct index_table *t, struct noise_keypair *kp)
{
	if (!kp)
		return;
	index_remove(t, &kp->entry);
	noise_keypair_put(kp);
}

static struct noise_keypair *keypair_create(const struct noise_handshake *hs, uint64_t now)
{
	struct noise_keypair *kp = secmem_calloc(1, sizeof(*kp)); /* session keys: locked */

	if (!kp)
		return NULL;
	kp->i_am_initiator = hs->state == HANDSHAKE_CONSUMED_RESPONSE;
	if (kp->i_am_initiator)
		kdf(kp->sending_key, kp->receiving_key, NULL, hs->chaining_key, NULL, 0);
	else
		kdf(kp->receiving_key, kp->sending_key, NULL, hs->chaining_key, NULL, 0);
	atomic_init(&kp->sending_counter, 0);
	atomic_init(&kp->sending_valid, true);
	atomic_init(&kp->receiving_valid, true);
	atomic_init(&kp->refcount, 1);
	replay_init(&kp->receiving_replay);
	kp->birthdate = now;
	kp->remote_index = hs->remote_index;
	kp->owner = hs->owner;
	return kp;
}

/* The initiator has its confirmation (the response) and uses the new keypair at once; the
 * responder must wait for the first data message on it (paper, section 5.4.5). */
static void install(struct noise_keypairs *kps, struct noise_keypair *kp, struct index_table *t)
{
	struct noise_keypair *drop_a, *drop_b;

	pthread_mutex_lock(&kps->lock);
	drop_b = kps->previous;
	if (kp->i_am_initiator) {
		/* An unconfirmed next slides to previous (still receivable) and current goes. */
		drop_a = kps->next ? kps->current : NULL;
		kps->previous = kps->next ? kps->next : kps->current;
		kps->next = NULL;
		kps->current = kp;
	} else {
		drop_a = kps->next;
		kps->next = kp;
		kps->previous = NULL;
	}
	pthread_mutex_unlock(&kps->lock);
	retire(t, drop_a);
	retire(t, drop_b);
}

bool noise_handshake_begin_session(struct noise_handshake *hs, struct noise_keypairs *keypairs,
				   struct index_table *t, uint64_t now)
{
	struct noise_keypair *kp;
	bool ret = false;

	if (hs->state != HANDSHAKE_CREATED_RESPONSE && hs->state != HANDSHAKE_CONSUMED_RESPONSE)
		return false;
	kp = keypair_create(hs, now);
	if (!kp)
		goto out;
	if (!index_replace(t, &hs->entry, &kp->entry, INDEX_KEYPAIR, kp, hs->owner)) {
		noise_keypair_put(kp);
		goto out;
	}
	install(keypairs, kp, t);
	ret = true;
out:
	noise_handshake_clear(hs, t);
	return ret;
}

void noise_keypairs_init(struct noise_keypairs *keypairs)
{
	keypairs->current = keypairs->previous = keypairs->next = NULL;
	pthread_mutex_init(&keypairs->lock, NULL);
}

bool noise_received_with_keypair(struct noise_keypairs *keypairs, struct noise_keypair *kp,
				 struct index_table *t)
{
	struct noise_keypair *old;

	pthread_mutex_lock(&keypairs->lock);
	if (!kp || kp != keypairs->next) {
		pthread_mutex_unlock(&keypairs->lock);
		return false;
	}
	old = keypairs->previous;
	keypairs->previous = keypairs->current;
	keypairs->current = kp;
	keypairs->next = NULL;
	pthread_mutex_unlock(&keypairs->lock);
	retire(t, old);
	return true;
}

void noise_keypairs_clear(struct noise_keypairs *keypairs, struct index_table *t)
{
	struct noise_keypair *current, *previous, *next;

	pthread_mutex_lock(&keypairs->lock);
	current = keypairs->current;
	previous = keypairs->previous;
	next = keypairs->next;
	keypairs->current = keypairs->previous = keypairs->next = NULL;
	pthread_mutex_unlock(&keypairs->lock);
	retire(t, next);
	retire(t, current);
	retire(t, previous);
}

void noise_keypairs_destroy(struct noise_keypairs *keypairs, struct index_table *t)
{
	noise_keypairs_clear(keypairs, t);
	pthread_mutex_destroy(&keypairs->lock);
}

struct noise_keypair *noise_keypairs_current(struct noise_keypairs *keypairs)
{
	struct noise_keypair *kp;

	pthread_mutex_lock(&keypairs->lock);
	kp = noise_keypair_get(keypairs->current);
	pthread_mutex_unlock(&keypairs->lock);
	return kp;
}

struct noise_keypair *noise_keypair_lookup(const struct index_table *t, uint32_t index)
{
	struct index_entry *e = index_lookup(t, index, INDEX_KEYPAIR);

	return e ? noise_keypair_get(e->object) : NULL;
}

bool noise_keypair_next_counter(struct noise_keypair *kp, uint64_t now, uint64_t *counter)
{
	uint64_t c;

	if (!atomic_load(&kp->sending_valid))
		return false;
	if (expired(kp->birthdate, REJECT_AFTER_TIME, now))
		goto invalid;
	c = atomic_fetch_add(&kp->sending_counter, 1);
	if (c >= REJECT_AFTER_MESSAGES)
		goto invalid;
	*counter = c;
	return true;
invalid:
	atomic_store(&kp->sending_valid, false);
	return false;
}

bool noise_keypair_should_rekey_on_send(struct noise_keypair *kp, uint64_t now)
{
	if (!kp || !atomic_load(&kp->sending_valid))
		return false;
	/* The counter limit binds both sides; only the initiator rekeys on age, so that the two
	 * do not start handshakes at the same moment ("thundering herd", paper section 6.2). */
	return atomic_load(&kp->sending_counter) > REKEY_AFTER_MESSAGES ||
	       (kp->i_am_initiator && expired(kp->birthdate, REKEY_AFTER_TIME, now));
}

bool noise_keypair_should_rekey_on_receive(struct noise_keypair *kp, uint64_t now)
{
	/* Rekey early enough that a handshake completes before the responder's keys expire. */
	return kp && atomic_load(&kp->sending_valid) && kp->i_am_initiator &&
	       expired(kp->birthdate, REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT, now);
}

/* --- transport data --- */

static size_t round_up16(size_t n)
{
	return (n + MESSAGE_PADDING_MULTIPLE - 1) & ~((size_t)MESSAGE_PADDING_MULTIPLE - 1);
}

/* Padding hides the exact length but never pushes a packet past the MTU; a packet already above
 * it is padded as its last MTU-sized fragment would be, as the kernel does. */
static size_t padded_len(size_t len, unsigned int mtu)
{
	size_t last_unit = len;

	if (!mtu)
		return round_up16(len);
	if (last_unit > mtu)
		last_unit %= mtu;
	return len + MIN((size_t)mtu, round_up16(last_unit)) - last_unit;
}

size_t noise_data_sealed_len(size_t len, unsigned int mtu)
{
	return message_data_len(padded_len(len, mtu));
}

void noise_aead_run(struct noise_aead *job)
{
	if (job->seal) {
		if (job->room)
			chacha20poly1305_seal_in_room(job->body, job->len, job->counter, job->key);
		else
			chacha20poly1305_seal(job->body, job->body, job->len, NULL, 0, job->counter,
					      job->key);
		job->ok = true;
	} else if (job->out) {
		job->ok = chacha20poly1305_open_from_room(job->out, job->body, job->len,
							  job->counter, job->key);
	} else {
		job->ok = aead_open(job->body, job->body, job->len, NULL, 0, job->counter,
				    job->key);
	}
}

size_t noise_data_seal_prepare(uint8_t *out, const uint8_t *plain, size_t len,
			       const struct noise_keypair *kp, uint64_t counter, unsigned int mtu,
			       struct noise_aead *job)
{
	size_t padded = padded_len(len, mtu);
	uint8_t *body = out + sizeof(struct message_data);
	uint32_t type = htole32(MESSAGE_DATA);
	uint64_t counter_le = htole64(counter);

	if (len && body != plain) /* the tunnel seals in place, with the header's room before */
		memmove(body, plain, len);
	memset(body + len, 0, padded - len);
	memcpy(out + offsetof(struct message_data, header), &type, sizeof(type));
	memcpy(out + offsetof(struct message_data, key_idx), &kp->remote_index,
	       sizeof(kp->remote_index));
	memcpy(out + offsetof(struct message_data, counter), &counter_le, sizeof(counter_le));
	*job = (struct noise_aead){
		.body = body, .len = padded, .key = kp->sending_key, .counter = counter, .seal = true
	};
	return message_data_len(padded);
}

size_t noise_data_seal(uint8_t *out, const uint8_t *plain, size_t len, struct noise_keypair *kp,
		       uint64_t counter, unsigned int mtu)
{
	struct noise_aead job;
	size_t n = noise_data_seal_prepare(out, plain, len, kp, counter, mtu, &job);

	noise_aead_run(&job);
	return n;
}

uint64_t noise_data_counter(const uint8_t *msg)
{
	return get_le64(msg + offsetof(struct message_data, counter));
}

/* The age check invalidates for good; the counter check only refuses, as the counter is not
 * authenticated yet. */
static bool receivable(struct noise_keypair *kp, uint64_t counter, uint64_t now)
{
	if (!atomic_load(&kp->receiving_valid))
		return false;
	if (expired(kp->birthdate, REJECT_AFTER_TIME, now)) {
		atomic_store(&kp->receiving_valid, false);
		return false;
	}
	return counter < REJECT_AFTER_MESSAGES;
}

bool noise_data_open_prepare(uint8_t *msg, size_t msglen, struct noise_keypair *kp, uint64_t now,
			     struct noise_aead *job, enum drop_reason *reason)
{
	const size_t hdr = sizeof(struct message_data);
	uint32_t index;
	uint64_t counter;

	*reason = DROP_SIZE;
	if (msglen < MESSAGE_MINIMUM_LENGTH || msglen > MESSAGE_MAX_LEN)
		return false;
	*reason = DROP_TYPE;
	if (get_le32(msg) != MESSAGE_DATA)
		return false;
	*reason = DROP_UNKNOWN_INDEX;
	memcpy(&index, msg + offsetof(struct message_data, key_idx), sizeof(index));
	if (index != kp->entry.index)
		return false;
	counter = noise_data_counter(msg);
	*reason = DROP_KEY_EXPIRED;
	if (!receivable(kp, counter, now))
		return false;
	*job = (struct noise_aead){
		.body = msg + hdr, .len = msglen - hdr, .key = kp->receiving_key, .counter = counter
	};
	*reason = DROP_DECRYPT;
	return true;
}

bool noise_data_open(uint8_t *out, size_t *outlen, const uint8_t *msg, size_t msglen,
		     struct noise_keypair *kp, uint64_t now, enum drop_reason *reason)
{
	const size_t hdr = sizeof(struct message_data);
	struct noise_aead job;
	uint8_t *m = (uint8_t *)msg; /* not written: the job's body is only where it decrypts */

	if (!noise_data_open_prepare(m, msglen, kp, now, &job, reason))
		return false;
	if (!aead_open(out, msg + hdr, msglen - hdr, NULL, 0, job.counter, job.key))
		return false;
	*outlen = msglen - hdr - NOISE_AUTHTAG_LEN;
	*reason = DROP_NONE;
	return true;
}
