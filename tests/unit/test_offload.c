/* TSO splitting and coalescing, checked against a naive big-endian checksum and against the
 * original payload, and a round trip split -> coalesce. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include "check.h"
#include "offload.h"

enum { SEG_CAP = 1500, MAX_SEGS = 80, BIG = 65536 };

/* RFC 1071 the slow way: big-endian words, one at a time. */
static uint16_t naive_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | (i + 1 < len ? p[i + 1] : 0));
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static bool ip4_ok(const uint8_t *ip)
{
	return naive_sum(ip, (size_t)(ip[0] & 15) * 4, 0) == 0xffff;
}

static bool tcp_ok(const uint8_t *ip, size_t len)
{
	bool v6 = ip[0] >> 4 == 6;
	size_t iphl = v6 ? 40 : (size_t)(ip[0] & 15) * 4, l4 = len - iphl;
	uint32_t sum = v6 ? naive_sum(ip + 8, 32, 0) : naive_sum(ip + 12, 8, 0);

	sum += 6 + (uint32_t)l4;
	return naive_sum(ip + iphl, l4, sum) == 0xffff;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A TCP super-packet as a TUN read gives it: IPv4 or IPv6, a 12-byte option block (timestamps),
 * payload bytes from a fixed pattern, and the pseudo-header sum in the checksum field. */
static size_t make_packet(uint8_t *p, bool v6, size_t payload, uint32_t seq, uint8_t flags)
{
	size_t iphl = v6 ? 40 : 20, thl = 32, len = iphl + thl + payload;
	uint8_t *th = p + iphl;
	uint32_t sum;

	memset(p, 0, iphl + thl);
	if (v6) {
		p[0] = 0x60;
		p[4] = (uint8_t)((len - 40) >> 8);
		p[5] = (uint8_t)(len - 40);
		p[6] = 6;
		p[7] = 64;
		p[8] = 0xfd, p[23] = 1;
		p[24] = 0xfd, p[39] = 2;
	} else {
		p[0] = 0x45;
		p[2] = (uint8_t)(len >> 8), p[3] = (uint8_t)len;
		p[4] = 0x12, p[5] = 0x34;
		p[6] = 0x40; /* DF */
		p[8] = 64, p[9] = 6;
		p[12] = 10, p[15] = 1;
		p[16] = 10, p[19] = 2;
	}
	th[0] = 0x30, th[1] = 0x39, th[2] = 0x01, th[3] = 0xbb;
	th[4] = (uint8_t)(seq >> 24), th[5] = (uint8_t)(seq >> 16), th[6] = (uint8_t)(seq >> 8);
	th[7] = (uint8_t)seq;
	th[8] = 0xaa, th[11] = 0x01;
	th[12] = (uint8_t)(thl / 4) << 4;
	th[13] = flags;
	th[14] = 0x01, th[15] = 0xf5;
	th[20] = 1, th[21] = 1, th[22] = 8, th[23] = 10, th[27] = 7, th[31] = 9;
	for (size_t i = 0; i < payload; i++)
		p[iphl + thl + i] = (uint8_t)(i * 7 + seq);
	if (!v6) {
		uint16_t c = (uint16_t)~naive_sum(p, 20, 0);
		p[10] = (uint8_t)(c >> 8), p[11] = (uint8_t)c;
	}
	sum = (v6 ? naive_sum(p + 8, 32, 0) : naive_sum(p + 12, 8, 0)) + 6 + (uint32_t)(len - iphl);
	sum = naive_sum((const uint8_t *)"", 0, sum);
	th[16] = (uint8_t)(sum >> 8), th[17] = (uint8_t)sum; /* partial: pseudo header only */
	return len;
}

/* Completes a NEEDS_CSUM checksum the way the kernel would. */
static void complete(uint8_t *p, size_t len, size_t start, size_t off)
{
	uint16_t c = (uint16_t)~naive_sum(p + start, len - start, 0);

	p[start + off] = (uint8_t)(c >> 8);
	p[start + off + 1] = (uint8_t)c;
}

/* Against the naive big-endian sum: every length to past a full segment, at every alignment
 * (the vector loop's edges), with and without a starting sum, and all-ones data (the carries). */
static void test_checksum(void)
{
	static uint8_t buf[2100];
	const uint16_t start = 0xfedc; /* native order, as the callers pass it */
	uint8_t sb[2];
	int bad = 0;

	memcpy(sb, &start, 2);

	srand(1);
	for (int round = 0; round < 6000; round++) {
		size_t off = (size_t)round % 8, len = (size_t)round % 2050;
		uint8_t *p = buf + off;
		uint16_t ours, expect;
		uint8_t b[2];

		for (size_t i = 0; i < len; i++)
			p[i] = round % 7 == 3 ? 0xff : (uint8_t)rand();
		ours = csum_fold(csum_partial(p, len, 0));
		memcpy(b, &ours, 2);
		expect = (uint16_t)~naive_sum(p, len, 0);
		bad += (uint16_t)(b[0] << 8 | b[1]) != expect;
		/* A starting sum (a pseudo-header's, folded) adds in like one more word. */
		ours = csum_fold(csum_partial(p, len, start));
		memcpy(b, &ours, 2);
		expect = (uint16_t)~naive_sum(p, len, (uint32_t)(sb[0] << 8 | sb[1]));
		bad += (uint16_t)(b[0] << 8 | b[1]) != expect;
	}
	CHECK(bad == 0);
}

static uint8_t *segs[MAX_SEGS];
static size_t seg_lens[MAX_SEGS];

static void split_case(bool v6, size_t payload, uint16_t mss)
{
	static uint8_t pkt[BIG];
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
						     VIRTIO_NET_HDR_GSO_TCPV4,
				    .gso_size = mss };
	size_t iphl = v6 ? 40 : 20, hdr = iphl + 32, len = make_packet(pkt, v6, payload, 1000,
								     0x18 /* ACK|PSH */);
	size_t expect_segs = (payload + mss - 1) / mss, got = 0;
	int n;

	h.hdr_len = (uint16_t)hdr;
	h.csum_start = (uint16_t)iphl;
	h.csum_offset = 16;
	n = offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, MAX_SEGS);
	CHECK(n == (int)expect_segs);
	for (int i = 0; i < n; i++) {
		const uint8_t *s = segs[i];
		size_t chunk = seg_lens[i] - hdr;

		CHECK(chunk <= mss);
		CHECK(v6 || ip4_ok(s));
		CHECK(tcp_ok(s, seg_lens[i]));
		CHECK(rd32(s + iphl + 4) == 1000 + (uint32_t)got);
		CHECK_MEM(s + hdr, pkt + hdr + got, chunk);
		CHECK(((s[iphl + 13] & 0x08) != 0) == (i == n - 1));
		if (v6)
			CHECK((size_t)(s[4] << 8 | s[5]) + 40 == seg_lens[i]);
		else
			CHECK((size_t)(s[2] << 8 | s[3]) == seg_lens[i]);
		got += chunk;
	}
	CHECK(got == payload);
}

