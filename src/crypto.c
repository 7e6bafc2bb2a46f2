/* WireGuard's primitives over OpenSSL 3 libcrypto, plus the one it lacks (HChaCha20).
 *
 * Algorithms are fetched once by crypto_init(); each thread then lazily builds its own contexts and
 * re-keys them per call, so the data path neither looks names up nor allocates. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <strings.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include "crypto.h"
#include "log.h"

enum {
	BLAKE2S_BLOCK_LEN = 64,
	CHACHA_BLOCK_LEN = 64,
	CHACHA_NONCE_LEN = 12,
	POLY1305_KEY_LEN = 32,
	/* The longest message sealed or opened through the scratch buffer (see ChaCha20-Poly1305
	 * below); longer ones take libcrypto's AEAD. Covers any IP packet. */
	AEAD_SCRATCH_MAX = 65536 + CRYPTO_TAG_LEN,
	SCRATCH_LEN = CHACHA_BLOCK_LEN + AEAD_SCRATCH_MAX + CHACHA_BLOCK_LEN - 1,
};

static EVP_CIPHER *chacha_poly;
static EVP_CIPHER *chacha;
static EVP_MAC *poly1305_mac;
static EVP_MD *blake2s_md;
static EVP_MAC *blake2s_mac;
static EVP_MAC *hmac_mac;
static pthread_key_t tls_key;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_err;

/* The data path's ChaCha20 and Poly1305 are libcrypto's, called through the functions their
 * provider hands EVP (the dispatch tables of provider-cipher(7) and provider-mac(7)) instead of
 * through EVP itself: EVP asks the provider for the IV length on every cipher init and for the
 * MAC size on every final, by name through OSSL_PARAM lists, about 150 of a 1408-byte packet's
 * 1,100 ns on the Zen 3 machine (docs/design.md, "What was left"). They are the implementations
 * EVP fetched, from the provider it fetched them from; where that provider's table lacks one
 * of the functions, EVP is used. */
static struct {
	OSSL_FUNC_cipher_newctx_fn *cipher_new;
	OSSL_FUNC_cipher_freectx_fn *cipher_free;
	OSSL_FUNC_cipher_encrypt_init_fn *cipher_init;
	OSSL_FUNC_cipher_update_fn *cipher_update;
	void *cipher_prov;
	OSSL_FUNC_mac_newctx_fn *mac_new;
	OSSL_FUNC_mac_freectx_fn *mac_free;
	OSSL_FUNC_mac_init_fn *mac_init;
	OSSL_FUNC_mac_update_fn *mac_update;
	OSSL_FUNC_mac_final_fn *mac_final;
	void *mac_prov;
	bool found;
} direct;
static bool use_direct;

/* Per-thread contexts; freed by the pthread key destructor when a thread ends. */
struct crypto_tls {
	EVP_CIPHER_CTX *aead;
	EVP_CIPHER_CTX *chacha;
	EVP_MAC_CTX *poly;
	void *direct_chacha, *direct_poly; /* the provider's own contexts, with direct.found */
	uint8_t *scratch; /* SCRATCH_LEN bytes */
	uint8_t chacha_key[CRYPTO_KEY_LEN]; /* the key chacha holds, once chacha_keyed */
	bool chacha_keyed;
	EVP_MD_CTX *md;
	EVP_MAC_CTX *keyed;
	EVP_MAC_CTX *hmac;
};
static __thread struct crypto_tls *tls;

static NORETURN void die(const char *what)
{
	log_err("crypto: %s failed in libcrypto", what);
	abort();
}

static void tls_free(void *p)
{
	struct crypto_tls *t = p;

	EVP_CIPHER_CTX_free(t->aead);
	EVP_CIPHER_CTX_free(t->chacha);
	EVP_MAC_CTX_free(t->poly);
	if (t->direct_chacha)
		direct.cipher_free(t->direct_chacha);
	if (t->direct_poly)
		direct.mac_free(t->direct_poly);
	free(t->scratch);
	crypto_wipe(t->chacha_key, sizeof(t->chacha_key));
	EVP_MD_CTX_free(t->md);
	EVP_MAC_CTX_free(t->keyed);
	EVP_MAC_CTX_free(t->hmac);
	free(t);
}

