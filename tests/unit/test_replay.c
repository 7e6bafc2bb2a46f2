/* The replay window against a hand table of behaviours and against a naive reference that
 * remembers every counter it has ever accepted. */
#include <stdlib.h>
#include "check.h"
#include "replay.h"

#define W   ((uint64_t)COUNTER_WINDOW_SIZE)
#define LIM REJECT_AFTER_MESSAGES

struct step {
	uint64_t counter;
	bool fresh;
};

static void run_table(const struct step *s, size_t n, uint64_t limit)
{
	struct replay_window w;

	replay_init(&w);
	for (size_t i = 0; i < n; i++) {
		bool got = replay_check(&w, s[i].counter, limit);
		if (got != s[i].fresh)
			fprintf(stderr, "step %zu: counter %llu gave %d\n", i,
				(unsigned long long)s[i].counter, got);
		CHECK(got == s[i].fresh);
	}
}

static void test_basics(void)
{
	static const struct step s[] = {
	    {0, true},
	    {0, false}, /* zero is a real counter, once */
	    {1, true},
	    {1, false},
	    {9, true},
	    {8, true},
	    {7, true},
	    {7, false},
	    {8, false},
	    {2, true},
	    {2, false},
	    /* highest W: the oldest counter still inside is 0, already taken */
	    {W, true},
	    {0, false},
	    {3, true},
	    /* highest W + 2: 3 was seen, 4 is inside, 1 is now outside but was seen anyway */
	    {W + 2, true},
	    {4, true},
	    {1, false},
	    {3, false},
	};
	run_table(s, ARRAY_SIZE(s), LIM);
}

static void test_edges_after_jump(void)
{
	static const struct step s[] = {
	    {4 * W, true},
	    {3 * W, true},	/* exactly W behind the highest: still inside */
	    {3 * W - 1, false}, /* one further: outside */
	    {3 * W, false},
	    {4 * W - 1, true},
	    {4 * W + 1, true},
	    {3 * W + 1, true}, /* W behind the new highest */
	    {3 * W + 2, true},
	    {3 * W + 2, false},
	    /* beyond the whole ring: everything older is gone or outside */
	    {1ULL << 40, true},
	    {(1ULL << 40) - 1, true},
	    {(1ULL << 40) - W, true},
	    {(1ULL << 40) - W - 1, false},
	    {4 * W + 1, false},
	    {0, false},
	};
	run_table(s, ARRAY_SIZE(s), LIM);
}

static void test_limit(void)
{
	static const struct step s[] = {
	    {LIM, false},    {LIM - 1, true},  {LIM, false},	    {LIM - 1, false},
	    {LIM - 2, true}, {LIM + 1, false}, {LIM + 2, false},    {LIM - 2, false},
	    {LIM - 3, true}, {0, false},       {UINT64_MAX, false},
	};
	run_table(s, ARRAY_SIZE(s), LIM);

	/* A limit at the top of the range must not overflow the window arithmetic. */
	static const struct step top[] = {
	    {UINT64_MAX - 1, true},	 {UINT64_MAX, false},	  {UINT64_MAX - 1 - W, true},
	    {UINT64_MAX - 2 - W, false}, {UINT64_MAX - 1, false}, {0, false},
	};
	run_table(top, ARRAY_SIZE(top), UINT64_MAX);

	/* A small limit: the last counter below it is taken, and the window still works behind it.
	 */
	static const struct step small[] = {
	    {99, true}, {100, false}, {98, true}, {50, true}, {99, false},
	};
	run_table(small, ARRAY_SIZE(small), 100);
}

/* Every counter of a full window, in several orders, then the same again: all replays. */
static void test_full_window(void)
{
	struct replay_window w;
	unsigned ok = 0, again = 0;

	replay_init(&w);
	for (uint64_t i = 1; i <= W; i++)
		ok += replay_check(&w, i, LIM);
	ok += replay_check(&w, 0, LIM);
	for (uint64_t i = 0; i <= W; i++)
		again += replay_check(&w, i, LIM);
	CHECK(ok == W + 1);
	CHECK(again == 0);

	/* One more on top pushes 0 out: it is refused for being too old now. */
	CHECK(replay_check(&w, W + 1, LIM));
	CHECK(!replay_check(&w, 0, LIM));

	replay_init(&w);
	ok = 0;
	for (uint64_t i = W + 1; i-- > 0;)
		ok += replay_check(&w, i, LIM);
	CHECK(ok == W + 1);

	/* Stepping a word at a time past the ring: each step clears exactly what it must. */
	replay_init(&w);
	ok = 0;
	for (uint64_t base = 0; base < 4 * COUNTER_BITS_TOTAL; base += 64 + 7)
		ok += replay_check(&w, base, LIM) + replay_check(&w, base + 3, LIM) +
		      !replay_check(&w, base, LIM);
	CHECK(ok == 3 * ((4 * COUNTER_BITS_TOTAL + 70) / 71));
}

