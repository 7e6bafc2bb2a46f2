/* A minimal JSON writer for `porthole show --json` and the control socket: objects, arrays,
 * strings (escaped, and always valid UTF-8 out), integers and booleans, written to a stdio
 * stream. Misuse (a value where a key is due, unbalanced ends, nesting past JSON_DEPTH_MAX)
 * marks the writer failed instead of producing broken output. */
#ifndef PORTHOLE_JSON_H
#define PORTHOLE_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "compat.h"

enum { JSON_DEPTH_MAX = 16 };

struct json {
	FILE *f;
	bool pretty; /* two-space indentation and a newline after the document */
	bool failed;
	bool want_key;			/* inside an object, before a key */
	bool has_items[JSON_DEPTH_MAX]; /* a comma is due before the next item */
	bool is_object[JSON_DEPTH_MAX];
	unsigned int depth;
};

void json_init(struct json *j, FILE *f, bool pretty);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* true when every value was closed and nothing was misused or failed to write. */
bool json_done(struct json *j) WARN_UNUSED;

/* Writes s as a quoted JSON string: quotes, backslashes and control characters escaped, and
 * every byte that is not part of valid UTF-8 replaced by U+FFFD. */
void json_write_string(FILE *f, const char *s);

#endif
