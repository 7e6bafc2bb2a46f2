/* A deterministic micro-benchmark of porthole's per-packet cost (issue #5): complete handshakes
 * between two device engines, seal and open of 64-packet batches through
 * wg_device_send_batch() and wg_device_receive_batch(), and TSO split and coalescing of a 64 KiB
 * TCP super-packet.
 *
 * Why: `make bench` measures the whole system, and its figures move with whatever else the
 * machine does. Here the work is fixed by the arguments alone: no sockets, a fake clock advanced
 * by hand (as tests/unit/test_device.c does), fixed packet counts and sizes. Counted as
 * instructions with `valgrind --tool=callgrind`, a case costs the same on every run, so two
 * commits compare to the instruction. Each case is one noinline function, micro_case_<name>,
 * whose inclusive count callgrind_annotate shows; filling buffers and checking results happen
 * outside those functions so that they count only the engine's work. The wall-clock figures are
 * for orientation only.
 *
 * Every result is checked (packets must come out as they went in); a wrong one is printed and
 * the exit status is 1. --self-test runs every case a few times and prints "N passed, N failed"
 * for tests/run-all.
 *
 * Usage: micro [handshake|seal|open|split|coalesce ...] [-n ITERATIONS] | micro --self-test
 * See bench/README.md. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "config.h"
#include "crypto.h"
#include "bytes.h"
#include "device.h"
#include "messages.h"
#include "offload.h"
#include "peer.h"

/* Each case keeps its own name in callgrind's output: GCC would otherwise also specialise it
 * for its constant argument under another (micro_case_seal.constprop.0). */
#ifdef __clang__
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

enum micro_limits {
	BATCH = 64,	 /* packets per wg_device_send_batch(), as the tunnel reads them */
	PKT_LEN = 1420,	 /* a full inner packet at the default tunnel MTU */
	IP_TCP_HDR = 40, /* IPv4 and TCP headers without options */
	MSS = PKT_LEN - IP_TCP_HDR, /* 1380: the gso_size a TUN asks for at that MTU */
	SLOT = 1600, /* one packet buffer with the room of the tunnel's slots, sealed in place */
	SUPER_SEGS = (OFFLOAD_MAX_PACKET - IP_TCP_HDR) / MSS, /* 47 */
	SUPER_LEN = IP_TCP_HDR + SUPER_SEGS * MSS, /* 64900: a whole number of segments */
	MAX_SEGS = 64,
	SEG_CAP = 2048,
	SELF_TEST_ITERATIONS = 3,
	WG_PORT = 51820,
};
static_assert(WG_TX_ROOM_BEFORE + PKT_LEN + WG_TX_ROOM_AFTER <= SLOT,
	      "a packet and its room fit a slot");
static_assert(SUPER_SEGS <= MAX_SEGS, "every segment of the split has a buffer");

#define IP_A  0x0a000001u /* 10.0.0.1: A's tunnel address */
#define IP_B  0x0a000002u /* 10.0.0.2 */
#define UDP_A 0xc0000201u /* 192.0.2.1: A's address on the fake network */
#define UDP_B 0xc0000202u
#define NOW0  (1000 * NSEC_PER_SEC)
#define WALL0 (1700000000ULL * NSEC_PER_SEC)

enum case_id { CASE_HANDSHAKE, CASE_SEAL, CASE_OPEN, CASE_SPLIT, CASE_COALESCE, CASE__MAX };

/* What one run of a group of cases measured: wall time per case, and whether each was right. */
struct tally {
	uint64_t ns[CASE__MAX];
	bool ok[CASE__MAX];
};

/* --- the two engines and the fake network between them --- */

struct node {
	struct wg_device dev;
	uint8_t priv[CRYPTO_KEY_LEN], pub[CRYPTO_KEY_LEN];
	struct endpoint addr;
	struct wg_peer *peer; /* the other node, as this one knows it */
	/* The latest datagram ops->send gave us: handshake messages and keepalives only. */
	uint8_t sent[sizeof(struct message_handshake_initiation)] __attribute__((aligned(16)));
	size_t sent_len;
	unsigned int nsent; /* since the last delivery */
};

