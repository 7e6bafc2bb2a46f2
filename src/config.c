/* The configuration file parser: wg-quick's format plus [Forward] sections. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "config.h"
#include "encoding.h"
#include "log.h"

/* Lists */

static int grow(void **items, size_t *cap, size_t len, size_t size, size_t max)
{
	size_t ncap;
	void *p;

	if (len < *cap)
		return 0;
	if (len >= max)
		return -E2BIG;
	ncap = *cap ? MIN(*cap * 2, max) : 8;
	p = realloc(*items, ncap * size);
	if (!p)
		return -ENOMEM;
	*items = p;
	*cap = ncap;
	return 0;
}

int ip_list_add(struct ip_list *list, const struct allowed_ip *ip, size_t max)
{
	int ret = grow((void **)&list->items, &list->cap, list->len, sizeof(*ip), max);

	if (!ret)
		list->items[list->len++] = *ip;
	return ret;
}

void ip_list_free(struct ip_list *list)
{
	free(list->items);
	memset(list, 0, sizeof(*list));
}

int string_list_add(struct string_list *list, const char *s, size_t max)
{
	int ret = grow((void **)&list->items, &list->cap, list->len, sizeof(char *), max);
	char *copy;

	if (ret)
		return ret;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	list->items[list->len++] = copy;
	return 0;
}

void string_list_free(struct string_list *list)
{
	for (size_t i = 0; i < list->len; i++)
		free(list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

struct peer_config *config_add_peer(struct interface_config *iface)
{
	struct peer_config *peer;

	if (grow((void **)&iface->peers, &iface->peers_cap, iface->npeers, sizeof(*peer),
		 CONFIG_MAX_PEERS))
		return NULL;
	peer = &iface->peers[iface->npeers++];
	memset(peer, 0, sizeof(*peer));
	return peer;
}

static struct forward_config *add_forward(struct porthole_config *cfg)
{
	struct forward_config *fwd;

	if (grow((void **)&cfg->forwards, &cfg->forwards_cap, cfg->nforwards, sizeof(*fwd),
		 CONFIG_MAX_FORWARDS))
		return NULL;
	fwd = &cfg->forwards[cfg->nforwards++];
	memset(fwd, 0, sizeof(*fwd));
	return fwd;
}

void config_interface_free(struct interface_config *iface)
{
	for (size_t i = 0; i < iface->npeers; i++) {
		ip_list_free(&iface->peers[i].allowed_ips);
		crypto_wipe(iface->peers[i].preshared_key, CRYPTO_KEY_LEN);
	}
	free(iface->peers);
	ip_list_free(&iface->addresses);
	crypto_wipe(iface, sizeof(*iface));
}

static void forward_free(struct forward_config *fwd)
{
	ip_list_free(&fwd->trusted_proxies);
	ip_list_free(&fwd->allow_from);
	string_list_free(&fwd->server_names);
}

void config_free(struct porthole_config *cfg)
{
	config_interface_free(&cfg->iface);
	for (size_t i = 0; i < cfg->nforwards; i++)
		forward_free(&cfg->forwards[i]);
	free(cfg->forwards);
	memset(cfg, 0, sizeof(*cfg));
}

/* Value parsers */

bool config_parse_uint(uint64_t *out, const char *text, uint64_t max)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)text[0]))
		return false;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

bool config_parse_prefix(struct allowed_ip *out, const char *text, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	uint64_t cidr;
	unsigned int max;

	memset(out, 0, sizeof(*out));
	*why = "not an IP address";
	if (strlen(text) >= sizeof(buf))
		return false;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	out->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(out->family, buf, &out->addr) != 1)
		return false;
	max = out->family == AF_INET ? 32 : 128;
	cidr = max;
	*why = "prefix length is not a number";
	if (slash && !config_parse_uint(&cidr, slash, UINT64_MAX))
		return false;
	*why = "prefix length out of range";
	if (cidr > max)
		return false;
	out->cidr = (uint8_t)cidr;
	*why = NULL;
	return true;
}

/* Letters, digits, '-', '_' and dots between non-empty labels. */
static bool valid_host_name(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (!len || len > CONFIG_SERVER_NAME_MAX)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (!label)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

static bool parse_scope(uint32_t *scope, const char *text)
{
	uint64_t v;

	if (config_parse_uint(&v, text, UINT32_MAX)) {
		*scope = (uint32_t)v;
		return true;
	}
	*scope = if_nametoindex(text);
	return *scope != 0;
}

static bool parse_v6_host(struct sockaddr_in6 *sin6, const char *host, const char **why)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char *pct;

	*why = "not an IPv6 address";
	if (strlen(host) >= sizeof(buf))
		return false;
	strcpy(buf, host);
	pct = strchr(buf, '%');
	if (pct)
		*pct++ = '\0';
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
		return false;
	*why = "unknown interface in scope";
	if (pct && !parse_scope(&sin6->sin6_scope_id, pct))
		return false;
	sin6->sin6_family = AF_INET6;
	return true;
}

