/* The send path: IP packets from the TUN to sealed datagrams, handshake initiations and
 * responses, keepalives, and the packets staged while a session is being made. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "device.h"

static void send_buffer(struct wg_peer *peer, const void *buf, size_t len)
{
	struct wg_device *dev = peer->device;

	if (!peer->has_endpoint) {
		peer_drop(peer, DROP_NO_ENDPOINT);
		return;
	}
	dev->ops.send(dev->ops.ctx, peer, &peer->endpoint, buf, len);
	peer->tx_bytes += len;
	peer->tx_packets++;
}

void wg_send_handshake_initiation(struct wg_peer *peer, uint64_t now, bool is_retry)
{
	struct wg_device *dev = peer->device;
	struct message_handshake_initiation msg;

	if (!is_retry)
		timers_handshake_requested(&peer->timers);
	/* One initiation per REKEY_TIMEOUT, whoever asks. */
	if (!dev->up || (peer->sent_handshake &&
			 now - peer->last_sent_handshake < REKEY_TIMEOUT * NSEC_PER_SEC))
		return;
	peer->last_sent_handshake = now;
	peer->sent_handshake = true;
	if (!noise_handshake_create_initiation(&msg, &peer->handshake, &dev->index,
					       dev->ops.wall_now(dev->ops.ctx)))
		return;
	cookie_add_mac_to_packet(&msg, sizeof(msg), &peer->cookie, now);
	timers_any_authenticated_packet_traversal(&peer->timers, now);
	timers_any_authenticated_packet_sent(&peer->timers, now);
	send_buffer(peer, &msg, sizeof(msg));
	timers_handshake_initiated(&peer->timers, now);
	peer_timers_changed(peer);
	crypto_wipe(&msg, sizeof(msg));
}

/* Answers the initiation just consumed and starts the session as responder. */
void wg_send_handshake_response(struct wg_peer *peer, uint64_t now)
{
	struct wg_device *dev = peer->device;
	struct message_handshake_response msg;

	if (!noise_handshake_create_response(&msg, &peer->handshake, &dev->index))
		return;
	cookie_add_mac_to_packet(&msg, sizeof(msg), &peer->cookie, now);
	if (!noise_handshake_begin_session(&peer->handshake, &peer->keypairs, &dev->index, now))
		return;
	timers_session_derived(&peer->timers, now);
	timers_any_authenticated_packet_traversal(&peer->timers, now);
	timers_any_authenticated_packet_sent(&peer->timers, now);
	peer->last_sent_handshake = now;
	peer->sent_handshake = true;
	send_buffer(peer, &msg, sizeof(msg));
	peer_timers_changed(peer);
}

/* Copies a packet into the peer's staging queue; the oldest goes when it is full. */
static void stage(struct wg_peer *peer, const uint8_t *data, size_t len)
{
	struct wg_staged *s;
	uint8_t *buf = malloc(WG_HEADROOM + len + WG_TAILROOM);

	if (!buf) {
		peer_drop(peer, DROP_QUEUE_FULL);
		return;
	}
	if (peer->staged_count == MAX_STAGED_PACKETS) {
		free(peer->staged[peer->staged_head].buf);
		peer->staged_head = (peer->staged_head + 1) % MAX_STAGED_PACKETS;
		peer->staged_count--;
		peer_drop(peer, DROP_QUEUE_FULL);
	}
	if (len)
		memcpy(buf + WG_HEADROOM, data, len);
	s = &peer->staged[(peer->staged_head + peer->staged_count) % MAX_STAGED_PACKETS];
	s->buf = buf;
	s->len = len;
	peer->staged_count++;
}

/* After a packet of len plaintext bytes was sealed for the peer. */
static void note_sent(struct wg_peer *peer, size_t len, uint64_t now)
{
	timers_any_authenticated_packet_traversal(&peer->timers, now);
	timers_any_authenticated_packet_sent(&peer->timers, now);
	if (len)
		timers_data_sent(&peer->timers, now);
}

/* Paper, section 6.2: the initiator of a session rekeys after REKEY_AFTER_TIME or
 * REKEY_AFTER_MESSAGES. */
static void keep_key_fresh(struct wg_peer *peer, struct noise_keypair *kp, uint64_t now)
{
	if (kp && noise_keypair_should_rekey_on_send(kp, now))
		wg_send_handshake_initiation(peer, now, false);
}

