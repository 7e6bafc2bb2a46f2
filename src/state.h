/* The per-interface state file: where each peer was last seen, so that a restarted daemon can
 * reach the peers its configuration gives no Endpoint for.
 *
 * Why: a VPS knows its home box (behind NAT) only from the home box's own packets. After a
 * restart the VPS has forgotten both the session and that address; the home box's keepalives
 * ride the old session and are dropped, and it only starts a new handshake when its data goes
 * unanswered (15 s) or its keys expire (up to 180 s). With the address saved, the VPS sends an
 * initiation at once and both sides have a session within one round trip.
 *
 * The file, $PORTHOLE_STATE_DIR/NAME.endpoints (default /var/lib/porthole), holds one line per
 * peer:
 *
 *     <public key, base64> <endpoint> <Unix seconds>
 *     xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= 192.0.2.7:51820 1732600000
 *     HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw= [2001:db8::7]:41414 1732600042
 *
 * The time is when that endpoint was written, refreshed while handshakes keep confirming it;
 * entries further than STATE_MAX_AGE_S from now are not used. Lines starting with '#' are
 * comments. A crash while writing may leave a damaged file: the parser takes what it can and
 * counts the rest (a last line without its newline is one it cannot trust), never more than
 * STATE_FILE_MAX bytes.
 *
 * The pure parts (parse, format, what to write) take text and a clock value; the edges open the
 * file once, before the privilege drop, and rewrite it in place through that descriptor, since
 * the unprivileged daemon may not create files in the directory. Loop thread only. */
#ifndef PORTHOLE_STATE_H
#define PORTHOLE_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compat.h"
#include "messages.h"
#include "udp.h"

#define STATE_DIR_ENV	  "PORTHOLE_STATE_DIR"
#define STATE_DIR_DEFAULT "/var/lib/porthole"
#define STATE_SUFFIX	  ".endpoints"
/* The first line of the file, for whoever opens it. */
#define STATE_HEADER "# porthole: where each peer was last seen (public key, endpoint, Unix time)\n"

enum state_limits {
	STATE_FILE_MAX = 64 << 10, /* bytes read; what we write always fits */
	/* key, endpoint and time with their separators and newline: 44 + 1 + 65 + 1 + 20 + 1 */
	STATE_LINE_MAX = 136,
	STATE_ENTRIES_MAX = 448,     /* peers saved; the rest of a larger device is not */
	STATE_MAX_AGE_S = 24 * 3600, /* an older endpoint is more likely wrong than right */
	STATE_REFRESH_S = 3600,	     /* a confirmed entry's time is renewed at most this often */
	STATE_CHECK_MS = 5000,	     /* the daemon compares the peers with the file this often */
};

struct state_entry {
	uint8_t public_key[NOISE_PUBLIC_KEY_LEN];
	struct endpoint endpoint; /* address, port and scope; no source */
	uint64_t written;	  /* Unix seconds */
	uint64_t handshake;	  /* a running peer's latest handshake, Unix seconds (0 = none) */
};

struct state_parse_stats {
	unsigned int lines;	/* lines seen, comments and blank ones included */
	unsigned int ignored;	/* malformed, cut short, repeated, or past STATE_ENTRIES_MAX */
	unsigned int stale;	/* too far from now */
	unsigned int first_bad; /* line number of the first ignored line, 0 = none */
	const char *why;	/* and what was wrong with it */
};

/* The pure parts. now is Unix seconds. */

/* One line without its newline: true with *e filled in (written set, handshake 0), else false
 * with *why. */
bool state_parse_line(const char *line, struct state_entry *e, const char **why) WARN_UNUSED;
/* Parses text[0..len) into out[0..max): returns the number of entries. Malformed lines are
 * skipped and counted in *st, and so are repeated keys (the newest entry of a key is kept) and
 * entries whose time is more than STATE_MAX_AGE_S away from now. */
size_t state_parse(const char *text, size_t len, uint64_t now, struct state_entry *out, size_t max,
		   struct state_parse_stats *st);
/* The file's text for e[0..n) (n <= STATE_ENTRIES_MAX): STATE_HEADER, then a line per entry.
 * Returns its length; buf holds STATE_FILE_MAX bytes. */
size_t state_format(const struct state_entry *e, size_t n, char *buf);
/* The entry for that key, or NULL. */
const struct state_entry *state_find(const struct state_entry *e, size_t n,
				     const uint8_t public_key[NOISE_PUBLIC_KEY_LEN]);
/* Sets cur[i].written for the running peers cur[0..n) (key, endpoint and handshake filled in):
 * the saved time while the peer stays at its saved endpoint, renewed to now once a handshake
 * after it confirmed the endpoint and it is older than STATE_REFRESH_S; now for a new or moved
 * peer. True when the file must be rewritten: a peer came, went or moved, or a time changed. */
bool state_stamp(const struct state_entry *saved, size_t nsaved, struct state_entry *cur, size_t n,
		 uint64_t now) WARN_UNUSED;

/* The edges. */

struct state {
	int fd; /* -1: running without persistence; meaningful while saved is set */
	char path[PATH_MAX];
	struct state_entry *saved; /* what the file holds, STATE_ENTRIES_MAX of room */
	size_t nsaved;
	struct state_entry *cur; /* STATE_ENTRIES_MAX for the caller to fill for state_save() */
	bool dirty; /* the file holds lines saved leaves out (damaged or stale): rewrite it */
	bool write_failed; /* warned about it; warned again only after a success */
	char *buf;	   /* STATE_FILE_MAX + 1 bytes for reading and formatting */
};

/* The directory: $PORTHOLE_STATE_DIR when set and not empty, else STATE_DIR_DEFAULT. */
const char *state_dir(void);
/* Creates dir (0700) when missing, opens or creates dir/NAME.endpoints (0600) and reads what it
 * holds into s->saved, logging what it ignored. Any failure is logged as one warning and
 * returns -errno with s->fd -1: the daemon runs on without persistence. Call as the user that
 * may create the file, i.e. before the privilege drop. */
int state_open(struct state *s, const char *dir, const char *name, uint64_t now) WARN_UNUSED;
/* Saves the running peers s->cur[0..n) (see state_stamp()) when they differ from the file:
 * rewrites it from offset 0 and truncates it. 0 (also without persistence), or -errno, logged once
 * until a write succeeds again; the next call tries again. */
int state_save(struct state *s, size_t n, uint64_t now);
/* Safe on a zeroed struct and after a failed open. */
void state_close(struct state *s);

#endif
