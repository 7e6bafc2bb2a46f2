/* Which event moves which timer follows the Linux driver's timers.c (the reference WireGuard
 * implementation), so that a porthole peer paces handshakes and keepalives exactly as a kernel
 * peer would:
 *   retransmit_handshake  REKEY_TIMEOUT + jitter after each initiation, until completion;
 *   send_keepalive        KEEPALIVE_TIMEOUT after data arrives, unless we send anything first;
 *   new_handshake         KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter after data goes out,
 *                         unless anything authenticated comes back first;
 *   zero_key_material     3 * REJECT_AFTER_TIME after the last session was derived;
 *   persistent_keepalive  the configured interval after the last authenticated packet. */
#include "messages.h"
#include "timers.h"

/* Re-arming a pending timer pushes it back, as mod_timer() does; only the explicit
 * "if not already armed" cases below keep the earlier deadline. */
static void arm(struct timers *t, uint64_t *deadline, uint64_t at)
{
	if (!t->stopped)
		*deadline = at ? at : 1; /* 0 means disarmed; a clock this young is only in tests */
}

static uint64_t next_random(struct timers *t)
{
	/* splitmix64: any decent mixing will do, this only spreads retries apart */
	uint64_t z = (t->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Up to a third of a second, so that peers that lost contact together do not retry in step. */
static uint64_t jitter(struct timers *t)
{
	return next_random(t) % (REKEY_TIMEOUT_JITTER_MAX_MS * NSEC_PER_MSEC);
}

static uint64_t secs(uint64_t s)
{
	return s * NSEC_PER_SEC;
}

void timers_init(struct timers *t, uint64_t seed)
{
	*t = (struct timers){.rng = seed};
}

void timers_stop(struct timers *t)
{
	t->retransmit_handshake = 0;
	t->send_keepalive = 0;
	t->new_handshake = 0;
	t->zero_key_material = 0;
	t->persistent_keepalive = 0;
	t->stopped = true;
}

void timers_start(struct timers *t)
{
	t->stopped = false;
}

bool timers_set_persistent_keepalive(struct timers *t, uint16_t interval)
{
	bool switched_on = !t->persistent_keepalive_interval && interval;

	t->persistent_keepalive_interval = interval;
	if (!interval)
		t->persistent_keepalive = 0;
	return switched_on && !t->stopped;
}

void timers_data_sent(struct timers *t, uint64_t now)
{
	if (!t->new_handshake)
		arm(t, &t->new_handshake,
		    now + secs(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) + jitter(t));
}

void timers_data_received(struct timers *t, uint64_t now)
{
	if (!t->send_keepalive)
		arm(t, &t->send_keepalive, now + secs(KEEPALIVE_TIMEOUT));
	else
		t->need_another_keepalive = true;
}

/* Anything we send proves liveness to the peer, so a passive keepalive is moot. */
void timers_any_authenticated_packet_sent(struct timers *t, uint64_t now)
{
	t->send_keepalive = 0;
}

/* Anything the peer sends proves the session works, so no new handshake is needed. */
void timers_any_authenticated_packet_received(struct timers *t, uint64_t now)
{
	t->new_handshake = 0;
}

void timers_any_authenticated_packet_traversal(struct timers *t, uint64_t now)
{
	if (t->persistent_keepalive_interval)
		arm(t, &t->persistent_keepalive, now + secs(t->persistent_keepalive_interval));
}

void timers_handshake_initiated(struct timers *t, uint64_t now)
{
	arm(t, &t->retransmit_handshake, now + secs(REKEY_TIMEOUT) + jitter(t));
}

void timers_handshake_requested(struct timers *t)
{
	t->handshake_attempts = 0;
}

void timers_handshake_complete(struct timers *t, uint64_t now)
{
	t->retransmit_handshake = 0;
	t->handshake_attempts = 0;
}

void timers_session_derived(struct timers *t, uint64_t now)
{
	arm(t, &t->zero_key_material, now + secs(3 * REJECT_AFTER_TIME));
}

/* The first initiation plus MAX_TIMER_HANDSHAKES + 1 retries, i.e. REKEY_ATTEMPT_TIME of
 * retrying, then give up and let the keys be wiped in due course. */
static unsigned retransmit_expired(struct timers *t, uint64_t now)
{
	if (t->handshake_attempts > MAX_TIMER_HANDSHAKES) {
		t->send_keepalive = 0;
		if (!t->zero_key_material)
			arm(t, &t->zero_key_material, now + secs(3 * REJECT_AFTER_TIME));
		return TIMER_GIVE_UP;
	}
	t->handshake_attempts++;
	return TIMER_SEND_INITIATION | TIMER_CLEAR_ENDPOINT_SOURCE;
}

static unsigned keepalive_expired(struct timers *t, uint64_t now)
{
	if (t->need_another_keepalive) {
		t->need_another_keepalive = false;
		arm(t, &t->send_keepalive, now + secs(KEEPALIVE_TIMEOUT));
	}
	return TIMER_SEND_KEEPALIVE;
}

/* A fresh handshake, not a retry: it gets the full number of attempts. */
static unsigned new_handshake_expired(struct timers *t, uint64_t now)
{
	t->handshake_attempts = 0;
	return TIMER_SEND_INITIATION | TIMER_CLEAR_ENDPOINT_SOURCE;
}

static unsigned zero_keys_expired(struct timers *t, uint64_t now)
{
	return TIMER_ZERO_KEYS;
}

static unsigned persistent_expired(struct timers *t, uint64_t now)
{
	return t->persistent_keepalive_interval ? TIMER_SEND_PERSISTENT_KEEPALIVE : 0;
}

/* In this order, so that giving up cancels a passive keepalive due at the same instant. */
static const struct {
	size_t offset;
	unsigned (*fire)(struct timers *t, uint64_t now);
} deadlines[] = {
    {offsetof(struct timers, retransmit_handshake), retransmit_expired},
    {offsetof(struct timers, send_keepalive), keepalive_expired},
    {offsetof(struct timers, new_handshake), new_handshake_expired},
    {offsetof(struct timers, zero_key_material), zero_keys_expired},
    {offsetof(struct timers, persistent_keepalive), persistent_expired},
};

static uint64_t *deadline_at(struct timers *t, size_t i)
{
	return (uint64_t *)((char *)t + deadlines[i].offset);
}

unsigned int timers_expire(struct timers *t, uint64_t now)
{
	unsigned actions = 0;

	for (size_t i = 0; i < ARRAY_SIZE(deadlines); i++) {
		uint64_t *d = deadline_at(t, i);

		if (*d && *d <= now) {
			*d = 0;
			actions |= deadlines[i].fire(t, now);
		}
	}
	return actions;
}

uint64_t timers_next_deadline(const struct timers *t)
{
	const uint64_t d[] = {t->retransmit_handshake, t->send_keepalive, t->new_handshake,
			      t->zero_key_material, t->persistent_keepalive};
	uint64_t next = 0;

	for (size_t i = 0; i < ARRAY_SIZE(d); i++)
		if (d[i] && (!next || d[i] < next))
			next = d[i];
	return next;
}
