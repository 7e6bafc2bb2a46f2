/* TSO splitting and GRO-style coalescing for virtio-net headers. The checksum arithmetic is done
 * on native-order 16-bit words and stored the same way, which RFC 1071 (section 2, "byte order
 * independence") makes equal to the big-endian sum. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include "bytes.h"
#include "offload.h"

enum tcp_flags {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_PSH = 0x08,
	TCP_ACK = 0x10,
	TCP_CWR = 0x80,
};

enum { TCP_CSUM_OFFSET = 16, IP4_CSUM_OFFSET = 10 };

struct tcp_layout {
	bool v6;
	size_t iphl, thl, hdr, payload;
};

/* 32-bit words into a 64-bit sum, in a loop compilers turn into wide vector adds; on x86-64 it
 * is cloned for AVX2, picked at load time where the CPU has it. This runs over every byte the
 * tunnel segments: the 64-bit add-with-carry loop it replaced took 5 % of the sealing thread
 * (45 against 21 ns per 1388 bytes in a loop). No overflow below 2^32 words. */
#if defined(__x86_64__) && defined(__clang__)
#define CSUM_CLONES __attribute__((target_clones("avx2", "default")))
#elif defined(__x86_64__)
#define CSUM_CLONES __attribute__((target_clones("avx2", "default"), optimize("tree-vectorize")))
#else
#define CSUM_CLONES
#endif
CSUM_CLONES static uint64_t sum_words(const uint8_t *p, size_t words)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < words; i++) {
		uint32_t w;

		memcpy(&w, p + 4 * i, 4);
		sum += w;
	}
	return sum;
}

/* Returns the sum folded to 16 bits (not complemented), so callers may add a few more words. */
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t acc = (uint64_t)sum + sum_words(p, len / 4);
	size_t rest = len % 4;

	if (rest) {
		uint8_t tail[4] = { 0 };
		uint32_t w;

		/* Zero padding keeps each byte in its lane: the odd byte is the high half of a
		 * big-endian word, as RFC 1071 pads. */
		memcpy(tail, p + len - rest, rest);
		memcpy(&w, tail, 4);
		acc += w;
	}
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)acc;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void store_csum(uint8_t *at, uint16_t csum)
{
	memcpy(at, &csum, 2);
}

static uint32_t pseudo_sum(const uint8_t *ip, bool v6, size_t l4len)
{
	uint32_t sum = v6 ? csum_partial(ip + 8, 32, 0) : csum_partial(ip + 12, 8, 0);

	return sum + htons(IPPROTO_TCP) + htons((uint16_t)l4len);
}

static void ip4_checksum(uint8_t *ip, size_t ihl)
{
	ip[IP4_CSUM_OFFSET] = ip[IP4_CSUM_OFFSET + 1] = 0;
	store_csum(ip + IP4_CSUM_OFFSET, csum_fold(csum_partial(ip, ihl, 0)));
}

static void tcp_checksum(uint8_t *ip, const struct tcp_layout *l, size_t total)
{
	uint8_t *th = ip + l->iphl;
	size_t l4 = total - l->iphl;

	th[TCP_CSUM_OFFSET] = th[TCP_CSUM_OFFSET + 1] = 0;
	store_csum(th + TCP_CSUM_OFFSET, csum_fold(csum_partial(th, l4, pseudo_sum(ip, l->v6, l4))));
}

/* A TCP packet over IPv4 (unfragmented) or IPv6 (no extension headers) of exactly len bytes. */
static bool parse_tcp(const uint8_t *p, size_t len, struct tcp_layout *l)
{
	if (len >= 20 && p[0] >> 4 == 4) {
		l->v6 = false;
		l->iphl = (size_t)(p[0] & 0x0f) * 4;
		if (l->iphl < 20 || p[9] != IPPROTO_TCP || get_be16(p + 2) != len ||
		    (get_be16(p + 6) & 0x3fff))
			return false;
	} else if (len >= 40 && p[0] >> 4 == 6) {
		l->v6 = true;
		l->iphl = 40;
		if (p[6] != IPPROTO_TCP || get_be16(p + 4) + 40U != len)
			return false;
	} else {
		return false;
	}
	if (len < l->iphl + 20)
		return false;
	l->thl = (size_t)(p[l->iphl + 12] >> 4) * 4;
	l->hdr = l->iphl + l->thl;
	if (l->thl < 20 || l->hdr > len)
		return false;
	l->payload = len - l->hdr;
	return true;
}

