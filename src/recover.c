/* Recovery after local network changes and endpoint host name changes: see recover.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "recover.h"

/* What a helper thread sends back: one datagram per lookup. */
struct answer {
	uint8_t public_key[NOISE_PUBLIC_KEY_LEN];
	int err; /* getaddrinfo()'s, 0 on success */
	unsigned int n;
	struct sockaddr_storage addrs[RECOVER_ANSWERS_MAX];
};

struct lookup {
	uint8_t public_key[NOISE_PUBLIC_KEY_LEN];
	char name[CONFIG_HOST_MAX];
	char port[8];
	int fd; /* a duplicate of answers_wr, so that the loop may close its own at any time */
};

/* The pure parts. */

static bool link_local(const struct nl_event *ev)
{
	return ev->family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&ev->addr.v6);
}

bool recover_event_matters(const struct nl_event *ev, int own_ifindex)
{
	switch (ev->type) {
	case NL_OVERRUN:
		return true;
	case NL_ADDR_NEW:
	case NL_ADDR_DEL:
		return ev->ifindex != own_ifindex && !(ev->flags & IFA_F_TENTATIVE) &&
		       !link_local(ev);
	case NL_ROUTE_NEW:
	case NL_ROUTE_DEL:
		return ev->ifindex != own_ifindex && ev->prefixlen == 0 &&
		       ev->table != RT_TABLE_LOCAL && !(ev->flags & RTM_F_CLONED);
	default:
		return false;
	}
}

static bool prefix_holds(const uint8_t *prefix, const uint8_t *addr, unsigned int bits)
{
	unsigned int bytes = bits / 8, rest = bits % 8;

	if (memcmp(prefix, addr, bytes))
		return false;
	return !rest || !((prefix[bytes] ^ addr[bytes]) & (0xff00 >> rest));
}

bool recover_route_covers(const struct nl_event *ev, int own_ifindex, const struct endpoint *ep)
{
	int family = ep->addr.sa.sa_family;

	if ((ev->type != NL_ROUTE_NEW && ev->type != NL_ROUTE_DEL) || ev->family != family ||
	    ev->ifindex == own_ifindex || ev->table == RT_TABLE_LOCAL || (ev->flags & RTM_F_CLONED))
		return false;
	if (family == AF_INET)
		return ev->prefixlen <= 32 &&
		       prefix_holds((const uint8_t *)&ev->addr.v4,
				    (const uint8_t *)&ep->addr.in4.sin_addr, ev->prefixlen);
	return family == AF_INET6 && ev->prefixlen <= 128 &&
	       prefix_holds(ev->addr.v6.s6_addr, ep->addr.in6.sin6_addr.s6_addr, ev->prefixlen);
}

bool recover_initiation_due(const struct timers *t, uint64_t now)
{
	return (t->retransmit_handshake && t->retransmit_handshake <= now) ||
	       (t->new_handshake && t->new_handshake <= now);
}

uint64_t recover_pace_event(struct recover_pace *p, uint64_t now)
{
	uint64_t due = now + RECOVER_SETTLE_MS * NSEC_PER_MSEC;

	if (p->due)
		return 0;
	if (p->kicked && p->last_kick + RECOVER_INTERVAL_MS * NSEC_PER_MSEC > due)
		due = p->last_kick + RECOVER_INTERVAL_MS * NSEC_PER_MSEC;
	p->due = due;
	return due;
}

void recover_pace_kicked(struct recover_pace *p, uint64_t now)
{
	p->due = 0;
	p->last_kick = now;
	p->kicked = true;
}

static bool same_addr(const struct endpoint *a, const struct endpoint *b)
{
	if (a->addr.sa.sa_family != b->addr.sa.sa_family)
		return false;
	if (a->addr.sa.sa_family == AF_INET)
		return a->addr.in4.sin_addr.s_addr == b->addr.in4.sin_addr.s_addr &&
		       a->addr.in4.sin_port == b->addr.in4.sin_port;
	return IN6_ARE_ADDR_EQUAL(&a->addr.in6.sin6_addr, &b->addr.in6.sin6_addr) &&
	       a->addr.in6.sin6_port == b->addr.in6.sin6_port &&
	       a->addr.in6.sin6_scope_id == b->addr.in6.sin6_scope_id;
}

int recover_pick(const struct endpoint *cur, const struct sockaddr_storage *answers, unsigned int n)
{
	int first = -1;

	for (unsigned int i = 0; i < n; i++) {
		struct endpoint ep;

		if (endpoint_set(&ep, (const struct sockaddr *)&answers[i], sizeof(answers[i])) < 0)
			continue;
		if (same_addr(&ep, cur))
			return -1;
		if (first < 0)
			first = (int)i;
	}
	return first;
}

