/* The metrics endpoint: a tiny HTTP/1.0 server (oneshot.h) and the exposition format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "daemon.h"
#include "encoding.h"
#include "log.h"
#include "metrics.h"
#include "oneshot.h"

struct metrics {
	struct daemon *d;
	struct oneshot *srv;
};

/* ---- HTTP ---- */

static const char *header_end(const char *in, size_t len)
{
	const char *crlf = memmem(in, len, "\r\n\r\n", 4), *lf = memmem(in, len, "\n\n", 2);

	if (crlf && (!lf || crlf < lf))
		return crlf;
	return lf;
}

static bool complete(const char *in, size_t len)
{
	return header_end(in, len) != NULL;
}

enum metrics_route metrics_route(const char *in, size_t len, bool *head)
{
	const char *eol = memchr(in, '\n', len), *sp1, *sp2, *path_end;
	size_t path_len;

	*head = false;
	if (!eol || !header_end(in, len))
		return METRICS_BAD;
	sp1 = memchr(in, ' ', (size_t)(eol - in));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == in || sp2 == sp1 + 1 || eol - sp2 < 9 ||
	    memcmp(sp2 + 1, "HTTP/1.", 7))
		return METRICS_BAD;
	*head = sp1 - in == 4 && !memcmp(in, "HEAD", 4);
	if (!*head && (sp1 - in != 3 || memcmp(in, "GET", 3)))
		return METRICS_BAD_METHOD;
	path_end = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	path_len = (size_t)((path_end ? path_end : sp2) - (sp1 + 1));
	if (path_len != 8 || memcmp(sp1 + 1, "/metrics", 8))
		return METRICS_NOT_FOUND;
	return METRICS_OK;
}

static const char *reason_phrase(enum metrics_route r)
{
	switch (r) {
	case METRICS_OK:
		return "OK";
	case METRICS_NOT_FOUND:
		return "Not Found";
	case METRICS_BAD_METHOD:
		return "Method Not Allowed";
	default:
		return "Bad Request";
	}
}

static uint64_t wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

/* The body for a route: the metrics, or a one-line explanation. 0 or -errno. */
static int body(struct metrics *m, enum metrics_route r, char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);
	struct status s;
	int ret = 0;

	if (!f)
		return -errno;
	if (r != METRICS_OK) {
		fprintf(f, "%d %s\n", r, reason_phrase(r));
	} else {
		ret = status_collect(&s, m->d);
		if (!ret) {
			metrics_format(&s, f, wall_seconds());
			status_free(&s);
		}
	}
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	if (ret)
		free(*buf);
	return ret;
}

