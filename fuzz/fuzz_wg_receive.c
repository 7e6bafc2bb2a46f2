/* fuzz_wg_receive: the WireGuard receive path of a whole device (src/device.c, receive.c,
 * send.c, peer.c, noise.c, cookie.c, ...) as a responder with fixed keys and one peer, fed
 * datagrams from an input.
 *
 * Input: records [op u8][arg u16 little-endian][payload], op & 3 saying what happens:
 *   0 a datagram of arg bytes from the peer's address (op bit 2: an IPv6 one instead, bit 3:
 *     another port; bit 4: at an odd address, as a datagram split out of a GRO batch can be),
 *     added to the receive batch (wg_device_receive_batch() at every other op);
 *   1 wg_device_process_handshakes();
 *   2 an IPv4 packet with arg bytes of payload from the TUN to the peer (wg_device_send_batch()),
 *     which makes the device initiate, so that responses and cookie replies have a handshake to
 *     answer;
 *   3 the clock moves arg * 100 ms and the peer's timers run.
 * At the end, the batch is received and the handshake queue worked once more. The randomness the
 * device draws comes from a generator reset for each input (the link wraps crypto_random and
 * curve25519_generate_private), so inputs replay exactly and seeds can name session indices.
 *
 * Built twice: fuzz_wg_receive as production, and fuzz_wg_receive_noauth with FUZZ_NO_AUTH, where
 * cookie.c accepts any mac1/mac2 and noise.c takes a ciphertext whose tag fails as its own
 * plaintext, so the fuzzer reaches the states behind authentication.
 *
 * Asserted (abort()): every datagram the device sends is a well-formed message of its type, and a
 * cookie reply is never larger than what it answers; a decrypted packet lies inside its datagram;
 * and ASan/UBSan/LSan for the rest.
 *
 * Seeds: PORTHOLE_FUZZ_GEN=DIR ./fuzz_wg_receive writes seeds (a real handshake with data both
 * ways, a cookie exchange with the device as initiator, a handshake flood) into DIR, made by a
 * second, initiating device in this process, and the dictionary as DIR/wg_receive.dict. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "device.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int __wrap_crypto_random(void *p, size_t len);
int __wrap_curve25519_generate_private(uint8_t priv[CRYPTO_KEY_LEN]);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_wg_receive: %s:%d: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

enum {
	OP_DATAGRAM,
	OP_HANDSHAKES,
	OP_SEND,
	OP_TICK,
	OP_FLAG_V6 = 1 << 2,
	OP_FLAG_PORT = 1 << 3,
	OP_FLAG_ODD = 1 << 4,
	RX_BATCH = 32,
	TICK_NS = 100 * NSEC_PER_MSEC,
	CAPTURE_MAX = 1024,
};
#define NOW0  (1000 * NSEC_PER_SEC)
#define WALL0 (1700000000ULL * NSEC_PER_SEC)

/* --- randomness: one stream for the device under test, one for the generator's peer --- */

static uint64_t rng_state[2];
static unsigned int rng_stream;

static void rng_reset(void)
{
	rng_state[0] = 0x706f7274686f6c65ULL; /* "porthole" */
	rng_state[1] = 0x696e6974696174ULL;
	rng_stream = 0;
}

/* splitmix64 */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state[rng_stream] += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int __wrap_crypto_random(void *p, size_t len)
{
	uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)rng_next();
	return 0;
}

int __wrap_curve25519_generate_private(uint8_t priv[CRYPTO_KEY_LEN])
{
	__wrap_crypto_random(priv, CRYPTO_KEY_LEN);
	curve25519_clamp(priv);
	return 0;
}

/* --- the devices --- */

struct capture {
	uint8_t msg[2048];
	size_t len;
};

struct side {
	struct wg_device dev;
	struct wg_peer *peer;
	uint8_t own_ip, peer_ip; /* 10.9.0.x inside, 192.0.2.x outside */
	struct capture *cap;	 /* generator only: what the device sent */
	unsigned int ncap;
};

