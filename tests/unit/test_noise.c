/* The Noise handshake, session rotation, transport data and the index table: two in-process
 * peers talking through the same steps the engine takes, plus a known-answer vector. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include "check.h"
#include "cookie.h"
#include "crypto.h"
#include "index.h"
#include "messages.h"
#include "noise.h"
#include "replay.h"

#define SEC   NSEC_PER_SEC
#define NOW0  (1000 * SEC)
#define WALL0 (1700000000ULL * SEC)
#define MTU   1420

struct side {
	struct noise_static_identity id;
	struct noise_handshake hs; /* with the other side */
	struct noise_keypairs kps;
	struct index_table table;
	struct cookie_checker checker;
	struct cookie_maker maker;
	struct noise_lookup lookup;
	struct sockaddr_in addr;
};

static struct noise_handshake *by_public(void *ctx, const uint8_t pub[NOISE_PUBLIC_KEY_LEN])
{
	struct side *s = ctx;

	return memcmp(pub, s->hs.remote_static, NOISE_PUBLIC_KEY_LEN) == 0 ? &s->hs : NULL;
}

static void side_init(struct side *s, const uint8_t *priv, uint16_t port)
{
	uint8_t k[NOISE_PUBLIC_KEY_LEN];

	memset(s, 0, sizeof(*s));
	if (priv)
		memcpy(k, priv, sizeof(k));
	else
		CHECK(curve25519_generate_private(k) == 0);
	noise_static_identity_set(&s->id, k);
	CHECK(s->id.has_identity);
	CHECK(index_table_init(&s->table, 16 * INDEX_PER_PEER) == 0);
	CHECK(cookie_checker_init(&s->checker, s->id.static_public, NOW0) == 0);
	noise_keypairs_init(&s->kps);
	s->lookup.by_public = by_public;
	s->lookup.ctx = s;
	s->addr.sin_family = AF_INET;
	s->addr.sin_addr.s_addr = htonl(0x7f000001);
	s->addr.sin_port = htons(port);
}

static void side_pair(struct side *s, const struct side *remote, const uint8_t *psk)
{
	noise_handshake_init(&s->hs, &s->id, remote->id.static_public, psk, s);
	cookie_maker_init(&s->maker, remote->id.static_public);
}

static void side_free(struct side *s)
{
	noise_keypairs_destroy(&s->kps, &s->table);
	noise_handshake_clear(&s->hs, &s->table);
	CHECK(s->table.count == 0);
	index_table_free(&s->table);
}

static const struct sockaddr *sa(const struct side *s)
{
	return (const struct sockaddr *)&s->addr;
}

/* --- the engine's receive steps --- */

static enum drop_reason frame(const void *buf, size_t len, enum message_type want)
{
	enum drop_reason r;
	enum message_type t = noise_message_type(buf, len, &r);

	if (t == MESSAGE_INVALID)
		return r;
	return t == want ? DROP_NONE : DROP_TYPE;
}

static enum drop_reason recv_initiation(struct side *s, const struct side *from, const void *buf,
					size_t len, uint64_t now)
{
	enum drop_reason r = frame(buf, len, MESSAGE_HANDSHAKE_INITIATION);

	if (r != DROP_NONE)
		return r;
	if (cookie_validate_packet(&s->checker, buf, len, sa(from), false, now) == INVALID_MAC)
		return DROP_MAC1;
	if (!noise_handshake_consume_initiation(buf, &s->id, &s->lookup, now, &r))
		return r;
	return DROP_NONE;
}

static enum drop_reason recv_response(struct side *s, const struct side *from, const void *buf,
				      size_t len, uint64_t now)
{
	enum drop_reason r = frame(buf, len, MESSAGE_HANDSHAKE_RESPONSE);

	if (r != DROP_NONE)
		return r;
	if (cookie_validate_packet(&s->checker, buf, len, sa(from), false, now) == INVALID_MAC)
		return DROP_MAC1;
	if (!noise_handshake_consume_response(buf, &s->id, &s->table, &r))
		return r;
	return noise_handshake_begin_session(&s->hs, &s->kps, &s->table, now) ? DROP_NONE
									      : DROP_STATE;
}

static enum drop_reason recv_data(struct side *s, const uint8_t *buf, size_t len, uint64_t now,
				  uint8_t *out, size_t *outlen)
{
	enum drop_reason r = frame(buf, len, MESSAGE_DATA);
	struct noise_keypair *kp;
	uint32_t index;

	if (r != DROP_NONE)
		return r;
	memcpy(&index, buf + 4, sizeof(index));
	kp = noise_keypair_lookup(&s->table, index);
	if (!kp)
		return DROP_UNKNOWN_INDEX;
	if (!noise_data_open(out, outlen, buf, len, kp, now, &r))
		goto out;
	if (!replay_check(&kp->receiving_replay, noise_data_counter(buf), REJECT_AFTER_MESSAGES)) {
		r = DROP_REPLAY;
		goto out;
	}
	noise_received_with_keypair(&s->kps, kp, &s->table);
out:
	noise_keypair_put(kp);
	return r;
}

static size_t send_data(struct side *s, const void *plain, size_t len, uint64_t now, uint8_t *out)
{
	struct noise_keypair *kp = noise_keypairs_current(&s->kps);
	uint64_t counter;
	size_t n = 0;

	if (kp && noise_keypair_next_counter(kp, now, &counter))
		n = noise_data_seal(out, plain, len, kp, counter, MTU);
	noise_keypair_put(kp);
	return n;
}