static struct node A, B;
static uint64_t now; /* the fake monotonic clock; only the handshake case moves it */

static void on_send(void *ctx, struct wg_peer *peer, struct endpoint *ep, const uint8_t *buf,
		    size_t len)
{
	struct node *n = ctx;

	n->nsent++;
	n->sent_len = len;
	if (len <= sizeof(n->sent))
		memcpy(n->sent, buf, len);
}

/* The daemon would arm a loop timer here; nothing waits for deadlines in a benchmark. */
static void on_timers_changed(void *ctx, struct wg_peer *peer)
{
}

static void on_peer(void *ctx, struct wg_peer *peer)
{
}

static uint64_t on_wall_now(void *ctx)
{
	return WALL0 + now;
}

static struct endpoint ep4(uint32_t ip)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET,
	    .sin_port = htons(WG_PORT),
	    .sin_addr.s_addr = htonl(ip),
	};
	struct endpoint ep;

	if (endpoint_set(&ep, (const struct sockaddr *)&sin, sizeof(sin)))
		abort(); /* cannot fail for AF_INET */
	return ep;
}

static bool node_init(struct node *n, uint32_t udp_ip)
{
	const struct wg_device_ops ops = {
	    .send = on_send,
	    .timers_changed = on_timers_changed,
	    .peer_added = on_peer,
	    .peer_removed = on_peer,
	    .wall_now = on_wall_now,
	    .ctx = n,
	};

	n->addr = ep4(udp_ip);
	n->nsent = 0;
	if (crypto_random(n->priv, sizeof(n->priv)))
		return false;
	curve25519_clamp(n->priv);
	curve25519_generate_public(n->pub, n->priv);
	return wg_device_init(&n->dev, &ops, now) == 0;
}

/* n gets remote as its only peer, routing allowed to it; with an endpoint only when given. */
static bool node_configure(struct node *n, const struct node *remote, const char *allowed,
			   bool endpoint)
{
	struct interface_config ic = {0};
	struct peer_config *pc = config_add_peer(&ic);
	struct allowed_ip ip;
	const char *why;
	int ret = -EINVAL;

	if (!pc || !config_parse_prefix(&ip, allowed, &why) ||
	    ip_list_add(&pc->allowed_ips, &ip, 1))
		goto out;
	memcpy(ic.private_key, n->priv, CRYPTO_KEY_LEN);
	ic.has_private_key = true;
	memcpy(pc->public_key, remote->pub, CRYPTO_KEY_LEN);
	pc->has_public_key = true;
	if (endpoint) {
		pc->has_endpoint = true;
		memcpy(&pc->endpoint, &remote->addr.addr.in4, sizeof(remote->addr.addr.in4));
	}
	ret = wg_device_apply(&n->dev, &ic, now);
out:
	config_interface_free(&ic);
	n->peer = ret ? NULL : peer_lookup(&n->dev, remote->pub);
	return n->peer != NULL;
}

/* A knows where B is; B learns A's address from the first initiation, as a server would. */
static void pair_setup(void)
{
	now = NOW0;
	if (!node_init(&A, UDP_A) || !node_init(&B, UDP_B)) {
		fprintf(stderr, "micro: cannot create the devices\n");
		exit(1);
	}
	if (!node_configure(&A, &B, "10.0.0.2/32", true) ||
	    !node_configure(&B, &A, "10.0.0.1/32", false)) {
		fprintf(stderr, "micro: cannot configure the devices\n");
		exit(1);
	}
	wg_device_set_up(&A.dev, true, now);
	wg_device_set_up(&B.dev, true, now);
}

/* False, with the reasons on stderr, when either engine dropped anything. */
static bool no_drops(const char *what)
{
	const struct node *nodes[] = {&A, &B};
	uint64_t total = 0;

	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		for (int r = 0; r < DROP__MAX; r++) {
			uint64_t d = nodes[i]->dev.drops[r] + nodes[i]->peer->drops[r];

			if (d)
				fprintf(stderr, "%s: %c dropped %llu (drop_reason %d)\n", what,
					"AB"[i], (unsigned long long)d, r);
			total += d;
		}
	}
	return total == 0;
}

static void pair_teardown(void)
{
	wg_device_free(&A.dev);
	wg_device_free(&B.dev);
}