/* Whether name is one of an algorithm's names (a list separated by colons). */
static bool named(const char *names, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = names; p; p = strchr(p, ':'), p = p ? p + 1 : NULL) {
		if (!strncasecmp(p, name, len) && (p[len] == ':' || !p[len]))
			return true;
	}
	return false;
}

/* Calls take(function) for each function of prov's implementation of name. */
static void each_function(const OSSL_PROVIDER *prov, int op, const char *name,
			  void (*take)(const OSSL_DISPATCH *f))
{
	int no_cache;
	const OSSL_ALGORITHM *algs = OSSL_PROVIDER_query_operation(prov, op, &no_cache);

	for (const OSSL_ALGORITHM *a = algs; a && a->algorithm_names; a++) {
		if (!named(a->algorithm_names, name))
			continue;
		for (const OSSL_DISPATCH *f = a->implementation; f->function_id; f++)
			take(f);
		break;
	}
	if (algs)
		OSSL_PROVIDER_unquery_operation(prov, op, algs);
}

static void take_cipher(const OSSL_DISPATCH *f)
{
	switch (f->function_id) {
	case OSSL_FUNC_CIPHER_NEWCTX:
		direct.cipher_new = OSSL_FUNC_cipher_newctx(f);
		break;
	case OSSL_FUNC_CIPHER_FREECTX:
		direct.cipher_free = OSSL_FUNC_cipher_freectx(f);
		break;
	case OSSL_FUNC_CIPHER_ENCRYPT_INIT:
		direct.cipher_init = OSSL_FUNC_cipher_encrypt_init(f);
		break;
	case OSSL_FUNC_CIPHER_UPDATE:
		direct.cipher_update = OSSL_FUNC_cipher_update(f);
		break;
	}
}

static void take_mac(const OSSL_DISPATCH *f)
{
	switch (f->function_id) {
	case OSSL_FUNC_MAC_NEWCTX:
		direct.mac_new = OSSL_FUNC_mac_newctx(f);
		break;
	case OSSL_FUNC_MAC_FREECTX:
		direct.mac_free = OSSL_FUNC_mac_freectx(f);
		break;
	case OSSL_FUNC_MAC_INIT:
		direct.mac_init = OSSL_FUNC_mac_init(f);
		break;
	case OSSL_FUNC_MAC_UPDATE:
		direct.mac_update = OSSL_FUNC_mac_update(f);
		break;
	case OSSL_FUNC_MAC_FINAL:
		direct.mac_final = OSSL_FUNC_mac_final(f);
		break;
	}
}

static void find_direct(void)
{
	const OSSL_PROVIDER *cp = EVP_CIPHER_get0_provider(chacha);
	const OSSL_PROVIDER *mp = EVP_MAC_get0_provider(poly1305_mac);

	if (!cp || !mp)
		return;
	each_function(cp, OSSL_OP_CIPHER, EVP_CIPHER_get0_name(chacha), take_cipher);
	each_function(mp, OSSL_OP_MAC, EVP_MAC_get0_name(poly1305_mac), take_mac);
	direct.cipher_prov = OSSL_PROVIDER_get0_provider_ctx(cp);
	direct.mac_prov = OSSL_PROVIDER_get0_provider_ctx(mp);
	direct.found = direct.cipher_new && direct.cipher_free && direct.cipher_init &&
		       direct.cipher_update && direct.mac_new && direct.mac_free &&
		       direct.mac_init && direct.mac_update && direct.mac_final;
	use_direct = direct.found;
}

static void fetch_all(void)
{
	chacha_poly = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	chacha = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
	poly1305_mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
	blake2s_md = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	blake2s_mac = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!chacha_poly || !chacha || !poly1305_mac || !blake2s_md || !blake2s_mac || !hmac_mac)
		init_err = -ENOSYS;
	else if (pthread_key_create(&tls_key, tls_free))
		init_err = -EAGAIN;
	else
		find_direct();
}

int crypto_init(void)
{
	pthread_once(&init_once, fetch_all);
	return init_err;
}

static EVP_MAC_CTX *hmac_ctx_new(void)
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "BLAKE2S-256", 0),
	    OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac);

	if (!ctx || !EVP_MAC_CTX_set_params(ctx, params))
		die("HMAC setup");
	return ctx;
}

static struct crypto_tls *get_tls(void)
{
	struct crypto_tls *t = tls;

