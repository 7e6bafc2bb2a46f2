/* The receive path: datagrams from the UDP sockets to IP packets for the TUN, with handshake
 * messages queued for wg_device_process_handshakes() so that a flood of them never holds up
 * data (cheap checks first: size and type, then mac1, then the queue bound; Diffie-Hellman only
 * in the worker, with cookies demanded under load). */
#include <endian.h>
#include <string.h>
#include <sys/socket.h>
#include "device.h"

/* The length of the IP packet at the start of a decrypted payload (padding follows it), or 0
 * when it is not a well-formed IPv4 or IPv6 header. */
static size_t inner_len(const uint8_t *p, size_t len)
{
	size_t total;

	if (len >= 20 && p[0] >> 4 == 4) {
		total = (size_t)p[2] << 8 | p[3];
		if ((p[0] & 0x0f) < 5 || total < (size_t)(p[0] & 0x0f) * 4 || total > len)
			return 0;
		return total;
	}
	if (len >= 40 && p[0] >> 4 == 6) {
		total = 40 + ((size_t)p[4] << 8 | p[5]);
		return total > len ? 0 : total;
	}
	return 0;
}

/* The peer whose allowed IPs hold the packet's source address. */
static struct wg_peer *source_peer(struct wg_device *dev, const uint8_t *p)
{
	if (p[0] >> 4 == 4)
		return allowedips_lookup(&dev->allowedips, AF_INET, p + 12);
	return allowedips_lookup(&dev->allowedips, AF_INET6, p + 8);
}

static void handshake_complete(struct wg_peer *peer, uint64_t now)
{
	struct wg_device *dev = peer->device;

	timers_handshake_complete(&peer->timers, now);
	peer->last_handshake_wall = dev->ops.wall_now(dev->ops.ctx);
	peer->sent_lastminute_handshake = false;
}

/* Paper, section 6.2: an initiator whose session nears REJECT_AFTER_TIME rekeys once, even
 * if it has nothing to send. The age is the current keypair's, whichever one the packet came
 * on: a late packet of the previous session must not start a handshake (as in the kernel). */
static void keep_key_fresh(struct wg_peer *peer, uint64_t now)
{
	struct noise_keypair *kp;

	if (peer->sent_lastminute_handshake)
		return;
	kp = noise_keypairs_current(&peer->keypairs);
	if (noise_keypair_should_rekey_on_receive(kp, now)) {
		peer->sent_lastminute_handshake = true;
		wg_send_handshake_initiation(peer, now, false);
	}
	noise_keypair_put(kp);
}

/* The checks before decryption; the packet then waits for the batch's ops->crypt, holding its
 * keypair. */
static void receive_data(struct wg_device *dev, struct wg_rx *pkt, uint64_t now)
{
	enum drop_reason reason;
	struct noise_keypair *kp;
	uint32_t key_idx;

	/* A datagram split out of a GRO batch starts at any byte: no struct access through it. */
	memcpy(&key_idx, pkt->data + offsetof(struct message_data, key_idx), sizeof(key_idx));
	kp = noise_keypair_lookup(&dev->index, key_idx);
	if (!kp) {
		dev->drops[DROP_UNKNOWN_INDEX]++;
		return;
	}
	if (!noise_data_open_prepare(pkt->data, pkt->len, kp, now, &pkt->aead, &reason)) {
		peer_drop(kp->owner, reason);
		noise_keypair_put(kp);
		return;
	}
	if (pkt->slot && pkt->len - MESSAGE_MINIMUM_LENGTH <= WG_RX_SLOT_MAX)
		pkt->aead.out = pkt->slot;
	pkt->kp = kp;
	dev->aead[dev->naead++] = &pkt->aead;
	dev->opened[dev->nopened++] = pkt;
}

/* After decryption, in the batch's order: authentic and fresh (the replay window is per
 * keypair, so this part runs in order), then roaming, session confirmation and the source. */
