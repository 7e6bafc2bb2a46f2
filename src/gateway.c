/* The gateway's forward set: per-forward objects, Listen address groups with their sockets and
 * SNI routing, and the lifecycle. Connections live in fwd_tcp.c, UDP flows in fwd_udp.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include "crypto.h"
#include "fwd.h"
#include "log.h"
#include "reload.h"

static const char *const error_names[GW_ERR_MAX] = {
    [GW_ERR_DENIED] = "denied", [GW_ERR_LIMIT] = "limit",     [GW_ERR_PROXY] = "proxy",
    [GW_ERR_SNI] = "sni",	[GW_ERR_CONNECT] = "connect", [GW_ERR_IDLE] = "idle",
    [GW_ERR_RESET] = "reset",	[GW_ERR_IO] = "io",
};

const char *gateway_error_str(enum gateway_error err)
{
	return err < GW_ERR_MAX ? error_names[err] : "?";
}

/* ---- helpers shared with fwd_tcp.c and fwd_udp.c ---- */

static bool prefix_match(const struct allowed_ip *ip, int family, const uint8_t *addr)
{
	const uint8_t *net =
	    family == AF_INET ? (const uint8_t *)&ip->addr.v4 : (const uint8_t *)&ip->addr.v6;
	unsigned int bytes = ip->cidr / 8, bits = ip->cidr % 8;

	if (ip->family != family)
		return false;
	if (memcmp(net, addr, bytes))
		return false;
	return !bits || !((net[bytes] ^ addr[bytes]) & (0xff00 >> bits));
}

/* A v4-mapped IPv6 source (a dual-stack listener's IPv4 client) is matched as IPv4. */
bool fwd_in_list(const struct ip_list *list, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6 = (const void *)sa;
	const uint8_t *addr;
	int family = sa->sa_family;

	if (family == AF_INET) {
		addr = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		family = AF_INET;
		addr = s6->sin6_addr.s6_addr + 12;
	} else if (family == AF_INET6) {
		addr = s6->sin6_addr.s6_addr;
	} else {
		return false;
	}
	for (size_t i = 0; i < list->len; i++) {
		if (prefix_match(&list->items[i], family, addr))
			return true;
	}
	return false;
}

void fwd_format(char *out, size_t cap, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6 = (const void *)sa;
	const struct sockaddr_in *s4 = (const void *)sa;
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, cap, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, ip, sizeof(ip));
		snprintf(out, cap, "%s:%u", ip, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(out, cap, "unknown");
	}
}

void fwd_format_pp(char *out, size_t cap, const struct pp_addr *a, bool src)
{
	struct sockaddr_storage s, d;

	if (pp_addr_get(a, &s, &d) < 0) {
		snprintf(out, cap, "unknown");
		return;
	}
	fwd_format(out, cap, (struct sockaddr *)(src ? &s : &d));
}

/* Counter-based: a random prefix drawn at open, then a counter, so ids never repeat within a
 * run and are unlikely to repeat across runs, at no cost per connection. */
void fwd_unique_id(struct gateway *gw, uint8_t out[FWD_UNIQUE_ID_LEN])
{
	uint64_t n = ++gw->uid_counter;

	memcpy(out, gw->uid_prefix, 8);
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(n >> (56 - 8 * i));
}

