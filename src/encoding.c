/* Key text forms without table lookups or branches on secret characters: each character is
 * classified by range masks, so timing does not depend on which characters a private key has. */
#include <string.h>
#include "crypto.h"
#include "encoding.h"

/* All ones when lo <= c <= hi, else zero. c, lo and hi are small, so no subtraction overflows. */
static unsigned int in_range(int c, int lo, int hi)
{
	return ((unsigned int)((c - lo) | (hi - c)) >> 31) - 1;
}

static char b64_char(int v)
{
	unsigned int c;

	c = (in_range(v, 0, 25) & (unsigned int)('A' + v)) |
	    (in_range(v, 26, 51) & (unsigned int)('a' + v - 26)) |
	    (in_range(v, 52, 61) & (unsigned int)('0' + v - 52)) | (in_range(v, 62, 62) & '+') |
	    (in_range(v, 63, 63) & '/');
	return (char)c;
}

/* The 6-bit value of c; *bad gets all ones if c is outside the alphabet. */
static unsigned int b64_value(int c, unsigned int *bad)
{
	unsigned int az = in_range(c, 'A', 'Z'), lz = in_range(c, 'a', 'z');
	unsigned int dg = in_range(c, '0', '9'), pl = in_range(c, '+', '+');
	unsigned int sl = in_range(c, '/', '/');

	*bad |= ~(az | lz | dg | pl | sl);
	return ((az & (unsigned int)(c - 'A')) | (lz & (unsigned int)(c - 'a' + 26)) |
		(dg & (unsigned int)(c - '0' + 52)) | (pl & 62) | (sl & 63)) &
	       63;
}

static void b64_quad(char *out, uint32_t v)
{
	out[0] = b64_char((int)(v >> 18) & 63);
	out[1] = b64_char((int)(v >> 12) & 63);
	out[2] = b64_char((int)(v >> 6) & 63);
	out[3] = b64_char((int)v & 63);
}

void key_to_base64(char out[KEY_B64_LEN + 1], const uint8_t key[CRYPTO_KEY_LEN])
{
	uint32_t v;
	int i;

	for (i = 0; i < CRYPTO_KEY_LEN / 3; i++) {
		v = (uint32_t)key[3 * i] << 16 | (uint32_t)key[3 * i + 1] << 8 | key[3 * i + 2];
		b64_quad(out + 4 * i, v);
	}
	/* 32 = 3 * 10 + 2: the last two bytes make three characters and one '='. */
	v = (uint32_t)key[30] << 16 | (uint32_t)key[31] << 8;
	b64_quad(out + 40, v);
	out[43] = '=';
	out[44] = '\0';
	crypto_wipe(&v, sizeof(v));
}

static uint32_t b64_decode4(const char *in, unsigned int *bad)
{
	return b64_value(in[0], bad) << 18 | b64_value(in[1], bad) << 12 |
	       b64_value(in[2], bad) << 6 | b64_value(in[3], bad);
}

bool key_from_base64(uint8_t key[CRYPTO_KEY_LEN], const char *b64)
{
	unsigned int bad = 0;
	uint32_t v;
	int i;

	if (strnlen(b64, KEY_B64_LEN + 1) != KEY_B64_LEN || b64[KEY_B64_LEN - 1] != '=')
		goto fail;
	for (i = 0; i < CRYPTO_KEY_LEN / 3; i++) {
		v = b64_decode4(b64 + 4 * i, &bad);
		key[3 * i] = (uint8_t)(v >> 16);
		key[3 * i + 1] = (uint8_t)(v >> 8);
		key[3 * i + 2] = (uint8_t)v;
	}
	v = b64_value(b64[40], &bad) << 18 | b64_value(b64[41], &bad) << 12 |
	    b64_value(b64[42], &bad) << 6;
	key[30] = (uint8_t)(v >> 16);
	key[31] = (uint8_t)(v >> 8);
	/* Bits past the key must be zero, or two texts would decode to one key. */
	bad |= (v & 0xff) ? ~0U : 0;
	crypto_wipe(&v, sizeof(v));
	if (!bad)
		return true;
fail:
	crypto_wipe(key, CRYPTO_KEY_LEN);
	return false;
}

static char hex_char(unsigned int v)
{
	return (char)((in_range((int)v, 0, 9) & ('0' + v)) |
		      (in_range((int)v, 10, 15) & ('a' + v - 10)));
}

void key_to_hex(char out[KEY_HEX_LEN + 1], const uint8_t key[CRYPTO_KEY_LEN])
{
	int i;

	for (i = 0; i < CRYPTO_KEY_LEN; i++) {
		out[2 * i] = hex_char(key[i] >> 4);
		out[2 * i + 1] = hex_char(key[i] & 15);
	}
	out[KEY_HEX_LEN] = '\0';
}

static unsigned int hex_value(int c, unsigned int *bad)
{
	unsigned int dg = in_range(c, '0', '9'), lo = in_range(c, 'a', 'f');
	unsigned int up = in_range(c, 'A', 'F');

	*bad |= ~(dg | lo | up);
	return ((dg & (unsigned int)(c - '0')) | (lo & (unsigned int)(c - 'a' + 10)) |
		(up & (unsigned int)(c - 'A' + 10))) &
	       15;
}

bool key_from_hex(uint8_t key[CRYPTO_KEY_LEN], const char *hex)
{
	unsigned int bad = 0;
	int i;

	if (strnlen(hex, KEY_HEX_LEN + 1) != KEY_HEX_LEN)
		goto fail;
	for (i = 0; i < CRYPTO_KEY_LEN; i++)
		key[i] =
		    (uint8_t)(hex_value(hex[2 * i], &bad) << 4 | hex_value(hex[2 * i + 1], &bad));
	if (!bad)
		return true;
fail:
	crypto_wipe(key, CRYPTO_KEY_LEN);
	return false;
}