bool recover_is_name(const char *host)
{
	char buf[CONFIG_HOST_MAX];
	uint8_t addr[sizeof(struct in6_addr)];
	char *scope;

	snprintf(buf, sizeof(buf), "%s", host);
	scope = strchr(buf, '%');
	if (scope)
		*scope = '\0';
	return *buf && inet_pton(AF_INET, buf, addr) != 1 && inet_pton(AF_INET6, buf, addr) != 1;
}

/* Local network changes. */

/* Only a peer that had something going is worth a packet: a kick must not start handshakes with
 * peers nobody asked for. */
static bool worth_kicking(const struct wg_peer *peer)
{
	return peer->has_endpoint && (peer->persistent_keepalive || peer->last_handshake_wall);
}

static void kick(struct loop_timer *timer)
{
	struct recover *r = container_of(timer, struct recover, timer);
	uint64_t now = loop_now();
	unsigned int n = 0;

	recover_pace_kicked(&r->pace, now);
	for (struct wg_peer *peer = r->dev->first; peer; peer = peer->next) {
		if (!worth_kicking(peer))
			continue;
		endpoint_clear_src(&peer->endpoint);
		if (r->dev->up)
			wg_send_keepalive(peer, now);
		n++;
	}
	r->kicks++;
	log_limited(LOG_LEVEL_INFO, "%s: network changed, %u peers told from the current address",
		    r->ifname, n);
}

static bool covers_an_endpoint(struct recover *r, const struct nl_event *ev)
{
	for (struct wg_peer *peer = r->dev->first; peer; peer = peer->next)
		if (worth_kicking(peer) && recover_route_covers(ev, r->ifindex, &peer->endpoint))
			return true;
	return false;
}

void recover_nl_event(struct recover *r, const struct nl_event *ev, uint64_t now)
{
	uint64_t due;

	if (!r->loop)
		return;
	if (!recover_event_matters(ev, r->ifindex) && !covers_an_endpoint(r, ev))
		return;
	due = recover_pace_event(&r->pace, now);
	if (due)
		loop_timer_arm(r->loop, &r->timer, due);
}

/* Host names. */

static struct recover_host *host_of(struct recover *r, const uint8_t *public_key)
{
	for (unsigned int i = 0; i < r->nhosts; i++)
		if (!memcmp(r->hosts[i].public_key, public_key, NOISE_PUBLIC_KEY_LEN))
			return &r->hosts[i];
	return NULL;
}

static void forget(struct recover *r, const uint8_t *public_key)
{
	struct recover_host *h = host_of(r, public_key);

	if (h)
		*h = r->hosts[--r->nhosts];
}

static void learn(struct recover *r, const struct peer_config *pc)
{
	struct recover_host *h = host_of(r, pc->public_key);

	if (!h && r->nhosts == RECOVER_HOSTS_MAX) {
		log_warn("%s: more than %d endpoint host names; '%s' is not looked up again",
			 r->ifname, RECOVER_HOSTS_MAX, pc->endpoint_host);
		return;
	}
	if (!h) {
		h = &r->hosts[r->nhosts++];
		*h = (struct recover_host){0};
		memcpy(h->public_key, pc->public_key, NOISE_PUBLIC_KEY_LEN);
	}
	snprintf(h->name, sizeof(h->name), "%s", pc->endpoint_host);
	h->port = pc->endpoint_port;
}

void recover_configured(struct recover *r, const struct interface_config *change)
{
	if (!r->loop)
		return;
	if (change->replace_peers)
		r->nhosts = 0;
	for (size_t i = 0; i < change->npeers; i++) {
		const struct peer_config *pc = &change->peers[i];

		if (pc->remove)
			forget(r, pc->public_key);
		else if (pc->has_endpoint && recover_is_name(pc->endpoint_host))
			learn(r, pc);
		else if (pc->has_endpoint)
			forget(r, pc->public_key);
	}
}

static void *resolve(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
	struct answer a = {.n = 0};

	memcpy(a.public_key, l->public_key, NOISE_PUBLIC_KEY_LEN);
	a.err = getaddrinfo(l->name, l->port, &hints, &res);
	for (struct addrinfo *ai = res; ai && a.n < RECOVER_ANSWERS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen <= sizeof(a.addrs[0]))
			memcpy(&a.addrs[a.n++], ai->ai_addr, ai->ai_addrlen);
	}
	if (res)
		freeaddrinfo(res);
	/* Nobody may be listening any more: that is fine, and no SIGPIPE. */
	(void)send(l->fd, &a, sizeof(a), MSG_NOSIGNAL);
	close(l->fd);
	free(l);
	return NULL;
}