/* Splits "host:port" or "[host]:port" in place. */
static bool split_host_port(char *buf, char **host, char **port, bool *bracketed, const char **why)
{
	char *colon;

	*bracketed = buf[0] == '[';
	if (*bracketed) {
		colon = strchr(buf, ']');
		*why = "no closing bracket";
		if (!colon)
			return false;
		*colon++ = '\0';
		*host = buf + 1;
		*why = "missing port";
		if (*colon != ':')
			return false;
	} else {
		colon = strrchr(buf, ':');
		*why = "missing port";
		if (!colon)
			return false;
		*colon = '\0';
		*host = buf;
		*why = "IPv6 addresses need brackets, as in [2001:db8::1]:51820";
		if (strchr(buf, ':'))
			return false;
	}
	*port = colon + 1;
	*why = "empty host";
	return **host != '\0';
}

static bool parse_host(struct sockaddr_storage *out, const char *host, bool bracketed,
		       bool allow_name, const char **why)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)out;

	if (bracketed)
		return parse_v6_host((struct sockaddr_in6 *)out, host, why);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return true;
	}
	*why = allow_name ? "not an IP address or host name" : "not an IP address";
	if (!allow_name || !valid_host_name(host))
		return false;
	out->ss_family = AF_UNSPEC;
	return true;
}

bool config_parse_endpoint(struct sockaddr_storage *out, char host_out[CONFIG_HOST_MAX],
			   uint16_t *port_out, const char *text, bool allow_name, const char **why)
{
	char buf[CONFIG_HOST_MAX + 8];
	char *host, *port;
	bool bracketed;
	uint64_t p;

	memset(out, 0, sizeof(*out));
	*why = "too long";
	if (strlen(text) >= sizeof(buf))
		return false;
	strcpy(buf, text);
	if (!split_host_port(buf, &host, &port, &bracketed, why))
		return false;
	*why = "port must be 1 to 65535";
	if (!config_parse_uint(&p, port, 65535) || !p)
		return false;
	if (!parse_host(out, host, bracketed, allow_name, why))
		return false;
	if (out->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons((uint16_t)p);
	else if (out->ss_family == AF_INET6)
		((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)p);
	snprintf(host_out, CONFIG_HOST_MAX, "%s", host);
	*port_out = (uint16_t)p;
	*why = NULL;
	return true;
}

bool config_parse_duration(uint64_t *ns, const char *text, const char **why)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
	    {"", NSEC_PER_SEC},	      {"ms", NSEC_PER_MSEC},	  {"s", NSEC_PER_SEC},
	    {"m", 60 * NSEC_PER_SEC}, {"h", 3600 * NSEC_PER_SEC}, {"d", 86400 * NSEC_PER_SEC},
	};
	unsigned long long v;
	char *end;

	*why = "expected a number with unit ms, s, m, h or d";
	if (!isdigit((unsigned char)text[0]))
		return false;
	errno = 0;
	v = strtoull(text, &end, 10);
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].suffix))
			continue;
		*why = "too long";
		if (errno || v > 365ULL * 86400 * NSEC_PER_SEC / units[i].ns)
			return false;
		*ns = v * units[i].ns;
		*why = NULL;
		return true;
	}
	return false;
}

/* The line parser */

