/* The JSON writer. Strings are checked as UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF) because a forward name or an error text may hold any byte, and one
 * stray byte would make the whole document unreadable to a strict parser. */
#include <inttypes.h>
#include <string.h>
#include "json.h"

void json_init(struct json *j, FILE *f, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->pretty = pretty;
}

static void newline(struct json *j)
{
	if (!j->pretty)
		return;
	fputc('\n', j->f);
	for (unsigned int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Before any value: the comma and indentation, or the failure when a key is due. */
static bool value_start(struct json *j)
{
	if (j->failed || j->want_key) {
		j->failed = true;
		return false;
	}
	if (j->depth && !j->is_object[j->depth - 1]) {
		if (j->has_items[j->depth - 1])
			fputc(',', j->f);
		j->has_items[j->depth - 1] = true;
		newline(j);
	}
	if (j->depth && j->is_object[j->depth - 1])
		j->want_key = true;
	return true;
}

static void open(struct json *j, bool object)
{
	if (!value_start(j))
		return;
	if (j->depth == JSON_DEPTH_MAX) {
		j->failed = true;
		return;
	}
	fputc(object ? '{' : '[', j->f);
	j->is_object[j->depth] = object;
	j->has_items[j->depth] = false;
	j->depth++;
	j->want_key = object;
}

static void close_(struct json *j, bool object)
{
	/* A key without its value, or the wrong kind of end. */
	if (j->failed || !j->depth || j->is_object[j->depth - 1] != object ||
	    (object && !j->want_key)) {
		j->failed = true;
		return;
	}
	j->depth--;
	if (j->has_items[j->depth])
		newline(j);
	fputc(object ? '}' : ']', j->f);
	j->want_key = j->depth && j->is_object[j->depth - 1];
	if (!j->depth && j->pretty)
		fputc('\n', j->f);
}

void json_object_begin(struct json *j)
{
	open(j, true);
}

void json_object_end(struct json *j)
{
	close_(j, true);
}

void json_array_begin(struct json *j)
{
	open(j, false);
}

void json_array_end(struct json *j)
{
	close_(j, false);
}

void json_key(struct json *j, const char *key)
{
	if (j->failed || !j->want_key) {
		j->failed = true;
		return;
	}
	if (j->has_items[j->depth - 1])
		fputc(',', j->f);
	j->has_items[j->depth - 1] = true;
	newline(j);
	json_write_string(j->f, key);
	fputs(j->pretty ? ": " : ":", j->f);
	j->want_key = false;
}

void json_string(struct json *j, const char *s)
{
	if (value_start(j))
		json_write_string(j->f, s);
}

void json_uint(struct json *j, uint64_t v)
{
	if (value_start(j))
		fprintf(j->f, "%" PRIu64, v);
}

void json_int(struct json *j, int64_t v)
{
	if (value_start(j))
		fprintf(j->f, "%" PRId64, v);
}

void json_bool(struct json *j, bool v)
{
	if (value_start(j))
		fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j)
{
	if (value_start(j))
		fputs("null", j->f);
}

bool json_done(struct json *j)
{
	return !j->failed && !j->depth && !ferror(j->f);
}

/* The length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned int c = s[0], n, min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	for (unsigned int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void escape(FILE *f, unsigned char c)
{
	static const char short_forms[] = "\bb\ff\nn\rr\tt\"\"\\\\";
	const char *p = c ? memchr(short_forms, c, sizeof(short_forms) - 1) : NULL;

	/* Pairs of (byte, letter): only a byte in an even position names a short form. */
	if (p && (p - short_forms) % 2 == 0)
		fprintf(f, "\\%c", p[1]);
	else
		fprintf(f, "\\u%04x", c);
}

void json_write_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*p) {
		n = utf8_len(p);
		if (!n) {
			fputs("\xef\xbf\xbd", f); /* U+FFFD REPLACEMENT CHARACTER */
			p++;
		} else if (n == 1 && (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)) {
			escape(f, *p++);
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
	fputc('"', f);
}
