/* The gateway's insides, shared by gateway.c (forwards, Listen groups, lifecycle), fwd_tcp.c
 * (the TCP connection state machine) and fwd_udp.c (UDP flows). Not a public interface. */
#ifndef PORTHOLE_FWD_H
#define PORTHOLE_FWD_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include "compat.h"
#include "config.h"
#include "gateway.h"
#include "loop.h"
#include "proxy.h"
#include "sni.h"

enum fwd_limits {
	/* Bytes of the client's stream held before the target is chosen: a whole ClientHello at
	 * the SNI cap, plus what PROXY detection takes back (pp_parser_replay). */
	FWD_EARLY_MAX = SNI_HELLO_MAX + PP_DETECT_MAX,
	/* The copy path's buffer per direction; the client -> target one also holds the early
	 * bytes, so it is at least FWD_EARLY_MAX. */
	FWD_BUF_SIZE = FWD_EARLY_MAX + 1024 - PP_DETECT_MAX,
	/* The PROXY header we send: v2 with IPv6 addresses, AUTHORITY, UNIQUE_ID and CRC32C. */
	FWD_HEADER_MAX = 16 + 36 + 3 + PP_AUTHORITY_MAX + 3 + 16 + 3 + 4,
	FWD_UNIQUE_ID_LEN = 16,
	FWD_PIPE_SIZE = 1 << 20, /* asked of F_SETPIPE_SZ; the kernel may give less */
	FWD_ACCEPT_BATCH = 64,	 /* accept4() calls per listener wakeup */
	FWD_PUMP_ROUNDS = 16,	 /* read/write rounds per direction per wakeup, for fairness */
	FWD_UDP_BATCH = 64,	 /* datagrams per socket wakeup */
	FWD_UDP_MAX = 65535,
};
static_assert(FWD_BUF_SIZE - FWD_HEADER_MAX >= FWD_EARLY_MAX,
	      "the early bytes and the PROXY header we send must fit the upstream buffer");

#define FWD_RETRY_NS	     (200 * NSEC_PER_MSEC) /* between connect attempts */
#define FWD_PROXY_TIMEOUT_NS PP_TIMEOUT_NS	   /* from accept, not from the last byte */
#define FWD_HELLO_TIMEOUT_NS (5 * NSEC_PER_SEC)	   /* from accept, as the PROXY deadline */

/* A connection's life; one handler per state and event in fwd_tcp.c. Accepting (admit()) and
 * closing (conn_end()) happen within one call each, so they need no state; the PROXY header we
 * send is the first thing queued for the target, so "sending the header" is the start of RELAY.
 * Half-closed relays stay in RELAY until both directions have passed their FIN on. */
enum fwd_state {
	FWD_READ_PROXY, /* AcceptProxy: waiting for a PROXY header, or for plain bytes */
	FWD_READ_HELLO, /* SNI routing: accumulating the ClientHello */
	FWD_CONNECTING, /* connecting to the target, retrying until ConnectTimeout */
	FWD_RELAY,	/* moving bytes both ways; header and early bytes go first */
};

/* One direction of a relay: bytes read from one socket, waiting to be written to the other.
 * The copy path keeps them in buf[off, len); the splice path in a pipe, after buf's bytes.
 * Every direction starts on the copy path; one whose read fills the buffer is a bulk transfer
 * and takes a pipe (when may_splice), so small exchanges cost no pipe and no extra calls. */
struct fwd_dir {
	uint8_t *buf;
	uint32_t off, len;
	int pipe[2];
	uint32_t in_pipe, pipe_cap;
	bool may_splice;   /* the forward allows pipes */
	bool pipe_failed;  /* pipes could not be had: counted once by the caller, then cleared */
	bool readable;	   /* the source may hold bytes: an edge came since its last short read */
	bool rdhup;	   /* the source's FIN has arrived: read on to the end of stream */
	bool eof;	   /* the source sent FIN */
	bool shut;	   /* FIN passed on: shutdown(SHUT_WR) on the destination */
	bool close_next;   /* the other direction is done too: close() sends the FIN instead */
	uint64_t bytes;
};