static int start_lookup(struct recover *r, struct recover_host *h)
{
	struct lookup *l = calloc(1, sizeof(*l));
	pthread_attr_t attr;
	pthread_t thread;
	int ret = -ENOMEM;

	if (!l)
		return ret;
	memcpy(l->public_key, h->public_key, NOISE_PUBLIC_KEY_LEN);
	snprintf(l->name, sizeof(l->name), "%s", h->name);
	snprintf(l->port, sizeof(l->port), "%u", h->port);
	l->fd = fcntl(r->answers_wr, F_DUPFD_CLOEXEC, 0);
	if (l->fd < 0) {
		ret = -errno;
		goto err;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = -pthread_create(&thread, &attr, resolve, l);
	pthread_attr_destroy(&attr);
	if (!ret)
		return 0;
	close(l->fd);
err:
	free(l);
	return ret;
}

void recover_peer_timer(struct recover *r, struct wg_peer *peer, uint64_t now)
{
	struct recover_host *h;
	int ret;

	if (!r->loop || !recover_initiation_due(&peer->timers, now))
		return;
	h = host_of(r, peer->public_key);
	if (!h || h->resolving ||
	    (h->looked_up && now - h->last_lookup < RECOVER_LOOKUP_GAP_S * NSEC_PER_SEC))
		return;
	h->looked_up = true;
	h->last_lookup = now;
	ret = start_lookup(r, h);
	if (ret < 0) {
		log_errno(LOG_LEVEL_WARN, ret, "%s: cannot look up '%s'", r->ifname, h->name);
		return;
	}
	h->resolving = true;
	r->lookups++;
	log_info("%s: peer %llu: handshakes failing, looking up '%s' again", r->ifname,
		 (unsigned long long)peer->id, h->name);
}

/* The endpoint moved with the name: the initiation just sent went to the old address, so the
 * one-per-REKEY_TIMEOUT limit must not hold back the one to the new address. */
static void move(struct recover *r, struct wg_peer *peer, const struct sockaddr_storage *to)
{
	char was[ENDPOINT_STRLEN], now_at[ENDPOINT_STRLEN];
	struct endpoint ep;

	if (endpoint_set(&ep, (const struct sockaddr *)to, sizeof(*to)) < 0)
		return;
	endpoint_to_string(&peer->endpoint, was, sizeof(was));
	peer_set_endpoint(peer, &ep);
	log_info("%s: peer %llu: endpoint %s is now %s", r->ifname, (unsigned long long)peer->id,
		 was, endpoint_to_string(&ep, now_at, sizeof(now_at)));
	r->moves++;
	peer->sent_handshake = false;
	wg_send_handshake_initiation(peer, loop_now(), false);
}

static void take_answer(struct recover *r, const struct answer *a)
{
	struct recover_host *h = host_of(r, a->public_key);
	struct wg_peer *peer;
	int i;

	if (h)
		h->resolving = false;
	peer = peer_lookup(r->dev, a->public_key);
	if (!h || !peer || !peer->has_endpoint)
		return;
	if (a->err) {
		log_warn("%s: peer %llu: cannot look up '%s': %s", r->ifname,
			 (unsigned long long)peer->id, h->name, gai_strerror(a->err));
		return;
	}
	i = recover_pick(&peer->endpoint, a->addrs, MIN(a->n, RECOVER_ANSWERS_MAX));
	if (i >= 0)
		move(r, peer, &a->addrs[i]);
}

static void answers_readable(struct loop_fd *lfd, uint32_t events)
{
	struct recover *r = container_of(lfd, struct recover, answers);
	struct answer a;

	while (recv(lfd->fd, &a, sizeof(a), MSG_DONTWAIT) == (ssize_t)sizeof(a))
		take_answer(r, &a);
}

int recover_init(struct recover *r, struct loop *loop, struct wg_device *dev, int ifindex,
		 const char *ifname)
{
	int sv[2];
	int ret;

	memset(r, 0, sizeof(*r));
	r->answers.fd = r->answers_wr = -1;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	r->answers.fd = sv[0];
	r->answers_wr = sv[1];
	r->answers.cb = answers_readable;
	r->dev = dev;
	r->ifindex = ifindex;
	r->ifname = ifname;
	ret = loop_add(loop, &r->answers, EPOLLIN);
	if (!ret)
		ret = loop_timer_add(loop, &r->timer, kick);
	if (ret < 0) {
		loop_del(loop, &r->answers);
		goto err;
	}
	r->loop = loop;
	return 0;
err:
	close(sv[0]);
	close(sv[1]);
	r->answers.fd = r->answers_wr = -1;
	return ret;
}

void recover_free(struct recover *r)
{
	if (!r->loop)
		return;
	loop_timer_remove(r->loop, &r->timer);
	loop_del(r->loop, &r->answers);
	close(r->answers.fd);
	close(r->answers_wr);
	r->loop = NULL;
}
