/* The home service of `porthole demo`: a tiny HTTP/1.0 server behind the gateway that reads the
 * PROXY v2 header and tells the client the address it came from. The request reader is pure
 * (bytes in, verdict out); demo_http_serve() is its socket loop. */
#ifndef PORTHOLE_DEMO_HTTP_H
#define PORTHOLE_DEMO_HTTP_H

#include <stdbool.h>
#include <sys/socket.h>
#include "proxy.h"

enum { DEMO_HTTP_REQ_MAX = 2048, DEMO_HTTP_ANSWER_MAX = 512 };

enum demo_http_result { DEMO_HTTP_NEED_MORE, DEMO_HTTP_DONE, DEMO_HTTP_BAD };

struct demo_http {
	struct pp_parser pp;
	struct pp_header hdr;
	bool header_done; /* PROXY header parsed, or the stream has none */
	bool proxied;	  /* hdr holds the client's address */
	size_t reqlen;
	char req[DEMO_HTTP_REQ_MAX];
};

/* What the service saw of one connection, for the demo to print: sent whole through a pipe. */
struct demo_http_seen {
	struct sockaddr_storage peer;	/* the connection's source: the gateway's tunnel end */
	struct sockaddr_storage client; /* from the PROXY header, or peer without one */
	struct sockaddr_storage to;	/* the public address the client connected to */
	bool proxied;
	enum pp_reason reason; /* when the header was bad */
};

void demo_http_init(struct demo_http *h);
/* Feeds bytes of the stream; DONE once the request's blank line is in. A bad PROXY header or
 * an oversized request is BAD. */
enum demo_http_result demo_http_feed(struct demo_http *h, const uint8_t *buf, size_t len);
/* Fills seen from the parsed request and the connection's addresses. */
void demo_http_seen(const struct demo_http *h, const struct sockaddr *peer,
		    const struct sockaddr *local, struct demo_http_seen *seen);
/* The response: "hello from home, you are ADDR:PORT"; its length, or -ENOSPC. */
int demo_http_answer(const struct demo_http_seen *seen, char *out, size_t cap);
/* "ADDR:PORT" or "[ADDR]:PORT". */
void demo_http_addr_str(const struct sockaddr_storage *ss, char *out, size_t cap);

/* Answers connections on listen_fd one at a time until killed, writing a demo_http_seen to
 * report_fd for each. */
void demo_http_serve(int listen_fd, int report_fd) NORETURN;

#endif
