/* The state file of saved peer endpoints: lines parsed and refused, the round trip through the
 * text, damaged and cut-short files, old entries, which changes make a write, and the file
 * itself in a temporary directory. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "check_endpoint.h"
#include "encoding.h"
#include "log.h"
#include "state.h"

enum { NOW = 1732600000 };

static struct state_entry entry(uint8_t key_byte, const char *addr, uint16_t port, uint64_t written)
{
	struct state_entry e = {.endpoint = check_endpoint(addr, port, 0), .written = written};

	memset(e.public_key, key_byte, sizeof(e.public_key));
	return e;
}

/* Rotating buffers: one printf may take several. */
static const char *key_text(uint8_t key_byte)
{
	static char out[8][KEY_B64_LEN + 1];
	static unsigned int next;
	uint8_t key[NOISE_PUBLIC_KEY_LEN];
	char *b = out[next++ % 8];

	memset(key, key_byte, sizeof(key));
	key_to_base64(b, key);
	return b;
}

static bool same(const struct state_entry *a, const struct state_entry *b)
{
	return !memcmp(a->public_key, b->public_key, NOISE_PUBLIC_KEY_LEN) &&
	       endpoint_eq(&a->endpoint, &b->endpoint) && a->written == b->written;
}

static size_t parse_text(const char *text, struct state_entry *out, size_t max,
			 struct state_parse_stats *st)
{
	return state_parse(text, strlen(text), NOW, out, max, st);
}

static void test_lines(void)
{
	static const struct {
		const char *line;
		bool ok;
	} cases[] = {
	    {"%s 192.0.2.7:51820 1732600000", true},
	    {"%s [2001:db8::7]:41414 1732600000", true},
	    {"%s [fe80::1%%2]:51820 1732600000", true},
	    {"%s\t198.51.100.1:1\t0\r", true}, /* tabs, a CRLF file */
	    {"  %s  192.0.2.7:51820  1732600000  ", true},
	    {"%s 192.0.2.7:51820", false},
	    {"%s 192.0.2.7:51820 1732600000 extra", false},
	    {"%s 192.0.2.7 1732600000", false},	  /* no port */
	    {"%s 192.0.2.7:0 1732600000", false}, /* port 0 */
	    {"%s 192.0.2.7:65536 1732600000", false},
	    {"%s 2001:db8::7:51820 1732600000", false},	    /* IPv6 needs brackets */
	    {"%s vps.example.org:51820 1732600000", false}, /* names are not looked up */
	    {"%s 192.0.2.7:51820 -1", false},
	    {"%s 192.0.2.7:51820 17326000x0", false},
	    {"%s 192.0.2.7:51820 99999999999999999999", false},
	    {"x%s 192.0.2.7:51820 1732600000", false}, /* 45 characters */
	    {"", false},
	};
	struct state_entry e;
	const char *why;
	char line[512];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(line, sizeof(line), cases[i].line, key_text(7));
		why = NULL;
		CHECK(state_parse_line(line, &e, &why) == cases[i].ok);
		CHECK(cases[i].ok || (why && *why));
	}
	CHECK(!state_parse_line("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA== 192.0.2.7:1 5", &e,
				&why));
	CHECK(!state_parse_line("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!= 192.0.2.7:1 5", &e,
				&why));
	snprintf(line, sizeof(line), "%s [2001:db8::7]:41414 1732600042", key_text(9));
	CHECK(state_parse_line(line, &e, &why));
	CHECK(e.written == 1732600042 && e.handshake == 0);
	CHECK(e.endpoint.addr.sa.sa_family == AF_INET6 &&
	      ntohs(e.endpoint.addr.in6.sin6_port) == 41414);
	CHECK(e.public_key[0] == 9 && e.public_key[31] == 9);
}

static void test_round_trip(void)
{
	struct state_entry in[4], out[8];
	struct state_parse_stats st;
	char *buf = malloc(STATE_FILE_MAX);
	size_t len, n;

	in[0] = entry(1, "192.0.2.7", 51820, NOW);
	in[1] = entry(2, "2001:db8::7", 41414, NOW - 60);
	in[2] = entry(3, "fe80::1", 51820, NOW - 3600);
	in[2].endpoint = check_endpoint("fe80::1", 51820, 3); /* a link-local address keeps its scope */
	in[3] = entry(4, "::ffff:198.51.100.9", 7, NOW + 5); /* v4-mapped: written as IPv4 */
	len = state_format(in, 4, buf);
	CHECK(!strncmp(buf, STATE_HEADER, strlen(STATE_HEADER)));
	CHECK(memmem(buf, len, " 198.51.100.9:7 ", 16) != NULL);
	CHECK(memmem(buf, len, " [fe80::1%3]:51820 ", 19) != NULL);
	n = state_parse(buf, len, NOW, out, ARRAY_SIZE(out), &st);
	CHECK(n == 4);
	CHECK(st.ignored == 0 && st.stale == 0 && st.lines == 5);
	for (size_t i = 0; i < 4 && i < n; i++)
		CHECK(same(&in[i], &out[i]));
	free(buf);
}

