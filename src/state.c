/* The state file of saved peer endpoints: see state.h. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "encoding.h"
#include "log.h"
#include "state.h"

static_assert(STATE_LINE_MAX >= KEY_B64_LEN + 1 + ENDPOINT_STRLEN - 1 + 1 + 20 + 1,
	      "a line holds the longest key, endpoint and time");
static_assert(sizeof(STATE_HEADER) - 1 + (size_t)STATE_ENTRIES_MAX * STATE_LINE_MAX <=
		  STATE_FILE_MAX,
	      "whatever we write is read back whole");

/* A time past this is garbage, not a date (and keeps the arithmetic below from overflowing). */
#define STATE_TIME_MAX (1ULL << 40)

/* ---- parsing ---- */

static bool parse_endpoint(struct endpoint *ep, const char *text, const char **why)
{
	struct sockaddr_storage ss;
	char host[CONFIG_HOST_MAX];
	uint16_t port;

	if (!config_parse_endpoint(&ss, host, &port, text, false, why))
		return false;
	*why = "not an IPv4 or IPv6 endpoint";
	return endpoint_set(ep, (const struct sockaddr *)&ss, sizeof(ss)) == 0;
}

bool state_parse_line(const char *line, struct state_entry *e, const char **why)
{
	char buf[STATE_LINE_MAX + 1], *save = NULL;
	char *key, *endpoint, *time, *extra;

	*why = "line too long";
	if (strlen(line) > STATE_LINE_MAX)
		return false;
	strcpy(buf, line);
	memset(e, 0, sizeof(*e));
	key = strtok_r(buf, " \t\r", &save);
	endpoint = strtok_r(NULL, " \t\r", &save);
	time = strtok_r(NULL, " \t\r", &save);
	extra = strtok_r(NULL, " \t\r", &save);
	*why = "expected: public key, endpoint, Unix time";
	if (!time || extra)
		return false;
	*why = "not a base64 public key";
	if (!key_from_base64(e->public_key, key))
		return false;
	if (!parse_endpoint(&e->endpoint, endpoint, why))
		return false;
	*why = "not a Unix time";
	return config_parse_uint(&e->written, time, STATE_TIME_MAX);
}

static bool too_far(uint64_t written, uint64_t now)
{
	uint64_t age = written > now ? written - now : now - written;

	return age > STATE_MAX_AGE_S;
}

static void ignore(struct state_parse_stats *st, const char *why)
{
	if (!st->ignored++) {
		st->first_bad = st->lines;
		st->why = why;
	}
}

/* Keeps e unless its key is there already, in which case the newer of the two stays. */
static size_t add_entry(struct state_entry *out, size_t n, size_t max, const struct state_entry *e,
			struct state_parse_stats *st)
{
	struct state_entry *old = (struct state_entry *)state_find(out, n, e->public_key);

	if (old) {
		ignore(st, "a second line for this peer");
		if (e->written > old->written)
			*old = *e;
		return n;
	}
	if (n == max) {
		ignore(st, "more peers than are kept");
		return n;
	}
	out[n] = *e;
	return n + 1;
}

static size_t take_line(const char *line, uint64_t now, struct state_entry *out, size_t n,
			size_t max, struct state_parse_stats *st)
{
	struct state_entry e;
	const char *why;

	if (!line[strspn(line, " \t\r")] || line[0] == '#')
		return n;
	if (!state_parse_line(line, &e, &why)) {
		ignore(st, why);
		return n;
	}
	if (too_far(e.written, now)) {
		st->stale++;
		return n;
	}
	return add_entry(out, n, max, &e, st);
}

size_t state_parse(const char *text, size_t len, uint64_t now, struct state_entry *out, size_t max,
		   struct state_parse_stats *st)
{
	char line[STATE_LINE_MAX + 1];
	size_t n = 0, off = 0;

	memset(st, 0, sizeof(*st));
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (text + off)) : len - off;

		st->lines++;
		if (!nl) {
			/* A write cut short: its last field may be cut too and still parse. */
			ignore(st, "no newline at the end: cut short");
		} else if (l > STATE_LINE_MAX || memchr(text + off, '\0', l)) {
			ignore(st, l > STATE_LINE_MAX ? "line too long" : "NUL byte in the line");
		} else {
			memcpy(line, text + off, l);
			line[l] = '\0';
			n = take_line(line, now, out, n, max, st);
		}
		off += l + (nl ? 1 : 0);
	}
	return n;
}

/* ---- writing ---- */

size_t state_format(const struct state_entry *e, size_t n, char *buf)
{
	size_t len = sizeof(STATE_HEADER) - 1;

	memcpy(buf, STATE_HEADER, len);
	for (size_t i = 0; i < n && i < STATE_ENTRIES_MAX; i++) {
		char key[KEY_B64_LEN + 1], ep[ENDPOINT_STRLEN];

		key_to_base64(key, e[i].public_key);
		endpoint_to_string(&e[i].endpoint, ep, sizeof(ep));
		len += (size_t)snprintf(buf + len, STATE_FILE_MAX - len, "%s %s %llu\n", key, ep,
					(unsigned long long)e[i].written);
	}
	return len;
}

const struct state_entry *state_find(const struct state_entry *e, size_t n,
				     const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(e[i].public_key, public_key, NOISE_PUBLIC_KEY_LEN))
			return &e[i];
	return NULL;
}