static int PRINTF(3, 4) fail(struct config_ctx *ctx, unsigned int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ctx->errlen)
		return -EINVAL;
	if (line)
		n = snprintf(ctx->err, ctx->errlen, "%s:%u: ", ctx->cfg->source, line);
	else
		n = snprintf(ctx->err, ctx->errlen, "%s: ", ctx->cfg->source);
	if (n < 0 || (size_t)n >= ctx->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int fail_list(struct config_ctx *ctx, const char *key, int ret)
{
	if (ret == -ENOMEM) {
		fail(ctx, ctx->line, "out of memory");
		return ret;
	}
	return fail(ctx, ctx->line, "too many %s entries", key);
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static struct peer_config *cur_peer(struct config_ctx *ctx)
{
	return &ctx->cfg->iface.peers[ctx->cfg->iface.npeers - 1];
}

static struct forward_config *cur_forward(struct config_ctx *ctx)
{
	return &ctx->cfg->forwards[ctx->cfg->nforwards - 1];
}

/* Calls one(ctx, key, item, arg) for each comma-separated item; empty items are errors. */
static int each_item(struct config_ctx *ctx, const char *key, char *value,
		     int (*one)(struct config_ctx *, const char *, const char *, void *), void *arg)
{
	char *item;
	int ret;

	while ((item = strsep(&value, ","))) {
		item = trim(item);
		if (!*item)
			return fail(ctx, ctx->line, "empty entry in %s", key);
		ret = one(ctx, key, item, arg);
		if (ret)
			return ret;
	}
	return 0;
}

static int add_prefix(struct config_ctx *ctx, const char *key, const char *item, void *list)
{
	struct allowed_ip ip;
	const char *why;
	int ret;

	if (!config_parse_prefix(&ip, item, &why))
		return fail(ctx, ctx->line, "invalid %s '%s': %s", key, item, why);
	ret = ip_list_add(list, &ip,
			  !strcmp(key, "AllowedIPs") ? CONFIG_MAX_ALLOWED_IPS : CONFIG_MAX_LIST);
	return ret ? fail_list(ctx, key, ret) : 0;
}

static int parse_prefixes(struct config_ctx *ctx, const char *key, char *value,
			  struct ip_list *list)
{
	return each_item(ctx, key, value, add_prefix, list);
}

/* Keys are secrets: errors never quote them. */
static int parse_key(struct config_ctx *ctx, const char *key, const char *value,
		     uint8_t out[CRYPTO_KEY_LEN])
{
	if (!key_from_base64(out, value)) {
		crypto_wipe(out, CRYPTO_KEY_LEN);
		return fail(ctx, ctx->line, "invalid %s: not a base64 encoded 32-byte key", key);
	}
	return 0;
}

static int parse_number(struct config_ctx *ctx, const char *key, const char *value, uint64_t *out,
			uint64_t min, uint64_t max)
{
	if (!config_parse_uint(out, value, max) || *out < min)
		return fail(ctx, ctx->line, "invalid %s '%s': expected a number from %llu to %llu",
			    key, value, (unsigned long long)min, (unsigned long long)max);
	return 0;
}

/* [Interface] */

static int set_private_key(struct config_ctx *ctx, const char *key, char *value)
{
	struct interface_config *iface = &ctx->cfg->iface;

	iface->has_private_key = true;
	return parse_key(ctx, key, value, iface->private_key);
}

static int set_listen_port(struct config_ctx *ctx, const char *key, char *value)
{
	uint64_t v;
	int ret = parse_number(ctx, key, value, &v, 0, 65535);

	ctx->cfg->iface.listen_port = (uint16_t)v;
	ctx->cfg->iface.has_listen_port = !ret;
	return ret;
}

static int set_fwmark(struct config_ctx *ctx, const char *key, char *value)
{
	unsigned long long v = 0;
	char *end = value;

	errno = 0;
	if (strcasecmp(value, "off")) {
		bool hex = value[0] == '0' && (value[1] == 'x' || value[1] == 'X') && value[2];

		if (isdigit((unsigned char)value[0]))
			v = strtoull(value, &end, hex ? 16 : 10);
		if (errno || *end || end == value || v > UINT32_MAX)
			return fail(
			    ctx, ctx->line,
			    "invalid FwMark '%s': expected off or a number up to 0xffffffff",
			    value);
	}
	ctx->cfg->iface.fwmark = (uint32_t)v;
	ctx->cfg->iface.has_fwmark = true;
	return 0;
}

static int set_address(struct config_ctx *ctx, const char *key, char *value)
{
	return parse_prefixes(ctx, key, value, &ctx->cfg->iface.addresses);
}

static int set_mtu(struct config_ctx *ctx, const char *key, char *value)
{
	uint64_t v;
	int ret = parse_number(ctx, key, value, &v, CONFIG_MIN_MTU, CONFIG_MAX_MTU);

	if (!ret) {
		ctx->cfg->iface.mtu = (uint32_t)v;
		ctx->cfg->iface.has_mtu = true;
	}
	return ret;
}

static int set_metrics_listen(struct config_ctx *ctx, const char *key, char *value)
{
	struct sockaddr_storage ss;
	char host[CONFIG_HOST_MAX];
	const char *why;
	uint16_t port;

	if (!config_parse_endpoint(&ss, host, &port, value, false, &why))
		return fail(ctx, ctx->line, "invalid %s '%s': %s", key, value, why);
	snprintf(ctx->cfg->iface.metrics_listen, sizeof(ctx->cfg->iface.metrics_listen), "%s",
		 value);
	return 0;
}

static int set_busy_poll(struct config_ctx *ctx, const char *key, char *value)
{
	uint64_t v;
	int ret = parse_number(ctx, key, value, &v, 0, CONFIG_MAX_BUSY_POLL_US);

	if (!ret)
		ctx->cfg->iface.busy_poll_us = (uint32_t)v;
	return ret;
}

/* [Peer] */

static int set_public_key(struct config_ctx *ctx, const char *key, char *value)
{
	cur_peer(ctx)->has_public_key = true;
	return parse_key(ctx, key, value, cur_peer(ctx)->public_key);
}

static int set_preshared_key(struct config_ctx *ctx, const char *key, char *value)
{
	cur_peer(ctx)->has_psk = true;
	return parse_key(ctx, key, value, cur_peer(ctx)->preshared_key);
}

static int set_endpoint(struct config_ctx *ctx, const char *key, char *value)
{
	struct peer_config *peer = cur_peer(ctx);
	const char *why;

	if (!config_parse_endpoint(&peer->endpoint, peer->endpoint_host, &peer->endpoint_port,
				   value, true, &why))
		return fail(ctx, ctx->line, "invalid %s '%s': %s", key, value, why);
	peer->has_endpoint = true;
	return 0;
}

static int set_allowed_ips(struct config_ctx *ctx, const char *key, char *value)
{
	/* "AllowedIPs =" is allowed and means none, as in wg. */
	if (!*value)
		return 0;
	return parse_prefixes(ctx, key, value, &cur_peer(ctx)->allowed_ips);
}

static int set_keepalive(struct config_ctx *ctx, const char *key, char *value)
{
	struct peer_config *peer = cur_peer(ctx);
	uint64_t v = 0;

	if (strcasecmp(value, "off") && !config_parse_uint(&v, value, 65535))
		return fail(ctx, ctx->line, "invalid %s '%s': expected off or 0 to 65535", key,
			    value);
	peer->persistent_keepalive = (uint16_t)v;
	peer->has_keepalive = true;
	return 0;
}

/* [Forward] */

static int set_name(struct config_ctx *ctx, const char *key, char *value)
{
	const char *s;

	for (s = value; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			break;
	}
	if (*s || !*value || strlen(value) >= CONFIG_NAME_MAX)
		return fail(ctx, ctx->line,
			    "invalid Name '%s': use 1 to %d letters, digits, '.', '_' or '-'",
			    value, CONFIG_NAME_MAX - 1);
	strcpy(cur_forward(ctx)->name, value);
	return 0;
}

static int set_listen(struct config_ctx *ctx, const char *key, char *value)
{
	struct forward_config *fwd = cur_forward(ctx);
	char host[CONFIG_HOST_MAX];
	const char *why;
	uint16_t port;

	if (!config_parse_endpoint(&fwd->listen, host, &port, value, false, &why))
		return fail(ctx, ctx->line, "invalid %s '%s': %s", key, value, why);
	fwd->has_listen = true;
	return 0;
}

static int set_target(struct config_ctx *ctx, const char *key, char *value)
{
	struct forward_config *fwd = cur_forward(ctx);
	const char *why;

	if (!config_parse_endpoint(&fwd->target, fwd->target_host, &fwd->target_port, value, true,
				   &why))
		return fail(ctx, ctx->line, "invalid %s '%s': %s", key, value, why);
	fwd->has_target = true;
	fwd->has_target_addr = fwd->target.ss_family != AF_UNSPEC;
	return 0;
}

/* Looks value up in a NULL-terminated list of words; -1 when absent. */
static int word(const char *value, const char *const *words)
{
	for (int i = 0; words[i]; i++) {
		if (!strcasecmp(value, words[i]))
			return i;
	}
	return -1;
}

static int set_protocol(struct config_ctx *ctx, const char *key, char *value)
{
	static const char *const words[] = {"tcp", "udp", NULL};
	int v = word(value, words);

	if (v < 0)
		return fail(ctx, ctx->line, "invalid Protocol '%s': expected tcp or udp", value);
	cur_forward(ctx)->protocol = (enum fwd_protocol)v;
	return 0;
}

static int set_send_proxy(struct config_ctx *ctx, const char *key, char *value)
{
	static const char *const words[] = {"off", "v1", "v2", NULL};
	int v = word(value, words);

	if (v < 0)
		return fail(ctx, ctx->line, "invalid SendProxy '%s': expected off, v1 or v2",
			    value);
	cur_forward(ctx)->send_proxy = (enum fwd_send_proxy)v;
	return 0;
}

static int set_accept_proxy(struct config_ctx *ctx, const char *key, char *value)
{
	static const char *const words[] = {"off", "required", "optional", NULL};
	int v = word(value, words);

	if (v < 0)
		return fail(ctx, ctx->line,
			    "invalid AcceptProxy '%s': expected off, required or optional", value);
	cur_forward(ctx)->accept_proxy = (enum fwd_accept_proxy)v;
	return 0;
}

static int set_trusted_proxies(struct config_ctx *ctx, const char *key, char *value)
{
	return parse_prefixes(ctx, key, value, &cur_forward(ctx)->trusted_proxies);
}

static int set_allow_from(struct config_ctx *ctx, const char *key, char *value)
{
	return parse_prefixes(ctx, key, value, &cur_forward(ctx)->allow_from);
}

static int add_server_name(struct config_ctx *ctx, const char *key, const char *item, void *arg)
{
	struct string_list *list = arg;
	char name[CONFIG_SERVER_NAME_MAX + 1];
	const char *host = item;
	int ret;

	if (!strncmp(item, "*.", 2))
		host += 2;
	if (strlen(item) >= sizeof(name) || !valid_host_name(host))
		return fail(ctx, ctx->line,
			    "invalid ServerName '%s': expected a host name or *.domain", item);
	for (size_t i = 0; item[i]; i++)
		name[i] = (char)tolower((unsigned char)item[i]);
	name[strlen(item)] = '\0';
	ret = string_list_add(list, name, CONFIG_MAX_LIST);
	return ret ? fail_list(ctx, key, ret) : 0;
}

static int set_server_name(struct config_ctx *ctx, const char *key, char *value)
{
	return each_item(ctx, key, value, add_server_name, &cur_forward(ctx)->server_names);
}

static int set_u32(struct config_ctx *ctx, const char *key, const char *value, uint32_t *out)
{
	uint64_t v;
	int ret = parse_number(ctx, key, value, &v, 0, UINT32_MAX);

	*out = (uint32_t)v;
	return ret;
}

static int set_max_conns(struct config_ctx *ctx, const char *key, char *value)
{
	return set_u32(ctx, key, value, &cur_forward(ctx)->max_connections);
}

static int set_max_per_source(struct config_ctx *ctx, const char *key, char *value)
{
	return set_u32(ctx, key, value, &cur_forward(ctx)->max_connections_per_source);
}

static int set_duration(struct config_ctx *ctx, const char *key, const char *value, uint64_t *out,
			bool *has)
{
	const char *why;

	if (!config_parse_duration(out, value, &why))
		return fail(ctx, ctx->line, "invalid %s '%s': %s", key, value, why);
	*has = true;
	return 0;
}

static int set_connect_timeout(struct config_ctx *ctx, const char *key, char *value)
{
	struct forward_config *fwd = cur_forward(ctx);

	return set_duration(ctx, key, value, &fwd->connect_timeout_ns, &fwd->has_connect_timeout);
}

static int set_idle_timeout(struct config_ctx *ctx, const char *key, char *value)
{
	struct forward_config *fwd = cur_forward(ctx);

	return set_duration(ctx, key, value, &fwd->idle_timeout_ns, &fwd->has_idle_timeout);
}

static int set_splice(struct config_ctx *ctx, const char *key, char *value)
{
	static const char *const words[] = {"auto", "off", NULL};
	int v = word(value, words);

	if (v < 0)
		return fail(ctx, ctx->line, "invalid Splice '%s': expected auto or off", value);
	cur_forward(ctx)->splice_off = v == 1;
	return 0;
}

static const char *const section_names[] = {
    [SECTION_NONE] = "no section",
    [SECTION_INTERFACE] = "[Interface]",
    [SECTION_PEER] = "[Peer]",
    [SECTION_FORWARD] = "[Forward]",
};

static const struct {
	const char *key;
	int section;
	int (*set)(struct config_ctx *ctx, const char *key, char *value);
} keys[] = {
    {"PrivateKey", SECTION_INTERFACE, set_private_key},
    {"ListenPort", SECTION_INTERFACE, set_listen_port},
    {"FwMark", SECTION_INTERFACE, set_fwmark},
    {"Address", SECTION_INTERFACE, set_address},
    {"MTU", SECTION_INTERFACE, set_mtu},
    {"MetricsListen", SECTION_INTERFACE, set_metrics_listen},
    {"BusyPoll", SECTION_INTERFACE, set_busy_poll},
    {"PublicKey", SECTION_PEER, set_public_key},
    {"PresharedKey", SECTION_PEER, set_preshared_key},
    {"Endpoint", SECTION_PEER, set_endpoint},
    {"AllowedIPs", SECTION_PEER, set_allowed_ips},
    {"PersistentKeepalive", SECTION_PEER, set_keepalive},
    {"Name", SECTION_FORWARD, set_name},
    {"Listen", SECTION_FORWARD, set_listen},
    {"Protocol", SECTION_FORWARD, set_protocol},
    {"Target", SECTION_FORWARD, set_target},
    {"SendProxy", SECTION_FORWARD, set_send_proxy},
    {"AcceptProxy", SECTION_FORWARD, set_accept_proxy},
    {"TrustedProxies", SECTION_FORWARD, set_trusted_proxies},
    {"ServerName", SECTION_FORWARD, set_server_name},
    {"AllowFrom", SECTION_FORWARD, set_allow_from},
    {"MaxConnections", SECTION_FORWARD, set_max_conns},
    {"MaxConnectionsPerSource", SECTION_FORWARD, set_max_per_source},
    {"ConnectTimeout", SECTION_FORWARD, set_connect_timeout},
    {"IdleTimeout", SECTION_FORWARD, set_idle_timeout},
    {"Splice", SECTION_FORWARD, set_splice},
};

/* wg-quick keys that porthole deliberately refuses, and why. */
static const struct {
	const char *key;
	const char *why;
} refused[] = {
    {"PreUp", "porthole runs no commands from its configuration"},
    {"PostUp", "porthole runs no commands from its configuration"},
    {"PreDown", "porthole runs no commands from its configuration"},
    {"PostDown", "porthole runs no commands from its configuration"},
    {"SaveConfig", "porthole never writes its configuration file"},
    {"DNS", "porthole does not change the system's resolver"},
    {"Table", "porthole does not manage routing tables"},
};

static int set_key(struct config_ctx *ctx, const char *key, char *value)
{
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		if (!strcasecmp(key, refused[i].key))
			return fail(ctx, ctx->line, "'%s' is not supported: %s", refused[i].key,
				    refused[i].why);
	}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcasecmp(key, keys[i].key))
			continue;
		if (ctx->section == SECTION_NONE)
			return fail(ctx, ctx->line, "'%s' is outside of any section", keys[i].key);
		if (keys[i].section != (int)ctx->section)
			return fail(ctx, ctx->line, "'%s' belongs in %s, not in %s", keys[i].key,
				    section_names[keys[i].section], section_names[ctx->section]);
		return keys[i].set(ctx, keys[i].key, value);
	}
	return fail(ctx, ctx->line, "unknown key '%s' in %s", key, section_names[ctx->section]);
}

