/* The JSON writer: string escaping (RFC 8259 section 7), UTF-8 repair, nesting and commas,
 * and refusing misuse rather than writing broken JSON. */
#include <stdlib.h>
#include "check.h"
#include "json.h"

struct out {
	char *buf;
	size_t len;
	FILE *f;
};

static struct json *begin(struct out *o, bool pretty)
{
	static struct json j;

	o->f = open_memstream(&o->buf, &o->len);
	json_init(&j, o->f, pretty);
	return &j;
}

/* Closes the stream; the text is in o->buf until release(). */
static const char *text(struct out *o)
{
	fclose(o->f);
	return o->buf;
}

static void release(struct out *o)
{
	free(o->buf);
}

static void string_is(const char *in, const char *want)
{
	struct out o;
	struct json *j = begin(&o, false);

	json_string(j, in);
	CHECK(json_done(j));
	CHECK(!strcmp(text(&o), want));
	if (strcmp(o.buf, want))
		fprintf(stderr, "  got %s, want %s\n", o.buf, want);
	release(&o);
}

static void test_escaping(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"", "\"\""},
	    {"plain", "\"plain\""},
	    {"a\"b", "\"a\\\"b\""},
	    {"back\\slash", "\"back\\\\slash\""},
	    {"\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\""},
	    {"\x01\x1f", "\"\\u0001\\u001f\""},
	    {"del\x7f", "\"del\\u007f\""},
	    {"/ stays", "\"/ stays\""},
	    /* Valid UTF-8 passes through: e-acute, the euro sign, an emoji (U+1F600). */
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
	    /* Invalid bytes each become U+FFFD: a lone continuation, a truncated sequence,
	     * an overlong '/', a UTF-16 surrogate, past U+10FFFF, and 0xff. */
	    {"a\x80z", "\"a\xef\xbf\xbdz\""},
	    {"\xe2\x82", "\"\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"\xff", "\"\xef\xbf\xbd\""},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		string_is(cases[i].in, cases[i].want);
}

static void test_nesting(void)
{
	struct out o;
	struct json *j = begin(&o, false);

	json_object_begin(j);
	json_key(j, "name");
	json_string(j, "wg0");
	json_key(j, "port");
	json_uint(j, 51820);
	json_key(j, "peers");
	json_array_begin(j);
	json_object_begin(j);
	json_key(j, "rx");
	json_uint(j, UINT64_MAX);
	json_key(j, "up");
	json_bool(j, true);
	json_object_end(j);
	json_object_begin(j);
	json_object_end(j);
	json_array_end(j);
	json_key(j, "empty");
	json_array_begin(j);
	json_array_end(j);
	json_key(j, "list");
	json_array_begin(j);
	json_int(j, -5);
	json_null(j);
	json_bool(j, false);
	json_array_end(j);
	json_object_end(j);
	CHECK(json_done(j));
	CHECK(!strcmp(text(&o), "{\"name\":\"wg0\",\"port\":51820,\"peers\":[{\"rx\":"
				"18446744073709551615,\"up\":true},{}],\"empty\":[],"
				"\"list\":[-5,null,false]}"));
	release(&o);
}

static void test_pretty(void)
{
	struct out o;
	struct json *j = begin(&o, true);

	json_object_begin(j);
	json_key(j, "a");
	json_array_begin(j);
	json_uint(j, 1);
	json_uint(j, 2);
	json_array_end(j);
	json_key(j, "b");
	json_object_begin(j);
	json_object_end(j);
	json_object_end(j);
	CHECK(json_done(j));
	CHECK(!strcmp(text(&o), "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}\n"));
	release(&o);
}

/* Each misuse is caught: the writer fails instead of emitting something unparseable. */
static void misuse(int which)
{
	struct out o;
	struct json *j = begin(&o, false);

	json_object_begin(j);
	switch (which) {
	case 0: /* a value without a key */
		json_uint(j, 1);
		json_object_end(j);
		break;
	case 1: /* a key without a value */
		json_key(j, "k");
		json_object_end(j);
		break;
	case 2: /* the wrong closer */
		json_array_end(j);
		break;
	case 3: /* never closed */
		break;
	case 4: /* two keys in a row */
		json_key(j, "a");
		json_key(j, "b");
		json_uint(j, 1);
		json_object_end(j);
		break;
	case 5: /* a key in an array */
		json_key(j, "k");
		json_array_begin(j);
		json_key(j, "x");
		json_uint(j, 1);
		json_array_end(j);
		json_object_end(j);
		break;
	}
	CHECK(!json_done(j));
	text(&o);
	release(&o);
}

static void test_misuse(void)
{
	for (int i = 0; i < 6; i++)
		misuse(i);
}

static void test_depth_limit(void)
{
	struct out o;
	struct json *j = begin(&o, false);

	for (int i = 0; i < JSON_DEPTH_MAX; i++)
		json_array_begin(j);
	for (int i = 0; i < JSON_DEPTH_MAX; i++)
		json_array_end(j);
	CHECK(json_done(j));
	text(&o);
	release(&o);

	j = begin(&o, false);
	for (int i = 0; i <= JSON_DEPTH_MAX; i++)
		json_array_begin(j);
	CHECK(!json_done(j));
	text(&o);
	release(&o);
}

int main(void)
{
	RUN(test_escaping);
	RUN(test_nesting);
	RUN(test_pretty);
	RUN(test_misuse);
	RUN(test_depth_limit);
	return check_done("json");
}