static void test_split(void)
{
	split_case(false, 10000, 1388);
	split_case(true, 10000, 1368);
	split_case(false, 65535 - 52, 1388);
	split_case(false, 1388, 1388);
	split_case(true, 1, 1368);
}

static void test_split_errors(void)
{
	static uint8_t pkt[BIG];
	struct virtio_net_hdr h = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 100 };
	size_t len = make_packet(pkt, false, 5000, 1, 0x10);

	CHECK(offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, 10) == -EMSGSIZE);
	CHECK(offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, 0) == -EMSGSIZE);
	CHECK(offload_split(&h, pkt, len - 1, segs, SEG_CAP, seg_lens, MAX_SEGS) == -EPROTO);
	h.gso_size = 0;
	CHECK(offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, MAX_SEGS) == -EPROTO);
	h.gso_size = 1000;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; /* an IPv4 packet */
	CHECK(offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, MAX_SEGS) == -EPROTO);
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	CHECK(offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, MAX_SEGS) == -EPROTO);
	pkt[9] = 17; /* not TCP */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	CHECK(offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, MAX_SEGS) == -EPROTO);
}

static void test_no_gso(void)
{
	uint8_t pkt[200];
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 20,
				    .csum_offset = 16 };
	size_t len = make_packet(pkt, false, 100, 5, 0x18);

	CHECK(offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, 1) == 1);
	CHECK(seg_lens[0] == len && tcp_ok(segs[0], len));
	h.csum_start = 190;
	CHECK(offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, 1) == -EPROTO);
	h.flags = 0;
	CHECK(offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, 1) == 1);
	CHECK(offload_split(&h, pkt, len, segs, 100, seg_lens, 1) == -EMSGSIZE);
}

static struct offload_pkt opk[MAX_SEGS * 2];
static uint8_t *obuf[MAX_SEGS * 2];

/* A remaining packet's pieces, gathered as the TUN write would take them: its length. */
static size_t gather(const struct offload_pkt *pk, unsigned int i, uint8_t *out)
{
	struct iovec iov[OFFLOAD_MAX_PIECES];
	unsigned int m = offload_pieces(pk, i, iov);
	size_t len = 0;

	for (unsigned int k = 0; k < m; k++) {
		memcpy(out + len, iov[k].iov_base, iov[k].iov_len);
		len += iov[k].iov_len;
	}
	return len;
}

static unsigned int load(unsigned int at, int n)
{
	for (int i = 0; i < n; i++) {
		memcpy(obuf[at + i], segs[i], seg_lens[i]);
		opk[at + i].data = obuf[at + i];
		opk[at + i].len = seg_lens[i];
	}
	return at + (unsigned int)n;
}