/* wg ignores white space anywhere in a line, so "[ Peer ]" is a section header too. */
static void squeeze(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (!isspace((unsigned char)*s))
			*d++ = *s;
	}
	*d = '\0';
}

static int start_section(struct config_ctx *ctx, char *header)
{
	struct porthole_config *cfg = ctx->cfg;
	struct peer_config *peer;
	struct forward_config *fwd;

	squeeze(header);
	if (!strcasecmp(header, "[Interface]")) {
		ctx->section = SECTION_INTERFACE;
		if (!cfg->has_interface)
			cfg->iface.line = ctx->line;
		cfg->has_interface = true;
	} else if (!strcasecmp(header, "[Peer]")) {
		ctx->section = SECTION_PEER;
		peer = config_add_peer(&cfg->iface);
		if (!peer)
			return fail(ctx, ctx->line, "too many peers, or out of memory");
		peer->line = ctx->line;
		peer->replace_allowed_ips = true;
	} else if (!strcasecmp(header, "[Forward]")) {
		ctx->section = SECTION_FORWARD;
		fwd = add_forward(cfg);
		if (!fwd)
			return fail(ctx, ctx->line, "too many forwards, or out of memory");
		fwd->line = ctx->line;
	} else {
		return fail(ctx, ctx->line, "unknown section '%s'", header);
	}
	return 0;
}