/* The time to write for a running peer, given its saved entry (NULL: none). */
static uint64_t stamp(const struct state_entry *old, const struct state_entry *cur, uint64_t now)
{
	if (!old || !endpoint_eq(&old->endpoint, &cur->endpoint))
		return now;
	if (cur->handshake > old->written && now - MIN(now, old->written) >= STATE_REFRESH_S)
		return now;
	return old->written;
}

bool state_stamp(const struct state_entry *saved, size_t nsaved, struct state_entry *cur, size_t n,
		 uint64_t now)
{
	bool changed = n != nsaved;

	/* Keys are unique on both sides, so equal counts and a match for each is the same set. */
	for (size_t i = 0; i < n; i++) {
		const struct state_entry *old = state_find(saved, nsaved, cur[i].public_key);

		cur[i].written = stamp(old, &cur[i], now);
		if (!old || old->written != cur[i].written)
			changed = true;
	}
	return changed;
}

/* ---- the file ---- */

const char *state_dir(void)
{
	const char *dir = getenv(STATE_DIR_ENV);

	return dir && *dir ? dir : STATE_DIR_DEFAULT;
}

/* At most STATE_FILE_MAX bytes: a larger file's last line read is cut short and ignored. */
static ssize_t read_all(int fd, char *buf)
{
	size_t len = 0;

	while (len < STATE_FILE_MAX) {
		ssize_t r = pread(fd, buf + len, STATE_FILE_MAX - len, (off_t)len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			break;
		len += (size_t)r;
	}
	return (ssize_t)len;
}

static void log_parsed(const struct state *s, const struct state_parse_stats *st)
{
	if (st->ignored)
		log_warn("%s:%u: %s; ignored %u lines of %u", s->path, st->first_bad, st->why,
			 st->ignored, st->lines);
	if (st->stale)
		log_info("%s: %u entries older than %d h not used", s->path, st->stale,
			 STATE_MAX_AGE_S / 3600);
	log_debug("%s: %zu saved endpoints", s->path, s->nsaved);
}

static int load(struct state *s, uint64_t now)
{
	struct state_parse_stats st;
	ssize_t len = read_all(s->fd, s->buf);

	if (len < 0)
		return (int)len;
	s->nsaved = state_parse(s->buf, (size_t)len, now, s->saved, STATE_ENTRIES_MAX, &st);
	s->dirty = st.ignored || st.stale;
	log_parsed(s, &st);
	return 0;
}

/* Root running the daemon by hand in the directory systemd made for the service user: the file
 * goes to that user, or the service could not open it at its next start. */
static void adopt_owner(int fd, const char *dir)
{
	struct stat st;

	if (geteuid() == 0 && !stat(dir, &st) && st.st_uid != 0 && fchown(fd, st.st_uid, st.st_gid))
		log_debug("%s: cannot give the state file to uid %u", dir, (unsigned int)st.st_uid);
}

/* On failure *step says what failed, on *what: the directory or the file. */
static int open_file(struct state *s, const char *dir, const char *name, const char **what,
		     const char **step)
{
	*what = dir;
	*step = "out of memory";
	s->saved = calloc(STATE_ENTRIES_MAX, sizeof(*s->saved));
	s->cur = calloc(STATE_ENTRIES_MAX, sizeof(*s->cur));
	s->buf = malloc(STATE_FILE_MAX + 1);
	if (!s->saved || !s->cur || !s->buf)
		return -ENOMEM;
	*step = "the path is too long";
	if (snprintf(s->path, sizeof(s->path), "%s/%s%s", dir, name, STATE_SUFFIX) >=
	    (int)sizeof(s->path))
		return -ENAMETOOLONG;
	*step = "cannot create the directory";
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	*what = s->path;
	*step = "cannot open";
	/* Not a link: whoever else may write to the directory cannot point us elsewhere. */
	s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->fd < 0)
		return -errno;
	adopt_owner(s->fd, dir);
	*step = "cannot read";
	return 0;
}

int state_open(struct state *s, const char *dir, const char *name, uint64_t now)
{
	const char *what, *step;
	int ret;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	ret = open_file(s, dir, name, &what, &step);
	if (!ret)
		ret = load(s, now);
	if (ret < 0) {
		log_errno(LOG_LEVEL_WARN, ret, "peer endpoints are not saved: %s: %s", what, step);
		state_close(s);
	}
	return ret;
}

/* The whole text from offset 0, then the rest cut off: a crash in between leaves the new text
 * followed by part of the old, which the parser ignores. */
static int write_text(int fd, const char *text, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = pwrite(fd, text + off, len - off, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

int state_save(struct state *s, size_t n, uint64_t now)
{
	struct state_entry *cur = s->cur;
	int ret;

	if (!s->saved || s->fd < 0)
		return 0;
	n = MIN(n, (size_t)STATE_ENTRIES_MAX);
	if (!state_stamp(s->saved, s->nsaved, cur, n, now) && !s->dirty)
		return 0;
	ret = write_text(s->fd, s->buf, state_format(cur, n, s->buf));
	if (ret < 0) {
		if (!s->write_failed)
			log_errno(LOG_LEVEL_WARN, ret, "%s: cannot write", s->path);
		s->write_failed = true;
		return ret;
	}
	s->write_failed = false;
	s->dirty = false;
	memcpy(s->saved, cur, n * sizeof(*cur));
	s->nsaved = n;
	return 0;
}

void state_close(struct state *s)
{
	/* saved is there from the start of state_open() on: a zeroed struct's fd 0 is not ours. */
	if (s->saved && s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->saved);
	free(s->cur);
	free(s->buf);
	s->saved = NULL;
	s->cur = NULL;
	s->buf = NULL;
	s->nsaved = 0;
}