static void test_garbage(void)
{
	struct state_entry out[8];
	struct state_parse_stats st;
	char text[1024];
	size_t n;

	snprintf(text, sizeof(text),
		 "# a comment\n"
		 "\n"
		 "%s 192.0.2.1:51820 %d\n"
		 "garbage\n"
		 "\x01\x02\xff\xfe\n"
		 "%s 192.0.2.2:51820 %d\n",
		 key_text(1), NOW, key_text(2), NOW);
	n = parse_text(text, out, ARRAY_SIZE(out), &st);
	CHECK(n == 2);
	CHECK(st.ignored == 2 && st.first_bad == 4 && st.why != NULL);
	CHECK(st.lines == 6);
	/* A NUL byte inside a line. */
	memcpy(text, "abc\0def\n", 8);
	n = state_parse(text, 8, NOW, out, ARRAY_SIZE(out), &st);
	CHECK(n == 0 && st.ignored == 1 && st.first_bad == 1);
	/* A line past STATE_LINE_MAX, then a good one. */
	memset(text, 'A', 300);
	text[300] = '\n';
	snprintf(text + 301, sizeof(text) - 301, "%s 192.0.2.3:1 %d\n", key_text(3), NOW);
	n = parse_text(text, out, ARRAY_SIZE(out), &st);
	CHECK(n == 1 && st.ignored == 1 && st.first_bad == 1 && out[0].public_key[0] == 3);
	/* Empty. */
	CHECK(state_parse("", 0, NOW, out, ARRAY_SIZE(out), &st) == 0 && !st.ignored && !st.lines);
}

/* Every cut of a file, as a crash mid-write leaves it: never an entry that was not written. */
static void test_truncated(void)
{
	struct state_entry in[3], out[4];
	struct state_parse_stats st;
	char *buf = malloc(STATE_FILE_MAX);
	size_t len, lines_end[3], k = 0;
	bool all_good = true;

	in[0] = entry(1, "192.0.2.7", 51820, NOW);
	in[1] = entry(2, "2001:db8::7", 41414, NOW - 1);
	in[2] = entry(3, "198.51.100.200", 65535, NOW - 12345);
	len = state_format(in, 3, buf);
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n' && i >= strlen(STATE_HEADER))
			lines_end[k++] = i + 1;
	CHECK(k == 3);
	for (size_t cut = 0; cut <= len; cut++) {
		size_t n = state_parse(buf, cut, NOW, out, ARRAY_SIZE(out), &st);
		size_t whole = 0;

		while (whole < 3 && lines_end[whole] <= cut)
			whole++;
		all_good &= n == whole;
		for (size_t i = 0; i < n; i++)
			all_good &= same(&in[i], &out[i]);
		/* Only a cut inside a line leaves something to ignore. */
		all_good &= st.ignored == (cut && buf[cut - 1] != '\n');
	}
	CHECK(all_good);
	/* The new text over a longer old one, as a crash between the write and the truncation
	 * leaves it: the old tail is ignored, or, cut at a line's end, an older entry of a key
	 * loses to the newer one. */
	{
		char text[1024];
		struct state_entry old = entry(1, "203.0.113.1", 9, NOW - 7200);
		size_t n;

		snprintf(text, sizeof(text), "%s 192.0.2.7:51820 %d\n%s 203.0.113.1:9 %d\n",
			 key_text(1), NOW, key_text(1), NOW - 7200);
		n = parse_text(text, out, ARRAY_SIZE(out), &st);
		CHECK(n == 1 && same(&out[0], &in[0]) && st.ignored == 1);
		snprintf(text, sizeof(text), "%s 203.0.113.1:9 %d\n%s 192.0.2.7:51820 %d\n",
			 key_text(1), NOW - 7200, key_text(1), NOW);
		n = parse_text(text, out, ARRAY_SIZE(out), &st);
		CHECK(n == 1 && same(&out[0], &in[0]) && !same(&out[0], &old));
		snprintf(text, sizeof(text), "%s 192.0.2.7:51820 %d\n20.1:9 %d\n", key_text(1), NOW,
			 NOW - 7200);
		n = parse_text(text, out, ARRAY_SIZE(out), &st);
		CHECK(n == 1 && same(&out[0], &in[0]) && st.ignored == 1 && st.first_bad == 2);
	}
	free(buf);
}

