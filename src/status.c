/* Snapshots of a running daemon, and their two printed forms: JSON for programs and `wg
 * show`-style text for people. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include "daemon.h"
#include "encoding.h"
#include "json.h"
#include "status.h"
#include "udp.h"

/* ---- collecting, on the loop thread ---- */

struct ip_collect {
	struct status_peer *sp;
	size_t cap;
};

static int collect_ip(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct ip_collect *c = ctx;
	struct status_peer *sp = c->sp;
	struct allowed_ip *ip;

	if (sp->n_allowed_ips == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 4;

		ip = realloc(sp->allowed_ips, cap * sizeof(*ip));
		if (!ip)
			return -ENOMEM;
		sp->allowed_ips = ip;
		c->cap = cap;
	}
	ip = &sp->allowed_ips[sp->n_allowed_ips++];
	memset(ip, 0, sizeof(*ip));
	ip->family = family;
	ip->cidr = cidr;
	memcpy(&ip->addr, addr, family == AF_INET ? 4 : 16);
	return 0;
}

static int collect_peer(struct status_peer *sp, const struct wg_device *dev,
			const struct wg_peer *peer)
{
	struct ip_collect c = {.sp = sp};

	memcpy(sp->public_key, peer->public_key, sizeof(sp->public_key));
	if (peer->has_endpoint)
		endpoint_to_string(&peer->endpoint, sp->endpoint, sizeof(sp->endpoint));
	sp->last_handshake = peer->last_handshake_wall / NSEC_PER_SEC;
	sp->rx_bytes = peer->rx_bytes;
	sp->tx_bytes = peer->tx_bytes;
	sp->persistent_keepalive = peer->persistent_keepalive;
	memcpy(sp->drops, peer->drops, sizeof(sp->drops));
	return allowedips_walk_by_peer(&dev->allowedips, (void *)peer, collect_ip, &c);
}