/* Hands from's one pending datagram to to, as to's UDP socket would, and lets to work through
 * its handshake queue. False when from sent nothing, or more than one. */
static bool deliver(struct node *from, struct node *to)
{
	static uint8_t buf[sizeof(from->sent)] __attribute__((aligned(16)));
	struct wg_rx rx = {.data = buf, .len = from->sent_len, .src = from->addr};

	if (from->nsent != 1 || from->sent_len > sizeof(buf))
		return false;
	from->nsent = 0;
	memcpy(buf, from->sent, from->sent_len);
	wg_device_receive_batch(&to->dev, &rx, 1, now);
	while (wg_device_process_handshakes(&to->dev, now))
		;
	return true;
}

/* A initiates, B answers, A confirms with a keepalive that makes B's new session current. The
 * clock first moves past REKEY_TIMEOUT: the engine sends one initiation per REKEY_TIMEOUT, and
 * B refuses initiations faster than INITIATIONS_PER_SECOND or with an old timestamp. */
static bool handshake(void)
{
	now += (REKEY_TIMEOUT + 1) * NSEC_PER_SEC;
	wg_send_handshake_initiation(A.peer, now, false);
	return deliver(&A, &B) && deliver(&B, &A) && deliver(&A, &B);
}

/* Both sides hold a current session born now, each naming the other's index. */
static bool fresh_session(void)
{
	const struct noise_keypair *a = A.peer->keypairs.current, *b = B.peer->keypairs.current;

	return a && b && !B.peer->keypairs.next && a->birthdate == now && b->birthdate == now &&
	       a->remote_index == b->entry.index && b->remote_index == a->entry.index;
}

/* --- packets --- */

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* RFC 1071 the slow, obvious way (big-endian words, end-around carry), so that offload.c's
 * fast checksums are checked against something other than themselves. Returns the folded sum. */
static uint16_t naive_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | (i + 1 < len ? p[i + 1] : 0));
	return fold(sum);
}

static uint32_t pseudo_sum(const uint8_t *ip, size_t l4len)
{
	return naive_sum(ip + 12, 8, 0) + IPPROTO_TCP + (uint32_t)l4len;
}

/* The byte at offset s of the TCP stream: every packet and segment carries its own part of one
 * stream, so a slice of a super-packet equals the packet sent on its own. */
static uint8_t stream_byte(uint32_t s)
{
	return (uint8_t)(s ^ s >> 8 ^ s >> 16);
}

enum tcp_csum { CSUM_FULL, CSUM_PARTIAL };

/* An IPv4 TCP ACK of len bytes carrying the stream from seq, from A to B, with DF set. With
 * CSUM_PARTIAL the TCP checksum field holds the pseudo-header sum, as a TUN with offloads hands
 * over a TSO super-packet (VIRTIO_NET_HDR_F_NEEDS_CSUM); else the full checksum. */
static void tcp4(uint8_t *p, size_t len, uint32_t seq, uint16_t id, uint8_t flags,
		 enum tcp_csum csum)
{
	uint8_t *th = p + 20;

	memset(p, 0, IP_TCP_HDR);
	p[0] = 0x45;
	put_be16(p + 2, (uint16_t)len);
	put_be16(p + 4, id);
	p[6] = 0x40; /* DF */
	p[8] = 64;
	p[9] = IPPROTO_TCP;
	put_be32(p + 12, IP_A);
	put_be32(p + 16, IP_B);
	put_be16(p + 10, (uint16_t)~naive_sum(p, 20, 0));
	put_be16(th, 40000);
	put_be16(th + 2, 5201);
	put_be32(th + 4, seq);
	put_be32(th + 8, 1);
	th[12] = 5 << 4;
	th[13] = flags;
	put_be16(th + 14, 0xffff);
	for (size_t i = IP_TCP_HDR; i < len; i++)
		p[i] = stream_byte(seq + (uint32_t)(i - IP_TCP_HDR));
	if (csum == CSUM_PARTIAL)
		put_be16(th + 16, fold(pseudo_sum(p, len - 20)));
	else
		put_be16(th + 16, (uint16_t)~naive_sum(th, len - 20, pseudo_sum(p, len - 20)));
}