static int split_mss(bool v6, size_t payload, uint32_t seq, uint16_t mss)
{
	static uint8_t pkt[BIG];
	struct virtio_net_hdr h = { .gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
						     VIRTIO_NET_HDR_GSO_TCPV4,
				    .gso_size = mss };
	size_t len = make_packet(pkt, v6, payload, seq, 0x18);

	return offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, MAX_SEGS);
}

static int split_into(bool v6, size_t payload, uint32_t seq)
{
	return split_mss(v6, payload, seq, 1000);
}

static void round_trip(bool v6)
{
	static uint8_t orig[BIG];
	size_t iphl = v6 ? 40 : 20, payload = 9500;
	size_t len = make_packet(orig, v6, payload, 77, 0x18);
	int n = split_into(v6, payload, 77);
	unsigned int cnt = load(0, n);
	struct offload_pkt *h = &opk[0];
	static uint8_t whole[BIG];

	CHECK(offload_coalesce(opk, cnt) == 1);
	CHECK(h->total == len && gather(opk, 0, whole) == len);
	CHECK_MEM(whole + iphl + 32, orig + iphl + 32, payload);
	CHECK(h->hdr.gso_type ==
	      (v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4));
	CHECK(h->hdr.gso_size == 1000 && h->hdr.hdr_len == iphl + 32);
	CHECK(h->hdr.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK(h->hdr.csum_start == iphl && h->hdr.csum_offset == 16);
	CHECK(v6 || ip4_ok(h->data));
	CHECK(whole[iphl + 13] & 0x08);
	complete(whole, len, h->hdr.csum_start, h->hdr.csum_offset);
	CHECK(tcp_ok(whole, len));
	for (unsigned int i = 1; i < cnt; i++)
		CHECK(opk[i].merged);
}

static void test_coalesce(void)
{
	round_trip(false);
	round_trip(true);
}

static void test_coalesce_flows(void)
{
	unsigned int cnt;
	int n;

	/* Two flows (IPv4 then IPv6) interleaved, then a gap in sequence numbers. */
	n = split_into(false, 3000, 10);
	cnt = load(0, 1);
	memcpy(obuf[cnt], segs[1], seg_lens[1]);
	n = split_into(true, 3000, 10);
	cnt = load(cnt, 1);
	n = split_into(false, 3000, 10);
	opk[cnt].data = obuf[cnt];
	memcpy(obuf[cnt], segs[1], seg_lens[1]);
	opk[cnt].len = seg_lens[1];
	cnt++;
	n = split_into(true, 3000, 10);
	opk[cnt].data = obuf[cnt];
	memcpy(obuf[cnt], segs[1], seg_lens[1]);
	opk[cnt].len = seg_lens[1];
	cnt++;
	CHECK(n == 3);
	CHECK(offload_coalesce(opk, cnt) == 2);
	CHECK(!opk[0].merged && !opk[1].merged && opk[2].merged && opk[3].merged);

	/* A gap: segments 0 and 2 of one flow stay apart. */
	n = split_into(false, 3000, 10);
	cnt = load(0, 1);
	memcpy(obuf[cnt], segs[2], seg_lens[2]);
	opk[cnt] = (struct offload_pkt){ .data = obuf[cnt], .len = seg_lens[2] };
	cnt++;
	CHECK(offload_coalesce(opk, cnt) == 2);
	CHECK(opk[0].hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE);

	/* Checksums are not checked (the AEAD vouched for the bytes): a segment whose checksum
	 * is off merges like the others, and the kernel computes the merged one. A packet left
	 * alone says its checksum needs no check. A SYN never merges. */
	n = split_into(false, 3000, 10);
	cnt = load(0, n);
	opk[1].data[60] ^= 1;
	CHECK(offload_coalesce(opk, cnt) == 1);
	CHECK(opk[0].hdr.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
	n = split_into(false, 3000, 10);
	cnt = load(0, 1);
	CHECK(offload_coalesce(opk, cnt) == 1);
	CHECK(opk[0].hdr.flags == VIRTIO_NET_HDR_F_DATA_VALID);
	CHECK(opk[0].hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE);
	n = split_into(false, 3000, 10);
	cnt = load(0, n);
	opk[0].data[20 + 13] |= 0x02;
	CHECK(offload_coalesce(opk, cnt) >= 2);
	CHECK(!opk[1].merged);

	/* A packet takes OFFLOAD_MAX_PIECES pieces at most (one vectored write). */
	n = split_mss(false, 100 * (OFFLOAD_MAX_PIECES + 6), 10, 100);
	CHECK(n == OFFLOAD_MAX_PIECES + 6);
	cnt = load(0, n);
	CHECK(offload_coalesce(opk, cnt) == 2);
	CHECK(!opk[OFFLOAD_MAX_PIECES].merged && opk[OFFLOAD_MAX_PIECES + 1].merged);
	CHECK(opk[0].total == 52 + 100 * OFFLOAD_MAX_PIECES);
	CHECK(opk[OFFLOAD_MAX_PIECES].total == 52 + 100 * 6);
}

/* Segments of one UDP GRO datagram lie back to back in one buffer: coalescing chains them where
 * they lie and writes nothing but the head's headers (here with another flow's packet between). */
static void test_coalesce_shared(void)
{
	enum { STRIDE = 1100 };
	static uint8_t big[8 * STRIDE], a_orig[BIG], b_copy[SEG_CAP], whole[BIG], before[8 * STRIDE];
	size_t a_len = make_packet(a_orig, false, 3000, 50, 0x18), b_len = 0;
	int order[4] = { 0, -1, 1, 2 }; /* A0, B0, A1, A2 */
	int n = split_into(false, 3000, 50);
	struct offload_pkt pk[4];

	CHECK(n == 3);
	for (int i = 0; i < 4; i++) {
		uint8_t *at = big + (size_t)i * STRIDE;

		if (order[i] < 0) {
			int m = split_into(true, 500, 9);

			CHECK(m == 1);
			memcpy(at, segs[0], seg_lens[0]);
			b_len = seg_lens[0];
			memcpy(b_copy, at, b_len);
			pk[i] = (struct offload_pkt){ .data = at, .len = b_len };
		} else {
			static uint8_t keep[3][SEG_CAP];
			static size_t keep_len[3];

			if (i == 0) {
				for (int k = 0; k < 3; k++) {
					split_into(false, 3000, 50);
					memcpy(keep[k], segs[k], seg_lens[k]);
					keep_len[k] = seg_lens[k];
				}
			}
			memcpy(at, keep[order[i]], keep_len[order[i]]);
			pk[i] = (struct offload_pkt){ .data = at, .len = keep_len[order[i]] };
		}
	}
	memcpy(before, big, sizeof(big));
	CHECK(offload_coalesce(pk, 4) == 2);
	CHECK(pk[0].data == big && !pk[1].merged && pk[2].merged && pk[3].merged);
	CHECK(pk[0].next == 2 && pk[2].next == 3 && pk[3].next == 0);
	CHECK(pk[0].total == a_len && gather(pk, 0, whole) == a_len);
	CHECK_MEM(whole + 52, a_orig + 52, 3000);
	CHECK(pk[1].len == b_len && gather(pk, 1, whole) == b_len);
	CHECK_MEM(pk[1].data, b_copy, b_len); /* the other flow's packet is untouched */
	CHECK_MEM(big + STRIDE, before + STRIDE, sizeof(big) - STRIDE); /* and so is all after A0 */
}

static void test_random(void)
{
	static uint8_t pkt[2000];

	srand(7);
	for (int round = 0; round < 20000; round++) {
		struct virtio_net_hdr h = { .flags = (uint8_t)(rand() & 3),
					    .gso_type = (uint8_t)(rand() % 6),
					    .gso_size = (uint16_t)(rand() % 1600),
					    .csum_start = (uint16_t)(rand() % 2000),
					    .csum_offset = (uint16_t)(rand() % 40) };
		size_t len = (size_t)rand() % sizeof(pkt);

		for (size_t i = 0; i < len; i++)
			pkt[i] = (uint8_t)rand();
		if (round & 1)
			len = make_packet(pkt, round & 2, (size_t)rand() % 1000, 3, 0x10);
		int r = offload_split(&h, pkt, len, segs, SEG_CAP, seg_lens, MAX_SEGS);

		CHECK(r == -EMSGSIZE || r == -EPROTO || (r >= 1 && r <= MAX_SEGS));
		memcpy(obuf[0], pkt, len);
		opk[0] = (struct offload_pkt){ .data = obuf[0], .len = len };
		memcpy(obuf[1], pkt, len);
		opk[1] = (struct offload_pkt){ .data = obuf[1], .len = len };
		CHECK(offload_coalesce(opk, 2) >= 1);
	}
}

int main(void)
{
	for (int i = 0; i < MAX_SEGS; i++)
		segs[i] = malloc(SEG_CAP);
	for (int i = 0; i < MAX_SEGS * 2; i++)
		obuf[i] = malloc(BIG);
	RUN(test_checksum);
	RUN(test_split);
	RUN(test_split_errors);
	RUN(test_no_gso);
	RUN(test_coalesce);
	RUN(test_coalesce_flows);
	RUN(test_coalesce_shared);
	RUN(test_random);
	for (int i = 0; i < MAX_SEGS; i++)
		free(segs[i]);
	for (int i = 0; i < MAX_SEGS * 2; i++)
		free(obuf[i]);
	return check_done("test_offload");
}
