/* The timer state machine driven by a fake clock and a fake engine that reacts to each action
 * the way the real one must (sending a packet runs the send hooks, and so on). */
#include "check.h"
#include "messages.h"
#include "timers.h"

#define S(x) ((uint64_t)((x) * (double)NSEC_PER_SEC))
#define T0   S(1000) /* an arbitrary start: the monotonic clock is rarely young */
#define JMAX ((uint64_t)REKEY_TIMEOUT_JITTER_MAX_MS * NSEC_PER_MSEC)

/* What the engine does around each kind of packet. */
static void send_initiation(struct timers *t, uint64_t now)
{
	timers_any_authenticated_packet_traversal(t, now);
	timers_any_authenticated_packet_sent(t, now);
	timers_handshake_initiated(t, now);
}

static void send_keepalive(struct timers *t, uint64_t now)
{
	timers_any_authenticated_packet_traversal(t, now);
	timers_any_authenticated_packet_sent(t, now);
}

static void send_data(struct timers *t, uint64_t now)
{
	send_keepalive(t, now);
	timers_data_sent(t, now);
}

static void receive_keepalive(struct timers *t, uint64_t now)
{
	timers_any_authenticated_packet_traversal(t, now);
	timers_any_authenticated_packet_received(t, now);
}

static void receive_data(struct timers *t, uint64_t now)
{
	receive_keepalive(t, now);
	timers_data_received(t, now);
}

static void engine_act(struct timers *t, unsigned actions, uint64_t now)
{
	if (actions & TIMER_SEND_INITIATION)
		send_initiation(t, now);
	if (actions & (TIMER_SEND_KEEPALIVE | TIMER_SEND_PERSISTENT_KEEPALIVE))
		send_keepalive(t, now);
}

/* Advances to the next deadline if it is no later than end: its time, or 0 if none. */
static uint64_t step(struct timers *t, uint64_t end, unsigned *actions)
{
	uint64_t d = timers_next_deadline(t);

	if (!d || d > end)
		return 0;
	*actions = timers_expire(t, d);
	engine_act(t, *actions, d);
	return d;
}

static void test_retransmit_and_give_up(void)
{
	struct timers t;
	uint64_t d, prev = T0, gaps_min = UINT64_MAX, gaps_max = 0;
	unsigned a = 0, retries = 0, gave_up = 0, other = 0;

	timers_init(&t, 1);
	timers_handshake_requested(&t);
	send_initiation(&t, T0);
	d = timers_next_deadline(&t);
	CHECK(d >= T0 + S(REKEY_TIMEOUT) && d < T0 + S(REKEY_TIMEOUT) + JMAX);
	CHECK(timers_expire(&t, d - 1) == 0);

	/* Every retry REKEY_TIMEOUT + jitter after the previous initiation, until giving up. */
	while ((d = step(&t, T0 + S(200), &a))) {
		uint64_t gap = d - prev;

		gaps_min = MIN(gaps_min, gap);
		gaps_max = MAX(gaps_max, gap);
		prev = d;
		if (a == (TIMER_SEND_INITIATION | TIMER_CLEAR_ENDPOINT_SOURCE) && !gave_up) {
			retries++;
			CHECK(t.handshake_attempts == retries);
		} else if (a == TIMER_GIVE_UP && !gave_up) {
			gave_up = 1;
			break;
		} else {
			other++;
		}
	}
	/* 1 + MAX_TIMER_HANDSHAKES + 1 initiations: REKEY_ATTEMPT_TIME of retrying after the first
	 * retry, and the give-up one timeout after the last. */
	CHECK(retries == MAX_TIMER_HANDSHAKES + 1);
	CHECK(gave_up == 1);
	CHECK(other == 0);
	CHECK(gaps_min >= S(REKEY_TIMEOUT) && gaps_max < S(REKEY_TIMEOUT) + JMAX);
	CHECK(gaps_max > gaps_min); /* the jitter really varies */
	CHECK(d >= T0 + (retries + 1) * S(REKEY_TIMEOUT));
	CHECK(d < T0 + (retries + 1) * (S(REKEY_TIMEOUT) + JMAX));

	/* Then silence until the keys are wiped. */
	CHECK(t.retransmit_handshake == 0);
	CHECK(timers_next_deadline(&t) == d + S(3 * REJECT_AFTER_TIME));
	CHECK(timers_expire(&t, d + S(3 * REJECT_AFTER_TIME) - 1) == 0);
	CHECK(timers_expire(&t, d + S(3 * REJECT_AFTER_TIME)) == TIMER_ZERO_KEYS);
	CHECK(timers_next_deadline(&t) == 0);
}

static void test_complete_stops_retries(void)
{
	struct timers t;
	unsigned a = 0;

	timers_init(&t, 2);
	send_initiation(&t, T0);
	CHECK(step(&t, T0 + S(6), &a) != 0);
	CHECK(step(&t, T0 + S(11), &a) != 0);
	CHECK(t.handshake_attempts == 2);
	timers_handshake_complete(&t, T0 + S(12));
	CHECK(t.handshake_attempts == 0);
	CHECK(timers_next_deadline(&t) == 0);
	CHECK(timers_expire(&t, T0 + S(1000)) == 0);

	/* An engine-started handshake restarts the count even mid-retries. */
	send_initiation(&t, T0 + S(20));
	CHECK(step(&t, T0 + S(26), &a) != 0);
	CHECK(t.handshake_attempts == 1);
	timers_handshake_requested(&t);
	CHECK(t.handshake_attempts == 0);
}