int fwd_socket(int family, int type)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const void *)ss;
	const struct sockaddr_in6 *sin6 = (const void *)ss;

	if (ss->ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* ---- routing ---- */

struct fwd_forward *fwd_route(const struct fwd_group *g, const char *name)
{
	for (size_t i = 0; name && i < g->nfwds; i++) {
		const struct string_list *names = &g->fwds[i]->cfg.server_names;

		for (size_t j = 0; j < names->len; j++) {
			if (sni_match(names->items[j], name))
				return g->fwds[i];
		}
	}
	return g->dflt;
}

struct fwd_forward *fwd_group_blame(const struct fwd_group *g)
{
	return g->dflt ? g->dflt : g->fwds[0];
}

/* At the limit the listener leaves the loop, so new connections wait in the kernel backlog
 * (and are refused by the kernel once it is full) instead of being accepted and dropped. */
void fwd_group_pause(struct fwd_group *g)
{
	if (g->paused)
		return;
	loop_del(g->gw->loop, &g->lfd);
	g->paused = true;
}

void fwd_group_resume(struct fwd_group *g)
{
	if (!g->paused || g->active >= g->limit)
		return;
	if (loop_add(g->gw->loop, &g->lfd, EPOLLIN) == 0)
		g->paused = false;
}

/* ---- forwards ---- */

static int copy_config(struct forward_config *dst, const struct forward_config *src)
{
	int ret = 0;

	*dst = *src;
	memset(&dst->trusted_proxies, 0, sizeof(dst->trusted_proxies));
	memset(&dst->allow_from, 0, sizeof(dst->allow_from));
	memset(&dst->server_names, 0, sizeof(dst->server_names));
	for (size_t i = 0; !ret && i < src->trusted_proxies.len; i++)
		ret = ip_list_add(&dst->trusted_proxies, &src->trusted_proxies.items[i], SIZE_MAX);
	for (size_t i = 0; !ret && i < src->allow_from.len; i++)
		ret = ip_list_add(&dst->allow_from, &src->allow_from.items[i], SIZE_MAX);
	for (size_t i = 0; !ret && i < src->server_names.len; i++)
		ret = string_list_add(&dst->server_names, src->server_names.items[i], SIZE_MAX);
	return ret;
}

static void forward_free(struct fwd_forward *f)
{
	if (!f)
		return;
	ip_list_free(&f->cfg.trusted_proxies);
	ip_list_free(&f->cfg.allow_from);
	string_list_free(&f->cfg.server_names);
	free(f);
}

/* A host name in Target is looked up once, here; the first answer wins. */
static int resolve(struct fwd_forward *f, char *err, size_t errlen)
{
	const struct forward_config *c = &f->cfg;
	struct addrinfo hints = {.ai_socktype = c->protocol == FWD_TCP ? SOCK_STREAM : SOCK_DGRAM};
	struct addrinfo *res;
	char port[8];
	int ret;

	if (c->has_target_addr) {
		f->target = c->target;
		f->target_len = c->target.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							       : sizeof(struct sockaddr_in6);
		return 0;
	}
	snprintf(port, sizeof(port), "%u", c->target_port);
	ret = getaddrinfo(c->target_host, port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "forward '%s': cannot resolve target '%s': %s", c->name,
			 c->target_host, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	memcpy(&f->target, res->ai_addr, res->ai_addrlen);
	f->target_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int forward_new(struct fwd_forward **out, const struct forward_config *c, char *err,
		       size_t errlen)
{
	struct fwd_forward *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	ret = copy_config(&f->cfg, c);
	if (ret < 0) {
		snprintf(err, errlen, "forward '%s': out of memory", c->name);
		goto fail;
	}
	ret = resolve(f, err, errlen);
	if (ret < 0)
		goto fail;
	f->splice = !c->splice_off;
	f->stats.name = f->cfg.name;
	*out = f;
	return 0;
fail:
	forward_free(f);
	return ret;
}

/* ---- Listen groups ---- */

static bool same_listen(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	size_t len =
	    a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

	return a->ss_family == b->ss_family && !memcmp(a, b, len);
}

static struct fwd_group *find_group(struct gateway *gw, const struct fwd_forward *f)
{
	for (size_t i = 0; i < gw->ngroups; i++) {
		struct fwd_group *g = gw->groups[i];

		if (g->proto == f->cfg.protocol && same_listen(&g->listen, &f->cfg.listen))
			return g;
	}
	return NULL;
}

static int group_join(struct gateway *gw, struct fwd_forward *f)
{
	struct fwd_group *g = find_group(gw, f);
	struct fwd_forward **fwds;

	if (!g) {
		struct fwd_group **groups =
		    reallocarray(gw->groups, gw->ngroups + 1, sizeof(*groups));

		if (!groups)
			return -ENOMEM;
		gw->groups = groups;
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		g->gw = gw;
		g->proto = f->cfg.protocol;
		g->listen = f->cfg.listen;
		g->wildcard = is_wildcard(&g->listen);
		g->lfd.fd = -1;
		LIST_INIT(&g->conns);
		gw->groups[gw->ngroups++] = g;
	}
	fwds = reallocarray(g->fwds, g->nfwds + 1, sizeof(*fwds));
	if (!fwds)
		return -ENOMEM;
	g->fwds = fwds;
	g->fwds[g->nfwds++] = f;
	f->group = g;
	if (!f->cfg.server_names.len)
		g->dflt = f;
	else
		g->route_sni = true;
	/* A shared listener admits up to the sum of its forwards' limits; each forward's own
	 * limit applies again once a connection is routed to it. */
	g->limit = g->limit + f->cfg.max_connections < g->limit ? UINT32_MAX
								: g->limit + f->cfg.max_connections;
	return 0;
}

static int set_opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

/* [::] listens dual-stack whatever the sysctl says, as the config format promises. Accepted
 * sockets inherit TCP_NODELAY: we write what we read, as it comes, and Nagle would only add
 * delay. */
static int listen_socket(const struct fwd_group *g)
{
	int type = g->proto == FWD_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int family = g->listen.ss_family;
	int fd = fwd_socket(family, type), ret;

	if (fd < 0)
		return fd;
	ret = set_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (!ret && family == AF_INET6)
		ret = set_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
	if (!ret &&
	    bind(fd, (const struct sockaddr *)&g->listen,
		 family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0)
		ret = -errno;
	if (!ret && g->proto == FWD_TCP)
		ret = set_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (!ret && g->proto == FWD_TCP && listen(fd, SOMAXCONN) < 0)
		ret = -errno;
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

static void resume_fired(struct loop_timer *t)
{
	fwd_group_resume(container_of(t, struct fwd_group, resume));
}

static int group_bind(struct fwd_group *g, char *err, size_t errlen)
{
	char where[INET6_ADDRSTRLEN + 8];
	int ret = listen_socket(g);

	fwd_format(where, sizeof(where), (const struct sockaddr *)&g->listen);
	if (ret < 0) {
		snprintf(err, errlen, "forward '%s': cannot listen on %s/%s: %s",
			 g->fwds[0]->cfg.name, where, g->proto == FWD_TCP ? "tcp" : "udp",
			 strerror(-ret));
		return ret;
	}
	g->lfd.fd = ret;
	return 0;
}

/* The bound (or inherited) socket joins the loop. */
static int group_start(struct fwd_group *g, char *err, size_t errlen)
{
	int ret;

	if (g->proto == FWD_UDP)
		ret = fwd_udp_open(g);
	else if ((ret = loop_timer_add(g->gw->loop, &g->resume, resume_fired)) == 0) {
		g->resume_added = true;
		g->lfd.cb = fwd_tcp_acceptable;
		ret = loop_add(g->gw->loop, &g->lfd, EPOLLIN);
	}
	if (ret < 0)
		snprintf(err, errlen, "forward '%s': %s", g->fwds[0]->cfg.name, strerror(-ret));
	return ret;
}

static int group_open(struct fwd_group *g, char *err, size_t errlen)
{
	int ret = group_bind(g, err, errlen);

	return ret < 0 ? ret : group_start(g, err, errlen);
}

static void group_close(struct fwd_group *g)
{
	if (g->proto == FWD_UDP) {
		fwd_udp_close(g);
	} else {
		fwd_tcp_close_all(g);
		if (g->lfd.fd >= 0 && !g->paused)
			loop_del(g->gw->loop, &g->lfd);
		if (g->resume_added)
			loop_timer_remove(g->gw->loop, &g->resume);
	}
	if (g->lfd.fd >= 0)
		close(g->lfd.fd);
	free(g->fwds);
	free(g);
}

/* ---- lifecycle ---- */

static int add_forwards(struct gateway *gw, const struct porthole_config *cfg, char *err,
			size_t errlen)
{
	int ret;

	gw->fwds = calloc(cfg->nforwards ? cfg->nforwards : 1, sizeof(*gw->fwds));
	if (!gw->fwds)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nforwards; i++) {
		ret = forward_new(&gw->fwds[i], &cfg->forwards[i], err, errlen);
		if (ret < 0)
			return ret;
		gw->nfwds++;
		ret = group_join(gw, gw->fwds[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int gateway_open(struct gateway **out, struct loop *loop, const struct porthole_config *cfg,
		 char *err, size_t errlen)
{
	struct gateway *gw = calloc(1, sizeof(*gw));
	int ret;

	snprintf(err, errlen, "gateway: out of memory");
	if (!gw)
		return -ENOMEM;
	gw->loop = loop;
	/* A write to a socket the peer reset must come back as EPIPE, not kill the daemon;
	 * splice(2) has no MSG_NOSIGNAL. */
	signal(SIGPIPE, SIG_IGN);
	ret = crypto_random(gw->uid_prefix, sizeof(gw->uid_prefix));
	if (!ret)
		ret = add_forwards(gw, cfg, err, errlen);
	for (size_t i = 0; !ret && i < gw->ngroups; i++)
		ret = group_open(gw->groups[i], err, errlen);
	if (ret < 0) {
		gateway_close(gw);
		return ret;
	}
	*out = gw;
	return 0;
}

void gateway_close(struct gateway *gw)
{
	if (!gw)
		return;
	for (size_t i = 0; i < gw->ngroups; i++)
		group_close(gw->groups[i]);
	for (size_t i = 0; i < gw->nfwds; i++)
		forward_free(gw->fwds[i]);
	free(gw->groups);
	free(gw->fwds);
	free(gw);
}

size_t gateway_forwards(const struct gateway *gw)
{
	return gw->nfwds;
}

bool gateway_stats(const struct gateway *gw, size_t i, struct gateway_stats *out)
{
	if (i >= gw->nfwds)
		return false;
	*out = gw->fwds[i]->stats;
	return true;
}

/* ---- reload ----
 *
 * A Listen group whose forwards are all unchanged keeps its socket and connections. A group that
 * loses or gains a forward is rebuilt: its connections are closed and its listening socket handed
 * to the new group, so the port never stops accepting. New ports are bound before anything
 * changes, so a port that cannot be had rejects the reload with the gateway as it was. */

struct reload {
	struct gateway next; /* the new forward and group set, committed into gw */
	bool *kept;	     /* per old forward: reused as is */
	bool *dying;	     /* per old group: rebuilt or closed */
	size_t nold_groups;  /* groups in next that are old ones */
};

static void match_forwards(struct reload *r, struct gateway *gw, const struct porthole_config *cfg)
{
	for (size_t i = 0; i < cfg->nforwards; i++) {
		for (size_t j = 0; j < gw->nfwds && !r->next.fwds[i]; j++) {
			if (!r->kept[j] &&
			    reload_same_forward(&gw->fwds[j]->cfg, &cfg->forwards[i])) {
				r->next.fwds[i] = gw->fwds[j];
				r->kept[j] = true;
			}
		}
	}
}

static int create_forwards(struct reload *r, const struct porthole_config *cfg, char *err,
			   size_t errlen)
{
	for (size_t i = 0; i < cfg->nforwards; i++) {
		int ret;

		if (r->next.fwds[i])
			continue;
		ret = forward_new(&r->next.fwds[i], &cfg->forwards[i], err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static bool kept_forward(const struct reload *r, const struct gateway *gw,
			 const struct fwd_forward *f)
{
	for (size_t j = 0; j < gw->nfwds; j++) {
		if (gw->fwds[j] == f)
			return r->kept[j];
	}
	return false;
}

/* Dies: one of its forwards goes, or a new forward wants its Listen. */
static void mark_dying(struct reload *r, struct gateway *gw)
{
	for (size_t i = 0; i < gw->ngroups; i++) {
		struct fwd_group *g = gw->groups[i];

		for (size_t k = 0; k < g->nfwds; k++)
			r->dying[i] |= !kept_forward(r, gw, g->fwds[k]);
		for (size_t k = 0; k < r->next.nfwds; k++) {
			const struct fwd_forward *f = r->next.fwds[k];

			r->dying[i] |= !f->group && f->cfg.protocol == g->proto &&
				       same_listen(&f->cfg.listen, &g->listen);
		}
	}
}

static struct fwd_group *old_group_at(struct gateway *gw, const struct reload *r,
				      const struct fwd_group *g)
{
	for (size_t i = 0; i < gw->ngroups; i++) {
		if (r->dying[i] && gw->groups[i]->proto == g->proto &&
		    same_listen(&gw->groups[i]->listen, &g->listen))
			return gw->groups[i];
	}
	return NULL;
}

static bool survives(const struct reload *r, const struct fwd_group *g)
{
	for (size_t i = 0; i < r->nold_groups; i++) {
		if (r->next.groups[i] == g)
			return true;
	}
	return false;
}

/* Survivors first, then new groups for new forwards and the forwards of dying groups; a new group
 * with no old one at its address binds now. */
static int build_groups(struct reload *r, struct gateway *gw, char *err, size_t errlen)
{
	int ret;

	r->next.groups = calloc(gw->ngroups + r->next.nfwds + 1, sizeof(*r->next.groups));
	if (!r->next.groups)
		return -ENOMEM;
	for (size_t i = 0; i < gw->ngroups; i++) {
		if (!r->dying[i])
			r->next.groups[r->next.ngroups++] = gw->groups[i];
	}
	r->nold_groups = r->next.ngroups;
	for (size_t k = 0; k < r->next.nfwds; k++) {
		struct fwd_forward *f = r->next.fwds[k];

		if (f->group && !survives(r, f->group))
			f->group = NULL; /* from a dying group */
		if (!f->group && (ret = group_join(&r->next, f)) < 0)
			return ret;
	}
	for (size_t i = r->nold_groups; i < r->next.ngroups; i++) {
		struct fwd_group *g = r->next.groups[i];

		g->gw = gw;
		if (!old_group_at(gw, r, g) && (ret = group_bind(g, err, errlen)) < 0)
			return ret;
	}
	return 0;
}

/* Nothing was committed: new groups and forwards go, the kept ones return to their groups. */
static void roll_back(struct reload *r, struct gateway *gw)
{
	for (size_t i = r->nold_groups; i < r->next.ngroups; i++)
		group_close(r->next.groups[i]);
	for (size_t k = 0; k < r->next.nfwds; k++) {
		if (r->next.fwds[k] && !kept_forward(r, gw, r->next.fwds[k]))
			forward_free(r->next.fwds[k]);
	}
	for (size_t i = 0; i < gw->ngroups; i++) {
		for (size_t k = 0; k < gw->groups[i]->nfwds; k++)
			gw->groups[i]->fwds[k]->group = gw->groups[i];
	}
}

/* Takes a dying group's socket out of the loop for its successor. */
static int take_listener(struct fwd_group *g)
{
	int fd = g->lfd.fd;

	if (fd >= 0 && (g->proto == FWD_UDP || !g->paused))
		loop_del(g->gw->loop, &g->lfd);
	g->lfd.fd = -1;
	return fd;
}

static int commit(struct reload *r, struct gateway *gw, char *err, size_t errlen)
{
	int ret = 0;

	for (size_t i = r->nold_groups; i < r->next.ngroups; i++) {
		struct fwd_group *g = r->next.groups[i], *old = old_group_at(gw, r, g);

		if (old && g->lfd.fd < 0)
			g->lfd.fd = take_listener(old);
	}
	for (size_t i = 0; i < gw->ngroups; i++) {
		if (r->dying[i])
			group_close(gw->groups[i]);
	}
	for (size_t j = 0; j < gw->nfwds; j++) {
		if (!r->kept[j]) {
			log_info("gateway: forward '%s' removed", gw->fwds[j]->cfg.name);
			forward_free(gw->fwds[j]);
		}
	}
	for (size_t k = 0; k < r->next.nfwds; k++) {
		if (!kept_forward(r, gw, r->next.fwds[k]))
			log_info("gateway: forward '%s' added", r->next.fwds[k]->cfg.name);
	}
	for (size_t i = r->nold_groups; i < r->next.ngroups; i++) {
		int ret2 = group_start(r->next.groups[i], err, errlen);

		ret = ret ?: ret2;
	}
	free(gw->fwds);
	free(gw->groups);
	gw->fwds = r->next.fwds;
	gw->nfwds = r->next.nfwds;
	gw->groups = r->next.groups;
	gw->ngroups = r->next.ngroups;
	return ret;
}

int gateway_reload(struct gateway *gw, const struct porthole_config *cfg, char *err, size_t errlen)
{
	struct reload r = { .next = { .loop = gw->loop } };
	int ret = -ENOMEM;

	snprintf(err, errlen, "gateway: out of memory");
	r.kept = calloc(gw->nfwds + 1, sizeof(*r.kept));
	r.dying = calloc(gw->ngroups + 1, sizeof(*r.dying));
	r.next.fwds = calloc(cfg->nforwards + 1, sizeof(*r.next.fwds));
	if (!r.kept || !r.dying || !r.next.fwds)
		goto fail;
	match_forwards(&r, gw, cfg);
	r.next.nfwds = cfg->nforwards; /* with holes until created */
	ret = create_forwards(&r, cfg, err, errlen);
	if (!ret) {
		mark_dying(&r, gw);
		ret = build_groups(&r, gw, err, errlen);
	}
	if (ret < 0)
		goto fail;
	ret = commit(&r, gw, err, errlen);
	goto out;
fail:
	roll_back(&r, gw);
	free(r.next.groups);
	free(r.next.fwds);
out:
	free(r.dying);
	free(r.kept);
	return ret;
}