	if (likely(t))
		return t;
	if (!chacha_poly)
		die("use before crypto_init");
	t = calloc(1, sizeof(*t));
	if (!t)
		die("context allocation");
	t->aead = EVP_CIPHER_CTX_new();
	t->chacha = EVP_CIPHER_CTX_new();
	t->poly = EVP_MAC_CTX_new(poly1305_mac);
	/* malloc, not calloc: only the pages that messages reach become resident. */
	t->scratch = malloc(SCRATCH_LEN);
	t->md = EVP_MD_CTX_new();
	t->keyed = EVP_MAC_CTX_new(blake2s_mac);
	if (!t->aead || !t->chacha || !t->poly || !t->scratch || !t->md || !t->keyed)
		die("context allocation");
	t->hmac = hmac_ctx_new();
	if (!EVP_CipherInit_ex2(t->aead, chacha_poly, NULL, NULL, 1, NULL) ||
	    !EVP_CipherInit_ex2(t->chacha, chacha, NULL, NULL, 1, NULL))
		die("ChaCha20-Poly1305 setup");
	if (direct.found) {
		t->direct_chacha = direct.cipher_new(direct.cipher_prov);
		t->direct_poly = direct.mac_new(direct.mac_prov);
		if (!t->direct_chacha || !t->direct_poly)
			die("ChaCha20-Poly1305 setup");
	}
	pthread_setspecific(tls_key, t);
	tls = t;
	return t;
}

/* Constant-time helpers. */

bool crypto_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

bool crypto_is_zero(const void *a, size_t len)
{
	const uint8_t *p = a;
	unsigned int acc = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		acc |= p[i];
		/* Keeps the compiler from ending the loop at the first non-zero byte. */
		__asm__("" : "+r"(acc));
	}
	return ((acc - 1) >> 8) & 1;
}

void crypto_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

int crypto_random(void *p, size_t len)
{
	uint8_t *b = p;
	ssize_t n;

	while (len) {
		n = getrandom(b, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* X25519 (RFC 7748). */

void curve25519_clamp(uint8_t key[CRYPTO_KEY_LEN])
{
	key[0] &= 248;
	key[31] &= 127;
	key[31] |= 64;
}

int curve25519_generate_private(uint8_t priv[CRYPTO_KEY_LEN])
{
	int ret = crypto_random(priv, CRYPTO_KEY_LEN);

	if (!ret)
		curve25519_clamp(priv);
	return ret;
}

static EVP_PKEY *pkey_private(const uint8_t priv[CRYPTO_KEY_LEN])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, priv, CRYPTO_KEY_LEN);

	if (!k)
		die("X25519 private key");
	return k;
}

void curve25519_generate_public(uint8_t pub[CRYPTO_KEY_LEN], const uint8_t priv[CRYPTO_KEY_LEN])
{
	EVP_PKEY *k = pkey_private(priv);
	size_t len = CRYPTO_KEY_LEN;

	if (!EVP_PKEY_get_raw_public_key(k, pub, &len) || len != CRYPTO_KEY_LEN)
		die("X25519 public key");
	EVP_PKEY_free(k);
}

bool curve25519(uint8_t out[CRYPTO_KEY_LEN], const uint8_t priv[CRYPTO_KEY_LEN],
		const uint8_t pub[CRYPTO_KEY_LEN])
{
	EVP_PKEY *k = pkey_private(priv);
	EVP_PKEY *peer;
	EVP_PKEY_CTX *ctx;
	size_t len = CRYPTO_KEY_LEN;
	bool ok;

	peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, pub, CRYPTO_KEY_LEN);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (!peer || !ctx || EVP_PKEY_derive_init(ctx) <= 0 ||
	    EVP_PKEY_derive_set_peer(ctx, peer) <= 0)
		die("X25519 setup");
	/* libcrypto itself fails the derivation when the result is all zeros (a low-order point);
	 * the explicit check keeps that guarantee independent of the library's. */
	ok = EVP_PKEY_derive(ctx, out, &len) > 0 && len == CRYPTO_KEY_LEN;
	if (!ok)
		crypto_wipe(out, CRYPTO_KEY_LEN);
	ok = ok && !crypto_is_zero(out, CRYPTO_KEY_LEN);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(k);
	return ok;
}

/* BLAKE2s (RFC 7693). */