/* Giving up cancels a pending passive keepalive (there is no session to send it on) but does
 * not postpone a zeroing that is already scheduled. */
static void test_give_up_effects(void)
{
	struct timers t;
	unsigned a = 0;
	uint64_t d;

	timers_init(&t, 3);
	timers_session_derived(&t, T0);
	send_initiation(&t, T0 + S(1));
	while ((d = step(&t, T0 + S(200), &a)) && a != TIMER_GIVE_UP)
		if (t.handshake_attempts == MAX_TIMER_HANDSHAKES + 1)
			timers_data_received(&t, d);
	CHECK(a == TIMER_GIVE_UP);
	CHECK(t.send_keepalive == 0);
	CHECK(t.zero_key_material == T0 + S(3 * REJECT_AFTER_TIME));
}

static void test_passive_keepalive(void)
{
	struct timers t;

	timers_init(&t, 4);
	receive_data(&t, T0);
	CHECK(timers_next_deadline(&t) == T0 + S(KEEPALIVE_TIMEOUT));
	CHECK(timers_expire(&t, T0 + S(KEEPALIVE_TIMEOUT) - 1) == 0);
	CHECK(timers_expire(&t, T0 + S(KEEPALIVE_TIMEOUT)) == TIMER_SEND_KEEPALIVE);
	CHECK(timers_next_deadline(&t) == 0);

	/* We answered with data in between: no keepalive, only the wait for a reply. */
	timers_init(&t, 4);
	receive_data(&t, T0);
	send_data(&t, T0 + S(3));
	CHECK(t.send_keepalive == 0);
	CHECK(timers_expire(&t, T0 + S(KEEPALIVE_TIMEOUT)) == 0);
	CHECK(timers_next_deadline(&t) >= T0 + S(3 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT));

	/* More data while one is pending: the keepalive goes out, and another is scheduled. */
	timers_init(&t, 4);
	receive_data(&t, T0);
	receive_data(&t, T0 + S(4));
	CHECK(t.need_another_keepalive);
	CHECK(timers_next_deadline(&t) == T0 + S(KEEPALIVE_TIMEOUT)); /* not pushed back */
	CHECK(timers_expire(&t, T0 + S(KEEPALIVE_TIMEOUT)) == TIMER_SEND_KEEPALIVE);
	CHECK(!t.need_another_keepalive);
	CHECK(timers_next_deadline(&t) == T0 + S(2 * KEEPALIVE_TIMEOUT));
	CHECK(timers_expire(&t, T0 + S(2 * KEEPALIVE_TIMEOUT)) == TIMER_SEND_KEEPALIVE);
	CHECK(timers_next_deadline(&t) == 0);

	/* A keepalive received is not data: it asks for no keepalive back. */
	timers_init(&t, 4);
	receive_keepalive(&t, T0);
	CHECK(timers_next_deadline(&t) == 0);
}

static void test_new_handshake(void)
{
	struct timers t;
	uint64_t d;

	timers_init(&t, 5);
	send_data(&t, T0);
	d = timers_next_deadline(&t);
	CHECK(d >= T0 + S(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT));
	CHECK(d < T0 + S(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) + JMAX);
	send_data(&t, T0 + S(5)); /* more data does not push it back */
	CHECK(timers_next_deadline(&t) == d);
	t.handshake_attempts = 7; /* left over from an earlier handshake */
	CHECK(timers_expire(&t, d - 1) == 0);
	CHECK(timers_expire(&t, d) == (TIMER_SEND_INITIATION | TIMER_CLEAR_ENDPOINT_SOURCE));
	CHECK(t.handshake_attempts == 0); /* a fresh handshake, with all its retries */

	/* Anything heard back in time, even a keepalive, cancels it. */
	timers_init(&t, 5);
	send_data(&t, T0);
	receive_keepalive(&t, T0 + S(14));
	CHECK(timers_next_deadline(&t) == 0);
	CHECK(timers_expire(&t, T0 + S(20)) == 0);

	/* A keepalive sent is not data: it waits for no reply. */
	timers_init(&t, 5);
	send_keepalive(&t, T0);
	CHECK(timers_next_deadline(&t) == 0);
}