struct fwd_group;

struct fwd_forward {
	struct forward_config cfg; /* a deep copy: the forward owns it */
	struct sockaddr_storage target;
	socklen_t target_len;
	struct fwd_group *group;
	struct gateway_stats stats;
	bool splice;
};

struct fwd_conn {
	LIST_ENTRY(fwd_conn) entry;
	struct fwd_group *group;
	struct fwd_forward *fwd; /* NULL until routed */
	enum fwd_state state;
	struct loop_fd client, target;
	struct loop_timer deadline; /* the current state's deadline, or the idle check */
	struct loop_timer kick;	    /* a connect retry, or more relay work after a full round */
	uint64_t accepted_ns, last_ns, connect_by_ns;
	struct sockaddr_storage peer; /* the connection's real source */
	struct pp_addr addr;	      /* client and destination: the PROXY ones when received */
	bool from_proxy, trusted, per_source;
	char authority[SNI_NAME_MAX + 1];
	uint16_t authority_len;
	struct fwd_dir up, down; /* client -> target, target -> client */
	uint8_t up_buf[FWD_BUF_SIZE];
	union {
		struct pp_parser pp;		/* READ_PROXY only */
		uint8_t down_buf[FWD_BUF_SIZE]; /* RELAY only */
	};
};

struct fwd_udp;

/* The forwards sharing one Listen address and protocol, and the socket they share. */
struct fwd_group {
	struct gateway *gw;
	enum fwd_protocol proto;
	struct sockaddr_storage listen;
	bool wildcard; /* listen's address is any: accepted sockets' local addresses vary */
	struct loop_fd lfd;
	struct loop_timer resume; /* TCP: retries accept after running out of descriptors */
	struct fwd_forward **fwds;
	size_t nfwds;
	struct fwd_forward *dflt; /* the one without ServerName, if any */
	bool route_sni;
	bool paused; /* at the limit: the listener is out of the loop */
	bool resume_added;
	uint32_t active, limit;
	LIST_HEAD(, fwd_conn) conns;
	struct fwd_udp *udp;
};

struct gateway {
	struct loop *loop;
	struct fwd_forward **fwds;
	size_t nfwds;
	struct fwd_group **groups;
	size_t ngroups;
	uint8_t uid_prefix[8]; /* random per run; UNIQUE_ID = prefix, then a counter */
	uint64_t uid_counter;
};

/* gateway.c */
bool fwd_in_list(const struct ip_list *list, const struct sockaddr *sa) WARN_UNUSED;
/* The forward for a ClientHello's name (NULL: none sent): a match, else the default, else NULL. */
struct fwd_forward *fwd_route(const struct fwd_group *g, const char *name);
/* The forward that counts what happens before routing. */
struct fwd_forward *fwd_group_blame(const struct fwd_group *g);
void fwd_group_pause(struct fwd_group *g);
void fwd_group_resume(struct fwd_group *g);
/* "1.2.3.4:80" or "[2001:db8::1]:80" */
void fwd_format(char *out, size_t cap, const struct sockaddr *sa);
void fwd_format_pp(char *out, size_t cap, const struct pp_addr *a, bool src);
void fwd_unique_id(struct gateway *gw, uint8_t out[FWD_UNIQUE_ID_LEN]);
int fwd_socket(int family, int type);

/* fwd_tcp.c */
void fwd_tcp_acceptable(struct loop_fd *lfd, uint32_t events);
void fwd_tcp_close_all(struct fwd_group *g);

/* splice.c: 0 or a negative errno. fwd_dir_pump() moves d from -> to until it blocks; on an
 * error *at_source tells whether reading from or writing to failed. *again: rounds ran out. */
void fwd_dir_events(struct fwd_dir *d, uint32_t source_events);
void fwd_dir_close(struct fwd_dir *d);
int fwd_dir_pump(struct fwd_dir *d, int from, int to, uint64_t *counter, bool *at_source,
		 bool *again, bool *moved) WARN_UNUSED;

/* fwd_udp.c */
int fwd_udp_open(struct fwd_group *g);
void fwd_udp_close(struct fwd_group *g);

#endif