static void digest2(uint8_t out[CRYPTO_HASH_LEN], const void *a, size_t alen, const void *b,
		    size_t blen)
{
	EVP_MD_CTX *ctx = get_tls()->md;

	if (!EVP_DigestInit_ex2(ctx, blake2s_md, NULL) || !EVP_DigestUpdate(ctx, a, alen) ||
	    !EVP_DigestUpdate(ctx, b, blen) || !EVP_DigestFinal_ex(ctx, out, NULL))
		die("BLAKE2s");
}

void blake2s256(uint8_t out[CRYPTO_HASH_LEN], const void *in, size_t len)
{
	digest2(out, in, len, NULL, 0);
}

void blake2s256_mix(uint8_t hash[CRYPTO_HASH_LEN], const void *in, size_t len)
{
	digest2(hash, hash, CRYPTO_HASH_LEN, in, len);
}

static void mac_run(EVP_MAC_CTX *ctx, uint8_t *out, size_t outlen, const void *in, size_t inlen)
{
	size_t got = 0;

	if (!EVP_MAC_update(ctx, in, inlen) || !EVP_MAC_final(ctx, out, &got, outlen) ||
	    got != outlen)
		die("MAC");
}

void blake2s_keyed(uint8_t *out, size_t outlen, const void *in, size_t inlen, const uint8_t *key,
		   size_t keylen)
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen),
	    OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx = get_tls()->keyed;

	if (!EVP_MAC_init(ctx, key, keylen, params))
		die("keyed BLAKE2s init");
	mac_run(ctx, out, outlen, in, inlen);
}

void hmac_blake2s(uint8_t out[CRYPTO_HASH_LEN], const uint8_t *key, size_t keylen, const void *in,
		  size_t inlen)
{
	static const uint8_t empty[1];
	EVP_MAC_CTX *ctx = get_tls()->hmac;

	/* A NULL key would mean "keep the previous key" to libcrypto. */
	if (!EVP_MAC_init(ctx, keylen ? key : empty, keylen, NULL))
		die("HMAC init");
	mac_run(ctx, out, CRYPTO_HASH_LEN, in, inlen);
}

void kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[CRYPTO_HASH_LEN], const void *in,
	 size_t inlen)
{
	uint8_t tau0[CRYPTO_HASH_LEN], buf[CRYPTO_HASH_LEN + 1];

	hmac_blake2s(tau0, ck, CRYPTO_HASH_LEN, in, inlen);
	buf[0] = 1;
	hmac_blake2s(buf, tau0, CRYPTO_HASH_LEN, buf, 1);
	memcpy(t1, buf, CRYPTO_HASH_LEN);
	if (!t2)
		goto out;
	buf[CRYPTO_HASH_LEN] = 2;
	hmac_blake2s(buf, tau0, CRYPTO_HASH_LEN, buf, sizeof(buf));
	memcpy(t2, buf, CRYPTO_HASH_LEN);
	if (!t3)
		goto out;
	buf[CRYPTO_HASH_LEN] = 3;
	hmac_blake2s(buf, tau0, CRYPTO_HASH_LEN, buf, sizeof(buf));
	memcpy(t3, buf, CRYPTO_HASH_LEN);
out:
	crypto_wipe(tau0, sizeof(tau0));
	crypto_wipe(buf, sizeof(buf));
}

/* ChaCha20-Poly1305 (RFC 8439). */

/* libcrypto counts in int; loops so that any size_t length works. */
static void update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
	int chunk, got;

	do {
		chunk = (int)MIN(len, (size_t)INT_MAX);
		if (!EVP_CipherUpdate(ctx, out, &got, in, chunk))
			die("ChaCha20-Poly1305 update");
		if (out)
			out += got;
		in += chunk;
		len -= (size_t)chunk;
	} while (len);
}

static EVP_CIPHER_CTX *aead_start(const uint8_t key[CRYPTO_KEY_LEN],
				  const uint8_t nonce[CHACHA_NONCE_LEN], int enc, const uint8_t *ad,
				  size_t adlen)
{
	EVP_CIPHER_CTX *ctx = get_tls()->aead;

	if (!EVP_CipherInit_ex2(ctx, NULL, key, nonce, enc, NULL))
		die("ChaCha20-Poly1305 init");
	if (adlen)
		update(ctx, NULL, ad, adlen);
	return ctx;
}