static void finish_data(struct wg_device *dev, struct wg_rx *pkt, uint64_t now)
{
	uint8_t *payload = pkt->aead.out ? pkt->aead.out : pkt->data + sizeof(struct message_data);
	size_t plen = pkt->len - sizeof(struct message_data) - NOISE_AUTHTAG_LEN, len;
	struct noise_keypair *kp = pkt->kp;
	struct wg_peer *peer = kp->owner;

	if (!pkt->aead.ok) { /* the primitive wiped what a forged tag decrypted to */
		peer_drop(peer, DROP_DECRYPT);
		goto out;
	}
	if (!replay_check(&kp->receiving_replay, pkt->aead.counter, REJECT_AFTER_MESSAGES)) {
		peer_drop(peer, DROP_REPLAY);
		goto out;
	}
	peer_set_endpoint(peer, &pkt->src);
	peer->rx_bytes += pkt->len;
	peer->rx_packets++;
	if (noise_received_with_keypair(&peer->keypairs, kp, &dev->index)) {
		handshake_complete(peer, now);
		wg_send_staged(peer, now);
	}
	keep_key_fresh(peer, now);
	timers_any_authenticated_packet_received(&peer->timers, now);
	timers_any_authenticated_packet_traversal(&peer->timers, now);
	if (!plen) /* keepalive */
		goto timers;
	timers_data_received(&peer->timers, now);
	len = inner_len(payload, plen);
	if (!len) {
		peer_drop(peer, DROP_BAD_PACKET);
		goto timers;
	}
	if (source_peer(dev, payload) != peer) {
		peer_drop(peer, DROP_ALLOWED_IPS);
		goto timers;
	}
	pkt->out = payload;
	pkt->out_len = len;
timers:
	peer_timers_changed(peer);
out:
	noise_keypair_put(kp);
	pkt->kp = NULL;
}

/* Decrypts what the batch has queued, then finishes each packet in order. */
static void flush_data(struct wg_device *dev, uint64_t now)
{
	wg_device_crypt(dev);
	for (unsigned int i = 0; i < dev->nopened; i++)
		finish_data(dev, dev->opened[i], now);
	dev->nopened = 0;
}

static void receive_cookie(struct wg_device *dev, struct wg_rx *pkt, uint64_t now)
{
	struct message_handshake_cookie msg;
	struct index_entry *e;
	enum drop_reason reason;

	/* Copied, as the datagram may be unaligned (see receive_data()); the size is checked. */
	memcpy(&msg, pkt->data, sizeof(msg));
	e = index_lookup(&dev->index, msg.receiver_index, INDEX_HANDSHAKE | INDEX_KEYPAIR);
	if (!e) {
		dev->drops[DROP_UNKNOWN_INDEX]++;
		return;
	}
	if (!cookie_message_consume(&msg, &((struct wg_peer *)e->owner)->cookie, now, &reason))
		peer_drop(e->owner, reason);
}

/* mac1 proves the sender knows our public key; only such messages may take queue room. */
static void queue_handshake(struct wg_device *dev, struct wg_rx *pkt, uint64_t now)
{
	struct wg_handshake_job *job;

	if (cookie_validate_packet(&dev->cookie_checker, pkt->data, pkt->len, &pkt->src.addr.sa,
				   false, now) == INVALID_MAC) {
		dev->drops[DROP_MAC1]++;
		return;
	}
	if (dev->jobs_count == MAX_QUEUED_INCOMING_HANDSHAKES) {
		dev->drops[DROP_QUEUE_FULL]++;
		return;
	}
	job = &dev->jobs[(dev->jobs_head + dev->jobs_count) % MAX_QUEUED_INCOMING_HANDSHAKES];
	memcpy(job->msg, pkt->data, pkt->len);
	job->len = (uint32_t)pkt->len;
	job->src = pkt->src;
	dev->jobs_count++;
}

void wg_device_receive_batch(struct wg_device *dev, struct wg_rx *pkts, unsigned int n,
			     uint64_t now)
{
	for (unsigned int i = 0; i < n; i++) {
		struct wg_rx *pkt = &pkts[i];
		enum drop_reason reason = DROP_NONE;

		pkt->out_len = 0;
		switch (noise_message_type(pkt->data, pkt->len, &reason)) {
		case MESSAGE_DATA:
			receive_data(dev, pkt, now);
			if (dev->nopened == WG_AEAD_BATCH)
				flush_data(dev, now);
			break;
		case MESSAGE_HANDSHAKE_INITIATION:
		case MESSAGE_HANDSHAKE_RESPONSE:
			queue_handshake(dev, pkt, now);
			break;
		case MESSAGE_HANDSHAKE_COOKIE:
			receive_cookie(dev, pkt, now);
			break;
		default:
			dev->drops[reason]++;
		}
	}
	flush_data(dev, now);
}

