/* genkey, genpsk, pubkey: byte-for-byte the output of `wg genkey|genpsk|pubkey`. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "crypto.h"
#include "encoding.h"
#include "subcommands.h"

/* Like wg: keys are secrets, so refuse silently to make a world-readable file readable. */
static void warn_if_world_readable(void)
{
	struct stat st;

	if (!fstat(STDOUT_FILENO, &st) && S_ISREG(st.st_mode) && (st.st_mode & S_IRWXO))
		fputs("Warning: writing to world accessible file.\n"
		      "Consider setting the umask to 077 and trying again.\n",
		      stderr);
}

static int print_key(const uint8_t key[CRYPTO_KEY_LEN])
{
	char b64[KEY_B64_LEN + 1];

	key_to_base64(b64, key);
	if (puts(b64) < 0 || fflush(stdout)) {
		perror("stdout");
		return 1;
	}
	return 0;
}

static int random_key_main(int argc, char *argv[], bool clamp)
{
	uint8_t key[CRYPTO_KEY_LEN];
	int ret;

	if (argc != 1) {
		fprintf(stderr, "Usage: %s %s\n", prog_name, argv[0]);
		return 1;
	}
	warn_if_world_readable();
	if (crypto_random(key, sizeof(key)) < 0) {
		perror("getrandom");
		return 1;
	}
	if (clamp)
		curve25519_clamp(key);
	ret = print_key(key);
	crypto_wipe(key, sizeof(key));
	return ret;
}

int genkey_main(int argc, char *argv[])
{
	return random_key_main(argc, argv, true);
}

int genpsk_main(int argc, char *argv[])
{
	return random_key_main(argc, argv, false);
}

/* Reads one base64 key from stdin; surrounding white space is allowed, anything else is not. */
static bool read_key(uint8_t key[CRYPTO_KEY_LEN])
{
	char buf[256];
	size_t n = fread(buf, 1, sizeof(buf) - 1, stdin);
	char *start = buf, *end;
	bool ok;

	buf[n] = '\0';
	while (*start && isspace((unsigned char)*start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		*--end = '\0';
	ok = n < sizeof(buf) - 1 && key_from_base64(key, start);
	crypto_wipe(buf, sizeof(buf));
	return ok;
}

int pubkey_main(int argc, char *argv[])
{
	uint8_t priv[CRYPTO_KEY_LEN], pub[CRYPTO_KEY_LEN];
	int ret = 1;

	if (argc != 1) {
		fprintf(stderr, "Usage: %s %s\n", prog_name, argv[0]);
		return 1;
	}
	if (!read_key(priv)) {
		fprintf(stderr, "%s: Key is not the correct length or format\n", argv[0]);
		goto out;
	}
	curve25519_generate_public(pub, priv);
	ret = print_key(pub);
out:
	crypto_wipe(priv, sizeof(priv));
	return ret;
}
