/* fuzz_config: the configuration file parser (src/config.c) over arbitrary text, through
 * config_parse_string() as `porthole up` reads a file, then config_free().
 *
 * Asserted (abort() on violation): an error leaves cfg freed (zeroed) and one line of text in err
 * naming the source; a success satisfies what config_finish() promises (peers have keys and the
 * interface a private key, forwards have Listen and Target and their defaults, limits hold);
 * config_free() leaves the struct zeroed. Leaks are LeakSanitizer's to report. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_config: %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

static void check_forward(const struct forward_config *f)
{
	REQUIRE(f->has_listen && f->has_target);
	REQUIRE(f->name[0] && memchr(f->name, '\0', sizeof(f->name)));
	REQUIRE(memchr(f->target_host, '\0', sizeof(f->target_host)));
	REQUIRE(f->max_connections != 0);
	REQUIRE(f->connect_timeout_ns != 0 || f->has_connect_timeout);
	REQUIRE(f->accept_proxy == ACCEPT_PROXY_OFF || f->trusted_proxies.len);
	REQUIRE(f->protocol == FWD_TCP || !f->server_names.len);
	REQUIRE(f->protocol == FWD_TCP || f->send_proxy != SEND_PROXY_V1);
	for (size_t i = 0; i < f->server_names.len; i++) {
		const char *n = f->server_names.items[i];

		REQUIRE(strlen(n) <= CONFIG_SERVER_NAME_MAX);
		for (; *n; n++)
			REQUIRE(*n < 'A' || *n > 'Z'); /* matched as stored, lower case */
	}
}

static void check_config(const struct porthole_config *cfg)
{
	const struct interface_config *iface = &cfg->iface;

	REQUIRE(cfg->has_interface || iface->npeers || cfg->nforwards);
	REQUIRE(!iface->npeers || iface->has_private_key);
	REQUIRE(iface->mtu >= CONFIG_MIN_MTU && iface->mtu <= CONFIG_MAX_MTU);
	for (size_t i = 0; i < iface->npeers; i++) {
		const struct peer_config *p = &iface->peers[i];

		REQUIRE(p->has_public_key);
		REQUIRE(p->allowed_ips.len <= CONFIG_MAX_ALLOWED_IPS);
		for (size_t j = 0; j < p->allowed_ips.len; j++) {
			const struct allowed_ip *ip = &p->allowed_ips.items[j];

			REQUIRE(ip->family == AF_INET || ip->family == AF_INET6);
			REQUIRE(ip->cidr <= (ip->family == AF_INET ? 32 : 128));
		}
		for (size_t j = 0; j < i; j++)
			REQUIRE(memcmp(p->public_key, iface->peers[j].public_key, CRYPTO_KEY_LEN));
	}
	for (size_t i = 0; i < cfg->nforwards; i++)
		check_forward(&cfg->forwards[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LEVEL_ERR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct porthole_config cfg;
	char err[256];
	char *text = malloc(size + 1);
	int ret;

	REQUIRE(text);
	memcpy(text, data, size);
	text[size] = '\0';
	memset(err, 'x', sizeof(err));
	ret = config_parse_string(&cfg, "fuzz.conf", text, err, sizeof(err));
	free(text);
	REQUIRE(ret <= 0);
	REQUIRE(memchr(err, '\0', sizeof(err)));
	if (ret < 0) {
		REQUIRE(all_zero(&cfg, sizeof(cfg)));
		REQUIRE(!strncmp(err, "fuzz.conf:", strlen("fuzz.conf:")) || ret == -ENOMEM);
		REQUIRE(!strchr(err, '\n'));
		return 0;
	}
	check_config(&cfg);
	config_free(&cfg);
	REQUIRE(all_zero(&cfg, sizeof(cfg)));
	return 0;
}