/* One complete handshake, initiator i to responder r, as the engine runs it. */
static bool handshake(struct side *i, struct side *r, uint64_t now, uint64_t wall)
{
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	enum drop_reason why;

	if (!noise_handshake_create_initiation(&init, &i->hs, &i->table, wall))
		return false;
	cookie_add_mac_to_packet(&init, sizeof(init), &i->maker, now);
	why = recv_initiation(r, i, &init, sizeof(init), now);
	if (why != DROP_NONE || !noise_handshake_create_response(&resp, &r->hs, &r->table))
		return false;
	cookie_add_mac_to_packet(&resp, sizeof(resp), &r->maker, now);
	if (!noise_handshake_begin_session(&r->hs, &r->kps, &r->table, now))
		return false;
	why = recv_response(i, r, &resp, sizeof(resp), now);
	return why == DROP_NONE;
}

/* Sends len bytes from a to b and checks they arrive intact. */
static bool exchange(struct side *a, struct side *b, size_t len, uint64_t now)
{
	static uint8_t plain[2048], wire[2048 + 64], got[2048 + 64];
	size_t n, outlen = 0;

	for (size_t k = 0; k < len; k++)
		plain[k] = (uint8_t)(k * 7 + len);
	n = send_data(a, plain, len, now, wire);
	if (!n || n != noise_data_sealed_len(len, MTU))
		return false;
	if (recv_data(b, wire, n, now, got, &outlen) != DROP_NONE)
		return false;
	return outlen == n - 32 && memcmp(got, plain, len) == 0 &&
	       crypto_is_zero(got + len, outlen - len);
}

/* --- known answers --- */

static void fill_key(uint8_t k[32], int start)
{
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(start + i);
}

