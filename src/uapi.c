/* The userspace configuration protocol: a streaming request parser and the get formatter.
 * Key names, their order and their error codes follow wireguard-go's device/uapi.go, which is
 * what `wg` is tested against. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "encoding.h"
#include "uapi.h"

void uapi_parser_init(struct uapi_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void uapi_parser_free(struct uapi_parser *p)
{
	config_interface_free(&p->change);
	crypto_wipe(p, sizeof(*p));
}

void uapi_parser_reset(struct uapi_parser *p)
{
	uapi_parser_free(p);
	uapi_parser_init(p);
}

/* Request lines */

static bool is_true(const char *value)
{
	return !strcmp(value, "true");
}

static int parse_u(uint64_t *out, const char *value, uint64_t max)
{
	return config_parse_uint(out, value, max) ? 0 : EINVAL;
}

static int device_key(struct uapi_parser *p, const char *key, const char *value)
{
	struct interface_config *c = &p->change;
	uint64_t v;

	if (!strcmp(key, "private_key")) {
		c->has_private_key = true;
		return key_from_hex(c->private_key, value) ? 0 : EINVAL;
	} else if (!strcmp(key, "listen_port")) {
		c->has_listen_port = true;
		if (parse_u(&v, value, 65535))
			return EINVAL;
		c->listen_port = (uint16_t)v;
	} else if (!strcmp(key, "fwmark")) {
		c->has_fwmark = true;
		if (parse_u(&v, value, UINT32_MAX))
			return EINVAL;
		c->fwmark = (uint32_t)v;
	} else if (!strcmp(key, "replace_peers")) {
		c->replace_peers = true;
		return is_true(value) ? 0 : EINVAL;
	} else {
		return EPROTO;
	}
	return 0;
}

static int new_peer(struct uapi_parser *p, const char *value)
{
	struct peer_config *peer = config_add_peer(&p->change);

	if (!peer)
		return ENOMEM;
	p->in_peer = true;
	peer->has_public_key = true;
	return key_from_hex(peer->public_key, value) ? 0 : EINVAL;
}

static int add_allowed_ip(struct peer_config *peer, const char *value)
{
	struct allowed_ip ip;
	const char *why;
	int ret;

	/* Like netip.ParsePrefix, the length is not optional here. */
	if (!strchr(value, '/') || !config_parse_prefix(&ip, value, &why))
		return EINVAL;
	ret = ip_list_add(&peer->allowed_ips, &ip, CONFIG_MAX_ALLOWED_IPS);
	return -ret;
}

static int set_endpoint(struct peer_config *peer, const char *value)
{
	const char *why;

	if (!config_parse_endpoint(&peer->endpoint, peer->endpoint_host, &peer->endpoint_port,
				   value, false, &why))
		return EINVAL;
	peer->has_endpoint = true;
	return 0;
}

static int peer_key(struct uapi_parser *p, const char *key, const char *value)
{
	struct peer_config *peer = &p->change.peers[p->change.npeers - 1];
	uint64_t v;

	if (!strcmp(key, "remove")) {
		peer->remove = true;
		return is_true(value) ? 0 : EINVAL;
	} else if (!strcmp(key, "update_only")) {
		peer->update_only = true;
		return is_true(value) ? 0 : EINVAL;
	} else if (!strcmp(key, "replace_allowed_ips")) {
		peer->replace_allowed_ips = true;
		return is_true(value) ? 0 : EINVAL;
	} else if (!strcmp(key, "preshared_key")) {
		peer->has_psk = true;
		return key_from_hex(peer->preshared_key, value) ? 0 : EINVAL;
	} else if (!strcmp(key, "endpoint")) {
		return set_endpoint(peer, value);
	} else if (!strcmp(key, "persistent_keepalive_interval")) {
		if (parse_u(&v, value, 65535))
			return EINVAL;
		peer->persistent_keepalive = (uint16_t)v;
		peer->has_keepalive = true;
	} else if (!strcmp(key, "allowed_ip")) {
		return add_allowed_ip(peer, value);
	} else if (!strcmp(key, "protocol_version")) {
		return strcmp(value, "1") ? EINVAL : 0;
	} else {
		return EPROTO;
	}
	return 0;
}

static int set_line(struct uapi_parser *p, char *line)
{
	char *value = strchr(line, '=');

	if (!value)
		return EPROTO;
	*value++ = '\0';
	if (!strcmp(line, "public_key"))
		return new_peer(p, value);
	return p->in_peer ? peer_key(p, line, value) : device_key(p, line, value);
}

static enum uapi_status bad(struct uapi_parser *p, int err)
{
	p->err = err;
	return UAPI_BAD;
}

/* One complete line, its newline removed. */
static enum uapi_status take_line(struct uapi_parser *p, char *line)
{
	int err;

	switch (p->op) {
	case UAPI_OP_NONE:
		if (!strcmp(line, "get=1"))
			p->op = UAPI_OP_GET;
		else if (!strcmp(line, "set=1"))
			p->op = UAPI_OP_SET;
		else
			return bad(p, EPROTO);
		return UAPI_NEED_MORE;
	case UAPI_OP_GET:
		return *line ? bad(p, EINVAL) : UAPI_DONE;
	case UAPI_OP_SET:
		if (!*line)
			return UAPI_DONE;
		err = set_line(p, line);
		return err ? bad(p, err) : UAPI_NEED_MORE;
	}
	return bad(p, EPROTO);
}