int offload_finish_csum(const struct virtio_net_hdr *hdr, uint8_t *pkt, size_t len)
{
	size_t start = hdr->csum_start, at = start + hdr->csum_offset;

	if (!(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	if (start >= len || at + 2 > len)
		return -EPROTO;
	store_csum(pkt + at, csum_fold(csum_partial(pkt + start, len - start, 0)));
	return 0;
}

static void write_segment(uint8_t *out, const uint8_t *pkt, const struct tcp_layout *l,
			  size_t off, size_t chunk, unsigned int i, bool last)
{
	size_t total = l->hdr + chunk;
	uint8_t *th = out + l->iphl;

	memcpy(out, pkt, l->hdr);
	memcpy(out + l->hdr, pkt + l->hdr + off, chunk);
	if (l->v6) {
		put_be16(out + 4, (uint16_t)(total - 40));
	} else {
		put_be16(out + 2, (uint16_t)total);
		put_be16(out + 4, (uint16_t)(get_be16(pkt + 4) + i));
		ip4_checksum(out, l->iphl);
	}
	put_be32(th + 4, get_be32(pkt + l->iphl + 4) + (uint32_t)off);
	if (!last)
		th[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (i)
		th[13] &= (uint8_t)~TCP_CWR;
	tcp_checksum(out, l, total);
}

int offload_split(const struct virtio_net_hdr *hdr, const uint8_t *pkt, size_t len, uint8_t **segs,
		  size_t seg_cap, size_t *seg_lens, unsigned int max_segs)
{
	unsigned int gso = hdr->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	struct tcp_layout l;
	unsigned int nsegs;
	size_t mss = hdr->gso_size;

	if (!max_segs)
		return -EMSGSIZE;
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (len > seg_cap)
			return -EMSGSIZE;
		memcpy(segs[0], pkt, len);
		seg_lens[0] = len;
		return offload_finish_csum(hdr, segs[0], len) ?: 1;
	}
	if ((gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6) || !mss ||
	    !parse_tcp(pkt, len, &l) || l.v6 != (gso == VIRTIO_NET_HDR_GSO_TCPV6))
		return -EPROTO;
	nsegs = l.payload ? (unsigned int)((l.payload + mss - 1) / mss) : 1;
	if (nsegs > max_segs || l.hdr + MIN(mss, l.payload) > seg_cap)
		return -EMSGSIZE;
	for (unsigned int i = 0; i < nsegs; i++) {
		size_t off = i * mss, chunk = MIN(mss, l.payload - off);

		write_segment(segs[i], pkt, &l, off, chunk, i, i == nsegs - 1);
		seg_lens[i] = l.hdr + chunk;
	}
	return (int)nsegs;
}

/* Coalescing. */

struct flow {
	struct offload_pkt *head, *tail; /* tail: the last piece, whose next the following takes */
	size_t total;                    /* the head's length with every piece */
	struct tcp_layout l;
	uint32_t next_seq;
	uint16_t next_id;
	size_t gso_size;
	unsigned int segs;
	bool closed, psh;
};

/* Segments worth merging: plain ACK (and PSH) data. Their checksums are not verified: the
 * AEAD tag already proved each packet is what the peer sealed, which is why the kernel's
 * WireGuard marks decrypted packets CHECKSUM_UNNECESSARY, and so do we (DATA_VALID). */
static bool eligible(const struct offload_pkt *p, struct tcp_layout *l)
{
	const uint8_t *th;

	if (!parse_tcp(p->data, p->len, l) || !l->payload || (!l->v6 && l->iphl != 20))
		return false;
	th = p->data + l->iphl;
	return (th[13] & (uint8_t)~TCP_PSH) == TCP_ACK;
}

/* Same flow and same everything a merged packet keeps from its head. */
static bool same_flow(const struct flow *f, const struct offload_pkt *p, const struct tcp_layout *l)
{
	const uint8_t *a = f->head->data, *b = p->data;
	const uint8_t *ta = a + l->iphl, *tb = b + l->iphl;

	if (l->v6 != f->l.v6 || l->thl != f->l.thl)
		return false;
	if (l->v6) {
		if (memcmp(a, b, 4) || a[7] != b[7] || memcmp(a + 8, b + 8, 32))
			return false;
	} else if (a[1] != b[1] || a[6] != b[6] || a[8] != b[8] || memcmp(a + 12, b + 12, 8)) {
		return false;
	}
	/* ports, ack, data offset, window and options; flags may differ only in PSH */
	return !memcmp(ta, tb, 4) && !memcmp(ta + 8, tb + 8, 4) && ta[12] == tb[12] &&
	       !memcmp(ta + 14, tb + 14, 2) && !memcmp(ta + 20, tb + 20, l->thl - 20);
}

static bool can_append(const struct flow *f, const struct offload_pkt *p, const struct tcp_layout *l)
{
	const uint8_t *b = p->data;
	bool df = !l->v6 && (b[6] & 0x40);

	if (f->closed || l->payload > f->gso_size || f->segs >= OFFLOAD_MAX_PIECES ||
	    get_be32(b + l->iphl + 4) != f->next_seq || f->total + l->payload > OFFLOAD_MAX_PACKET)
		return false;
	/* Without DF the IPv4 IDs must run on, as the kernel would have numbered them. */
	return l->v6 || df || get_be16(b + 4) == f->next_id;
}

/* pkts[i] becomes the flow's next piece: its payload, where it lies, chained from the last. */
static void append(struct flow *f, struct offload_pkt *pkts, unsigned int i,
		   const struct tcp_layout *l)
{
	struct offload_pkt *p = &pkts[i];

	if (p->data[l->iphl + 13] & TCP_PSH)
		f->psh = true;
	p->data += l->hdr;
	p->len = l->payload;
	p->merged = true;
	f->tail->next = i;
	f->tail = p;
	f->total += l->payload;
	f->next_seq += (uint32_t)l->payload;
	f->next_id++;
	f->segs++;
	if (f->psh || l->payload < f->gso_size)
		f->closed = true;
}

static void start_flow(struct flow *f, struct offload_pkt *p, const struct tcp_layout *l)
{
	f->head = f->tail = p;
	f->total = p->len;
	f->l = *l;
	f->next_seq = get_be32(p->data + l->iphl + 4) + (uint32_t)l->payload;
	f->next_id = (uint16_t)(get_be16(p->data + 4) + 1);
	f->gso_size = l->payload;
	f->segs = 1;
	f->psh = p->data[l->iphl + 13] & TCP_PSH;
	f->closed = f->psh;
}

/* The merged packet's headers, and the virtio header asking the kernel for segmentation and
 * the checksum: the TCP checksum field holds the pseudo-header sum, as CHECKSUM_PARTIAL wants. */
static void finish_flow(struct flow *f)
{
	struct offload_pkt *h = f->head;
	const struct tcp_layout *l = &f->l;
	uint8_t *th = h->data + l->iphl;
	size_t l4 = f->total - l->iphl;

	if (f->segs < 2)
		return;
	h->total = f->total;
	if (l->v6) {
		put_be16(h->data + 4, (uint16_t)(f->total - 40));
	} else {
		put_be16(h->data + 2, (uint16_t)f->total);
		ip4_checksum(h->data, l->iphl);
	}
	if (f->psh)
		th[13] |= TCP_PSH;
	store_csum(th + TCP_CSUM_OFFSET, (uint16_t)~csum_fold(pseudo_sum(h->data, l->v6, l4)));
	h->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->hdr.gso_type = l->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	h->hdr.hdr_len = (uint16_t)l->hdr;
	h->hdr.gso_size = (uint16_t)f->gso_size;
	h->hdr.csum_start = (uint16_t)l->iphl;
	h->hdr.csum_offset = TCP_CSUM_OFFSET;
}

static struct flow *find_flow(struct flow *flows, unsigned int n, const struct offload_pkt *p,
			      const struct tcp_layout *l)
{
	for (unsigned int i = 0; i < n; i++) {
		if (same_flow(&flows[i], p, l))
			return &flows[i];
	}
	return NULL;
}

unsigned int offload_coalesce(struct offload_pkt *pkts, unsigned int n)
{
	struct flow flows[OFFLOAD_MAX_FLOWS];
	unsigned int nflows = 0, left = n, oldest = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct offload_pkt *p = &pkts[i];
		struct tcp_layout l;
		struct flow *f;

		memset(&p->hdr, 0, sizeof(p->hdr));
		p->hdr.flags = VIRTIO_NET_HDR_F_DATA_VALID;
		p->merged = false;
		p->next = 0;
		p->total = p->len;
		if (!eligible(p, &l))
			continue;
		f = find_flow(flows, nflows, p, &l);
		if (f && can_append(f, p, &l)) {
			append(f, pkts, i, &l);
			left--;
			continue;
		}
		if (f) { /* the flow goes on from this packet */
			finish_flow(f);
		} else if (nflows < OFFLOAD_MAX_FLOWS) {
			f = &flows[nflows++];
		} else {
			f = &flows[oldest];
			oldest = (oldest + 1) % OFFLOAD_MAX_FLOWS;
			finish_flow(f);
		}
		start_flow(f, p, &l);
	}
	for (unsigned int i = 0; i < nflows; i++)
		finish_flow(&flows[i]);
	return left;
}

unsigned int offload_pieces(const struct offload_pkt *pkts, unsigned int i, struct iovec *iov)
{
	unsigned int k = 0;

	do {
		iov[k++] = (struct iovec){ pkts[i].data, pkts[i].len };
		i = pkts[i].next;
	} while (i && k < OFFLOAD_MAX_PIECES);
	return k;
}