static void test_constants(void)
{
	static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
	static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
	uint8_t ck[32], h[32], want[32];

	/* The initial chaining key and hash every WireGuard implementation starts from (the
	 * kernel's handshake_init_chaining_key/handshake_init_hash, wireguard-go's
	 * InitialChainKey/InitialHash). */
	blake2s256(ck, construction, strlen(construction));
	check_unhex(want, "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
	CHECK_MEM(ck, want, 32);
	memcpy(h, ck, 32);
	blake2s256_mix(h, identifier, strlen(identifier));
	check_unhex(want, "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
	CHECK_MEM(h, want, 32);
}

/* Generated by an independent Python implementation written from wireguard.com/protocol (X25519
 * and ChaCha20-Poly1305 from pyca/cryptography, BLAKE2s from hashlib). Private keys are bytes
 * 1..32 (initiator static), 33..64 (responder static), 65..96 (initiator ephemeral), 97..128
 * (responder ephemeral), clamped; the PSK is bytes 129..160; indices 0x11223344 (initiator)
 * and 0xa1b2c3d4 (responder); timestamp TAI64N of 1700000000 s + 2^24 ns. */
static const char vec_init[] =
    "010000001122334464b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466158a0e"
    "4ca242d151ca97ab90159a98b67e616625e68b4065d357376b6598e644ad7d678c0295d22de4cb43d51355"
    "81ed36346bfa7cf42a122039f893501235c77785d75a8d36b556be2b6dca9d56eb539ce819ddb9d1f6ff67"
    "381fb200000000000000000000000000000000";
static const char vec_init_h[] = "fbb8fa0f2dbbbd41c7a5e962e1f664b7694d33f6ea1243570ff93d4338adca7f";
static const char vec_init_ck[] =
    "643693a7636a42b588f115bc0aae9a1db8432634b2e8d96ed67d308e74e132f5";
static const char vec_resp[] =
    "02000000a1b2c3d411223344244fe3b963e899dd295baffce248d3530f3a9a7479ba063002680ebfe7adad"
    "49049922440969211b3cdf8b9e0cdce13000d2ab9be31180a836451f93e3d7632300000000000000000000"
    "000000000000";
static const char vec_tsend_i[] =
    "248a29611829aaf7ee8bc8e87df805c1019f08f82d80eb79b7625821ba0a1317";
static const char vec_trecv_i[] =
    "848308e622b3e15e5ebc5312111efc31082e86c85e9ee93fe8c5aa7f972cc9c3";
static const char vec_plain_i[] = "porthole interop vector: 45 bytes of payload.";
static const char vec_data_i[] =
    "04000000a1b2c3d40000000000000000aae008cfc3c2e15ae5f393c37604b62068e717ce0c1f4afd499d37"
    "e0359365906e9a78957ee7a7af834ffc0996ab7d20daeaedc64e401900e0799b4aafc590e2";
static const char vec_data_r[] = "04000000112233440700000000000000d669770d8b8b3ecbab96f497d9698ba6"
				 "ec057efcc58d25a407fc3a9d25dcf02a";
static const char vec_keepalive_i[] =
    "04000000a1b2c3d4010000000000000045e836be3e0a3596e52872ec13bc82f5";

static void test_vector(void)
{
	static struct side a, b;
	_Alignas(8) uint8_t init[148], resp[92], wire[128], want[128], got[128];
	uint8_t k[32], psk[32], want_ts[12];
	struct noise_keypair *kp;
	enum drop_reason r;
	size_t n, outlen = 0;

	fill_key(k, 1);
	curve25519_clamp(k);
	side_init(&a, k, 1001);
	fill_key(k, 33);
	side_init(&b, k, 1002);
	fill_key(psk, 129);
	side_pair(&a, &b, psk);
	side_pair(&b, &a, psk);

	/* Responder: the vector's initiation authenticates and leaves the vector's state. */
	CHECK(check_unhex(init, vec_init) == sizeof(init));
	CHECK(cookie_validate_packet(&b.checker, init, sizeof(init), sa(&a), false, NOW0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(noise_handshake_consume_initiation((void *)init, &b.id, &b.lookup, NOW0, &r) ==
	      &b.hs);
	CHECK(r == DROP_NONE && b.hs.state == HANDSHAKE_CONSUMED_INITIATION);
	check_unhex(want, vec_init_h);
	CHECK_MEM(b.hs.hash, want, 32);
	check_unhex(want, vec_init_ck);
	CHECK_MEM(b.hs.chaining_key, want, 32);
	tai64n(want_ts, WALL0 + (1ULL << 24));
	CHECK_MEM(b.hs.latest_timestamp, want_ts, 12);
	CHECK_MEM(&b.hs.remote_index, "\x11\x22\x33\x44", 4);

	/* Initiator: put it where the vector's initiator stood after sending, then take the
	 * vector's response (its receiver index re-pointed at our random local index). */
	a.hs.state = HANDSHAKE_CREATED_INITIATION;
	fill_key(a.hs.ephemeral_private, 65);
	curve25519_clamp(a.hs.ephemeral_private);
	check_unhex(a.hs.hash, vec_init_h);
	check_unhex(a.hs.chaining_key, vec_init_ck);
	CHECK(index_insert(&a.table, &a.hs.entry, INDEX_HANDSHAKE, &a.hs, &a) == 0);
	CHECK(check_unhex(resp, vec_resp) == sizeof(resp));
	CHECK(cookie_validate_packet(&a.checker, resp, sizeof(resp), sa(&b), false, NOW0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	memcpy(resp + 8, &a.hs.entry.index, 4);
	CHECK(noise_handshake_consume_response((void *)resp, &a.id, &a.table, &r) == &a.hs);
	CHECK(noise_handshake_begin_session(&a.hs, &a.kps, &a.table, NOW0));
	kp = a.kps.current;
	CHECK(kp && kp->i_am_initiator);
	if (!kp)
		goto out;
	check_unhex(want, vec_tsend_i);
	CHECK_MEM(kp->sending_key, want, 32);
	check_unhex(want, vec_trecv_i);
	CHECK_MEM(kp->receiving_key, want, 32);
	CHECK_MEM(&kp->remote_index, "\xa1\xb2\xc3\xd4", 4);

	/* Transport data, byte for byte, padding included. */
	n = noise_data_seal(wire, (const uint8_t *)vec_plain_i, strlen(vec_plain_i), kp, 0, MTU);
	CHECK(n == 80 && check_unhex(want, vec_data_i) == 80);
	CHECK_MEM(wire, want, 80);
	n = noise_data_seal(wire, NULL, 0, kp, 1, MTU);
	CHECK(n == 32 && check_unhex(want, vec_keepalive_i) == 32);
	CHECK_MEM(wire, want, 32);
	n = check_unhex(wire, vec_data_r);
	memcpy(wire + 4, &kp->entry.index, 4);
	CHECK(recv_data(&a, wire, n, NOW0, got, &outlen) == DROP_NONE);
	CHECK(outlen == 16 && memcmp(got, "reply\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);
out:
	side_free(&a);
	side_free(&b);
}

/* --- handshakes between two in-process peers --- */

static void test_handshake_and_data(const uint8_t *psk)
{
	static struct side a, b;
	struct noise_keypair *k1a, *k1b, *k2a, *k2b;
	uint32_t k1a_index;
	uint64_t now = NOW0;

	side_init(&a, NULL, 2001);
	side_init(&b, NULL, 2002);
	side_pair(&a, &b, psk);
	side_pair(&b, &a, psk);

	/* a initiates: its keypair is current at once; b's waits in next. */
	CHECK(handshake(&a, &b, now, WALL0));
	k1a = a.kps.current;
	k1b = b.kps.next;
	CHECK(k1a && k1a->i_am_initiator && !a.kps.next && !a.kps.previous);
	CHECK(k1b && !k1b->i_am_initiator && !b.kps.current);
	CHECK(a.hs.state == HANDSHAKE_ZEROED && b.hs.state == HANDSHAKE_ZEROED);
	CHECK(crypto_is_zero(a.hs.ephemeral_private, 32) && crypto_is_zero(a.hs.chaining_key, 32));
	CHECK(k1a && k1b && memcmp(k1a->sending_key, k1b->receiving_key, 32) == 0);
	CHECK(k1a && k1b && memcmp(k1a->receiving_key, k1b->sending_key, 32) == 0);
	CHECK(k1a && k1b && k1a->remote_index == k1b->entry.index);
	CHECK(k1a && k1b && k1b->remote_index == k1a->entry.index);
	CHECK(send_data(&b, "x", 1, now, (uint8_t[64]){0}) == 0); /* b cannot send yet */
	CHECK(a.table.count == 1 && b.table.count == 1);

	/* The first data message confirms b's keypair. */
	CHECK(exchange(&a, &b, 100, now));
	CHECK(b.kps.current == k1b && !b.kps.next && !b.kps.previous);
	CHECK(exchange(&b, &a, 1, now));
	CHECK(exchange(&a, &b, 0, now)); /* keepalive */
	CHECK(exchange(&b, &a, 1400, now));
	CHECK(exchange(&a, &b, MTU, now));
	CHECK(exchange(&b, &a, 1500, now)); /* above the MTU */

	/* b initiates the next session: b rotates at once, a keeps sending on the old one. */
	now += 10 * SEC;
	k1a_index = k1a ? k1a->entry.index : 0;
	CHECK(handshake(&b, &a, now, WALL0 + 10 * SEC));
	k2b = b.kps.current;
	k2a = a.kps.next;
	CHECK(k2b && k2b != k1b && k2b->i_am_initiator && b.kps.previous == k1b);
	CHECK(k2a && a.kps.current == k1a);
	CHECK(exchange(&a, &b, 64, now)); /* arrives on b's previous */
	CHECK(a.kps.current == k1a);
	CHECK(exchange(&b, &a, 64, now)); /* confirms a's next */
	CHECK(a.kps.current == k2a && a.kps.previous == k1a && !a.kps.next);
	CHECK(a.table.count == 2 && b.table.count == 2);

	/* a initiates a third: its oldest keypair and index go. */
	now += 10 * SEC;
	CHECK(handshake(&a, &b, now, WALL0 + 20 * SEC));
	CHECK(a.kps.previous == k2a && a.kps.current != k2a);
	CHECK(!index_lookup(&a.table, k1a_index, INDEX_KEYPAIR | INDEX_HANDSHAKE));
	CHECK(exchange(&a, &b, 10, now) && exchange(&b, &a, 10, now));
	side_free(&a);
	side_free(&b);
}

static void test_handshake_plain(void)
{
	test_handshake_and_data(NULL);
}

static void test_handshake_psk(void)
{
	uint8_t psk[32];

	fill_key(psk, 7);
	test_handshake_and_data(psk);
}

/* Both ends started handshakes at once; the initiator with a pending next demotes it. */
static void test_rotation_with_next(void)
{
	static struct side a, b;
	struct noise_keypair *next, *old;

	side_init(&a, NULL, 2101);
	side_init(&b, NULL, 2102);
	side_pair(&a, &b, NULL);
	side_pair(&b, &a, NULL);
	CHECK(handshake(&a, &b, NOW0, WALL0));
	old = a.kps.current;
	CHECK(handshake(&b, &a, NOW0 + SEC, WALL0 + SEC));
	next = a.kps.next;
	CHECK(next && a.kps.current == old);
	CHECK(handshake(&a, &b, NOW0 + 2 * SEC, WALL0 + 2 * SEC));
	CHECK(a.kps.previous == next && !a.kps.next && a.kps.current != old);
	CHECK(a.table.count == 2);
	side_free(&a);
	side_free(&b);
}

static void test_wrong_psk(void)
{
	static struct side a, b;
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	uint8_t psk1[32], psk2[32];

	fill_key(psk1, 1);
	fill_key(psk2, 2);
	side_init(&a, NULL, 2201);
	side_init(&b, NULL, 2202);
	side_pair(&a, &b, psk1);
	side_pair(&b, &a, psk2);
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.table, WALL0));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.maker, NOW0);
	/* The PSK enters only with the response, which then fails to authenticate. */
	CHECK(recv_initiation(&b, &a, &init, sizeof(init), NOW0) == DROP_NONE);
	CHECK(noise_handshake_create_response(&resp, &b.hs, &b.table));
	cookie_add_mac_to_packet(&resp, sizeof(resp), &b.maker, NOW0);
	CHECK(recv_response(&a, &b, &resp, sizeof(resp), NOW0) == DROP_DECRYPT);
	CHECK(a.hs.state == HANDSHAKE_CREATED_INITIATION && !a.kps.current);
	/* PSK on one side only fails the same way. */
	noise_handshake_set_psk(&b.hs, NULL);
	CHECK(!handshake(&a, &b, NOW0 + SEC, WALL0 + SEC));
	noise_handshake_set_psk(&b.hs, psk1);
	CHECK(handshake(&a, &b, NOW0 + 2 * SEC, WALL0 + 2 * SEC));
	side_free(&a);
	side_free(&b);
}

/* --- replay, flood and malformed messages --- */

static void test_replay_and_flood(void)
{
	static struct side a, b;
	struct message_handshake_initiation init, init2, init3;
	uint8_t want_ts[12];

	side_init(&a, NULL, 2301);
	side_init(&b, NULL, 2302);
	side_pair(&a, &b, NULL);
	side_pair(&b, &a, NULL);
	CHECK(
	    noise_handshake_create_initiation(&init, &a.hs, &a.table, WALL0 + 20 * NSEC_PER_MSEC));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.maker, NOW0);
	CHECK(recv_initiation(&b, &a, &init, sizeof(init), NOW0) == DROP_NONE);
	/* Timestamps are rounded down to 2^24 ns. */
	tai64n(want_ts, WALL0 + (1ULL << 24));
	CHECK_MEM(b.hs.latest_timestamp, want_ts, 12);
	/* The same 148 bytes again, even much later. */
	CHECK(recv_initiation(&b, &a, &init, sizeof(init), NOW0 + 5 * SEC) == DROP_TIMESTAMP);
	/* A fresh initiation 10 ms after the last one accepted is a flood... */
	CHECK(
	    noise_handshake_create_initiation(&init2, &a.hs, &a.table, WALL0 + 60 * NSEC_PER_MSEC));
	cookie_add_mac_to_packet(&init2, sizeof(init2), &a.maker, NOW0);
	CHECK(recv_initiation(&b, &a, &init2, sizeof(init2), NOW0 + 10 * NSEC_PER_MSEC) ==
	      DROP_FLOOD);
	/* ...but welcome 1/50 s after it. */
	CHECK(recv_initiation(&b, &a, &init2, sizeof(init2), NOW0 + 20 * NSEC_PER_MSEC) ==
	      DROP_NONE);
	/* One within the same 2^24 ns grain carries the same timestamp: a replay. */
	CHECK(
	    noise_handshake_create_initiation(&init3, &a.hs, &a.table, WALL0 + 61 * NSEC_PER_MSEC));
	cookie_add_mac_to_packet(&init3, sizeof(init3), &a.maker, NOW0);
	CHECK(recv_initiation(&b, &a, &init3, sizeof(init3), NOW0 + SEC) == DROP_TIMESTAMP);
	side_free(&a);
	side_free(&b);
}

static void test_framing(void)
{
	static const struct {
		uint32_t type;
		size_t len;
		enum drop_reason want;
	} cases[] = {
	    {1, 148, DROP_NONE},	 {1, 147, DROP_SIZE},	  {1, 149, DROP_SIZE},
	    {1, 92, DROP_SIZE},		 {2, 92, DROP_NONE},	  {2, 91, DROP_SIZE},
	    {2, 148, DROP_SIZE},	 {3, 64, DROP_NONE},	  {3, 63, DROP_SIZE},
	    {3, 65, DROP_SIZE},		 {4, 32, DROP_NONE},	  {4, 31, DROP_SIZE},
	    {4, 1500, DROP_NONE},	 {4, 65536, DROP_SIZE},	  {0, 148, DROP_TYPE},
	    {5, 148, DROP_TYPE},	 {0x101, 148, DROP_TYPE}, {0x01000001, 148, DROP_TYPE},
	    {0xffffffff, 64, DROP_TYPE}, {1, 3, DROP_SIZE},	  {4, 0, DROP_SIZE},
	};
	static uint8_t buf[65536];
	enum drop_reason r;
	enum message_type t;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t le = htole32(cases[i].type);

		memcpy(buf, &le, 4);
		t = noise_message_type(buf, cases[i].len, &r);
		CHECK(r == cases[i].want);
		CHECK((t == MESSAGE_INVALID) == (cases[i].want != DROP_NONE));
		if (r != cases[i].want)
			fprintf(stderr, "  case %zu: type %#x len %zu gave %s\n", i, cases[i].type,
				cases[i].len, drop_reason_str(r));
	}
}

static void test_malformed(void)
{
	static struct side a, b, c;
	_Alignas(8) uint8_t m[148], wire[256], out[256];
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	struct noise_keypair *kp;
	enum drop_reason r;
	size_t n, outlen;

	side_init(&a, NULL, 2401);
	side_init(&b, NULL, 2402);
	side_init(&c, NULL, 2403);
	side_pair(&a, &b, NULL);
	side_pair(&b, &a, NULL);
	side_pair(&c, &b, NULL); /* c knows b, b does not know c */

	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.table, WALL0));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.maker, NOW0);
	/* bad mac1: one byte of the body, or of mac1 itself */
	memcpy(m, &init, 148);
	m[40] ^= 1;
	CHECK(recv_initiation(&b, &a, m, 148, NOW0) == DROP_MAC1);
	memcpy(m, &init, 148);
	m[offsetof(struct message_handshake_initiation, macs.mac1) + 15] ^= 0x80;
	CHECK(recv_initiation(&b, &a, m, 148, NOW0) == DROP_MAC1);
	/* mac1 recomputed over a damaged static or timestamp: the AEAD catches it */
	memcpy(m, &init, 148);
	m[offsetof(struct message_handshake_initiation, encrypted_static) + 3] ^= 1;
	cookie_add_mac_to_packet(m, 148, &a.maker, NOW0);
	CHECK(recv_initiation(&b, &a, m, 148, NOW0) == DROP_DECRYPT);
	memcpy(m, &init, 148);
	m[offsetof(struct message_handshake_initiation, encrypted_timestamp) + 27] ^= 1;
	cookie_add_mac_to_packet(m, 148, &a.maker, NOW0);
	CHECK(recv_initiation(&b, &a, m, 148, NOW0) == DROP_DECRYPT);
	/* a low-order ephemeral (all zeros) gives an all-zero DH */
	memcpy(m, &init, 148);
	memset(m + offsetof(struct message_handshake_initiation, unencrypted_ephemeral), 0, 32);
	cookie_add_mac_to_packet(m, 148, &a.maker, NOW0);
	CHECK(recv_initiation(&b, &a, m, 148, NOW0) == DROP_DECRYPT);
	/* an unknown initiator */
	CHECK(noise_handshake_create_initiation((void *)m, &c.hs, &c.table, WALL0));
	cookie_add_mac_to_packet(m, 148, &c.maker, NOW0);
	CHECK(recv_initiation(&b, &c, m, 148, NOW0) == DROP_UNKNOWN_PEER);
	CHECK(recv_initiation(&b, &a, &init, 100, NOW0) == DROP_SIZE);
	CHECK(b.hs.state == HANDSHAKE_ZEROED);

	/* responses */
	CHECK(!noise_handshake_create_response(&resp, &b.hs, &b.table)); /* nothing consumed */
	CHECK(recv_initiation(&b, &a, &init, sizeof(init), NOW0) == DROP_NONE);
	CHECK(noise_handshake_create_response(&resp, &b.hs, &b.table));
	cookie_add_mac_to_packet(&resp, sizeof(resp), &b.maker, NOW0);
	memcpy(m, &resp, 92);
	m[offsetof(struct message_handshake_response, encrypted_nothing)] ^= 1;
	CHECK(recv_response(&a, &b, m, 92, NOW0) == DROP_MAC1);
	cookie_add_mac_to_packet(m, 92, &b.maker, NOW0);
	CHECK(recv_response(&a, &b, m, 92, NOW0) == DROP_DECRYPT);
	memcpy(m, &resp, 92);
	m[offsetof(struct message_handshake_response, receiver_index)] ^= 1;
	cookie_add_mac_to_packet(m, 92, &b.maker, NOW0);
	CHECK(recv_response(&a, &b, m, 92, NOW0) == DROP_UNKNOWN_INDEX);
	CHECK(recv_response(&a, &b, &resp, 93, NOW0) == DROP_SIZE);
	CHECK(recv_response(&a, &b, &init, sizeof(init), NOW0) == DROP_TYPE);
	CHECK(a.hs.state == HANDSHAKE_CREATED_INITIATION); /* forgeries changed nothing */
	CHECK(noise_handshake_begin_session(&b.hs, &b.kps, &b.table, NOW0));
	CHECK(recv_response(&a, &b, &resp, sizeof(resp), NOW0) == DROP_NONE);
	/* the same response again: its index now names a keypair */
	CHECK(recv_response(&a, &b, &resp, sizeof(resp), NOW0) == DROP_UNKNOWN_INDEX);
	CHECK(!noise_handshake_begin_session(&a.hs, &a.kps, &a.table, NOW0));

	/* data */
	n = send_data(&a, "hello", 5, NOW0, wire);
	CHECK(n == 48);
	memcpy(m, wire, n);
	m[n - 1] ^= 1;
	CHECK(recv_data(&b, m, n, NOW0, out, &outlen) == DROP_DECRYPT);
	CHECK(!b.kps.current); /* a forgery confirms nothing */
	memcpy(m, wire, n);
	m[8] ^= 1; /* the counter is the nonce */
	CHECK(recv_data(&b, m, n, NOW0, out, &outlen) == DROP_DECRYPT);
	memcpy(m, wire, n);
	m[4] ^= 1;
	CHECK(recv_data(&b, m, n, NOW0, out, &outlen) == DROP_UNKNOWN_INDEX);
	CHECK(recv_data(&b, wire, 31, NOW0, out, &outlen) == DROP_SIZE);
	CHECK(recv_data(&b, wire, n - 1, NOW0, out, &outlen) == DROP_DECRYPT);
	m[0] = 9;
	CHECK(recv_data(&b, m, n, NOW0, out, &outlen) == DROP_TYPE);
	CHECK(recv_data(&b, wire, n, NOW0, out, &outlen) == DROP_NONE);
	CHECK(recv_data(&b, wire, n, NOW0, out, &outlen) == DROP_REPLAY);
	/* open itself refuses a message naming another keypair */
	kp = noise_keypairs_current(&a.kps);
	CHECK(kp && !noise_data_open(out, &outlen, wire, n, kp, NOW0, &r) &&
	      r == DROP_UNKNOWN_INDEX);
	noise_keypair_put(kp);
	side_free(&a);
	side_free(&b);
	side_free(&c);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Damages 1..3 bytes below limit, sometimes changes the length. */
static size_t mutate(uint8_t *m, const void *orig, size_t len, size_t limit)
{
	int flips = 1 + rnd() % 3;

	memcpy(m, orig, len);
	for (int i = 0; i < flips; i++)
		m[rnd() % limit] ^= (uint8_t)(1 + rnd() % 255);
	if (rnd() % 8 == 0)
		return rnd() % (len + 16);
	return len;
}

static void test_fuzz(void)
{
	enum { ROUNDS = 3000 };
	static struct side a, b;
	_Alignas(8) uint8_t m[256], wire[256], out[256];
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	unsigned int accepted = 0, direct = 0;
	enum drop_reason r;
	size_t n, len, outlen;

	side_init(&a, NULL, 2501);
	side_init(&b, NULL, 2502);
	side_pair(&a, &b, NULL);
	side_pair(&b, &a, NULL);
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.table, WALL0));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.maker, NOW0);
	/* Bytes up to mac2 are all covered by mac1, mac1 or the AEADs. */
	for (int i = 0; i < ROUNDS; i++) {
		len = mutate(m, &init, sizeof(init),
			     offsetof(struct message_handshake_initiation, macs.mac2));
		accepted += recv_initiation(&b, &a, m, len, NOW0) == DROP_NONE;
	}
	CHECK(recv_initiation(&b, &a, &init, sizeof(init), NOW0) == DROP_NONE);
	/* Past mac1, straight into the handshake: the original is consumed, so any variant is a
	 * decryption failure or a replay. */
	for (int i = 0; i < ROUNDS; i++) {
		mutate(m, &init, sizeof(init), sizeof(init));
		direct += noise_handshake_consume_initiation((void *)m, &b.id, &b.lookup,
							     NOW0 + SEC + i * SEC, &r) != NULL;
	}
	CHECK(noise_handshake_create_response(&resp, &b.hs, &b.table));
	cookie_add_mac_to_packet(&resp, sizeof(resp), &b.maker, NOW0);
	CHECK(noise_handshake_begin_session(&b.hs, &b.kps, &b.table, NOW0));
	for (int i = 0; i < ROUNDS; i++) {
		len = mutate(m, &resp, sizeof(resp),
			     offsetof(struct message_handshake_response, macs.mac2));
		accepted += recv_response(&a, &b, m, len, NOW0) == DROP_NONE;
	}
	CHECK(recv_response(&a, &b, &resp, sizeof(resp), NOW0) == DROP_NONE);
	n = send_data(&a, "fuzzing data path", 17, NOW0, wire);
	CHECK(n == 64);
	for (int i = 0; n && i < ROUNDS; i++) {
		len = mutate(m, wire, n, n);
		accepted += recv_data(&b, m, len, NOW0, out, &outlen) == DROP_NONE;
	}
	/* Garbage of every length. */
	for (int i = 0; i < ROUNDS; i++) {
		len = rnd() % sizeof(m);
		for (size_t k = 0; k < len; k++)
			m[k] = (uint8_t)rnd();
		if (rnd() % 2 && len >= 4)
			m[0] = (uint8_t)(1 + rnd() % 4), m[1] = m[2] = m[3] = 0;
		accepted += recv_initiation(&b, &a, m, len, NOW0) == DROP_NONE;
		accepted += recv_response(&a, &b, m, len, NOW0) == DROP_NONE;
		accepted += recv_data(&b, m, len, NOW0, out, &outlen) == DROP_NONE;
	}
	CHECK(accepted == 0);
	CHECK(direct == 0);
	CHECK(recv_data(&b, wire, n, NOW0, out, &outlen) == DROP_NONE);
	side_free(&a);
	side_free(&b);
}