enum { TCP_PSH = 0x08, TCP_ACK = 0x10 };

/* IP and TCP checksums both verify. */
static bool checksums_ok(const uint8_t *p, size_t len)
{
	return naive_sum(p, 20, 0) == 0xffff &&
	       naive_sum(p + 20, len - 20, pseudo_sum(p, len - 20)) == 0xffff;
}

/* --- timing --- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* --- handshake --- */

static NOINLINE bool micro_case_handshake(void)
{
	return handshake();
}

static void run_handshakes(unsigned long n, struct tally *t)
{
	bool ok = true;

	pair_setup();
	for (unsigned long i = 0; i < n && ok; i++) {
		uint64_t t0 = mono_ns();
		bool sent = micro_case_handshake();

		t->ns[CASE_HANDSHAKE] += mono_ns() - t0;
		ok = sent && fresh_session();
		if (!ok)
			fprintf(stderr, "handshake %lu: %s\n", i,
				sent ? "no fresh session on both sides"
				     : "a message went missing or doubled");
	}
	t->ok[CASE_HANDSHAKE] = no_drops("handshake") && ok;
	pair_teardown();
}

/* --- seal and open --- */

struct batch {
	uint8_t buf[BATCH][SLOT] __attribute__((aligned(64)));
	uint8_t want[BATCH][PKT_LEN]; /* what went in, to compare with what comes out */
	struct wg_tx tx[BATCH];
	struct wg_rx rx[BATCH];
	uint8_t slots[BATCH][WG_RX_SLOT_STRIDE] __attribute__((aligned(64))); /* opened into */
};

/* Round r's packets: the next 64 segments of one bulk TCP transfer from A to B. */
static void batch_fill(struct batch *b, unsigned long r)
{
	for (unsigned int i = 0; i < BATCH; i++) {
		uint32_t k = (uint32_t)(r * BATCH + i);

		tcp4(b->want[i], PKT_LEN, k * MSS, (uint16_t)k, TCP_ACK, CSUM_FULL);
		b->tx[i] = (struct wg_tx){
			.data = b->buf[i] + WG_TX_ROOM_BEFORE, .len = PKT_LEN, .room = true
		};
		memcpy(b->tx[i].data, b->want[i], PKT_LEN);
	}
}

static NOINLINE void micro_case_seal(struct wg_tx *tx)
{
	wg_device_send_batch(&A.dev, tx, BATCH, now);
}

static NOINLINE void micro_case_open(struct wg_rx *rx)
{
	wg_device_receive_batch(&B.dev, rx, BATCH, now);
}

/* Every packet sealed in place for B, nothing staged or sent behind the batch's back; the
 * sealed datagrams become B's receive batch. */
static bool sealed_ok(struct batch *b, unsigned long r)
{
	size_t want = noise_data_sealed_len(PKT_LEN, A.dev.mtu);

	if (A.nsent || A.peer->staged_count) {
		fprintf(stderr, "seal, round %lu: %u datagrams sent and %u staged besides\n", r,
			A.nsent, A.peer->staged_count);
		return false;
	}
	for (unsigned int i = 0; i < BATCH; i++) {
		if (b->tx[i].out_len != want || b->tx[i].peer != A.peer) {
			fprintf(stderr,
				"seal, round %lu, packet %u: %zu bytes sealed, %zu expected\n", r,
				i, b->tx[i].out_len, want);
			return false;
		}
		/* Opened into slots, as the tunnel does: the datagram lies in its send slot, with
		 * the room around it that an open from where it lies reads. */
		b->rx[i] = (struct wg_rx){.data = b->tx[i].out, .len = b->tx[i].out_len,
					  .src = A.addr, .slot = b->slots[i] + CRYPTO_SEAL_ROOM};
	}
	return true;
}

static bool opened_ok(const struct batch *b, unsigned long r)
{
	for (unsigned int i = 0; i < BATCH; i++) {
		const struct wg_rx *rx = &b->rx[i];

		if (rx->out_len != PKT_LEN || memcmp(rx->out, b->want[i], PKT_LEN)) {
			fprintf(stderr, "open, round %lu, packet %u: %zu bytes out, %s\n", r, i,
				rx->out_len, rx->out_len ? "not what went in" : "dropped");
			return false;
		}
	}
	return !B.nsent;
}