static int collect_tunnel(struct status *s, const struct wg_device *dev)
{
	const struct wg_peer *peer;
	size_t i = 0;
	int ret;

	s->has_interface = true;
	s->has_public_key = dev->identity.has_identity;
	if (s->has_public_key)
		memcpy(s->public_key, dev->identity.static_public, sizeof(s->public_key));
	s->listen_port = dev->listen_port;
	memcpy(s->drops, dev->drops, sizeof(s->drops));
	s->peers = calloc(dev->npeers ? dev->npeers : 1, sizeof(*s->peers));
	if (!s->peers)
		return -ENOMEM;
	for (peer = dev->first; peer && i < dev->npeers; peer = peer->next) {
		s->npeers = ++i;
		ret = collect_peer(&s->peers[i - 1], dev, peer);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void format_sockaddr(char *out, size_t cap, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + IFNAMSIZ + 1], port[8];
	socklen_t len =
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(out, cap, "?");
		return;
	}
	snprintf(out, cap, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static const struct forward_config *find_forward(const struct porthole_config *cfg,
						 const char *name)
{
	for (size_t i = 0; i < cfg->nforwards; i++)
		if (!strcmp(cfg->forwards[i].name, name))
			return &cfg->forwards[i];
	return NULL;
}

static void collect_forward(struct status_forward *sf, const struct gateway_stats *st,
			    const struct porthole_config *cfg)
{
	const struct forward_config *fc = find_forward(cfg, st->name);

	sf->stats = *st;
	snprintf(sf->name, sizeof(sf->name), "%s", st->name ? st->name : "?");
	sf->stats.name = sf->name;
	if (!fc)
		return;
	sf->protocol = fc->protocol;
	format_sockaddr(sf->listen, sizeof(sf->listen), &fc->listen);
	snprintf(sf->target, sizeof(sf->target), strchr(fc->target_host, ':') ? "[%s]:%u" : "%s:%u",
		 fc->target_host, fc->target_port);
}

struct gateway_snapshot {
	struct status *s;
	const struct daemon *d;
	int ret;
};

/* On the gateway's thread, which owns its counters and forwards. */
static void collect_gateway(void *arg)
{
	struct gateway_snapshot *snap = arg;
	const struct gateway *gw = snap->d->gw;
	size_t n = gateway_forwards(gw);
	struct gateway_stats st;

	snap->s->forwards = calloc(n ? n : 1, sizeof(*snap->s->forwards));
	if (!snap->s->forwards) {
		snap->ret = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (gateway_stats(gw, i, &st))
			collect_forward(&snap->s->forwards[snap->s->nforwards++], &st,
					&snap->d->cfg);
}

int status_collect(struct status *s, const struct daemon *d)
{
	int ret = 0;

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", d->name);
	if (d->tunnel)
		ret = collect_tunnel(s, &d->tunnel->dev);
	s->busy_poll_us = (uint32_t)(loop_busy_poll_ns(d->loop) / NSEC_PER_USEC);
	/* d->gw changes only inside a loop_call() this thread waits for: safe to test here. */
	if (!ret && d->gw) {
		struct gateway_snapshot snap = { s, d, 0 };

		loop_call(d->gw_loop, collect_gateway, &snap);
		ret = snap.ret;
	}
	if (ret)
		status_free(s);
	return ret;
}

void status_free(struct status *s)
{
	for (size_t i = 0; i < s->npeers; i++)
		free(s->peers[i].allowed_ips);
	free(s->peers);
	free(s->forwards);
	memset(s, 0, sizeof(*s));
}

/* ---- JSON ---- */

static void format_prefix(char *out, size_t cap, const struct allowed_ip *ip)
{
	char addr[INET6_ADDRSTRLEN];

	inet_ntop(ip->family, &ip->addr, addr, sizeof(addr));
	snprintf(out, cap, "%s/%u", addr, ip->cidr);
}

static void json_key_string(struct json *j, const char *key, const char *value)
{
	json_key(j, key);
	json_string(j, value);
}

static void json_key_uint(struct json *j, const char *key, uint64_t value)
{
	json_key(j, key);
	json_uint(j, value);
}

static void json_key_b64(struct json *j, const char *key, const uint8_t k[CRYPTO_KEY_LEN])
{
	char b64[KEY_B64_LEN + 1];

	key_to_base64(b64, k);
	json_key_string(j, key, b64);
}

static void json_drops(struct json *j, const uint64_t drops[DROP__MAX])
{
	json_key(j, "drops");
	json_object_begin(j);
	for (int r = DROP_NONE + 1; r < DROP__MAX; r++)
		if (drops[r])
			json_key_uint(j, drop_reason_str(r), drops[r]);
	json_object_end(j);
}

static void json_peer(struct json *j, const struct status_peer *p)
{
	char prefix[INET6_ADDRSTRLEN + 8];

	json_object_begin(j);
	json_key_b64(j, "public_key", p->public_key);
	json_key(j, "endpoint");
	if (p->endpoint[0])
		json_string(j, p->endpoint);
	else
		json_null(j);
	json_key_uint(j, "latest_handshake", p->last_handshake);
	json_key_uint(j, "rx_bytes", p->rx_bytes);
	json_key_uint(j, "tx_bytes", p->tx_bytes);
	json_key_uint(j, "persistent_keepalive", p->persistent_keepalive);
	json_key(j, "allowed_ips");
	json_array_begin(j);
	for (size_t i = 0; i < p->n_allowed_ips; i++) {
		format_prefix(prefix, sizeof(prefix), &p->allowed_ips[i]);
		json_string(j, prefix);
	}
	json_array_end(j);
	json_drops(j, p->drops);
	json_object_end(j);
}

static void json_interface(struct json *j, const struct status *s)
{
	json_key(j, "interface");
	if (!s->has_interface) {
		json_null(j);
		return;
	}
	json_object_begin(j);
	if (s->has_public_key) {
		json_key_b64(j, "public_key", s->public_key);
	} else {
		json_key(j, "public_key");
		json_null(j);
	}
	json_key_uint(j, "listen_port", s->listen_port);
	json_key_uint(j, "busy_poll_us", s->busy_poll_us);
	json_drops(j, s->drops);
	json_key(j, "peers");
	json_array_begin(j);
	for (size_t i = 0; i < s->npeers; i++)
		json_peer(j, &s->peers[i]);
	json_array_end(j);
	json_object_end(j);
}

static void json_forward(struct json *j, const struct status_forward *f)
{
	const struct gateway_stats *st = &f->stats;

	json_object_begin(j);
	json_key_string(j, "name", f->name);
	json_key_string(j, "protocol", f->protocol == FWD_UDP ? "udp" : "tcp");
	json_key_string(j, "listen", f->listen);
	json_key_string(j, "target", f->target);
	json_key_uint(j, "active", st->active);
	json_key_uint(j, "total", st->total);
	json_key_uint(j, "bytes_in", st->bytes_in);
	json_key_uint(j, "bytes_out", st->bytes_out);
	json_key(j, "errors");
	json_object_begin(j);
	for (int e = 0; e < GW_ERR_MAX; e++)
		if (st->errors[e])
			json_key_uint(j, gateway_error_str(e), st->errors[e]);
	json_object_end(j);
	json_key_uint(j, "proxy_failures", st->proxy_failures);
	json_object_end(j);
}

void status_json(const struct status *s, FILE *f, bool pretty)
{
	struct json j;

	json_init(&j, f, pretty);
	json_object_begin(&j);
	json_key_string(&j, "name", s->name);
	json_interface(&j, s);
	json_key(&j, "forwards");
	json_array_begin(&j);
	for (size_t i = 0; i < s->nforwards; i++)
		json_forward(&j, &s->forwards[i]);
	json_array_end(&j);
	json_object_end(&j);
}

/* ---- text ---- */

void status_duration(char *out, size_t cap, uint64_t seconds)
{
	static const struct {
		uint64_t len;
		const char *name;
	} units[] = {
	    {365 * 86400ULL, "year"}, {86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"},
	};
	size_t pos = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(units) && pos < cap; i++) {
		uint64_t n = seconds / units[i].len;

		seconds %= units[i].len;
		if (!n)
			continue;
		pos += (size_t)snprintf(out + pos, cap - pos, "%s%llu %s%s", pos ? ", " : "",
					(unsigned long long)n, units[i].name, n == 1 ? "" : "s");
	}
	if (!out[0])
		snprintf(out, cap, "0 seconds");
}

/* As wg(8): "1.50 KiB". */
static void format_bytes(char *out, size_t cap, uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, cap, "%llu B", (unsigned long long)bytes);
		return;
	}
	for (v /= 1024; v >= 1024 && u + 1 < ARRAY_SIZE(units); u++)
		v /= 1024;
	snprintf(out, cap, "%.2f %s", v, units[u]);
}

/* For the table: at most five characters, "999", "1.5K", "30M". */
static void format_short(char *out, size_t cap, uint64_t n)
{
	static const char units[] = "KMGTPE";
	double v = (double)n;
	size_t u = 0;

	if (n < 1000) {
		snprintf(out, cap, "%llu", (unsigned long long)n);
		return;
	}
	for (v /= 1024; v >= 1000 && u + 1 < sizeof(units) - 1; u++)
		v /= 1024;
	snprintf(out, cap, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

static void text_drops(FILE *f, const uint64_t drops[DROP__MAX])
{
	bool any = false;

	for (int r = DROP_NONE + 1; r < DROP__MAX; r++) {
		if (!drops[r])
			continue;
		fprintf(f, "%s%s %llu", any ? ", " : "  dropped: ", drop_reason_str(r),
			(unsigned long long)drops[r]);
		any = true;
	}
	if (any)
		fputc('\n', f);
}

static void text_handshake(FILE *f, uint64_t last, uint64_t now)
{
	char ago[96];

	if (!last)
		return;
	if (last >= now) {
		fprintf(f, "  latest handshake: now\n");
		return;
	}
	status_duration(ago, sizeof(ago), now - last);
	fprintf(f, "  latest handshake: %s ago\n", ago);
}

static void text_peer(FILE *f, const struct status_peer *p, uint64_t now)
{
	char b64[KEY_B64_LEN + 1], rx[32], tx[32], prefix[INET6_ADDRSTRLEN + 8];

	key_to_base64(b64, p->public_key);
	fprintf(f, "\npeer: %s\n", b64);
	if (p->endpoint[0])
		fprintf(f, "  endpoint: %s\n", p->endpoint);
	fprintf(f, "  allowed ips: ");
	for (size_t i = 0; i < p->n_allowed_ips; i++) {
		format_prefix(prefix, sizeof(prefix), &p->allowed_ips[i]);
		fprintf(f, "%s%s", i ? ", " : "", prefix);
	}
	fprintf(f, "%s\n", p->n_allowed_ips ? "" : "(none)");
	text_handshake(f, p->last_handshake, now);
	if (p->rx_bytes || p->tx_bytes) {
		format_bytes(rx, sizeof(rx), p->rx_bytes);
		format_bytes(tx, sizeof(tx), p->tx_bytes);
		fprintf(f, "  transfer: %s received, %s sent\n", rx, tx);
	}
	if (p->persistent_keepalive)
		fprintf(f, "  persistent keepalive: every %u seconds\n", p->persistent_keepalive);
	text_drops(f, p->drops);
}

static void text_interface(FILE *f, const struct status *s, uint64_t now)
{
	char b64[KEY_B64_LEN + 1];

	fprintf(f, "interface: %s\n", s->name);
	if (!s->has_interface) {
		fprintf(f, "  (forwards only, no tunnel)\n");
		return;
	}
	if (s->has_public_key) {
		key_to_base64(b64, s->public_key);
		fprintf(f, "  public key: %s\n", b64);
	}
	if (s->listen_port)
		fprintf(f, "  listening port: %u\n", s->listen_port);
	if (s->busy_poll_us)
		fprintf(f, "  busy poll: %u us\n", s->busy_poll_us);
	text_drops(f, s->drops);
	for (size_t i = 0; i < s->npeers; i++)
		text_peer(f, &s->peers[i], now);
}

/* 2 + 10 + 1 + 18 + 1 + 18 + 1 + 5 + 1 + 6 + 1 + 5 + 1 + 5 = 75 columns; a longer name or
 * address pushes its row wider rather than being cut. */
#define FWD_ROW "  %-10s %-18s %-18s %5s %6s %5s %5s\n"

static void text_forward_errors(FILE *f, const struct status_forward *fw)
{
	const struct gateway_stats *st = &fw->stats;
	bool any = false;

	for (int e = 0; e < GW_ERR_MAX; e++) {
		if (!st->errors[e])
			continue;
		fprintf(f, "%s%s %llu", any ? ", " : "    errors: ", gateway_error_str(e),
			(unsigned long long)st->errors[e]);
		any = true;
	}
	if (st->proxy_failures)
		fprintf(f, "%sPROXY failures %llu", any ? "; " : "    ",
			(unsigned long long)st->proxy_failures);
	if (any || st->proxy_failures)
		fputc('\n', f);
}

static void text_forward(FILE *f, const struct status_forward *fw)
{
	const struct gateway_stats *st = &fw->stats;
	char listen[STATUS_ADDR_MAX + 4], act[24], tot[24], in[24], out[24];

	snprintf(listen, sizeof(listen), "%s%s", fw->listen, fw->protocol == FWD_UDP ? "/udp" : "");
	snprintf(act, sizeof(act), "%llu", (unsigned long long)st->active);
	format_short(tot, sizeof(tot), st->total);
	format_short(in, sizeof(in), st->bytes_in);
	format_short(out, sizeof(out), st->bytes_out);
	fprintf(f, FWD_ROW, fw->name, listen, fw->target, act, tot, in, out);
	text_forward_errors(f, fw);
}

void status_text(const struct status *s, FILE *f, uint64_t now)
{
	text_interface(f, s, now);
	if (!s->nforwards)
		return;
	fprintf(f, "\nforwards:\n" FWD_ROW, "NAME", "LISTEN", "TARGET", "ACTIVE", "TOTAL", "IN",
		"OUT");
	for (size_t i = 0; i < s->nforwards; i++)
		text_forward(f, &s->forwards[i]);
}