/* --- keypair lifetime --- */

static void test_expiry(void)
{
	static struct side a, b;
	_Alignas(8) uint8_t wire[128], out[128];
	struct noise_keypair *ka, *kb;
	uint64_t c, t0 = NOW0;
	size_t n, outlen;
	enum drop_reason r;

	side_init(&a, NULL, 2601);
	side_init(&b, NULL, 2602);
	side_pair(&a, &b, NULL);
	side_pair(&b, &a, NULL);
	CHECK(handshake(&a, &b, t0, WALL0));
	ka = a.kps.current;
	kb = b.kps.next;
	if (!ka || !kb)
		goto out;

	CHECK(!noise_keypair_should_rekey_on_send(ka, t0 + 119 * SEC));
	CHECK(noise_keypair_should_rekey_on_send(ka, t0 + 120 * SEC));
	CHECK(
	    !noise_keypair_should_rekey_on_send(kb, t0 + 179 * SEC)); /* responder: never on age */
	CHECK(!noise_keypair_should_rekey_on_receive(ka, t0 + 164 * SEC));
	CHECK(noise_keypair_should_rekey_on_receive(ka, t0 + 165 * SEC));
	CHECK(!noise_keypair_should_rekey_on_receive(kb, t0 + 170 * SEC));
	CHECK(!noise_keypair_should_rekey_on_send(NULL, t0));

	/* A message sealed just in time is refused by a receiver whose clock passed 180 s. */
	CHECK(noise_keypair_next_counter(ka, t0 + 179 * SEC, &c) && c == 0);
	n = noise_data_seal(wire, (const uint8_t *)"late", 4, ka, c, MTU);
	CHECK(!noise_data_open(out, &outlen, wire, n, kb, t0 + 180 * SEC, &r) &&
	      r == DROP_KEY_EXPIRED);
	CHECK(!noise_data_open(out, &outlen, wire, n, kb, t0 + 10 * SEC, &r)); /* stays invalid */
	CHECK(!noise_keypair_next_counter(ka, t0 + 180 * SEC, &c));
	CHECK(!noise_keypair_next_counter(ka, t0, &c)); /* stays invalid */
	CHECK(!noise_keypair_should_rekey_on_send(ka, t0 + 200 * SEC));

	/* The message limits, on a fresh session. */
	CHECK(handshake(&b, &a, t0 + 200 * SEC, WALL0 + 200 * SEC));
	kb = b.kps.current;
	if (!kb)
		goto out;
	CHECK(!noise_keypair_should_rekey_on_send(kb, t0 + 200 * SEC));
	atomic_store(&kb->sending_counter, REKEY_AFTER_MESSAGES + 1);
	CHECK(noise_keypair_should_rekey_on_send(kb, t0 + 200 * SEC));
	atomic_store(&kb->sending_counter, REJECT_AFTER_MESSAGES - 1);
	CHECK(noise_keypair_next_counter(kb, t0 + 200 * SEC, &c) && c == REJECT_AFTER_MESSAGES - 1);
	CHECK(!noise_keypair_next_counter(kb, t0 + 200 * SEC, &c));
	/* A counter at the limit is refused before decryption, but does not kill the key. */
	ka = a.kps.next;
	n = noise_data_seal(wire, NULL, 0, kb, REJECT_AFTER_MESSAGES, MTU);
	CHECK(ka && !noise_data_open(out, &outlen, wire, n, ka, t0 + 200 * SEC, &r) &&
	      r == DROP_KEY_EXPIRED);
	n = noise_data_seal(wire, NULL, 0, kb, 5, MTU);
	CHECK(ka && noise_data_open(out, &outlen, wire, n, ka, t0 + 200 * SEC, &r) && outlen == 0);
out:
	side_free(&a);
	side_free(&b);
}