/* Seal and open alternate: B's replay window accepts each datagram once, so every round seals
 * fresh packets. */
static void run_data(unsigned long n, struct tally *t)
{
	static struct batch b;
	bool sealed, opened;

	pair_setup();
	sealed = opened = handshake() && fresh_session();
	for (unsigned long r = 0; r < n && sealed && opened; r++) {
		uint64_t t0, t1, t2;

		batch_fill(&b, r);
		t0 = mono_ns();
		micro_case_seal(b.tx);
		t1 = mono_ns();
		sealed = sealed_ok(&b, r);
		if (!sealed) {
			opened = false;
			break;
		}
		t2 = mono_ns();
		micro_case_open(b.rx);
		t->ns[CASE_SEAL] += t1 - t0;
		t->ns[CASE_OPEN] += mono_ns() - t2;
		opened = opened_ok(&b, r);
	}
	t->ok[CASE_SEAL] = sealed && no_drops("seal");
	t->ok[CASE_OPEN] = opened && t->ok[CASE_SEAL];
	pair_teardown();
}

/* --- split and coalesce --- */

struct offload_bufs {
	uint8_t super[OFFLOAD_MAX_PACKET];
	/* segs[0] is the head coalescing appends to: it needs room for the whole super-packet. */
	uint8_t head[OFFLOAD_MAX_PACKET] __attribute__((aligned(64)));
	uint8_t rest[MAX_SEGS - 1][SEG_CAP] __attribute__((aligned(64)));
	uint8_t *segs[MAX_SEGS];
	size_t seg_lens[MAX_SEGS];
	struct offload_pkt pkts[MAX_SEGS];
};

/* What the kernel hands a TUN reader for a TCP sender's 64 KiB write: the headers of the first
 * segment, a partial checksum, and the segment size. */
static const struct virtio_net_hdr super_hdr = {
    .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
    .hdr_len = IP_TCP_HDR,
    .gso_size = MSS,
    .csum_start = 20,
    .csum_offset = 16,
};

#define SUPER_SEQ 1000u
#define SUPER_ID  7

static NOINLINE int micro_case_split(struct offload_bufs *o)
{
	return offload_split(&super_hdr, o->super, SUPER_LEN, o->segs, SEG_CAP, o->seg_lens,
			     MAX_SEGS);
}

static NOINLINE unsigned int micro_case_coalesce(struct offload_bufs *o, unsigned int n)
{
	return offload_coalesce(o->pkts, n);
}

/* Segment i: a full MSS of the stream at its place, its own IP ID, PSH only on the last, and
 * both checksums complete. */
static bool segment_ok(const struct offload_bufs *o, unsigned int i)
{
	const uint8_t *s = o->segs[i];
	size_t off = (size_t)i * MSS;

	return o->seg_lens[i] == PKT_LEN && checksums_ok(s, PKT_LEN) &&
	       (s[4] << 8 | s[5]) == SUPER_ID + (int)i && get_be32(s + 24) == SUPER_SEQ + off &&
	       s[33] == (i == SUPER_SEGS - 1 ? (TCP_ACK | TCP_PSH) : TCP_ACK) &&
	       !memcmp(s + IP_TCP_HDR, o->super + IP_TCP_HDR + off, MSS);
}

/* Every segment is checked in the first and the last round only (the naive checksums cost more
 * than the split itself); the rounds between are held to the segment count, and to the coalesced
 * result, which must still be the super-packet byte for byte. */
static bool split_ok(const struct offload_bufs *o, int n, unsigned long r, bool full)
{
	if (n != SUPER_SEGS) {
		fprintf(stderr, "split, round %lu: %d segments, %d expected\n", r, n, SUPER_SEGS);
		return false;
	}
	for (unsigned int i = 0; i < SUPER_SEGS && full; i++) {
		if (!segment_ok(o, i)) {
			fprintf(stderr, "split, round %lu, segment %u: wrong\n", r, i);
			return false;
		}
	}
	return true;
}