static int process(struct config_ctx *ctx, char *line)
{
	char *eq, *comment = strchr(line, '#');

	if (comment)
		*comment = '\0';
	line = trim(line);
	if (!*line)
		return 0;
	if (line[0] == '[')
		return start_section(ctx, line);
	eq = strchr(line, '=');
	if (!eq)
		return fail(ctx, ctx->line, "expected 'Key = Value', got '%s'", line);
	*eq = '\0';
	if (!*trim(line))
		return fail(ctx, ctx->line, "missing key before '='");
	return set_key(ctx, trim(line), trim(eq + 1));
}

int config_init(struct config_ctx *ctx, struct porthole_config *cfg, const char *name, char *err,
		size_t errlen)
{
	memset(ctx, 0, sizeof(*ctx));
	memset(cfg, 0, sizeof(*cfg));
	ctx->cfg = cfg;
	ctx->err = err;
	ctx->errlen = errlen;
	if (errlen)
		err[0] = '\0';
	snprintf(cfg->source, sizeof(cfg->source), "%s", name);
	cfg->iface.mtu = CONFIG_DEFAULT_MTU;
	return 0;
}

int config_line(struct config_ctx *ctx, const char *line)
{
	size_t len = strlen(line);
	char *copy = malloc(len + 1);
	int ret;

	ctx->line++;
	if (!copy) {
		fail(ctx, ctx->line, "out of memory");
		return -ENOMEM;
	}
	memcpy(copy, line, len + 1);
	ret = process(ctx, copy);
	crypto_wipe(copy, len);
	free(copy);
	return ret;
}

