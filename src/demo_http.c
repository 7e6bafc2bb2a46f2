#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include "demo_http.h"

enum { SERVE_TIMEOUT_S = 5 };

void demo_http_init(struct demo_http *h)
{
	memset(h, 0, sizeof(*h));
	pp_parser_init(&h->pp, PP_ACCEPT_ANY);
}

static enum demo_http_result request(struct demo_http *h, const uint8_t *buf, size_t len)
{
	if (len > sizeof(h->req) - 1 - h->reqlen)
		return DEMO_HTTP_BAD;
	memcpy(h->req + h->reqlen, buf, len);
	h->reqlen += len;
	h->req[h->reqlen] = '\0';
	return strstr(h->req, "\r\n\r\n") || strstr(h->req, "\n\n") ? DEMO_HTTP_DONE
								    : DEMO_HTTP_NEED_MORE;
}

/* A plain request has no header: its bytes the detection took come back for the request. */
static enum demo_http_result plain(struct demo_http *h, const uint8_t *buf, size_t len)
{
	size_t n;
	const uint8_t *replay = pp_parser_replay(&h->pp, &n);

	h->header_done = true;
	if (request(h, replay, n) == DEMO_HTTP_BAD)
		return DEMO_HTTP_BAD;
	return request(h, buf, len);
}

enum demo_http_result demo_http_feed(struct demo_http *h, const uint8_t *buf, size_t len)
{
	size_t used = 0;

	if (h->header_done)
		return request(h, buf, len);
	switch (pp_parse(&h->pp, buf, len, &used, &h->hdr)) {
	case PP_NEED_MORE:
		return DEMO_HTTP_NEED_MORE;
	case PP_DONE:
		h->header_done = true;
		h->proxied = h->hdr.addr.family != AF_UNSPEC;
		return request(h, buf + used, len - used);
	case PP_NOT_PROXY:
		return plain(h, buf, len);
	default:
		return DEMO_HTTP_BAD;
	}
}

void demo_http_seen(const struct demo_http *h, const struct sockaddr *peer,
		    const struct sockaddr *local, struct demo_http_seen *seen)
{
	socklen_t len =
	    peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	memset(seen, 0, sizeof(*seen));
	memcpy(&seen->peer, peer, len);
	memcpy(&seen->client, peer, len);
	memcpy(&seen->to, local, len);
	seen->reason = h->pp.reason;
	if (h->proxied && !pp_addr_get(&h->hdr.addr, &seen->client, &seen->to))
		seen->proxied = true;
}

void demo_http_addr_str(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, ntohs(sin6->sin6_port));
		return;
	}
	inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
	snprintf(out, cap, "%s:%u", host, ntohs(sin->sin_port));
}

int demo_http_answer(const struct demo_http_seen *seen, char *out, size_t cap)
{
	char addr[INET6_ADDRSTRLEN + 10], body[160];
	int n;

	demo_http_addr_str(&seen->client, addr, sizeof(addr));
	snprintf(body, sizeof(body), "hello from home, you are %s%s\n", addr,
		 seen->proxied ? "" : " (no PROXY header: that is the gateway)");
	n = snprintf(out, cap,
		     "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s",
		     strlen(body), body);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static const char bad_request[] = "HTTP/1.0 400 Bad Request\r\nConnection: close\r\n\r\n";

/* One connection: read the header and request, answer, report. */
static void serve_one(int fd, int report_fd, struct demo_http *h)
{
	struct sockaddr_storage peer, local;
	socklen_t plen = sizeof(peer), llen = sizeof(local);
	struct timeval tv = {.tv_sec = SERVE_TIMEOUT_S};
	enum demo_http_result r = DEMO_HTTP_NEED_MORE;
	struct demo_http_seen seen;
	char answer[DEMO_HTTP_ANSWER_MAX];
	uint8_t buf[1024];
	ssize_t n;
	int len;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	getpeername(fd, (struct sockaddr *)&peer, &plen);
	getsockname(fd, (struct sockaddr *)&local, &llen);
	demo_http_init(h);
	while (r == DEMO_HTTP_NEED_MORE && (n = read(fd, buf, sizeof(buf))) > 0)
		r = demo_http_feed(h, buf, (size_t)n);
	demo_http_seen(h, (struct sockaddr *)&peer, (struct sockaddr *)&local, &seen);
	len = demo_http_answer(&seen, answer, sizeof(answer));
	if (r == DEMO_HTTP_DONE && len > 0) {
		if (write(fd, answer, (size_t)len) != len)
			return;
		if (write(report_fd, &seen, sizeof(seen)) != (ssize_t)sizeof(seen))
			_exit(1); /* the demo is gone */
	} else if (write(fd, bad_request, sizeof(bad_request) - 1) < 0) {
		return;
	}
}

void demo_http_serve(int listen_fd, int report_fd)
{
	struct demo_http *h = malloc(sizeof(*h));

	if (!h)
		_exit(1);
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			_exit(1);
		serve_one(fd, report_fd, h);
		close(fd);
	}
}