static void test_age(void)
{
	struct state_entry out[8];
	struct state_parse_stats st;
	char text[1024];
	size_t n;

	snprintf(text, sizeof(text),
		 "%s 192.0.2.1:1 %d\n" /* exactly the limit: kept */
		 "%s 192.0.2.2:1 %d\n" /* a second older: not used */
		 "%s 192.0.2.3:1 %d\n" /* from a clock ahead of ours by less than the limit */
		 "%s 192.0.2.4:1 %d\n" /* too far ahead: a clock to distrust */
		 "%s 192.0.2.5:1 0\n", /* 1970 */
		 key_text(1), NOW - STATE_MAX_AGE_S, key_text(2), NOW - STATE_MAX_AGE_S - 1,
		 key_text(3), NOW + 60, key_text(4), NOW + STATE_MAX_AGE_S + 1, key_text(5));
	n = parse_text(text, out, ARRAY_SIZE(out), &st);
	CHECK(n == 2 && st.stale == 3 && st.ignored == 0);
	CHECK(n == 2 && out[0].public_key[0] == 1 && out[1].public_key[0] == 3);
}

/* Entries for keys the device does not know are the caller's to skip: the parser keeps them,
 * state_find() tells them apart, and the next save leaves them out. */
static void test_unknown_keys(void)
{
	struct state_entry saved[2] = {entry(1, "192.0.2.1", 1, NOW),
				       entry(99, "192.0.2.9", 9, NOW)};
	struct state_entry cur[1] = {entry(1, "192.0.2.1", 1, 0)};
	uint8_t unknown[NOISE_PUBLIC_KEY_LEN];

	memset(unknown, 42, sizeof(unknown));
	CHECK(state_find(saved, 2, unknown) == NULL);
	CHECK(state_find(saved, 2, saved[1].public_key) == &saved[1]);
	CHECK(state_stamp(saved, 2, cur, 1, NOW + 10)); /* peer 99 goes */
	CHECK(cur[0].written == NOW);			/* peer 1 keeps its time */
}

static void test_limits(void)
{
	struct state_entry *in = calloc(STATE_ENTRIES_MAX + 1, sizeof(*in));
	struct state_entry *out = calloc(STATE_ENTRIES_MAX + 1, sizeof(*out));
	char *buf = malloc(STATE_FILE_MAX);
	struct state_parse_stats st;
	size_t len, n;

	/* The longest lines there are: a full IPv6 address, a scope, a 5-digit port. */
	for (size_t i = 0; i < STATE_ENTRIES_MAX; i++) {
		memset(in[i].public_key, 0, sizeof(in[i].public_key));
		memcpy(in[i].public_key, &i, sizeof(i));
		in[i].endpoint =
		    check_endpoint("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535, 4294967295u);
		in[i].written = NOW;
	}
	len = state_format(in, STATE_ENTRIES_MAX, buf);
	CHECK(len <= STATE_FILE_MAX);
	CHECK(len > (size_t)STATE_ENTRIES_MAX * 100);
	n = state_parse(buf, len, NOW, out, STATE_ENTRIES_MAX, &st);
	CHECK(n == STATE_ENTRIES_MAX && st.ignored == 0);
	CHECK(n == STATE_ENTRIES_MAX && same(&in[n - 1], &out[n - 1]));
	/* More entries than kept: the rest are counted, not stored. */
	n = state_parse(buf, len, NOW, out, 10, &st);
	CHECK(n == 10 && st.ignored == STATE_ENTRIES_MAX - 10 && st.first_bad == 12);
	free(in);
	free(out);
	free(buf);
}

/* Random bytes and random mutations of a good file: nothing but counting (ASan watches). */
static void test_random(void)
{
	struct state_entry in[2] = {entry(1, "192.0.2.7", 51820, NOW),
				    entry(2, "2001:db8::1", 1, NOW)};
	struct state_entry out[4];
	struct state_parse_stats st;
	char *good = malloc(STATE_FILE_MAX), *buf = malloc(STATE_FILE_MAX);
	size_t glen = state_format(in, 2, good);
	bool sane = true;

	srand(1);
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)rand() % 400, n;

		if (round % 2) {
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)(rand() % 4 ? rand() % 256 : "\n :[]"[rand() % 5]);
		} else {
			len = glen;
			memcpy(buf, good, glen);
			for (int k = 0; k < 1 + rand() % 3; k++)
				buf[(size_t)rand() % glen] = (char)(rand() % 256);
		}
		n = state_parse(buf, len, NOW, out, ARRAY_SIZE(out), &st);
		sane &= n <= ARRAY_SIZE(out) && n + st.ignored + st.stale <= st.lines;
	}
	CHECK(sane);
	free(good);
	free(buf);
}