/* Checks at finish */

static int cmp_peer_keys(const void *a, const void *b)
{
	const struct peer_config *const *pa = a, *const *pb = b;
	int c = memcmp((*pa)->public_key, (*pb)->public_key, CRYPTO_KEY_LEN);

	if (c)
		return c;
	return (*pa)->line < (*pb)->line ? -1 : (*pa)->line > (*pb)->line;
}

/* Sorting pointers keeps this O(n log n) for a device with a million peers. */
static int check_duplicate_peers(struct config_ctx *ctx)
{
	struct interface_config *iface = &ctx->cfg->iface;
	struct peer_config **sorted;
	int ret = 0;

	if (iface->npeers < 2)
		return 0;
	sorted = malloc(iface->npeers * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < iface->npeers; i++)
		sorted[i] = &iface->peers[i];
	qsort(sorted, iface->npeers, sizeof(*sorted), cmp_peer_keys);
	for (size_t i = 1; i < iface->npeers && !ret; i++) {
		if (!memcmp(sorted[i]->public_key, sorted[i - 1]->public_key, CRYPTO_KEY_LEN))
			ret = fail(ctx, sorted[i]->line,
				   "duplicate [Peer]: same PublicKey as the peer at line %u",
				   sorted[i - 1]->line);
	}
	free(sorted);
	return ret;
}

