/* The text forms of 32-byte keys that wg(8) and wg-quick(8) read and print: 44-character base64
 * with one '=' of padding, and 64 hex digits. Decoding runs in time independent of the key's
 * value, since the text is usually a private key. */
#ifndef PORTHOLE_ENCODING_H
#define PORTHOLE_ENCODING_H

#include <stdbool.h>
#include <stdint.h>
#include "compat.h"
#include "crypto.h"

enum {
	KEY_B64_LEN = 44, /* chars, without NUL */
	KEY_HEX_LEN = 64,
};

void key_to_base64(char out[KEY_B64_LEN + 1], const uint8_t key[CRYPTO_KEY_LEN]);
/* Exactly 44 characters of the standard alphabet ending in '=', whose unused low bits are zero.
 * On false the key is zeroed. */
bool key_from_base64(uint8_t key[CRYPTO_KEY_LEN], const char *b64) WARN_UNUSED;
void key_to_hex(char out[KEY_HEX_LEN + 1], const uint8_t key[CRYPTO_KEY_LEN]);
/* Exactly 64 hex digits, either case. On false the key is zeroed. */
bool key_from_hex(uint8_t key[CRYPTO_KEY_LEN], const char *hex) WARN_UNUSED;

#endif