static void coalesce_load(struct offload_bufs *o)
{
	for (unsigned int i = 0; i < SUPER_SEGS; i++)
		o->pkts[i] = (struct offload_pkt){
		    .data = o->segs[i],
		    .len = o->seg_lens[i],
		};
}

/* One packet again, byte for byte the super-packet that was split (partial checksum included),
 * with the virtio header that asks the kernel to segment it the same way. */
static bool coalesced_ok(const struct offload_bufs *o, unsigned int left, unsigned long r)
{
	const struct offload_pkt *h = &o->pkts[0];
	const struct virtio_net_hdr *v = &h->hdr;
	static uint8_t whole[OFFLOAD_MAX_PACKET];
	struct iovec iov[OFFLOAD_MAX_PIECES];
	unsigned int m = offload_pieces(o->pkts, 0, iov);
	size_t len = 0;

	for (unsigned int k = 0; k < m && len + iov[k].iov_len <= sizeof(whole); k++) {
		memcpy(whole + len, iov[k].iov_base, iov[k].iov_len);
		len += iov[k].iov_len;
	}
	bool ok = left == 1 && h->total == SUPER_LEN && len == SUPER_LEN &&
		  !memcmp(whole, o->super, SUPER_LEN) &&
		  v->flags == super_hdr.flags && v->gso_type == super_hdr.gso_type &&
		  v->gso_size == super_hdr.gso_size && v->hdr_len == super_hdr.hdr_len &&
		  v->csum_start == super_hdr.csum_start && v->csum_offset == super_hdr.csum_offset;

	for (unsigned int i = 1; i < SUPER_SEGS; i++)
		ok = ok && o->pkts[i].merged;
	if (!ok)
		fprintf(stderr, "coalesce, round %lu: %u packets left, %zu bytes: not the %s\n", r,
			left, h->len, "super-packet that was split");
	return ok;
}

/* Split and coalesce alternate: coalescing works in the split's segment buffers, as the tunnel
 * coalesces decrypted packets where they lie. */
static void run_offload(unsigned long n, struct tally *t)
{
	static struct offload_bufs o;
	bool split = true, merged = true;

	o.segs[0] = o.head;
	for (unsigned int i = 1; i < MAX_SEGS; i++)
		o.segs[i] = o.rest[i - 1];
	tcp4(o.super, SUPER_LEN, SUPER_SEQ, SUPER_ID, TCP_ACK | TCP_PSH, CSUM_PARTIAL);
	for (unsigned long r = 0; r < n && split && merged; r++) {
		uint64_t t0 = mono_ns();
		int nsegs = micro_case_split(&o);
		unsigned int left;

		t->ns[CASE_SPLIT] += mono_ns() - t0;
		split = split_ok(&o, nsegs, r, r == 0 || r == n - 1);
		if (!split)
			break;
		coalesce_load(&o);
		t0 = mono_ns();
		left = micro_case_coalesce(&o, SUPER_SEGS);
		t->ns[CASE_COALESCE] += mono_ns() - t0;
		merged = coalesced_ok(&o, left, r);
	}
	t->ok[CASE_SPLIT] = split;
	t->ok[CASE_COALESCE] = split && merged;
}

/* --- cases, arguments, output --- */

struct group {
	void (*run)(unsigned long n, struct tally *t);
	unsigned long default_n; /* about a second per case on a 2-core VM */
};

enum group_id { GROUP_HANDSHAKE, GROUP_DATA, GROUP_OFFLOAD, GROUP__MAX };

static const struct group groups[GROUP__MAX] = {
    [GROUP_HANDSHAKE] = {run_handshakes, 2000},
    [GROUP_DATA] = {run_data, 16000},
    [GROUP_OFFLOAD] = {run_offload, 250000},
};