static uint64_t now_ns;
static bool verbose; /* PORTHOLE_FUZZ_VERBOSE=1: what each input did, for checking seeds */
static unsigned int delivered;
static uint8_t key_r[CRYPTO_KEY_LEN], key_i[CRYPTO_KEY_LEN], pub_r[CRYPTO_KEY_LEN],
    pub_i[CRYPTO_KEY_LEN], psk[CRYPTO_KEY_LEN];

static uint64_t wall_now(void *ctx)
{
	return WALL0 + now_ns;
}

static void check_sent(const uint8_t *buf, size_t len)
{
	uint32_t type;

	REQUIRE(len >= sizeof(type) && len <= MESSAGE_MAX_LEN);
	memcpy(&type, buf, sizeof(type));
	switch (le32toh(type)) {
	case MESSAGE_HANDSHAKE_INITIATION:
		REQUIRE(len == sizeof(struct message_handshake_initiation));
		break;
	case MESSAGE_HANDSHAKE_RESPONSE:
		REQUIRE(len == sizeof(struct message_handshake_response));
		break;
	case MESSAGE_HANDSHAKE_COOKIE:
		/* Smaller than the smallest message that can ask for one: no amplification. */
		REQUIRE(len == sizeof(struct message_handshake_cookie));
		break;
	case MESSAGE_DATA:
		REQUIRE(len >= MESSAGE_MINIMUM_LENGTH);
		break;
	default:
		REQUIRE(!"unknown message type sent");
	}
}

static void capture(struct side *s, const uint8_t *buf, size_t len)
{
	if (!s->cap || s->ncap == CAPTURE_MAX || len > sizeof(s->cap[0].msg))
		return;
	memcpy(s->cap[s->ncap].msg, buf, len);
	s->cap[s->ncap++].len = len;
}

static void on_send(void *ctx, struct wg_peer *peer, struct endpoint *ep, const uint8_t *buf,
		    size_t len)
{
	REQUIRE(ep->addr.sa.sa_family == AF_INET || ep->addr.sa.sa_family == AF_INET6);
	check_sent(buf, len);
	capture(ctx, buf, len);
}

static void keys_init(void)
{
	for (unsigned int i = 0; i < CRYPTO_KEY_LEN; i++) {
		key_r[i] = (uint8_t)(0x11 + 3 * i);
		key_i[i] = (uint8_t)(0x22 + 5 * i);
		psk[i] = (uint8_t)(0x33 + 7 * i);
	}
	curve25519_clamp(key_r);
	curve25519_clamp(key_i);
	curve25519_generate_public(pub_r, key_r);
	curve25519_generate_public(pub_i, key_i);
}

static void sockaddr4(struct sockaddr_in *sin, uint8_t host, uint16_t port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(0xc0000200u | host); /* 192.0.2.host */
}

static void side_init(struct side *s, const uint8_t *priv, const uint8_t *peer_pub, uint8_t own,
		      uint8_t peer)
{
	struct wg_device_ops ops = {.send = on_send, .wall_now = wall_now, .ctx = s};
	struct allowed_ip aip = {.family = AF_INET, .cidr = 32};
	struct interface_config change = {.has_private_key = true};
	struct peer_config pc = {.has_public_key = true, .has_psk = true, .has_endpoint = true};

	s->own_ip = own;
	s->peer_ip = peer;
	REQUIRE(wg_device_init(&s->dev, &ops, now_ns) == 0);
	memcpy(change.private_key, priv, CRYPTO_KEY_LEN);
	memcpy(pc.public_key, peer_pub, CRYPTO_KEY_LEN);
	memcpy(pc.preshared_key, psk, CRYPTO_KEY_LEN);
	sockaddr4((struct sockaddr_in *)&pc.endpoint, peer, 51820);
	aip.addr.v4.s_addr = htonl(0x0a090000u | peer); /* 10.9.0.peer */
	pc.allowed_ips = (struct ip_list){.items = &aip, .len = 1, .cap = 1};
	change.peers = &pc;
	change.npeers = 1;
	REQUIRE(wg_device_apply(&s->dev, &change, now_ns) == 0);
	wg_device_set_up(&s->dev, true, now_ns);
	s->peer = s->dev.first;
	REQUIRE(s->peer);
}