static int check_interface(struct config_ctx *ctx)
{
	struct interface_config *iface = &ctx->cfg->iface;

	for (size_t i = 0; i < iface->npeers; i++) {
		if (!iface->peers[i].has_public_key)
			return fail(ctx, iface->peers[i].line, "[Peer] has no PublicKey");
	}
	if (iface->npeers && !iface->has_private_key)
		return fail(ctx, ctx->cfg->has_interface ? iface->line : iface->peers[0].line,
			    "[Interface] has no PrivateKey, which peers need");
	return check_duplicate_peers(ctx);
}

bool sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return a6->sin6_port == b6->sin6_port &&
	       !memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr));
}

static void forward_defaults(struct forward_config *fwd, size_t index)
{
	if (!fwd->name[0])
		snprintf(fwd->name, sizeof(fwd->name), "forward%zu", index + 1);
	if (!fwd->has_connect_timeout)
		fwd->connect_timeout_ns = CONFIG_DEFAULT_CONNECT_TIMEOUT;
	if (!fwd->has_idle_timeout)
		fwd->idle_timeout_ns = fwd->protocol == FWD_TCP ? CONFIG_DEFAULT_TCP_IDLE_TIMEOUT
								: CONFIG_DEFAULT_UDP_IDLE_TIMEOUT;
	if (!fwd->max_connections)
		fwd->max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
}

static int check_forward(struct config_ctx *ctx, struct forward_config *fwd)
{
	if (!fwd->has_listen)
		return fail(ctx, fwd->line, "[Forward] has no Listen");
	if (!fwd->has_target)
		return fail(ctx, fwd->line, "[Forward] has no Target");
	if (fwd->accept_proxy != ACCEPT_PROXY_OFF && !fwd->trusted_proxies.len)
		return fail(ctx, fwd->line, "[Forward] '%s': AcceptProxy needs TrustedProxies",
			    fwd->name);
	if (fwd->protocol == FWD_UDP && fwd->server_names.len)
		return fail(ctx, fwd->line, "[Forward] '%s': ServerName needs Protocol = tcp",
			    fwd->name);
	if (fwd->protocol == FWD_UDP && fwd->accept_proxy != ACCEPT_PROXY_OFF)
		return fail(ctx, fwd->line, "[Forward] '%s': AcceptProxy needs Protocol = tcp",
			    fwd->name);
	if (fwd->protocol == FWD_UDP && fwd->send_proxy == SEND_PROXY_V1)
		return fail(
		    ctx, fwd->line,
		    "[Forward] '%s': PROXY protocol v1 cannot carry UDP, use SendProxy = v2",
		    fwd->name);
	return 0;
}

