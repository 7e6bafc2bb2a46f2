/* The porthole control socket, /run/porthole/NAME.sock (mode 0600 in a 0755 directory), served
 * on the daemon's loop. One request per connection, one line each:
 *   "show\n"   -> the status document as JSON (status.h), then close;
 *   "text\n"   -> the same as `wg show`-style text (what `porthole show` prints);
 *   "reload\n" -> daemon_reload(): "ok\n" or "error: MESSAGE\n".
 * Anything else is answered "error: unknown request\n". */
#ifndef PORTHOLE_CONTROL_H
#define PORTHOLE_CONTROL_H

#include <stdio.h>
#include "compat.h"

#define CONTROL_DIR "/run/porthole"

enum control_limits {
	CONTROL_REQUEST_MAX = 64, /* bytes of one request line */
	CONTROL_MAX_CONNS = 16,
	CONTROL_DEADLINE_MS = 2000, /* from accept to the reply sent */
};

struct daemon;
struct control;

/* Listens on CONTROL_DIR/NAME.sock: 0 or -errno (-EADDRINUSE when a live daemon has it). */
int control_open(struct control **out, struct daemon *d) WARN_UNUSED;
/* Stops serving and removes the socket (when the daemon still may). NULL is fine. */
void control_close(struct control *c);

/* The client side: sends request (a line with its newline) to daemon name and copies the reply
 * to out. 0, or -errno: -ENOENT or -ECONNREFUSED when no daemon of that name runs. */
int control_request(const char *name, const char *request, FILE *out) WARN_UNUSED;
/* The path of name's socket; -EINVAL for a name that is no interface name. */
int control_path(char *out, size_t cap, const char *name) WARN_UNUSED;

#endif