/* --- what the records do --- */

struct batch {
	struct wg_rx rx[RX_BATCH];
	bool odd[RX_BATCH];
	unsigned int n;
};

static void flush(struct side *s, struct batch *b)
{
	wg_device_receive_batch(&s->dev, b->rx, b->n, now_ns);
	for (unsigned int i = 0; i < b->n; i++) {
		struct wg_rx *rx = &b->rx[i];

		if (rx->out_len) {
			REQUIRE(rx->out >= rx->data && rx->out + rx->out_len <= rx->data + rx->len);
			delivered++;
		}
		free(rx->data - b->odd[i]);
	}
	b->n = 0;
}

static void add_datagram(struct side *s, struct batch *b, uint8_t op, const uint8_t *p, size_t len)
{
	struct wg_rx *rx;
	uint16_t port = op & OP_FLAG_PORT ? 51821 : 51820;

	if (b->n == RX_BATCH)
		flush(s, b);
	b->odd[b->n] = op & OP_FLAG_ODD;
	rx = &b->rx[b->n++];
	memset(rx, 0, sizeof(*rx));
	/* An exact-size copy, so that ASan sees any read past the datagram, and UBSan any
	 * misaligned access when it starts at an odd address. */
	rx->data = malloc(MAX(len + b->odd[b->n - 1], 1));
	REQUIRE(rx->data);
	rx->data += b->odd[b->n - 1];
	memcpy(rx->data, p, len);
	rx->len = len;
	if (op & OP_FLAG_V6) {
		rx->src.addr.in6.sin6_family = AF_INET6;
		rx->src.addr.in6.sin6_port = htons(port);
		inet_pton(AF_INET6, "2001:db8::2", &rx->src.addr.in6.sin6_addr);
	} else {
		sockaddr4(&rx->src.addr.in4, s->peer_ip, port);
	}
}

/* An IPv4 packet from us to the peer, through the data path's send side. */
static void send_packet(struct side *s, const uint8_t *payload, size_t len)
{
	size_t plen = 20 + MIN(len, 1400);
	uint8_t *buf = calloc(1, WG_HEADROOM + plen + WG_TAILROOM), *ip = buf + WG_HEADROOM;
	struct wg_tx tx = {.data = ip, .len = plen};

	REQUIRE(buf);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(plen >> 8);
	ip[3] = (uint8_t)plen;
	ip[8] = 64;
	ip[9] = 17;
	ip[12] = ip[16] = 10;
	ip[13] = ip[17] = 9;
	ip[15] = s->own_ip;
	ip[19] = s->peer_ip;
	memcpy(ip + 20, payload, plen - 20);
	wg_device_send_batch(&s->dev, &tx, 1, now_ns);
	if (tx.out_len) {
		REQUIRE(tx.out == buf && tx.out_len <= WG_HEADROOM + plen + WG_TAILROOM);
		check_sent(tx.out, tx.out_len);
		capture(s, tx.out, tx.out_len);
	}
	free(buf);
}

static void tick(struct side *s, uint16_t steps)
{
	now_ns += (uint64_t)steps * TICK_NS;
	peer_timers_expire(s->peer, now_ns);
}

static void exec_record(struct side *s, struct batch *b, uint8_t op, uint16_t arg, const uint8_t *p,
			size_t len)
{
	if ((op & 3) == OP_DATAGRAM) {
		add_datagram(s, b, op, p, len);
		return;
	}
	flush(s, b);
	switch (op & 3) {
	case OP_HANDSHAKES:
		wg_device_process_handshakes(&s->dev, now_ns);
		break;
	case OP_SEND:
		send_packet(s, p, len);
		break;
	case OP_TICK:
		tick(s, arg);
		break;
	}
}