static bool share_name(const struct forward_config *a, const struct forward_config *b,
		       const char **name)
{
	for (size_t i = 0; i < a->server_names.len; i++) {
		for (size_t j = 0; j < b->server_names.len; j++) {
			if (!strcmp(a->server_names.items[i], b->server_names.items[j])) {
				*name = a->server_names.items[i];
				return true;
			}
		}
	}
	return false;
}

/* Two forwards on one socket: TCP ones must be told apart by ServerName. */
static int check_pair(struct config_ctx *ctx, const struct forward_config *a,
		      const struct forward_config *b)
{
	const char *name;

	if (!strcmp(a->name, b->name))
		return fail(ctx, b->line, "[Forward] name '%s' already used at line %u", b->name,
			    a->line);
	if (a->protocol != b->protocol || !sockaddr_equal(&a->listen, &b->listen))
		return 0;
	if (a->protocol == FWD_UDP)
		return fail(ctx, b->line, "[Forward] '%s': UDP Listen already used at line %u",
			    b->name, a->line);
	if (!a->server_names.len && !b->server_names.len)
		return fail(ctx, b->line,
			    "[Forward] '%s': a second default forward (no ServerName) on this "
			    "Listen, the first is at line %u",
			    b->name, a->line);
	if (share_name(a, b, &name))
		return fail(ctx, b->line, "[Forward] '%s': ServerName '%s' already used at line %u",
			    b->name, name, a->line);
	if (a->accept_proxy != b->accept_proxy)
		return fail(ctx, b->line,
			    "[Forward] '%s': forwards sharing a Listen must agree on AcceptProxy "
			    "(see line %u)",
			    b->name, a->line);
	return 0;
}

static int check_forwards(struct config_ctx *ctx)
{
	struct porthole_config *cfg = ctx->cfg;
	int ret;

	for (size_t i = 0; i < cfg->nforwards; i++) {
		forward_defaults(&cfg->forwards[i], i);
		ret = check_forward(ctx, &cfg->forwards[i]);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < cfg->nforwards; i++) {
		for (size_t j = i + 1; j < cfg->nforwards; j++) {
			ret = check_pair(ctx, &cfg->forwards[i], &cfg->forwards[j]);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int config_finish(struct config_ctx *ctx)
{
	int ret;

	if (!ctx->cfg->has_interface && !ctx->cfg->iface.npeers && !ctx->cfg->nforwards)
		return fail(ctx, ctx->line, "no [Interface] and no [Forward]: nothing to run");
	ret = check_interface(ctx);
	if (!ret)
		ret = check_forwards(ctx);
	return ret;
}

/* Whole inputs */

int config_parse_string(struct porthole_config *cfg, const char *name, const char *text, char *err,
			size_t errlen)
{
	struct config_ctx ctx;
	size_t len = strlen(text);
	char *copy = malloc(len + 1), *rest = copy, *line;
	int ret = config_init(&ctx, cfg, name, err, errlen);

	if (!copy) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(copy, text, len + 1);
	while (!ret && (line = strsep(&rest, "\n"))) {
		/* A final newline ends the last line; it does not start another one. */
		if (!rest && !*line)
			break;
		line[strcspn(line, "\r")] = '\0';
		ret = config_line(&ctx, line);
	}
	if (!ret)
		ret = config_finish(&ctx);
	crypto_wipe(copy, len);
	free(copy);
out:
	if (!copy && errlen)
		snprintf(err, errlen, "%s: out of memory", name);
	if (ret)
		config_free(cfg);
	return ret;
}

static void warn_if_world_accessible(FILE *f, const char *path)
{
	struct stat st;

	if (!fstat(fileno(f), &st) && (st.st_mode & S_IRWXO))
		log_warn("Warning: '%s' is world accessible", path);
}

int config_parse_file(struct porthole_config *cfg, const char *path, char *err, size_t errlen)
{
	struct config_ctx ctx;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = config_init(&ctx, cfg, path, err, errlen);
	FILE *f = fopen(path, "re");

	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	warn_if_world_accessible(f, path);
	while (!ret && (n = getline(&line, &cap, f)) >= 0) {
		if ((size_t)n != strlen(line)) {
			ret = fail(&ctx, ctx.line + 1, "NUL byte in line");
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		ret = config_line(&ctx, line);
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	if (!ret)
		ret = config_finish(&ctx);
	if (line)
		crypto_wipe(line, cap);
	free(line);
	fclose(f);
out:
	if (ret)
		config_free(cfg);
	return ret;
}
