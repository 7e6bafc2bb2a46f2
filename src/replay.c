/* The anti-replay window of RFC 6479, section 2: a ring of 64-bit words over the last
 * COUNTER_BITS_TOTAL counters, advanced a whole word at a time so that sliding forward costs one
 * store per word crossed instead of a shift of the whole bitmap.
 *
 * Bit positions are counter + 1, so that w->counter == 0 can mean "nothing accepted yet" while
 * counter 0 stays acceptable. The 64 bits of the word being filled are the "redundant" ones of
 * the RFC: they may not all be history yet, which is why the guaranteed window is
 * COUNTER_WINDOW_SIZE = COUNTER_BITS_TOTAL - 64 rather than the full ring.
 *
 * Precise semantics, with H the highest counter accepted so far: a counter c is accepted iff
 *   c < limit, and
 *   nothing has been accepted yet, or c > H, or (c + COUNTER_WINDOW_SIZE >= H and c was never
 *   accepted).
 * So a counter exactly COUNTER_WINDOW_SIZE behind H is still accepted; one further is not. */
#include "replay.h"

enum {
	WORD_BITS = 64,
	WORD_SHIFT = 6,
	RING_WORDS = COUNTER_BITS_TOTAL / WORD_BITS,
};

static_assert((RING_WORDS & (RING_WORDS - 1)) == 0, "ring index is masked, not divided");
static_assert(COUNTER_WINDOW_SIZE == COUNTER_BITS_TOTAL - WORD_BITS, "one word is in flux");

void replay_init(struct replay_window *w)
{
	w->counter = 0;
	for (size_t i = 0; i < RING_WORDS; i++)
		w->backtrack[i] = 0;
}

/* Moves the top of the window to pos, clearing the words that now stand for counters never
 * seen. A jump beyond the whole ring clears it all, and at most once. */
static void advance(struct replay_window *w, uint64_t pos)
{
	uint64_t cur = w->counter >> WORD_SHIFT;
	uint64_t steps = MIN((pos >> WORD_SHIFT) - cur, (uint64_t)RING_WORDS);

	for (uint64_t i = 1; i <= steps; i++)
		w->backtrack[(cur + i) & (RING_WORDS - 1)] = 0;
	w->counter = pos;
}

bool replay_check(struct replay_window *w, uint64_t counter, uint64_t limit)
{
	uint64_t pos, bit, *word;

	if (unlikely(counter >= limit || w->counter > limit))
		return false;
	pos = counter + 1; /* cannot wrap: counter < limit <= UINT64_MAX */
	/* Written as a subtraction so that limits near UINT64_MAX cannot overflow. */
	if (w->counter > COUNTER_WINDOW_SIZE && pos < w->counter - COUNTER_WINDOW_SIZE)
		return false;
	if (likely(pos > w->counter))
		advance(w, pos);
	word = &w->backtrack[(pos >> WORD_SHIFT) & (RING_WORDS - 1)];
	bit = 1ULL << (pos & (WORD_BITS - 1));
	if (*word & bit)
		return false;
	*word |= bit;
	return true;
}