static void test_padding(void)
{
	static const struct {
		size_t len;
		unsigned int mtu;
		size_t padded;
	} cases[] = {
	    {0, 1420, 0},	{1, 1420, 16},	    {16, 1420, 16},
	    {17, 1420, 32},	{1415, 1420, 1420}, {1420, 1420, 1420},
	    {1409, 1420, 1420}, {1408, 1420, 1408}, {1421, 1420, 1421 + 15},
	    {1500, 1420, 1500}, {5, 0, 16},	    {33, 0, 48},
	    {100, 8, 104},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		CHECK(noise_data_sealed_len(cases[i].len, cases[i].mtu) == 32 + cases[i].padded);
}

/* Workers may still hold a keypair after the peer drops it. */
static void test_references(void)
{
	static struct side a, b;
	_Alignas(8) uint8_t wire[64];
	struct noise_keypair *kp;

	side_init(&a, NULL, 2701);
	side_init(&b, NULL, 2702);
	side_pair(&a, &b, NULL);
	side_pair(&b, &a, NULL);
	CHECK(handshake(&a, &b, NOW0, WALL0));
	kp = noise_keypairs_current(&a.kps);
	CHECK(kp && atomic_load(&kp->refcount) == 2);
	noise_keypairs_clear(&a.kps, &a.table);
	CHECK(!a.kps.current && a.table.count == 0);
	CHECK(kp && atomic_load(&kp->refcount) == 1);
	CHECK(kp && noise_data_seal(wire, NULL, 0, kp, 3, MTU) == 32); /* still usable memory */
	CHECK(noise_keypair_get(kp) == kp);
	noise_keypair_put(kp);
	noise_keypair_put(kp); /* freed here; ASan checks the rest */
	noise_keypair_put(NULL);
	CHECK(!noise_keypairs_current(&a.kps));
	side_free(&a);
	side_free(&b);
}

static void test_unusable(void)
{
	static struct side a, b;
	struct message_handshake_initiation init;
	uint8_t zero[32] = {0};
	struct noise_static_identity none = {0};

	side_init(&a, NULL, 2801);
	side_init(&b, NULL, 2802);
	/* A low-order remote key: kept, but no handshake with it. */
	noise_handshake_init(&a.hs, &a.id, zero, NULL, &a);
	CHECK(crypto_is_zero(a.hs.precomputed_static_static, 32));
	CHECK(!noise_handshake_create_initiation(&init, &a.hs, &a.table, WALL0));
	CHECK(a.table.count == 0 && a.hs.state == HANDSHAKE_ZEROED);
	/* No identity yet. */
	noise_handshake_init(&a.hs, &none, b.id.static_public, NULL, &a);
	CHECK(!noise_handshake_precompute(&a.hs));
	CHECK(!noise_handshake_create_initiation(&init, &a.hs, &a.table, WALL0));
	a.hs.static_identity = &a.id;
	CHECK(noise_handshake_precompute(&a.hs));
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.table, WALL0));
	CHECK(a.table.count == 1);
	noise_static_identity_set(&none, NULL);
	CHECK(!none.has_identity);
	side_free(&a);
	side_free(&b);
}

