/* fuzz_uapi: the configuration protocol's request parser (src/uapi.c) over arbitrary streams in
 * arbitrary chunks, several requests a connection, and the get formatter on what a set parsed.
 *
 * Input: byte 0 seeds the chunk sizes, the rest is the connection's stream. After each DONE or
 * BAD the parser is reset and fed the rest, as uapi_sock.c does. Asserted (abort()): *used never
 * exceeds the chunk and NEED_MORE takes all of it; BAD carries a positive errno that formats as
 * "errno=-N"; a parsed set, turned into a get view and formatted, ends in "errno=0\n\n", and the
 * formatted keys fed back as a set request give the same device and peers again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto.h"
#include "log.h"
#include "uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_uapi: %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static size_t next_chunk(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	switch ((*state >> 16) & 3) {
	case 0:
		return 1;
	case 1:
		return 1 + ((*state >> 18) & 15);
	default:
		return 1 + ((*state >> 18) & 1023);
	}
}

/* The view a daemon would report after applying the change, as device.c builds it. */
static struct uapi_peer_view *view_of(const struct interface_config *c, struct uapi_device_view *v)
{
	struct uapi_peer_view *peers = calloc(c->npeers + 1, sizeof(*peers));

	REQUIRE(peers);
	memset(v, 0, sizeof(*v));
	v->has_private_key = c->has_private_key;
	memcpy(v->private_key, c->private_key, CRYPTO_KEY_LEN);
	v->listen_port = c->listen_port;
	v->fwmark = c->fwmark;
	for (size_t i = 0; i < c->npeers; i++) {
		const struct peer_config *pc = &c->peers[i];
		struct uapi_peer_view *pv = &peers[i];

		memcpy(pv->public_key, pc->public_key, CRYPTO_KEY_LEN);
		memcpy(pv->preshared_key, pc->preshared_key, CRYPTO_KEY_LEN);
		pv->endpoint = pc->endpoint;
		if (!pc->has_endpoint)
			pv->endpoint.ss_family = AF_UNSPEC;
		pv->last_handshake_sec = i;
		pv->tx_bytes = pv->rx_bytes = 1000 * i;
		pv->persistent_keepalive_interval = pc->persistent_keepalive;
		pv->allowed_ips = pc->allowed_ips.items;
		pv->n_allowed_ips = pc->allowed_ips.len;
	}
	v->peers = peers;
	v->npeers = c->npeers;
	return peers;
}

/* The get reply as a set request: the counters and errno are report-only keys. */
static char *as_set(const char *get, size_t len, size_t *out_len)
{
	static const char *const report_only[] = {"last_handshake_time_",
						  "tx_bytes=", "rx_bytes=", "errno="};
	char *set = malloc(len + sizeof("set=1\n") + 1), *d = set;
	const char *line = get, *end = get + len;

	REQUIRE(set);
	d += sprintf(d, "set=1\n");
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = (size_t)(nl - line) + 1, skip = 0;

		REQUIRE(nl);
		for (size_t i = 0; i < ARRAY_SIZE(report_only); i++)
			skip |= !strncmp(line, report_only[i], strlen(report_only[i]));
		if (n > 1 && !skip) {
			memcpy(d, line, n);
			d += n;
		}
		line += n;
	}
	*d++ = '\n';
	*out_len = (size_t)(d - set);
	return set;
}

static void same_endpoint(const struct sockaddr_storage *a, const struct peer_config *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)&b->endpoint;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)&b->endpoint;

	if (a->ss_family != AF_INET && a->ss_family != AF_INET6) {
		REQUIRE(!b->has_endpoint);
		return;
	}
	REQUIRE(b->has_endpoint && b->endpoint.ss_family == a->ss_family);
	if (a->ss_family == AF_INET) {
		REQUIRE(a4->sin_addr.s_addr == b4->sin_addr.s_addr && a4->sin_port == b4->sin_port);
		return;
	}
	REQUIRE(!memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) && a6->sin6_port == b6->sin6_port);
	REQUIRE(a6->sin6_scope_id == b6->sin6_scope_id);
}