/* Under load (the queue an eighth full, or so within the last second) initiators must prove
 * their address with a cookie before we spend Diffie-Hellman on them. */
static bool under_load(struct wg_device *dev, uint64_t now)
{
	if (dev->jobs_count >= MAX_QUEUED_INCOMING_HANDSHAKES / 8) {
		dev->last_under_load = now;
		dev->was_under_load = true;
		return true;
	}
	return dev->was_under_load && now - dev->last_under_load < NSEC_PER_SEC;
}

static void send_cookie(struct wg_device *dev, struct wg_handshake_job *job, uint64_t now)
{
	const struct message_handshake_initiation *msg = (const void *)job->msg;
	struct message_handshake_cookie reply;

	/* Initiation and response both carry the sender index right after the type. */
	if (cookie_message_create(&reply, job->msg, job->len, msg->sender_index, &job->src.addr.sa,
				  &dev->cookie_checker, now) < 0)
		return;
	dev->ops.send(dev->ops.ctx, NULL, &job->src, (const uint8_t *)&reply, sizeof(reply));
}

static struct wg_peer *consume_initiation(struct wg_device *dev, struct wg_handshake_job *job,
					  uint64_t now)
{
	enum drop_reason reason = DROP_NONE;
	struct noise_handshake *hs;
	struct wg_peer *peer;

	hs = noise_handshake_consume_initiation((const void *)job->msg, &dev->identity,
						&dev->lookup, now, &reason);
	if (!hs) {
		dev->drops[reason]++;
		return NULL;
	}
	peer = hs->owner;
	peer_set_endpoint(peer, &job->src);
	wg_send_handshake_response(peer, now);
	return peer;
}

static struct wg_peer *consume_response(struct wg_device *dev, struct wg_handshake_job *job,
					uint64_t now)
{
	enum drop_reason reason = DROP_NONE;
	struct noise_handshake *hs;
	struct wg_peer *peer;

	hs = noise_handshake_consume_response((const void *)job->msg, &dev->identity, &dev->index,
					      &reason);
	if (!hs) {
		dev->drops[reason]++;
		return NULL;
	}
	peer = hs->owner;
	if (!noise_handshake_begin_session(hs, &peer->keypairs, &dev->index, now)) {
		peer_drop(peer, DROP_STATE);
		return NULL;
	}
	peer_set_endpoint(peer, &job->src);
	timers_session_derived(&peer->timers, now);
	handshake_complete(peer, now);
	/* Key confirmation for the responder: staged data, or else a keepalive. */
	wg_send_keepalive(peer, now);
	return peer;
}

static void process_one(struct wg_device *dev, struct wg_handshake_job *job, uint64_t now)
{
	bool load = under_load(dev, now);
	enum cookie_mac_state mac;
	struct wg_peer *peer;

	mac = cookie_validate_packet(&dev->cookie_checker, job->msg, job->len, &job->src.addr.sa,
				     load, now);
	if (mac == INVALID_MAC) {
		dev->drops[DROP_MAC1]++;
		return;
	}
	if (load && mac != VALID_MAC_WITH_COOKIE) {
		send_cookie(dev, job, now);
		dev->drops[DROP_COOKIE]++;
		return;
	}
	/* A valid mac2 proves the address; each address still gets only its share. */
	if (load && !ratelimiter_allow(&dev->ratelimiter, &job->src.addr.sa, now)) {
		dev->drops[DROP_RATELIMIT]++;
		return;
	}
	if (job->len == sizeof(struct message_handshake_initiation))
		peer = consume_initiation(dev, job, now);
	else
		peer = consume_response(dev, job, now);
	if (!peer)
		return;
	peer->rx_bytes += job->len;
	peer->rx_packets++;
	timers_any_authenticated_packet_received(&peer->timers, now);
	timers_any_authenticated_packet_traversal(&peer->timers, now);
	peer_timers_changed(peer);
}

unsigned int wg_device_process_handshakes(struct wg_device *dev, uint64_t now)
{
	for (unsigned int i = 0; i < WG_HANDSHAKE_BUDGET && dev->jobs_count; i++) {
		struct wg_handshake_job *job = &dev->jobs[dev->jobs_head];

		process_one(dev, job, now);
		crypto_wipe(job, sizeof(*job));
		dev->jobs_head = (dev->jobs_head + 1) % MAX_QUEUED_INCOMING_HANDSHAKES;
		dev->jobs_count--;
	}
	return dev->jobs_count;
}