/* libcrypto's own AEAD: for messages too long for the scratch buffer. */
static void evp_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[CHACHA_NONCE_LEN], const uint8_t key[CRYPTO_KEY_LEN])
{
	EVP_CIPHER_CTX *ctx = aead_start(key, nonce, 1, ad, adlen);
	int got;

	if (len)
		update(ctx, dst, src, len);
	/* The tag as a parameter, not through EVP_CIPHER_CTX_ctrl(), which builds the same
	 * request with more string lookups per packet. */
	OSSL_PARAM tag[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, dst + len,
						  CRYPTO_TAG_LEN),
		OSSL_PARAM_construct_end(),
	};

	if (!EVP_CipherFinal_ex(ctx, dst + len, &got) || !EVP_CIPHER_CTX_get_params(ctx, tag))
		die("ChaCha20-Poly1305 seal");
}

static bool evp_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[CHACHA_NONCE_LEN], const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t tag[CRYPTO_TAG_LEN];
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, CRYPTO_TAG_LEN),
		OSSL_PARAM_construct_end(),
	};
	EVP_CIPHER_CTX *ctx;
	int got;
	bool ok;

	if (len < CRYPTO_TAG_LEN)
		return false;
	len -= CRYPTO_TAG_LEN;
	/* Copied first: in place, the tag sits right after the bytes being overwritten. */
	memcpy(tag, src + len, CRYPTO_TAG_LEN);
	ctx = aead_start(key, nonce, 0, ad, adlen);
	if (!EVP_CIPHER_CTX_set_params(ctx, params))
		die("ChaCha20-Poly1305 tag");
	if (len)
		update(ctx, dst, src, len);
	ok = EVP_CipherFinal_ex(ctx, dst + len, &got) > 0;
	if (!ok)
		crypto_wipe(dst, len);
	return ok;
}

/* The AEAD as RFC 8439 section 2.8 builds it, from libcrypto's ChaCha20 and Poly1305: the
 * Poly1305 key is the first 32 bytes of ChaCha20 block 0, the message is encrypted from block 1,
 * and the tag is Poly1305 over ad, zero padding to 16, ciphertext, zero padding to 16 and the two
 * lengths as 64-bit little-endian numbers. libcrypto's AEAD pays about 0.4 us per message before
 * any byte of it (its parameter handling, and a ChaCha20 call of its own for block 0), more than
 * a full 1408-byte packet's bulk: here the message is copied behind 64 zero bytes in a per-thread
 * scratch buffer, so that one ChaCha20 call gives both the key and the keystream, and copied back.
 * Measured on this machine: seal 530 against 675 ns per 1408-byte packet, 311 against 590 for
 * 144 bytes; open alike (docs/design.md, "What was left"). tests/unit/test_crypto.c holds it to the RFC's
 * vectors and to libcrypto's AEAD on random inputs. */

static void mac_update(struct crypto_tls *t, const uint8_t *in, size_t len)
{
	if (!(use_direct ? direct.mac_update(t->direct_poly, in, len)
			 : EVP_MAC_update(t->poly, in, len)))
		die("Poly1305 update");
}

static void mac_padded(struct crypto_tls *t, const uint8_t *in, size_t len)
{
	static const uint8_t zeros[16];

	if (!len)
		return;
	mac_update(t, in, len);
	if (len & 15)
		mac_update(t, zeros, 16 - (len & 15));
}