static void same_as_view(const struct uapi_device_view *v, const struct interface_config *c)
{
	bool key = v->has_private_key && !crypto_is_zero(v->private_key, CRYPTO_KEY_LEN);

	REQUIRE(c->has_private_key == key);
	REQUIRE(!key || !memcmp(c->private_key, v->private_key, CRYPTO_KEY_LEN));
	REQUIRE(c->listen_port == v->listen_port && c->has_listen_port == !!v->listen_port);
	REQUIRE(c->fwmark == v->fwmark && c->has_fwmark == !!v->fwmark);
	REQUIRE(c->npeers == v->npeers);
	for (size_t i = 0; i < v->npeers; i++) {
		const struct uapi_peer_view *pv = &v->peers[i];
		const struct peer_config *pc = &c->peers[i];

		REQUIRE(!memcmp(pc->public_key, pv->public_key, CRYPTO_KEY_LEN));
		REQUIRE(pc->has_psk &&
			!memcmp(pc->preshared_key, pv->preshared_key, CRYPTO_KEY_LEN));
		same_endpoint(&pv->endpoint, pc);
		REQUIRE(pc->has_keepalive &&
			pc->persistent_keepalive == pv->persistent_keepalive_interval);
		REQUIRE(pc->allowed_ips.len == pv->n_allowed_ips);
		for (size_t j = 0; j < pv->n_allowed_ips; j++) {
			const struct allowed_ip *a = &pv->allowed_ips[j],
						*b = &pc->allowed_ips.items[j];

			REQUIRE(a->family == b->family && a->cidr == b->cidr);
			REQUIRE(!memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16));
		}
	}
}

static void round_trip(const struct interface_config *change)
{
	struct uapi_device_view view;
	struct uapi_peer_view *peers = view_of(change, &view);
	struct uapi_parser *again = malloc(sizeof(*again));
	char *get, *set;
	size_t len, set_len, used;

	REQUIRE(again);
	REQUIRE(uapi_format_get(&get, &len, &view) == 0);
	REQUIRE(len >= strlen("errno=0\n\n") && !memcmp(get + len - 9, "errno=0\n\n", 9));
	REQUIRE(strlen(get) == len);
	set = as_set(get, len, &set_len);
	uapi_parser_init(again);
	REQUIRE(uapi_feed(again, set, set_len, &used) == UAPI_DONE && used == set_len);
	same_as_view(&view, &again->change);
	uapi_parser_free(again);
	crypto_wipe(get, len);
	free(get);
	free(set);
	free(peers);
	free(again);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LEVEL_ERR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct uapi_parser p;
	char reply[UAPI_REPLY_ERRNO_MAX];
	uint32_t state;
	size_t off = 1, chunk_left = 0;
	enum uapi_status st;

	if (!size)
		return 0;
	state = data[0];
	uapi_parser_init(&p);
	while (off < size) {
		size_t n, used = 99999;
		uint8_t *chunk;

		if (!chunk_left)
			chunk_left = next_chunk(&state);
		n = MIN(chunk_left, size - off);
		chunk = malloc(n); /* exact size, for ASan */
		REQUIRE(chunk);
		memcpy(chunk, data + off, n);
		st = uapi_feed(&p, chunk, n, &used);
		free(chunk);
		REQUIRE(used <= n);
		off += used;
		chunk_left -= used;
		if (st == UAPI_NEED_MORE) {
			REQUIRE(used == n);
			continue;
		}
		REQUIRE(used > 0);
		if (st == UAPI_BAD) {
			REQUIRE(p.err > 0);
			n = uapi_format_errno(reply, p.err);
			REQUIRE(n > 7 && !strncmp(reply, "errno=-", 7) && reply[n - 1] == '\n');
		} else {
			REQUIRE(st == UAPI_DONE && p.err == 0);
			REQUIRE(p.op == UAPI_OP_GET || p.op == UAPI_OP_SET);
			if (p.op == UAPI_OP_SET)
				round_trip(&p.change);
		}
		uapi_parser_reset(&p);
	}
	uapi_parser_free(&p);
	return 0;
}