static void test_persistent_keepalive(void)
{
	struct timers t;
	uint64_t d, fires[8];
	unsigned a = 0, n = 0;

	timers_init(&t, 6);
	send_keepalive(&t, T0 - S(1)); /* nothing armed before switching on */
	receive_keepalive(&t, T0 - S(1));
	CHECK(timers_next_deadline(&t) == 0);
	CHECK(timers_set_persistent_keepalive(&t, 25)); /* switched on: send one now */
	CHECK(!timers_set_persistent_keepalive(&t, 25));
	send_keepalive(&t, T0);
	CHECK(timers_next_deadline(&t) == T0 + S(25));

	while ((d = step(&t, T0 + S(100), &a)) && n < ARRAY_SIZE(fires)) {
		CHECK(a == TIMER_SEND_PERSISTENT_KEEPALIVE);
		fires[n++] = d;
	}
	CHECK(n == 4);
	for (unsigned i = 0; i < n && i < 4; i++)
		CHECK(fires[i] == T0 + S(25 * (i + 1)));

	/* Traffic either way postpones it: it fills silence only. */
	receive_keepalive(&t, T0 + S(110));
	CHECK(timers_next_deadline(&t) == T0 + S(135));
	send_keepalive(&t, T0 + S(120));
	CHECK(timers_next_deadline(&t) == T0 + S(145));

	CHECK(!timers_set_persistent_keepalive(&t, 0));
	CHECK(timers_next_deadline(&t) == 0);
	receive_keepalive(&t, T0 + S(150));
	CHECK(timers_next_deadline(&t) == 0);
}

static void test_zero_keys(void)
{
	struct timers t;

	timers_init(&t, 7);
	timers_session_derived(&t, T0);
	CHECK(timers_next_deadline(&t) == T0 + S(540));
	CHECK(timers_expire(&t, T0 + S(540) - 1) == 0);
	CHECK(timers_expire(&t, T0 + S(540)) == TIMER_ZERO_KEYS);
	CHECK(timers_expire(&t, T0 + S(1080)) == 0);

	/* Each new session pushes it back. */
	timers_session_derived(&t, T0);
	timers_session_derived(&t, T0 + S(100));
	CHECK(timers_expire(&t, T0 + S(540)) == 0);
	CHECK(timers_expire(&t, T0 + S(640)) == TIMER_ZERO_KEYS);
}

static void test_stop(void)
{
	struct timers t;

	timers_init(&t, 8);
	CHECK(timers_set_persistent_keepalive(&t, 15));
	/* The raw hooks: a real packet's send or receive hooks would cancel one another. */
	timers_any_authenticated_packet_traversal(&t, T0);
	timers_handshake_initiated(&t, T0);
	timers_data_sent(&t, T0);
	timers_data_received(&t, T0);
	timers_session_derived(&t, T0);
	CHECK(t.retransmit_handshake && t.send_keepalive && t.new_handshake &&
	      t.zero_key_material && t.persistent_keepalive);
	timers_stop(&t);
	CHECK(timers_next_deadline(&t) == 0);
	CHECK(timers_expire(&t, UINT64_MAX) == 0);

	/* A stopped peer's hooks arm nothing until the interface comes back. */
	send_initiation(&t, T0 + S(1));
	send_data(&t, T0 + S(1));
	receive_data(&t, T0 + S(1));
	timers_session_derived(&t, T0 + S(1));
	CHECK(timers_next_deadline(&t) == 0);
	CHECK(!timers_set_persistent_keepalive(&t, 0) && !timers_set_persistent_keepalive(&t, 9));
	timers_start(&t);
	send_data(&t, T0 + S(2));
	CHECK(timers_next_deadline(&t) == T0 + S(2 + 9));
}

static uint64_t rng_state = 0x7153eedULL;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Random traffic between random waits: timers_next_deadline() must always name exactly the
 * instant at which timers_expire() next has something to say. */
static void test_next_deadline_consistent(void)
{
	struct timers t;
	uint64_t now = T0;
	unsigned early = 0, silent = 0, stale = 0, fired = 0;

	timers_init(&t, 9);
	CHECK(timers_set_persistent_keepalive(&t, 25));
	for (int i = 0; i < 20000; i++) {
		uint64_t d = timers_next_deadline(&t), next = now + rnd() % S(30);
		unsigned a;

		if (d && d <= next) {
			early += d > now && timers_expire(&t, d - 1) != 0;
			a = timers_expire(&t, d);
			silent += a == 0;
			engine_act(&t, a, d);
			stale += timers_next_deadline(&t) && timers_next_deadline(&t) <= d;
			now = MAX(now, d);
			fired++;
			continue;
		}
		now = next;
		switch (rnd() % 8) {
		case 0:
			send_data(&t, now);
			break;
		case 1:
			receive_data(&t, now);
			break;
		case 2:
			receive_keepalive(&t, now);
			break;
		case 3:
			timers_handshake_requested(&t);
			send_initiation(&t, now);
			break;
		case 4:
			timers_handshake_complete(&t, now);
			timers_session_derived(&t, now);
			break;
		default:
			break; /* silence */
		}
	}
	CHECK(early == 0);
	CHECK(silent == 0);
	CHECK(stale == 0);
	CHECK(fired > 5000);
}

int main(void)
{
	RUN(test_retransmit_and_give_up);
	RUN(test_complete_stops_retries);
	RUN(test_give_up_effects);
	RUN(test_passive_keepalive);
	RUN(test_new_handshake);
	RUN(test_persistent_keepalive);
	RUN(test_zero_keys);
	RUN(test_stop);
	RUN(test_next_deadline_consistent);
	return check_done("timers");
}