/* --- the index table --- */

static void test_index(void)
{
	enum { N = 200 };
	static struct index_entry e[N + 1], spare;
	struct index_table t;
	int objs[N];
	bool ok = true;

	CHECK(index_table_init(&t, N) == 0);
	for (int i = 0; i < N; i++)
		ok &= index_insert(&t, &e[i], i % 2 ? INDEX_KEYPAIR : INDEX_HANDSHAKE, &objs[i],
				   &objs[i]) == 0;
	CHECK(ok && t.count == N);
	CHECK(index_insert(&t, &e[N], INDEX_HANDSHAKE, NULL, NULL) == -ENOSPC);
	for (int i = 0; i < N; i++) {
		unsigned int kind = i % 2 ? INDEX_KEYPAIR : INDEX_HANDSHAKE;

		ok &= index_lookup(&t, e[i].index, kind) == &e[i];
		ok &= index_lookup(&t, e[i].index, INDEX_KEYPAIR | INDEX_HANDSHAKE) == &e[i];
		ok &= !index_lookup(&t, e[i].index, kind ^ (INDEX_KEYPAIR | INDEX_HANDSHAKE));
		ok &= e[i].object == &objs[i] && e[i].owner == &objs[i];
		for (int j = 0; j < i; j++)
			ok &= e[i].index != e[j].index;
	}
	CHECK(ok);
	/* Re-inserting moves an entry to a new index. */
	uint32_t old = e[0].index;
	index_remove(&t, &e[1]);
	CHECK(index_insert(&t, &e[0], INDEX_HANDSHAKE, &objs[0], NULL) == 0);
	CHECK(t.count == N - 1 && !index_lookup(&t, old, ~0U) && e[0].index != old);
	/* A keypair takes over a handshake's index. */
	old = e[2].index;
	CHECK(index_replace(&t, &e[2], &spare, INDEX_KEYPAIR, &objs[2], &objs[2]));
	CHECK(index_lookup(&t, old, INDEX_KEYPAIR) == &spare && spare.index == old);
	CHECK(!index_lookup(&t, old, INDEX_HANDSHAKE) && !e[2].linked);
	CHECK(!index_replace(&t, &e[2], &spare, INDEX_KEYPAIR, NULL, NULL));
	CHECK(t.count == N - 1);
	index_remove(&t, &e[2]); /* not linked: harmless */
	for (int i = 0; i < N; i++)
		index_remove(&t, &e[i]);
	index_remove(&t, &spare);
	CHECK(t.count == 0);
	index_table_free(&t);
}

int main(void)
{
	if (crypto_init())
		return 1;
	RUN(test_constants);
	RUN(test_vector);
	RUN(test_handshake_plain);
	RUN(test_handshake_psk);
	RUN(test_rotation_with_next);
	RUN(test_wrong_psk);
	RUN(test_replay_and_flood);
	RUN(test_framing);
	RUN(test_malformed);
	RUN(test_fuzz);
	RUN(test_expiry);
	RUN(test_padding);
	RUN(test_references);
	RUN(test_unusable);
	RUN(test_index);
	return check_done("noise");
}