static void test_stamp(void)
{
	struct state_entry saved[2] = {entry(1, "192.0.2.1", 1, NOW - 100),
				       entry(2, "192.0.2.2", 2, NOW - 2 * STATE_REFRESH_S)};
	struct state_entry cur[3];

	/* Nothing changed: no write, times as saved. */
	cur[0] = entry(1, "192.0.2.1", 1, 0);
	cur[1] = entry(2, "192.0.2.2", 2, 0);
	CHECK(!state_stamp(saved, 2, cur, 2, NOW));
	CHECK(cur[0].written == NOW - 100 && cur[1].written == NOW - 2 * STATE_REFRESH_S);
	/* The same, in the other order. */
	cur[0] = entry(2, "192.0.2.2", 2, 0);
	cur[1] = entry(1, "192.0.2.1", 1, 0);
	CHECK(!state_stamp(saved, 2, cur, 2, NOW));
	/* A handshake confirmed the old entry: renewed; the young one waits for STATE_REFRESH_S. */
	cur[0].handshake = NOW - 10;
	cur[1].handshake = NOW - 10;
	CHECK(state_stamp(saved, 2, cur, 2, NOW));
	CHECK(cur[0].written == NOW && cur[1].written == NOW - 100);
	/* A handshake older than the entry confirms nothing. */
	cur[0].handshake = NOW - 3 * STATE_REFRESH_S;
	CHECK(!state_stamp(saved, 2, cur, 2, NOW));
	/* A peer moved (the port is enough). */
	cur[0] = entry(1, "192.0.2.1", 1, 0);
	cur[1] = entry(2, "192.0.2.2", 3, 0);
	CHECK(state_stamp(saved, 2, cur, 2, NOW));
	CHECK(cur[0].written == NOW - 100 && cur[1].written == NOW);
	/* A peer came; a peer went. */
	cur[1] = entry(2, "192.0.2.2", 2, 0);
	cur[2] = entry(3, "192.0.2.3", 3, 0);
	CHECK(state_stamp(saved, 2, cur, 3, NOW));
	CHECK(cur[2].written == NOW);
	CHECK(state_stamp(saved, 2, cur, 1, NOW));
	/* The source address is not saved: a new one is no move. */
	cur[0] = entry(1, "192.0.2.1", 1, 0);
	cur[1] = entry(2, "192.0.2.2", 2, 0);
	inet_pton(AF_INET, "192.0.2.99", &cur[0].endpoint.src4);
	CHECK(state_stamp(saved, 2, cur, 2, NOW)); /* the caller clears it; unequal here */
	endpoint_clear_src(&cur[0].endpoint);
	CHECK(!state_stamp(saved, 2, cur, 2, NOW));
	/* Nothing saved, nothing running. */
	CHECK(!state_stamp(saved, 0, cur, 0, NOW));
}

static char *read_file(const char *path)
{
	static char buf[STATE_FILE_MAX + 1];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	if (fd >= 0) {
		CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
		close(fd);
	}
}