/* The naive reference: the set of every counter ever accepted, and the rule written out. */
enum { SET_SLOTS = 1 << 18 };

struct naive {
	uint64_t slot[SET_SLOTS]; /* counter + 1; 0 = empty */
	uint64_t highest;
	bool any;
};

static uint64_t *naive_find(struct naive *n, uint64_t c)
{
	uint64_t h = (c + 1) * 0x9e3779b97f4a7c15ULL;

	for (size_t i = h >> 46;; i = (i + 1) & (SET_SLOTS - 1))
		if (n->slot[i] == 0 || n->slot[i] == c + 1)
			return &n->slot[i];
}

static bool naive_check(struct naive *n, uint64_t c, uint64_t limit)
{
	uint64_t *slot;

	if (c >= limit)
		return false;
	if (n->any && c + W < n->highest)
		return false;
	slot = naive_find(n, c);
	if (*slot)
		return false;
	*slot = c + 1;
	if (!n->any || c > n->highest)
		n->highest = c;
	n->any = true;
	return true;
}

static uint64_t rng_state = 0x5eed0f4e91a7c0deULL;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The next counter a sender and a lossy, reordering, duplicating network might deliver. */
static uint64_t next_counter(uint64_t *base, const uint64_t *recent, size_t nrecent)
{
	unsigned r = rnd() % 100;

	if (r < 40)
		return (*base)++; /* in order */
	if (r < 70)		  /* reordered, sometimes just across the window edge */
		return *base > W + 64 ? *base - rnd() % (W + 64) : rnd() % (*base + 1);
	if (r < 85 && nrecent)
		return recent[rnd() % nrecent]; /* duplicate */
	if (r < 92) /* forward jumps of a few words, up to about the ring and beyond */
		return *base += rnd() % (2 * COUNTER_BITS_TOTAL);
	if (r < 94)
		return *base += W + rnd() % 3;
	if (r < 95)
		return *base += rnd() % (1ULL << 40); /* far jump */
	return *base + rnd() % 64;		      /* a little ahead */
}

static void test_against_naive(void)
{
	static struct naive n;
	struct replay_window w;
	uint64_t recent[64];
	unsigned mismatch = 0, accepted = 0, refused = 0;

	for (int seq = 0; seq < 150; seq++) {
		/* Some sequences run into a limit just above where they start. */
		uint64_t base = seq % 3 ? 0 : rnd() % (1ULL << 50);
		uint64_t limit = seq % 5 == 4 ? base + 20000 + rnd() % 20000 : LIM;
		size_t nrecent = 0;

		memset(&n, 0, sizeof(n));
		replay_init(&w);
		for (int i = 0; i < 4000; i++) {
			uint64_t c = next_counter(&base, recent, MIN(nrecent, ARRAY_SIZE(recent)));
			bool want = naive_check(&n, c, limit), got = replay_check(&w, c, limit);

			if (got != want && mismatch++ < 5)
				fprintf(stderr, "seq %d step %d: counter %llu gave %d\n", seq, i,
					(unsigned long long)c, got);
			accepted += got;
			refused += !got;
			recent[nrecent++ % ARRAY_SIZE(recent)] = c;
		}
	}
	CHECK(mismatch == 0);
	/* The mix must exercise both answers heavily, or the comparison proves little. */
	CHECK(accepted > 150000);
	CHECK(refused > 150000);
}

int main(void)
{
	RUN(test_basics);
	RUN(test_edges_after_jump);
	RUN(test_limit);
	RUN(test_full_window);
	RUN(test_against_naive);
	return check_done("replay");
}