static void poly1305_tag(uint8_t tag[CRYPTO_TAG_LEN], const uint8_t otk[POLY1305_KEY_LEN],
			 const uint8_t *ad, size_t adlen, const uint8_t *ct, size_t len)
{
	struct crypto_tls *t = get_tls();
	uint8_t lens[16];
	size_t got = 0;
	int i, ok;

	for (i = 0; i < 8; i++) {
		lens[i] = (uint8_t)((uint64_t)adlen >> (8 * i));
		lens[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	ok = use_direct ? direct.mac_init(t->direct_poly, otk, POLY1305_KEY_LEN, NULL)
			: EVP_MAC_init(t->poly, otk, POLY1305_KEY_LEN, NULL);
	if (!ok)
		die("Poly1305 init");
	mac_padded(t, ad, adlen);
	mac_padded(t, ct, len);
	mac_update(t, lens, sizeof(lens));
	ok = use_direct ? direct.mac_final(t->direct_poly, tag, &got, CRYPTO_TAG_LEN)
			: EVP_MAC_final(t->poly, tag, &got, CRYPTO_TAG_LEN);
	if (!ok || got != CRYPTO_TAG_LEN)
		die("Poly1305 final");
}

/* Whether key is the one the thread's ChaCha20 context holds. Not secret-dependent in time (no
 * early exit), and a tenth of CRYPTO_memcmp's cost over 32 bytes. */
static bool keyed_with(const struct crypto_tls *t, const uint8_t key[CRYPTO_KEY_LEN])
{
	uint64_t a, b, diff = 0;

	if (!t->chacha_keyed)
		return false;
	for (size_t i = 0; i < CRYPTO_KEY_LEN; i += sizeof(a)) {
		memcpy(&a, key + i, sizeof(a));
		memcpy(&b, t->chacha_key + i, sizeof(b));
		diff |= a ^ b;
	}
	return diff == 0;
}

/* ChaCha20 from block 0 over in into out (in place when they are equal): whole blocks only
 * (libcrypto runs a partial last block through a slower call of its own; a 1420-byte packet
 * cost 0.14 us more than a 1408-byte one), so len is a multiple of 64. */
static void chacha_blocks(struct crypto_tls *t, uint8_t *out, const uint8_t *in, size_t len,
			  const uint8_t nonce[CHACHA_NONCE_LEN], const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t iv[4 + CHACHA_NONCE_LEN] = {0}; /* libcrypto's ChaCha20 IV: the block counter, LE */
	size_t got;

	memcpy(iv + 4, nonce, CHACHA_NONCE_LEN);
	/* Consecutive packets mostly share a key: setting only the IV takes 53 ns, not 86. */
	if (keyed_with(t, key)) {
		key = NULL;
	} else {
		memcpy(t->chacha_key, key, CRYPTO_KEY_LEN);
		t->chacha_keyed = true;
	}
	if (!use_direct) {
		if (!EVP_CipherInit_ex2(t->chacha, NULL, key, iv, 1, NULL))
			die("ChaCha20 init");
		update(t->chacha, out, in, len);
		return;
	}
	if (!direct.cipher_init(t->direct_chacha, key, key ? CRYPTO_KEY_LEN : 0, iv, sizeof(iv),
				NULL))
		die("ChaCha20 init");
	if (!direct.cipher_update(t->direct_chacha, out, &got, len, in, len) || got != len)
		die("ChaCha20 update");
}

bool crypto_set_direct(bool on)
{
	struct crypto_tls *t = get_tls();

	use_direct = on && direct.found;
	t->chacha_keyed = false; /* the key the other context holds */
	return use_direct;
}

static size_t whole_blocks(size_t len)
{
	return (len + CHACHA_BLOCK_LEN - 1) & ~(size_t)(CHACHA_BLOCK_LEN - 1);
}

/* ChaCha20 from block 0 over 64 zero bytes and then src: returns the scratch buffer, whose first
 * 32 bytes are the one-time Poly1305 key and which holds src's encryption (or decryption) from
 * byte 64 on, and junk past it to the end of the last block. The caller wipes block 0. */
static uint8_t *chacha_with_key_block(const uint8_t *src, size_t len,
				      const uint8_t nonce[CHACHA_NONCE_LEN],
				      const uint8_t key[CRYPTO_KEY_LEN])
{
	struct crypto_tls *t = get_tls();
	uint8_t *s = t->scratch;

	memset(s, 0, CHACHA_BLOCK_LEN);
	if (len)
		memcpy(s + CHACHA_BLOCK_LEN, src, len);
	chacha_blocks(t, s, s, whole_blocks(CHACHA_BLOCK_LEN + len), nonce, key);
	return s;
}

void chacha20poly1305_seal_nonce12(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
				   size_t adlen, const uint8_t nonce[CHACHA_NONCE_LEN],
				   const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t *s;

	if (len > AEAD_SCRATCH_MAX) {
		evp_seal(dst, src, len, ad, adlen, nonce, key);
		return;
	}
	s = chacha_with_key_block(src, len, nonce, key);
	poly1305_tag(dst + len, s, ad, adlen, s + CHACHA_BLOCK_LEN, len);
	crypto_wipe(s, CHACHA_BLOCK_LEN);
	memcpy(dst, s + CHACHA_BLOCK_LEN, len);
}

bool chacha20poly1305_open_nonce12(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
				   size_t adlen, const uint8_t nonce[CHACHA_NONCE_LEN],
				   const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t tag[CRYPTO_TAG_LEN];
	uint8_t *s;
	bool ok;

	if (len < CRYPTO_TAG_LEN)
		return false;
	if (len - CRYPTO_TAG_LEN > AEAD_SCRATCH_MAX)
		return evp_open(dst, src, len, ad, adlen, nonce, key);
	len -= CRYPTO_TAG_LEN;
	/* Decrypted into the scratch buffer while src still holds the ciphertext to authenticate. */
	s = chacha_with_key_block(src, len, nonce, key);
	poly1305_tag(tag, s, ad, adlen, src, len);
	crypto_wipe(s, CHACHA_BLOCK_LEN);
	ok = crypto_equal(tag, src + len, CRYPTO_TAG_LEN);
	if (ok) {
		memcpy(dst, s + CHACHA_BLOCK_LEN, len);
	} else {
		crypto_wipe(s + CHACHA_BLOCK_LEN, len);
		crypto_wipe(dst, len);
	}
	return ok;
}

static void wg_nonce(uint8_t out[CHACHA_NONCE_LEN], uint64_t counter)
{
	int i;

	memset(out, 0, 4);
	for (i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(counter >> (8 * i));
}

/* The scratch buffer's trick without the copies: the 64 bytes before the message become block 0
 * and the bytes after it the last block's junk, both borrowed and given back. Saves the two
 * copies of a seal through the scratch buffer (docs/design.md, "What was left"). */
void chacha20poly1305_seal_in_room(uint8_t *buf, size_t len, uint64_t nonce,
				   const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t *block0 = buf - CHACHA_BLOCK_LEN;
	size_t whole = whole_blocks(CHACHA_BLOCK_LEN + len);
	size_t junk = whole - CHACHA_BLOCK_LEN - len;
	uint8_t before[CHACHA_BLOCK_LEN], after[CHACHA_BLOCK_LEN], n[CHACHA_NONCE_LEN];

	wg_nonce(n, nonce);
	memcpy(before, block0, sizeof(before));
	memcpy(after, buf + len, junk);
	memset(block0, 0, CHACHA_BLOCK_LEN);
	chacha_blocks(get_tls(), block0, block0, whole, n, key);
	memcpy(buf + len, after, junk);
	poly1305_tag(buf + len, block0, NULL, 0, buf, len);
	crypto_wipe(block0, CHACHA_BLOCK_LEN);
	memcpy(block0, before, sizeof(before));
}

/* The open's counterpart without the copies: one ChaCha20 call runs from the 64 bytes before
 * the ciphertext, whatever they hold, into the 64 bytes before dst, so block 0's keystream is
 * what it wrote there XOR what it read; the tag is checked over the ciphertext, untouched where
 * it lies (docs/design.md, "What was left"). */
bool chacha20poly1305_open_from_room(uint8_t *dst, const uint8_t *src, size_t len, uint64_t nonce,
				     const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t *block0 = dst - CHACHA_BLOCK_LEN;
	const uint8_t *in0 = src - CHACHA_BLOCK_LEN;
	uint8_t n[CHACHA_NONCE_LEN], otk[POLY1305_KEY_LEN], tag[CRYPTO_TAG_LEN];
	bool ok;

	if (len < CRYPTO_TAG_LEN)
		return false;
	len -= CRYPTO_TAG_LEN;
	wg_nonce(n, nonce);
	chacha_blocks(get_tls(), block0, in0, whole_blocks(CHACHA_BLOCK_LEN + len), n, key);
	for (size_t i = 0; i < POLY1305_KEY_LEN; i++)
		otk[i] = block0[i] ^ in0[i];
	crypto_wipe(block0, CHACHA_BLOCK_LEN);
	poly1305_tag(tag, otk, NULL, 0, src, len);
	crypto_wipe(otk, sizeof(otk));
	ok = crypto_equal(tag, src + len, CRYPTO_TAG_LEN);
	if (!ok)
		crypto_wipe(dst, len);
	return ok;
}

void chacha20poly1305_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen, uint64_t nonce, const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t n[CHACHA_NONCE_LEN];

	wg_nonce(n, nonce);
	chacha20poly1305_seal_nonce12(dst, src, len, ad, adlen, n, key);
}

bool chacha20poly1305_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen, uint64_t nonce, const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t n[CHACHA_NONCE_LEN];

	wg_nonce(n, nonce);
	return chacha20poly1305_open_nonce12(dst, src, len, ad, adlen, n, key);
}

/* HChaCha20 (draft-irtf-cfrg-xchacha-03, section 2.2): the ChaCha20 block function without the
 * final addition, keeping words 0..3 and 12..15 as a subkey. */

static uint32_t rotl(uint32_t v, int n)
{
	return (v << n) | (v >> (32 - n));
}

static uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void quarter(uint32_t *x, int a, int b, int c, int d)
{
	x[a] += x[b], x[d] = rotl(x[d] ^ x[a], 16);
	x[c] += x[d], x[b] = rotl(x[b] ^ x[c], 12);
	x[a] += x[b], x[d] = rotl(x[d] ^ x[a], 8);
	x[c] += x[d], x[b] = rotl(x[b] ^ x[c], 7);
}

void hchacha20(uint8_t out[CRYPTO_KEY_LEN], const uint8_t nonce[16],
	       const uint8_t key[CRYPTO_KEY_LEN])
{
	/* "expand 32-byte k" */
	uint32_t x[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
	int i;

	for (i = 0; i < 8; i++)
		x[4 + i] = load32(key + 4 * i);
	for (i = 0; i < 4; i++)
		x[12 + i] = load32(nonce + 4 * i);
	for (i = 0; i < 10; i++) {
		quarter(x, 0, 4, 8, 12);
		quarter(x, 1, 5, 9, 13);
		quarter(x, 2, 6, 10, 14);
		quarter(x, 3, 7, 11, 15);
		quarter(x, 0, 5, 10, 15);
		quarter(x, 1, 6, 11, 12);
		quarter(x, 2, 7, 8, 13);
		quarter(x, 3, 4, 9, 14);
	}
	for (i = 0; i < 4; i++) {
		store32(out + 4 * i, x[i]);
		store32(out + 16 + 4 * i, x[12 + i]);
	}
	crypto_wipe(x, sizeof(x));
}

static void xnonce_split(uint8_t subkey[CRYPTO_KEY_LEN], uint8_t n12[CHACHA_NONCE_LEN],
			 const uint8_t nonce[CRYPTO_XNONCE_LEN], const uint8_t key[CRYPTO_KEY_LEN])
{
	hchacha20(subkey, nonce, key);
	memset(n12, 0, 4);
	memcpy(n12 + 4, nonce + 16, 8);
}

void xchacha20poly1305_seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, const uint8_t nonce[CRYPTO_XNONCE_LEN],
			    const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t subkey[CRYPTO_KEY_LEN], n12[CHACHA_NONCE_LEN];

	xnonce_split(subkey, n12, nonce, key);
	chacha20poly1305_seal_nonce12(dst, src, len, ad, adlen, n12, subkey);
	crypto_wipe(subkey, sizeof(subkey));
}

bool xchacha20poly1305_open(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, const uint8_t nonce[CRYPTO_XNONCE_LEN],
			    const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t subkey[CRYPTO_KEY_LEN], n12[CHACHA_NONCE_LEN];
	bool ok;

	xnonce_split(subkey, n12, nonce, key);
	ok = chacha20poly1305_open_nonce12(dst, src, len, ad, adlen, n12, subkey);
	crypto_wipe(subkey, sizeof(subkey));
	return ok;
}

/* TAI64N (cr.yp.to/libtai/tai64.html): label 2^62 + TAI seconds, TAI being 10 s ahead of the
 * Unix count, as the kernel, wireguard-go and libtai's tai_unix() all encode it. */
#define TAI64_BASE 0x400000000000000aULL

void tai64n(uint8_t out[CRYPTO_TAI64N_LEN], uint64_t unix_ns)
{
	uint64_t sec = TAI64_BASE + unix_ns / NSEC_PER_SEC;
	uint32_t nsec = (uint32_t)(unix_ns % NSEC_PER_SEC);
	int i;

	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(sec >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}