static void serve(void *ctx, const char *in, size_t len, FILE *out)
{
	struct metrics *m = ctx;
	bool head;
	enum metrics_route r = metrics_route(in, len, &head);
	char *buf = NULL;
	size_t blen = 0;

	if (body(m, r, &buf, &blen) < 0) {
		fprintf(out, "HTTP/1.0 500 Internal Server Error\r\nConnection: close\r\n\r\n");
		return;
	}
	fprintf(out, "HTTP/1.0 %d %s\r\n", r, reason_phrase(r));
	fprintf(out, "Content-Type: %s\r\n",
		r == METRICS_OK ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
	if (r == METRICS_BAD_METHOD)
		fprintf(out, "Allow: GET, HEAD\r\n");
	fprintf(out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", blen);
	if (!head)
		fwrite(buf, 1, blen, out);
	free(buf);
}

static int listen_on(const char *text, int *out)
{
	struct sockaddr_storage ss;
	char host[CONFIG_HOST_MAX];
	const char *why;
	uint16_t port;
	int fd, one = 1, ret = 0;

	if (!config_parse_endpoint(&ss, host, &port, text, false, &why))
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss,
		 ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					  : sizeof(struct sockaddr_in)) ||
	    listen(fd, METRICS_MAX_CONNS))
		ret = -errno;
	if (ret) {
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

int metrics_open(struct metrics **out, struct daemon *d)
{
	const char *text = d->cfg.iface.metrics_listen;
	struct oneshot_config cfg = {
	    .what = "metrics",
	    .request_max = METRICS_REQUEST_MAX,
	    .max_conns = METRICS_MAX_CONNS,
	    .deadline_ns = METRICS_DEADLINE_MS * NSEC_PER_MSEC,
	    .complete = complete,
	    .serve = serve,
	};
	struct metrics *m;
	int fd = -1, ret;

	*out = NULL;
	if (!text[0])
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->d = d;
	cfg.ctx = m;
	ret = listen_on(text, &fd);
	if (!ret)
		ret = oneshot_open(&m->srv, d->loop, fd, &cfg);
	if (ret) {
		log_errno(LOG_LEVEL_ERR, ret, "%s: cannot serve metrics on %s", d->name, text);
		free(m);
		return ret;
	}
	log_info("%s: metrics on http://%s/metrics", d->name, text);
	*out = m;
	return 0;
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	oneshot_close(m->srv);
	free(m);
}

/* ---- the exposition format ---- */

/* Label values escape backslash, double quote and newline. */
static void label(FILE *f, const char *name, const char *value, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			fprintf(f, "\\%c", *value);
		else if (*value == '\n')
			fputs("\\n", f);
		else
			fputc(*value, f);
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{interface="...",public_key="..."} value */
static void peer_sample(FILE *f, const struct status *s, const struct status_peer *p,
			const char *name, uint64_t v)
{
	char b64[KEY_B64_LEN + 1];

	key_to_base64(b64, p->public_key);
	fprintf(f, "%s{", name);
	label(f, "interface", s->name, true);
	label(f, "public_key", b64, false);
	fprintf(f, "} %llu\n", (unsigned long long)v);
}

static void peers(FILE *f, const struct status *s, uint64_t now)
{
	family(f, "porthole_peer_last_handshake_seconds", "gauge",
	       "Unix time of the latest completed handshake, 0 when none.");
	for (size_t i = 0; i < s->npeers; i++)
		peer_sample(f, s, &s->peers[i], "porthole_peer_last_handshake_seconds",
			    s->peers[i].last_handshake);
	family(f, "porthole_peer_handshake_age_seconds", "gauge",
	       "Seconds since the latest completed handshake (peers that had one).");
	for (size_t i = 0; i < s->npeers; i++)
		if (s->peers[i].last_handshake)
			peer_sample(f, s, &s->peers[i], "porthole_peer_handshake_age_seconds",
				    now > s->peers[i].last_handshake
					? now - s->peers[i].last_handshake
					: 0);
	family(f, "porthole_peer_rx_bytes_total", "counter", "Bytes received from the peer.");
	for (size_t i = 0; i < s->npeers; i++)
		peer_sample(f, s, &s->peers[i], "porthole_peer_rx_bytes_total",
			    s->peers[i].rx_bytes);
	family(f, "porthole_peer_tx_bytes_total", "counter", "Bytes sent to the peer.");
	for (size_t i = 0; i < s->npeers; i++)
		peer_sample(f, s, &s->peers[i], "porthole_peer_tx_bytes_total",
			    s->peers[i].tx_bytes);
}

/* Every reason, zeros included, so that rate() sees a series from the start. */
static void drops(FILE *f, const struct status *s, const uint64_t counts[DROP__MAX],
		  const char *b64)
{
	for (int r = DROP_NONE + 1; r < DROP__MAX; r++) {
		fprintf(f, "porthole_dropped_packets_total{");
		label(f, "interface", s->name, true);
		if (b64)
			label(f, "public_key", b64, false);
		label(f, "reason", drop_reason_str(r), false);
		fprintf(f, "} %llu\n", (unsigned long long)counts[r]);
	}
}

static void all_drops(FILE *f, const struct status *s)
{
	char b64[KEY_B64_LEN + 1];

	family(f, "porthole_dropped_packets_total", "counter",
	       "Packets dropped, by reason; without public_key those that named no peer.");
	drops(f, s, s->drops, NULL);
	for (size_t i = 0; i < s->npeers; i++) {
		key_to_base64(b64, s->peers[i].public_key);
		drops(f, s, s->peers[i].drops, b64);
	}
}

static void forward_labels(FILE *f, const struct status *s, const struct status_forward *fw)
{
	label(f, "interface", s->name, true);
	label(f, "forward", fw->name, false);
	label(f, "protocol", fw->protocol == FWD_UDP ? "udp" : "tcp", false);
}

enum fwd_counter { FC_ACTIVE, FC_TOTAL, FC_IN, FC_OUT, FC_PROXY, FC__MAX };

static uint64_t counter(const struct gateway_stats *st, enum fwd_counter c)
{
	switch (c) {
	case FC_ACTIVE:
		return st->active;
	case FC_TOTAL:
		return st->total;
	case FC_IN:
		return st->bytes_in;
	case FC_OUT:
		return st->bytes_out;
	default:
		return st->proxy_failures;
	}
}

static void forwards(FILE *f, const struct status *s)
{
	static const struct {
		const char *name, *type, *help;
	} fam[FC__MAX] = {
	    [FC_ACTIVE] = {"porthole_forward_connections_active", "gauge",
			   "Open connections (TCP) or flows (UDP)."},
	    [FC_TOTAL] = {"porthole_forward_connections_total", "counter",
			  "Accepted connections or created flows."},
	    [FC_IN] = {"porthole_forward_bytes_in_total", "counter",
		       "Payload bytes from clients to the target."},
	    [FC_OUT] = {"porthole_forward_bytes_out_total", "counter",
			"Payload bytes from the target to clients."},
	    [FC_PROXY] = {"porthole_forward_proxy_failures_total", "counter",
			  "PROXY protocol headers refused."},
	};

	for (int c = 0; c < FC__MAX; c++) {
		family(f, fam[c].name, fam[c].type, fam[c].help);
		for (size_t i = 0; i < s->nforwards; i++) {
			fprintf(f, "%s{", fam[c].name);
			forward_labels(f, s, &s->forwards[i]);
			fprintf(f, "} %llu\n",
				(unsigned long long)counter(&s->forwards[i].stats, c));
		}
	}
}

static void forward_errors(FILE *f, const struct status *s)
{
	family(f, "porthole_forward_errors_total", "counter",
	       "Connections or flows that did not end normally, by kind.");
	for (size_t i = 0; i < s->nforwards; i++) {
		for (int e = 0; e < GW_ERR_MAX; e++) {
			fprintf(f, "porthole_forward_errors_total{");
			forward_labels(f, s, &s->forwards[i]);
			label(f, "kind", gateway_error_str(e), false);
			fprintf(f, "} %llu\n", (unsigned long long)s->forwards[i].stats.errors[e]);
		}
	}
}

void metrics_format(const struct status *s, FILE *f, uint64_t now)
{
	if (s->has_interface) {
		peers(f, s, now);
		all_drops(f, s);
	}
	if (s->nforwards) {
		forwards(f, s);
		forward_errors(f, s);
	}
}
