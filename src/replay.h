/* The anti-replay window of RFC 6479, as WireGuard uses it for transport data counters. */
#ifndef PORTHOLE_REPLAY_H
#define PORTHOLE_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include "compat.h"
#include "messages.h"

struct replay_window {
	uint64_t counter; /* one past the highest counter accepted so far */
	uint64_t backtrack[COUNTER_BITS_TOTAL / 64];
};

void replay_init(struct replay_window *w);
/* true when counter is fresh (and records it); false for a replay, a counter too far behind,
 * or a counter >= limit. Call only after the packet has authenticated. */
bool replay_check(struct replay_window *w, uint64_t counter, uint64_t limit) WARN_UNUSED;

#endif