static const struct case_desc {
	const char *name;
	enum group_id group;
	const char *unit;      /* one operation, the divisor's unit */
	unsigned int per_iter; /* operations per iteration */
	unsigned int bytes;    /* per operation; 0: no byte rate */
	unsigned int segs;     /* segments per operation; 0: none */
} cases[CASE__MAX] = {
    [CASE_HANDSHAKE] = {"handshake", GROUP_HANDSHAKE, "handshake", 1, 0, 0},
    [CASE_SEAL] = {"seal", GROUP_DATA, "packet", BATCH, PKT_LEN, 0},
    [CASE_OPEN] = {"open", GROUP_DATA, "packet", BATCH, PKT_LEN, 0},
    [CASE_SPLIT] = {"split", GROUP_OFFLOAD, "super-packet", 1, SUPER_LEN, SUPER_SEGS},
    [CASE_COALESCE] = {"coalesce", GROUP_OFFLOAD, "super-packet", 1, SUPER_LEN, SUPER_SEGS},
};

static void report(const struct case_desc *c, unsigned long n, uint64_t ns)
{
	unsigned long ops = n * c->per_iter;
	double per = ops ? (double)ns / (double)ops : 0;

	printf("%s: %lu %ss, ", c->name, ops, c->unit);
	if (c->bytes)
		printf("%u bytes, ", c->bytes);
	if (c->segs)
		printf("%u segments each, ", c->segs);
	printf("%.0f ns/%s", per, c->unit);
	if (c->bytes && per > 0)
		printf(", %.2f GB/s", c->bytes / per);
	printf(" (callgrind: divide Ir by %lu)\n", ops);
}

/* Runs each group holding a wanted case once; returns whether every wanted case was right. */
static bool run_cases(const bool want[CASE__MAX], unsigned long n, bool quiet, struct tally *t)
{
	bool all_ok = true;

	for (int g = 0; g < GROUP__MAX; g++) {
		bool needed = false;

		for (int c = 0; c < CASE__MAX; c++)
			needed |= want[c] && cases[c].group == (enum group_id)g;
		if (needed)
			groups[g].run(n ? n : groups[g].default_n, t);
	}
	for (int c = 0; c < CASE__MAX; c++) {
		if (!want[c])
			continue;
		all_ok &= t->ok[c];
		if (!quiet && t->ok[c])
			report(&cases[c], n ? n : groups[cases[c].group].default_n, t->ns[c]);
		else if (!t->ok[c])
			fprintf(stderr, "micro: %s FAILED\n", cases[c].name);
	}
	return all_ok;
}

/* For tests/run-all: every case a few times, one check per case. */
static int self_test(void)
{
	bool want[CASE__MAX];
	struct tally t = {0};
	int passed = 0;

	for (int c = 0; c < CASE__MAX; c++)
		want[c] = true;
	(void)run_cases(want, SELF_TEST_ITERATIONS, true, &t);
	for (int c = 0; c < CASE__MAX; c++) {
		printf("micro %s: %s\n", cases[c].name, t.ok[c] ? "ok" : "FAILED");
		passed += t.ok[c];
	}
	printf("micro: %d passed, %d failed\n", passed, CASE__MAX - passed);
	return passed == CASE__MAX ? 0 : 1;
}

static NORETURN void usage(const char *why, const char *what)
{
	fprintf(stderr, "micro: %s '%s'\n", why, what);
	fprintf(stderr, "usage: micro [handshake|seal|open|split|coalesce ...] [-n ITERATIONS]\n"
			"       micro --self-test\n");
	exit(2);
}

static unsigned long parse_count(const char *s)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || !n || s[0] == '-')
		usage("bad iteration count", s);
	return n;
}

static int case_by_name(const char *name)
{
	for (int c = 0; c < CASE__MAX; c++)
		if (!strcmp(cases[c].name, name))
			return c;
	usage("unknown case", name);
}

int main(int argc, char **argv)
{
	bool want[CASE__MAX] = {false}, any = false;
	struct tally t = {0};
	unsigned long n = 0; /* 0: each group's default */

	if (crypto_init()) {
		fprintf(stderr, "micro: crypto_init failed\n");
		return 1;
	}
	if (argc == 2 && !strcmp(argv[1], "--self-test"))
		return self_test();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n")) {
			if (++i == argc)
				usage("missing count after", "-n");
			n = parse_count(argv[i]);
		} else {
			want[case_by_name(argv[i])] = any = true;
		}
	}
	for (int c = 0; c < CASE__MAX && !any; c++)
		want[c] = true;
	return run_cases(want, n, false, &t) ? 0 : 1;
}