/* Drop counters and traffic, to see how deep an input went. */
static void report(const struct side *s)
{
	const struct wg_peer *p = s->peer;

	fprintf(stderr, "peer: rx %llu packets, tx %llu packets, %u to the TUN, handshake %s\n",
		(unsigned long long)p->rx_packets, (unsigned long long)p->tx_packets, delivered,
		p->last_handshake_wall ? "done" : "none");
	for (unsigned int k = 1; k < DROP__MAX; k++) {
		if (s->dev.drops[k] || p->drops[k])
			fprintf(stderr, "  drop %s: device %llu, peer %llu\n", drop_reason_str(k),
				(unsigned long long)s->dev.drops[k],
				(unsigned long long)p->drops[k]);
	}
}

static void side_finish(struct side *s, struct batch *b)
{
	flush(s, b);
	wg_device_process_handshakes(&s->dev, now_ns);
	if (verbose)
		report(s);
	wg_device_free(&s->dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct side r;
	static struct batch b;
	size_t off = 0;

	rng_reset();
	now_ns = NOW0;
	delivered = 0;
	memset(&r, 0, sizeof(r));
	side_init(&r, key_r, pub_i, 1, 2);
	while (size - off >= 3) {
		uint8_t op = data[off];
		uint16_t arg = (uint16_t)(data[off + 1] | data[off + 2] << 8);
		size_t len = (op & 3) == OP_TICK ? 0 : MIN(arg, size - off - 3);

		exec_record(&r, &b, op, arg, data + off + 3, len);
		off += 3 + len;
	}
	side_finish(&r, &b);
	return 0;
}

/* --- the seed generator --- */

struct seed {
	uint8_t *buf;
	size_t len, cap;
	struct side r, i;
	struct batch rb, ib;
};

/* Runs fn on the generator's initiating device, with its own randomness. */
#define ON_I(stmt)                                                                                 \
	do {                                                                                       \
		rng_stream = 1;                                                                    \
		stmt;                                                                              \
		rng_stream = 0;                                                                    \
	} while (0)

/* Appends a record to the seed and runs it on the device under test, exactly as a fuzz run
 * will, so that its state and randomness stay in step with the seed. */
static void emit(struct seed *sd, uint8_t op, uint16_t arg, const void *p, size_t len)
{
	if (sd->len + 3 + len > sd->cap) {
		sd->cap = (sd->len + 3 + len) * 2;
		sd->buf = realloc(sd->buf, sd->cap);
		REQUIRE(sd->buf);
	}
	sd->buf[sd->len] = op;
	sd->buf[sd->len + 1] = (uint8_t)arg;
	sd->buf[sd->len + 2] = (uint8_t)(arg >> 8);
	if (len)
		memcpy(sd->buf + sd->len + 3, p, len);
	sd->len += 3 + len;
	exec_record(&sd->r, &sd->rb, op, arg, p, len);
}

static void emit_datagram(struct seed *sd, const struct capture *c)
{
	emit(sd, OP_DATAGRAM, (uint16_t)c->len, c->msg, c->len);
}

static void emit_tick(struct seed *sd, uint16_t steps)
{
	emit(sd, OP_TICK, steps, NULL, 0);
	ON_I(peer_timers_expire(sd->i.peer, now_ns));
}

/* The initiating device takes a datagram the device under test sent. */
static void i_receive(struct seed *sd, const struct capture *c)
{
	ON_I(add_datagram(&sd->i, &sd->ib, OP_DATAGRAM, c->msg, c->len); flush(&sd->i, &sd->ib);
	     wg_device_process_handshakes(&sd->i.dev, now_ns));
}

static void seed_start(struct seed *sd)
{
	memset(sd, 0, sizeof(*sd));
	rng_reset();
	now_ns = NOW0;
	sd->r.cap = calloc(CAPTURE_MAX, sizeof(struct capture));
	sd->i.cap = calloc(CAPTURE_MAX, sizeof(struct capture));
	REQUIRE(sd->r.cap && sd->i.cap);
	side_init(&sd->r, key_r, pub_i, 1, 2);
	ON_I(side_init(&sd->i, key_i, pub_r, 2, 1));
}

static void seed_write(struct seed *sd, const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	side_finish(&sd->r, &sd->rb);
	ON_I(side_finish(&sd->i, &sd->ib));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	REQUIRE(f && fwrite(sd->buf, 1, sd->len, f) == sd->len && fclose(f) == 0);
	printf("  %s: %zu bytes\n", path, sd->len);
	free(sd->buf);
	free(sd->r.cap);
	free(sd->i.cap);
}

static const struct capture *last_of(const struct side *s, uint32_t type)
{
	for (unsigned int k = s->ncap; k-- > 0;) {
		uint32_t t;

		memcpy(&t, s->cap[k].msg, sizeof(t));
		if (le32toh(t) == type)
			return &s->cap[k];
	}
	REQUIRE(!"expected message not sent");
	return NULL;
}

static void dict_index(FILE *dict, const char *name, const uint8_t *p)
{
	fprintf(dict, "%s=\"\\x%02x\\x%02x\\x%02x\\x%02x\"\n", name, p[0], p[1], p[2], p[3]);
}

/* Handshake as responder, then data both ways, a keepalive and a replay. */
static void seed_responder(const char *dir, FILE *dict)
{
	static struct seed sd;
	const struct capture *init, *resp, *data;
	unsigned int first;

	seed_start(&sd);
	ON_I(send_packet(&sd.i, (const uint8_t *)"ping", 4));
	init = last_of(&sd.i, MESSAGE_HANDSHAKE_INITIATION);
	emit_datagram(&sd, init);
	emit(&sd, OP_HANDSHAKES, 0, NULL, 0);
	resp = last_of(&sd.r, MESSAGE_HANDSHAKE_RESPONSE);
	dict_index(dict, "responder_index", resp->msg + 4);
	first = sd.i.ncap;
	i_receive(&sd, resp);
	for (unsigned int k = first; k < sd.i.ncap; k++)
		emit_datagram(&sd, &sd.i.cap[k]);
	emit(&sd, OP_SEND, 5, "hello", 5);
	first = sd.i.ncap;
	ON_I(send_packet(&sd.i, (const uint8_t *)"pong", 4));
	data = &sd.i.cap[first];
	emit_datagram(&sd, data);
	emit_datagram(&sd, data); /* replayed */
	emit_tick(&sd, 110);	  /* past KEEPALIVE_TIMEOUT: a keepalive goes */
	seed_write(&sd, dir, "responder_handshake_data");
}

/* The device initiates, is answered with a cookie reply, then with a response. */
static void seed_initiator(const char *dir, FILE *dict)
{
	static struct seed sd;
	struct message_handshake_cookie reply;
	struct capture cookie = {.len = sizeof(reply)};
	const struct capture *init;
	struct sockaddr_in src;
	unsigned int first;

	seed_start(&sd);
	emit(&sd, OP_SEND, 4, "ping", 4);
	init = last_of(&sd.r, MESSAGE_HANDSHAKE_INITIATION);
	dict_index(dict, "initiator_index", init->msg + 4);
	sockaddr4(&src, 1, 51820);
	ON_I(REQUIRE(cookie_message_create(
			 &reply, init->msg, init->len,
			 ((const struct message_handshake_initiation *)init->msg)->sender_index,
			 (struct sockaddr *)&src, &sd.i.dev.cookie_checker, now_ns) == 0));
	memcpy(cookie.msg, &reply, sizeof(reply));
	emit_datagram(&sd, &cookie);
	i_receive(&sd, init);
	emit_datagram(&sd, last_of(&sd.i, MESSAGE_HANDSHAKE_RESPONSE));
	first = sd.r.ncap;
	emit(&sd, OP_HANDSHAKES, 0, NULL, 0);
	for (unsigned int k = first; k < sd.r.ncap; k++)
		i_receive(&sd, &sd.r.cap[k]);
	first = sd.i.ncap;
	ON_I(send_packet(&sd.i, (const uint8_t *)"pong", 4));
	emit_datagram(&sd, &sd.i.cap[first]);
	emit_tick(&sd, 1250); /* past REKEY_AFTER_TIME: the next packet rekeys */
	emit(&sd, OP_SEND, 4, "more", 4);
	seed_write(&sd, dir, "initiator_cookie");
}

/* Enough initiations to put the device under load: it answers with cookie replies, and an
 * initiation carrying the cookie (mac2) is then taken. */
static void seed_flood(const char *dir)
{
	static struct seed sd;
	struct capture again = {.len = sizeof(struct message_handshake_initiation)};
	struct message_handshake_initiation *m = (void *)again.msg;
	const struct capture *init;
	unsigned int first;

	seed_start(&sd);
	ON_I(send_packet(&sd.i, (const uint8_t *)"ping", 4));
	init = last_of(&sd.i, MESSAGE_HANDSHAKE_INITIATION);
	for (unsigned int k = 0; k < MAX_QUEUED_INCOMING_HANDSHAKES / 8 + 8; k++)
		emit_datagram(&sd, init);
	first = sd.r.ncap;
	emit(&sd, OP_HANDSHAKES, 0, NULL, 0);
	REQUIRE(sd.r.ncap > first);
	i_receive(&sd, &sd.r.cap[first]); /* the cookie reply */
	/* A new initiation at once (the device's own pacing would wait), now with mac2. */
	ON_I(REQUIRE(noise_handshake_create_initiation(m, &sd.i.peer->handshake, &sd.i.dev.index,
						       wall_now(NULL)));
	     cookie_add_mac_to_packet(m, again.len, &sd.i.peer->cookie, now_ns));
	emit_datagram(&sd, &again);
	first = sd.r.ncap;
	for (unsigned int k = 0; k < MAX_QUEUED_INCOMING_HANDSHAKES / 8 / WG_HANDSHAKE_BUDGET + 2;
	     k++)
		emit(&sd, OP_HANDSHAKES, 0, NULL, 0);
	last_of(&sd.r, MESSAGE_HANDSHAKE_RESPONSE); /* the cookie got it through */
	seed_write(&sd, dir, "flood_cookie");
}

static void generate(const char *dir)
{
	char path[4096];
	FILE *dict;
	char hex[3 * CRYPTO_KEY_LEN * 2 + 1];

	snprintf(path, sizeof(path), "%s/wg_receive.dict", dir);
	dict = fopen(path, "w");
	REQUIRE(dict);
	fprintf(dict, "# WireGuard message types, the test keys and session indices; written by\n"
		      "# PORTHOLE_FUZZ_GEN=DIR build-fuzz/fuzz_wg_receive\n");
	fprintf(dict, "initiation=\"\\x01\\x00\\x00\\x00\"\nresponse=\"\\x02\\x00\\x00\\x00\"\n"
		      "cookie=\"\\x03\\x00\\x00\\x00\"\ndata=\"\\x04\\x00\\x00\\x00\"\n");
	for (unsigned int k = 0; k < CRYPTO_KEY_LEN; k++)
		sprintf(hex + 4 * k, "\\x%02x", pub_i[k]);
	fprintf(dict, "peer_public=\"%s\"\n", hex);
	for (unsigned int k = 0; k < CRYPTO_KEY_LEN; k++)
		sprintf(hex + 4 * k, "\\x%02x", pub_r[k]);
	fprintf(dict, "our_public=\"%s\"\n", hex);
	seed_responder(dir, dict);
	seed_initiator(dir, dict);
	seed_flood(dir);
	fclose(dict);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *gen = getenv("PORTHOLE_FUZZ_GEN");

	log_set_level(LOG_LEVEL_ERR);
	verbose = getenv("PORTHOLE_FUZZ_VERBOSE") != NULL;
	REQUIRE(crypto_init() == 0);
	keys_init();
	if (gen) {
		generate(gen);
		exit(0);
	}
	return 0;
}