static void test_file(void)
{
	char tmp[] = "/tmp/test_state.XXXXXX", dir[64], path[128], text[512];
	struct state s, zero;
	struct stat st;
	bool stdin_open = fcntl(0, F_GETFD) != -1;

	CHECK(mkdtemp(tmp) != NULL);
	snprintf(dir, sizeof(dir), "%s/state", tmp);
	snprintf(path, sizeof(path), "%s/wg0.endpoints", dir);
	/* Created: the directory 0700, the file 0600, empty. */
	CHECK(state_open(&s, dir, "wg0", NOW) == 0);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 0);
	CHECK(s.nsaved == 0 && !s.dirty);
	/* Two peers saved; a second save without a change writes nothing. */
	s.cur[0] = entry(1, "192.0.2.1", 51820, 0);
	s.cur[1] = entry(2, "2001:db8::2", 51821, 0);
	CHECK(state_save(&s, 2, NOW) == 0);
	snprintf(text, sizeof(text), "%s%s 192.0.2.1:51820 %d\n%s [2001:db8::2]:51821 %d\n",
		 STATE_HEADER, key_text(1), NOW, key_text(2), NOW);
	CHECK(!strcmp(read_file(path), text));
	write_file(path, "left alone\n");
	s.cur[0] = entry(2, "2001:db8::2", 51821, 0);
	s.cur[1] = entry(1, "192.0.2.1", 51820, 0);
	CHECK(state_save(&s, 2, NOW + 5) == 0);
	CHECK(!strcmp(read_file(path), "left alone\n"));
	/* Peer 2 removed: the file shrinks to one line, nothing of the old text after it. */
	s.cur[0] = entry(1, "192.0.2.1", 51820, 0);
	CHECK(state_save(&s, 1, NOW + 10) == 0);
	snprintf(text, sizeof(text), "%s%s 192.0.2.1:51820 %d\n", STATE_HEADER, key_text(1), NOW);
	CHECK(!strcmp(read_file(path), text));
	state_close(&s);
	/* Read back at the next start. */
	CHECK(state_open(&s, dir, "wg0", NOW + 20) == 0);
	CHECK(s.nsaved == 1 && s.saved[0].written == NOW && s.saved[0].public_key[0] == 1);
	state_close(&s);
	/* Damaged: read what can be, then rewritten clean at the first save, unchanged or not. */
	snprintf(text, sizeof(text), "\x01garbage\n%s 192.0.2.1:51820 %d\n%s 192.0.2.9:1",
		 key_text(1), NOW, key_text(9));
	write_file(path, text);
	CHECK(state_open(&s, dir, "wg0", NOW + 30) == 0);
	CHECK(s.nsaved == 1 && s.dirty);
	s.cur[0] = entry(1, "192.0.2.1", 51820, 0);
	CHECK(state_save(&s, 1, NOW + 35) == 0);
	snprintf(text, sizeof(text), "%s%s 192.0.2.1:51820 %d\n", STATE_HEADER, key_text(1), NOW);
	CHECK(!strcmp(read_file(path), text));
	state_close(&s);
	state_close(&s); /* twice is harmless */
	/* A directory that cannot be made: no persistence, and saving is a no-op. */
	snprintf(dir, sizeof(dir), "%s/missing/state", tmp);
	CHECK(state_open(&s, dir, "wg0", NOW) < 0);
	CHECK(s.fd == -1 && !s.saved);
	CHECK(state_save(&s, 0, NOW) == 0);
	state_close(&s);
	/* A link where the file should be is not followed. */
	snprintf(dir, sizeof(dir), "%s/state", tmp);
	unlink(path);
	snprintf(text, sizeof(text), "%s/elsewhere", tmp);
	CHECK(symlink(text, path) == 0);
	CHECK(state_open(&s, dir, "wg0", NOW) < 0);
	CHECK(access(text, F_OK) != 0);
	state_close(&s);
	/* A zeroed struct (a daemon that failed before opening it) closes nothing. */
	memset(&zero, 0, sizeof(zero));
	CHECK(state_save(&zero, 0, NOW) == 0);
	state_close(&zero);
	CHECK((fcntl(0, F_GETFD) != -1) == stdin_open);
	unlink(path);
	rmdir(dir);
	rmdir(tmp);
}

/* Root in a directory of the service user's (systemd's StateDirectory=): the file is theirs. */
static void test_owner(void)
{
	char tmp[] = "/tmp/test_state.XXXXXX", path[128];
	struct state s;
	struct stat st;

	if (geteuid() != 0)
		return;
	CHECK(mkdtemp(tmp) != NULL);
	CHECK(chown(tmp, 65534, 65534) == 0);
	CHECK(state_open(&s, tmp, "wg0", NOW) == 0);
	snprintf(path, sizeof(path), "%s/wg0.endpoints", tmp);
	CHECK(stat(path, &st) == 0 && st.st_uid == 65534 && st.st_gid == 65534);
	state_close(&s);
	unlink(path);
	rmdir(tmp);
}

static void test_dir(void)
{
	unsetenv(STATE_DIR_ENV);
	CHECK(!strcmp(state_dir(), STATE_DIR_DEFAULT));
	setenv(STATE_DIR_ENV, "", 1);
	CHECK(!strcmp(state_dir(), STATE_DIR_DEFAULT));
	setenv(STATE_DIR_ENV, "/tmp/x", 1);
	CHECK(!strcmp(state_dir(), "/tmp/x"));
	unsetenv(STATE_DIR_ENV);
}

int main(void)
{
	log_set_level(LOG_LEVEL_ERR);
	RUN(test_lines);
	RUN(test_round_trip);
	RUN(test_garbage);
	RUN(test_truncated);
	RUN(test_age);
	RUN(test_unknown_keys);
	RUN(test_limits);
	RUN(test_random);
	RUN(test_stamp);
	RUN(test_file);
	RUN(test_owner);
	RUN(test_dir);
	return check_done("state");
}