static enum uapi_status take_byte(struct uapi_parser *p, char c)
{
	enum uapi_status st;

	if (++p->total > UAPI_REQUEST_MAX)
		return bad(p, EMSGSIZE);
	if (c == '\n') {
		p->line[p->linelen] = '\0';
		st = take_line(p, p->line);
		crypto_wipe(p->line, p->linelen);
		p->linelen = 0;
		return st;
	}
	if (c == '\0')
		return bad(p, EPROTO);
	if (p->linelen >= UAPI_LINE_MAX)
		return bad(p, EMSGSIZE);
	p->line[p->linelen++] = c;
	return UAPI_NEED_MORE;
}

enum uapi_status uapi_feed(struct uapi_parser *p, const void *buf, size_t len, size_t *used)
{
	const char *s = buf;
	enum uapi_status st = p->err ? UAPI_BAD : UAPI_NEED_MORE;
	size_t i;

	for (i = 0; i < len && st == UAPI_NEED_MORE; i++)
		st = take_byte(p, s[i]);
	if (used)
		*used = i;
	return st;
}

/* The get reply. The buffer holds the private key, so it is wiped whenever it moves. */

struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

static bool reserve(struct out *o, size_t more)
{
	size_t ncap = o->cap ? o->cap : 4096;
	char *np;

	if (o->len + more < o->cap)
		return true;
	while (ncap <= o->len + more)
		ncap *= 2;
	np = malloc(ncap);
	if (!np)
		return false;
	if (o->p) {
		memcpy(np, o->p, o->len);
		crypto_wipe(o->p, o->cap);
		free(o->p);
	}
	o->p = np;
	o->cap = ncap;
	return true;
}

static void PRINTF(2, 3) put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(o, (size_t)n + 1)) {
		o->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

static void put_key(struct out *o, const char *name, const uint8_t key[CRYPTO_KEY_LEN])
{
	char hex[KEY_HEX_LEN + 1];

	key_to_hex(hex, key);
	put(o, "%s=%s\n", name, hex);
	crypto_wipe(hex, sizeof(hex));
}

static void put_endpoint(struct out *o, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const void *)ss;
	const struct sockaddr_in6 *sin6 = (const void *)ss;
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		put(o, "endpoint=%s:%u\n", ip, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		if (sin6->sin6_scope_id)
			put(o, "endpoint=[%s%%%u]:%u\n", ip, sin6->sin6_scope_id,
			    ntohs(sin6->sin6_port));
		else
			put(o, "endpoint=[%s]:%u\n", ip, ntohs(sin6->sin6_port));
	}
}

static void put_allowed_ip(struct out *o, const struct allowed_ip *aip)
{
	char ip[INET6_ADDRSTRLEN];

	if (!inet_ntop(aip->family, &aip->addr, ip, sizeof(ip)))
		return;
	put(o, "allowed_ip=%s/%u\n", ip, aip->cidr);
}

static void put_peer(struct out *o, const struct uapi_peer_view *peer)
{
	put_key(o, "public_key", peer->public_key);
	put_key(o, "preshared_key", peer->preshared_key);
	put(o, "protocol_version=1\n");
	put_endpoint(o, &peer->endpoint);
	put(o, "last_handshake_time_sec=%llu\n", (unsigned long long)peer->last_handshake_sec);
	put(o, "last_handshake_time_nsec=%llu\n", (unsigned long long)peer->last_handshake_nsec);
	put(o, "tx_bytes=%llu\n", (unsigned long long)peer->tx_bytes);
	put(o, "rx_bytes=%llu\n", (unsigned long long)peer->rx_bytes);
	put(o, "persistent_keepalive_interval=%u\n", peer->persistent_keepalive_interval);
	for (size_t i = 0; i < peer->n_allowed_ips; i++)
		put_allowed_ip(o, &peer->allowed_ips[i]);
}

int uapi_format_get(char **out, size_t *len, const struct uapi_device_view *view)
{
	struct out o = {0};

	if (view->has_private_key && !crypto_is_zero(view->private_key, CRYPTO_KEY_LEN))
		put_key(&o, "private_key", view->private_key);
	if (view->listen_port)
		put(&o, "listen_port=%u\n", view->listen_port);
	if (view->fwmark)
		put(&o, "fwmark=%u\n", view->fwmark);
	for (size_t i = 0; i < view->npeers; i++)
		put_peer(&o, &view->peers[i]);
	put(&o, "errno=0\n\n");
	if (o.oom) {
		if (o.p)
			crypto_wipe(o.p, o.cap);
		free(o.p);
		return -ENOMEM;
	}
	*out = o.p;
	*len = o.len;
	return 0;
}

size_t uapi_format_errno(char out[UAPI_REPLY_ERRNO_MAX], int err)
{
	int n = snprintf(out, UAPI_REPLY_ERRNO_MAX, "errno=%d\n\n", err > 0 ? -err : err);

	return n > 0 ? (size_t)n : 0;
}