void wg_send_staged(struct wg_peer *peer, uint64_t now)
{
	struct wg_device *dev = peer->device;
	struct noise_keypair *kp;
	uint64_t counter;

	if (!peer->staged_count || !dev->up)
		return;
	kp = noise_keypairs_current(&peer->keypairs);
	while (peer->staged_count) {
		struct wg_staged *s = &peer->staged[peer->staged_head];
		size_t n;

		if (!kp || !noise_keypair_next_counter(kp, now, &counter)) {
			wg_send_handshake_initiation(peer, now, false);
			break;
		}
		n = noise_data_seal(s->buf, s->buf + WG_HEADROOM, s->len, kp, counter, dev->mtu);
		send_buffer(peer, s->buf, n);
		note_sent(peer, s->len, now);
		free(s->buf);
		s->buf = NULL;
		peer->staged_head = (peer->staged_head + 1) % MAX_STAGED_PACKETS;
		peer->staged_count--;
	}
	keep_key_fresh(peer, kp, now);
	noise_keypair_put(kp);
	peer_timers_changed(peer);
}

void wg_send_keepalive(struct wg_peer *peer, uint64_t now)
{
	/* Anything already staged authenticates us just as well. */
	if (!peer->staged_count)
		stage(peer, NULL, 0);
	wg_send_staged(peer, now);
}

/* The peer whose allowed IPs hold the packet's destination. */
static struct wg_peer *route(struct wg_device *dev, const uint8_t *p, size_t len)
{
	struct wg_peer *peer;

	if (len >= 20 && p[0] >> 4 == 4)
		peer = allowedips_lookup(&dev->allowedips, AF_INET, p + 16);
	else if (len >= 40 && p[0] >> 4 == 6)
		peer = allowedips_lookup(&dev->allowedips, AF_INET6, p + 24);
	else {
		dev->drops[DROP_BAD_PACKET]++;
		return NULL;
	}
	if (!peer)
		dev->drops[DROP_NO_ROUTE]++;
	return peer;
}

/* The batch's running state: consecutive packets to one peer share a keypair reference, so the
 * data path takes no lock per packet. */
struct send_run {
	struct wg_peer *peer;
	struct noise_keypair *kp;
};

static void run_end(struct send_run *run, uint64_t now)
{
	if (!run->peer)
		return;
	keep_key_fresh(run->peer, run->kp, now);
	noise_keypair_put(run->kp);
	peer_timers_changed(run->peer);
	run->peer = NULL;
	run->kp = NULL;
}

/* Header and padding now, the encryption with the rest of the batch. */
static bool seal(struct send_run *run, struct wg_tx *pkt, uint64_t now)
{
	struct wg_peer *peer = run->peer;
	struct wg_device *dev = peer->device;
	uint64_t counter;

	if (peer->staged_count || !run->kp || !noise_keypair_next_counter(run->kp, now, &counter))
		return false;
	pkt->out = pkt->data - WG_HEADROOM;
	pkt->out_len = noise_data_seal_prepare(pkt->out, pkt->data, pkt->len, run->kp, counter,
					       dev->mtu, &pkt->aead);
	pkt->aead.room = pkt->room;
	dev->aead[dev->naead++] = &pkt->aead;
	if (dev->naead == WG_AEAD_BATCH)
		wg_device_crypt(dev);
	peer->tx_bytes += pkt->out_len;
	peer->tx_packets++;
	note_sent(peer, pkt->len, now);
	return true;
}

void wg_device_send_batch(struct wg_device *dev, struct wg_tx *pkts, unsigned int n, uint64_t now)
{
	struct send_run run = { 0 };

	for (unsigned int i = 0; i < n; i++) {
		struct wg_tx *pkt = &pkts[i];
		struct wg_peer *peer;

		pkt->out_len = 0;
		pkt->peer = peer = route(dev, pkt->data, pkt->len);
		if (!peer)
			continue;
		if (!peer->has_endpoint) {
			peer_drop(peer, DROP_NO_ENDPOINT);
			continue;
		}
		if (peer != run.peer) {
			run_end(&run, now);
			run.peer = peer;
			run.kp = noise_keypairs_current(&peer->keypairs);
		}
		if (!dev->up) {
			peer_drop(peer, DROP_DOWN);
			continue;
		}
		if (!seal(&run, pkt, now)) {
			/* No usable session: keep the packet (and order) until one exists. */
			stage(peer, pkt->data, pkt->len);
			wg_send_staged(peer, now);
		}
	}
	run_end(&run, now);
	wg_device_crypt(dev);
}
