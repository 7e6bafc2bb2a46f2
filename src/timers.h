/* The per-peer timers of the WireGuard paper, section 6, as a pure state machine: each timer is
 * a deadline in monotonic nanoseconds (0 = not armed), moved by event hooks that the engine calls
 * when something happens, and fired by timers_expire(), which returns what the engine must now
 * do. Nothing else touches a deadline. The engine sleeps until timers_next_deadline().
 *
 * The engine keeps the judgement of whether an action still makes sense (for example whether a
 * handshake is already under way or a keepalive has anything to authenticate with); the timers
 * only say what is due. */
#ifndef PORTHOLE_TIMERS_H
#define PORTHOLE_TIMERS_H

#include <stdbool.h>
#include <stdint.h>
#include "compat.h"

enum timer_action {
	/* Send a handshake initiation: a retry if handshake_attempts > 0, else a fresh one because
	 * data went out and nothing came back for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT. */
	TIMER_SEND_INITIATION = 1 << 0,
	/* MAX_TIMER_HANDSHAKES + 2 initiations went unanswered: drop the packets staged for want
	 * of a session. Retries stop; zeroing the keys is already scheduled. */
	TIMER_GIVE_UP = 1 << 1,
	/* Forget the cached local source address, so routing picks one afresh. */
	TIMER_CLEAR_ENDPOINT_SOURCE = 1 << 2,
	/* Data arrived KEEPALIVE_TIMEOUT ago and nothing was sent since: send an empty packet. */
	TIMER_SEND_KEEPALIVE = 1 << 3,
	/* persistent_keepalive_interval passed with no authenticated packet either way. */
	TIMER_SEND_PERSISTENT_KEEPALIVE = 1 << 4,
	/* No session was derived for 3 * REJECT_AFTER_TIME: wipe the handshake and all keypairs. */
	TIMER_ZERO_KEYS = 1 << 5,
};

struct timers {
	/* Deadlines, CLOCK_MONOTONIC ns; 0 = not armed. */
	uint64_t retransmit_handshake;
	uint64_t send_keepalive;
	uint64_t new_handshake;
	uint64_t zero_key_material;
	uint64_t persistent_keepalive;
	uint64_t rng;				/* jitter source, seeded at init */
	unsigned int handshake_attempts;	/* retries of the current handshake so far */
	uint16_t persistent_keepalive_interval; /* seconds, 0 = off; set it with the setter */
	bool need_another_keepalive;
	bool stopped; /* hooks arm nothing while set */
};

/* seed should differ between peers so that their retries do not fall in step. */
void timers_init(struct timers *t, uint64_t seed);
/* Peer removed or interface down: disarms everything; hooks arm nothing until timers_start(). */
void timers_stop(struct timers *t);
/* Interface up again. */
void timers_start(struct timers *t);
/* Changes the interval; true when the engine should send a keepalive now, because persistent
 * keepalives were just switched on. */
bool timers_set_persistent_keepalive(struct timers *t, uint16_t interval) WARN_UNUSED;

/* After an authenticated data packet (not a keepalive) is sent. */
void timers_data_sent(struct timers *t, uint64_t now);
/* After an authenticated data packet (not a keepalive) is received. */
void timers_data_received(struct timers *t, uint64_t now);
/* After any authenticated packet is sent: data, keepalive or handshake message. */
void timers_any_authenticated_packet_sent(struct timers *t, uint64_t now);
/* After any authenticated packet is received: data, keepalive or handshake message. */
void timers_any_authenticated_packet_received(struct timers *t, uint64_t now);
/* Before any authenticated packet is sent, and after one is received. */
void timers_any_authenticated_packet_traversal(struct timers *t, uint64_t now);
/* After a handshake initiation is sent, first try or retry. */
void timers_handshake_initiated(struct timers *t, uint64_t now);
/* When the engine itself starts a new handshake (no usable session for queued data, a rekey),
 * as opposed to answering TIMER_SEND_INITIATION: the retry count starts again. */
void timers_handshake_requested(struct timers *t);
/* After a handshake response is received and processed, or when the responder gets key
 * confirmation from the first data message. */
void timers_handshake_complete(struct timers *t, uint64_t now);
/* After a new session's keys are derived: before sending a response, after receiving one. */
void timers_session_derived(struct timers *t, uint64_t now);

/* Fires every deadline <= now and returns the timer_action bits due; call when the deadline
 * from timers_next_deadline() is reached (calling early or twice is harmless). */
unsigned int timers_expire(struct timers *t, uint64_t now) WARN_UNUSED;
/* The earliest armed deadline, or 0 when nothing is armed. */
uint64_t timers_next_deadline(const struct timers *t);

#endif
