/* Key text forms: known values, round trips against a naive table-driven encoder, and every
 * way a wg-compatible parser must refuse a key. */
#include <ctype.h>
#include <stdlib.h>
#include "check.h"
#include "encoding.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The obvious RFC 4648 encoder, to compare the branch-free one against. */
static void naive_base64(char out[KEY_B64_LEN + 1], const uint8_t key[32])
{
	uint8_t in[33] = {0};
	int i;

	memcpy(in, key, 32);
	for (i = 0; i < 11; i++) {
		uint32_t v =
		    (uint32_t)in[3 * i] << 16 | (uint32_t)in[3 * i + 1] << 8 | in[3 * i + 2];

		out[4 * i] = b64_alphabet[(v >> 18) & 63];
		out[4 * i + 1] = b64_alphabet[(v >> 12) & 63];
		out[4 * i + 2] = b64_alphabet[(v >> 6) & 63];
		out[4 * i + 3] = b64_alphabet[v & 63];
	}
	out[43] = '=';
	out[44] = '\0';
}

static void random_key(uint8_t key[32])
{
	int i;

	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)(rand() >> 7);
}

/* Values from Python's base64 module; the first key is RFC 7748 section 6.1's Alice. */
static void test_known(void)
{
	static const struct {
		const char *hex, *b64;
	} v[] = {
	    {"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	     "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="},
	    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
	    {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	     "//////////////////////////////////////////8="},
	    {"0000000000000000000000000000000000000000000000000000000000000000",
	     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
	};
	uint8_t key[32], got[32];
	char b64[KEY_B64_LEN + 1], hex[KEY_HEX_LEN + 1];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		check_unhex(key, v[i].hex);
		key_to_base64(b64, key);
		CHECK(strcmp(b64, v[i].b64) == 0);
		key_to_hex(hex, key);
		CHECK(strcmp(hex, v[i].hex) == 0);
		CHECK(key_from_base64(got, v[i].b64));
		CHECK_MEM(got, key, 32);
		CHECK(key_from_hex(got, v[i].hex));
		CHECK_MEM(got, key, 32);
	}
}

static void test_round_trips(void)
{
	uint8_t key[32], got[32];
	char b64[KEY_B64_LEN + 1], naive[KEY_B64_LEN + 1], hex[KEY_HEX_LEN + 1];
	int i, j, ok = 1;

	for (i = 0; i < 2000; i++) {
		random_key(key);
		key_to_base64(b64, key);
		naive_base64(naive, key);
		ok &= strcmp(b64, naive) == 0;
		ok &= key_from_base64(got, b64) && memcmp(got, key, 32) == 0;
		key_to_hex(hex, key);
		ok &= strlen(hex) == KEY_HEX_LEN;
		ok &= key_from_hex(got, hex) && memcmp(got, key, 32) == 0;
		for (j = 0; j < KEY_HEX_LEN; j++)
			hex[j] = (char)toupper((unsigned char)hex[j]);
		ok &= key_from_hex(got, hex) && memcmp(got, key, 32) == 0;
	}
	CHECK(ok);
}

/* Each of the 256 byte values in each position: accepted exactly when in the alphabet. */
static void test_every_char(void)
{
	uint8_t key[32], got[32];
	char b64[KEY_B64_LEN + 1], hex[KEY_HEX_LEN + 1], t[KEY_HEX_LEN + 1];
	int c, pos, ok = 1;

	memset(key, 0, sizeof(key)); /* "AAAA...A=": position 42 may be any value with low bits 0 */
	key_to_base64(b64, key);
	key_to_hex(hex, key);
	for (c = 1; c < 256; c++) {
		for (pos = 0; pos < 42; pos += 7) {
			bool in = c && strchr(b64_alphabet, c);

			memcpy(t, b64, sizeof(b64));
			t[pos] = (char)c;
			ok &= key_from_base64(got, t) == in;
		}
		for (pos = 0; pos < KEY_HEX_LEN; pos += 9) {
			bool in = isxdigit(c);

			memcpy(t, hex, sizeof(hex));
			t[pos] = (char)c;
			ok &= key_from_hex(got, t) == in;
		}
	}
	CHECK(ok);
}

static void test_bad_lengths(void)
{
	uint8_t key[32], got[32];
	char b64[KEY_B64_LEN + 1], hex[KEY_HEX_LEN + 1], t[KEY_HEX_LEN + 3];

	random_key(key);
	key_to_base64(b64, key);
	key_to_hex(hex, key);

	CHECK(!key_from_base64(got, ""));
	CHECK(!key_from_hex(got, ""));
	memcpy(t, b64, KEY_B64_LEN + 1);
	t[43] = '\0'; /* 43 characters, no padding */
	CHECK(!key_from_base64(got, t));
	t[42] = '=';
	t[41] = '\0'; /* 42 characters */
	CHECK(!key_from_base64(got, t));
	memcpy(t, b64, KEY_B64_LEN);
	strcpy(t + KEY_B64_LEN, "A"); /* 45 characters */
	CHECK(!key_from_base64(got, t));
	memcpy(t, b64, KEY_B64_LEN);
	strcpy(t + KEY_B64_LEN, "\n"); /* a trailing newline is the caller's to strip */
	CHECK(!key_from_base64(got, t));
	memcpy(t, b64, KEY_B64_LEN + 1);
	t[43] = 'A'; /* 44 characters but no padding */
	CHECK(!key_from_base64(got, t));
	t[43] = '=';
	t[42] = '='; /* "==" is the padding of a 31-byte value */
	CHECK(!key_from_base64(got, t));
	memcpy(t, b64, KEY_B64_LEN + 1);
	t[10] = '='; /* padding in the middle */
	CHECK(!key_from_base64(got, t));

	memcpy(t, hex, KEY_HEX_LEN + 1);
	t[63] = '\0';
	CHECK(!key_from_hex(got, t));
	memcpy(t, hex, KEY_HEX_LEN);
	strcpy(t + KEY_HEX_LEN, "0");
	CHECK(!key_from_hex(got, t));
	CHECK(!key_from_hex(got, b64)); /* a base64 key is not hex */
	CHECK(!key_from_base64(got, hex));
}

/* The last data character carries 6 bits of which only the top 4 belong to the key: with any of
 * the low 2 set, wg refuses the text, since another text already names that key. */
static void test_padding_bits(void)
{
	uint8_t key[32], got[32];
	char b64[KEY_B64_LEN + 1];
	int low, ok = 1, i;
	const char *p;

	for (i = 0; i < 64; i++) {
		random_key(key);
		key_to_base64(b64, key);
		p = strchr(b64_alphabet, b64[42]);
		CHECK(p && ((p - b64_alphabet) & 3) == 0);
		for (low = 1; low < 4; low++) {
			b64[42] = b64_alphabet[(p - b64_alphabet) | low];
			memset(got, 0x55, sizeof(got));
			ok &= !key_from_base64(got, b64);
			ok &= got[0] == 0 && got[31] == 0 && got[17] == 0; /* zeroed on failure */
		}
	}
	CHECK(ok);
	CHECK(!key_from_base64(got, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="));
	CHECK(!key_from_base64(got, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD="));
	CHECK(key_from_base64(got, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE="));
	CHECK(got[31] == 0x01 && got[30] == 0);
}

int main(void)
{
	srand(7);
	RUN(test_known);
	RUN(test_round_trips);
	RUN(test_every_char);
	RUN(test_bad_lengths);
	RUN(test_padding_bits);
	return check_done("encoding");
}
