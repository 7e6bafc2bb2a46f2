/* The cryptographic primitives of WireGuard, over OpenSSL's libcrypto.
 *
 * Every function is safe to call from several threads at once: contexts are kept per thread.
 * Functions that cannot fail for valid arguments return void; a libcrypto failure there means a
 * broken library or memory exhaustion inside it, and aborts. */
#ifndef PORTHOLE_CRYPTO_H
#define PORTHOLE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compat.h"

enum {
	CRYPTO_KEY_LEN = 32,	/* X25519 keys and shared secrets, ChaCha20 keys */
	CRYPTO_HASH_LEN = 32,	/* BLAKE2s-256 */
	CRYPTO_TAG_LEN = 16,	/* Poly1305 */
	CRYPTO_XNONCE_LEN = 24, /* XChaCha20 */
	CRYPTO_TAI64N_LEN = 12,
	CRYPTO_MAC_LEN = 16, /* keyed BLAKE2s-128, as in mac1, mac2 and cookies */
};

/* Fetches the algorithms once. Call before any other function; 0 or -errno. */
int crypto_init(void) WARN_UNUSED;
/* For tests, before other threads use this module: on (the default) calls libcrypto's ChaCha20
 * and Poly1305 through their provider's functions where it has them, off through EVP. Returns
 * whether the provider's are in use. */
bool crypto_set_direct(bool on);

/* X25519 (RFC 7748). */
void curve25519_clamp(uint8_t key[CRYPTO_KEY_LEN]);
int curve25519_generate_private(uint8_t priv[CRYPTO_KEY_LEN]) WARN_UNUSED;
void curve25519_generate_public(uint8_t pub[CRYPTO_KEY_LEN], const uint8_t priv[CRYPTO_KEY_LEN]);
/* false when the result is all zeros (a low-order point): the caller must refuse it. */
bool curve25519(uint8_t out[CRYPTO_KEY_LEN], const uint8_t priv[CRYPTO_KEY_LEN],
		const uint8_t pub[CRYPTO_KEY_LEN]) WARN_UNUSED;

/* BLAKE2s (RFC 7693). */
void blake2s256(uint8_t out[CRYPTO_HASH_LEN], const void *in, size_t len);
/* hash = BLAKE2s-256(hash || in): the handshake's mixing of its transcript. */
void blake2s256_mix(uint8_t hash[CRYPTO_HASH_LEN], const void *in, size_t len);
/* Keyed BLAKE2s with keylen 1..32 and outlen 1..32 (WireGuard uses 16 and 32). */
void blake2s_keyed(uint8_t *out, size_t outlen, const void *in, size_t inlen, const uint8_t *key,
		   size_t keylen);
void hmac_blake2s(uint8_t out[CRYPTO_HASH_LEN], const uint8_t *key, size_t keylen, const void *in,
		  size_t inlen);
/* The KDF of the WireGuard paper: up to three 32-byte outputs from chaining key ck and input.
 * t2 and t3 may be NULL. Outputs may not alias ck. */
void kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[CRYPTO_HASH_LEN], const void *in,
	 size_t inlen);

/* ChaCha20-Poly1305 (RFC 8439) with WireGuard's nonce: 32 zero bits, then the 64-bit counter
 * little-endian. seal writes len + 16 bytes to dst; open reads len bytes including the tag and
 * writes len - 16. dst may equal src (in place). */
void chacha20poly1305_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen, uint64_t nonce, const uint8_t key[CRYPTO_KEY_LEN]);
bool chacha20poly1305_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen, uint64_t nonce,
			   const uint8_t key[CRYPTO_KEY_LEN]) WARN_UNUSED;

/* chacha20poly1305_seal() in place without AD and without copying: the CRYPTO_SEAL_ROOM bytes
 * before buf and the CRYPTO_SEAL_ROOM bytes from buf + len on are borrowed, so they must be the
 * caller's own (no other thread touches them meanwhile). They are given back as they were, except
 * the tag at buf + len. */
enum { CRYPTO_SEAL_ROOM = 64 };
void chacha20poly1305_seal_in_room(uint8_t *buf, size_t len, uint64_t nonce,
				   const uint8_t key[CRYPTO_KEY_LEN]);

/* chacha20poly1305_open() from src into dst without copying either: ChaCha20 reads from
 * CRYPTO_SEAL_ROOM bytes before src to as many past src + len, which must stay unchanged during
 * the call (their content does not matter), and writes as many before dst and past
 * dst + len - 16, which must be the caller's own. The bytes before dst are left wiped, those
 * past the plaintext hold junk, and src is only read. dst may not overlap src. */
bool chacha20poly1305_open_from_room(uint8_t *dst, const uint8_t *src, size_t len, uint64_t nonce,
				     const uint8_t key[CRYPTO_KEY_LEN]) WARN_UNUSED;

/* chacha20poly1305_seal() and _open() with a raw 12-byte RFC 8439 nonce: for tests and XChaCha. */
void chacha20poly1305_seal_nonce12(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
				   size_t adlen, const uint8_t nonce[12],
				   const uint8_t key[CRYPTO_KEY_LEN]);
bool chacha20poly1305_open_nonce12(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
				   size_t adlen, const uint8_t nonce[12],
				   const uint8_t key[CRYPTO_KEY_LEN]) WARN_UNUSED;

/* HChaCha20 and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03). */
void hchacha20(uint8_t out[CRYPTO_KEY_LEN], const uint8_t nonce[16],
	       const uint8_t key[CRYPTO_KEY_LEN]);
void xchacha20poly1305_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, const uint8_t nonce[CRYPTO_XNONCE_LEN],
			    const uint8_t key[CRYPTO_KEY_LEN]);
bool xchacha20poly1305_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, const uint8_t nonce[CRYPTO_XNONCE_LEN],
			    const uint8_t key[CRYPTO_KEY_LEN]) WARN_UNUSED;

/* TAI64N label of a wall-clock time given in nanoseconds since the Unix epoch. */
void tai64n(uint8_t out[CRYPTO_TAI64N_LEN], uint64_t unix_ns);

bool crypto_equal(const void *a, const void *b, size_t len) WARN_UNUSED; /* constant time */
bool crypto_is_zero(const void *a, size_t len) WARN_UNUSED;		 /* constant time */
void crypto_wipe(void *p, size_t len);
int crypto_random(void *p, size_t len) WARN_UNUSED; /* 0 or -errno */

#endif
