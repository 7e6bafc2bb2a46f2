/* Logging: one line per event on stderr with a systemd priority prefix ("<3>" ...).
 * Messages a remote party can trigger go through log_ratelimited(). Never log key material. */
#ifndef PORTHOLE_LOG_H
#define PORTHOLE_LOG_H

#include <stdbool.h>
#include "compat.h"

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARN = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

void log_set_level(enum log_level level);
/* A level by name: debug, info, warning and error, with wireguard-go's and syslog's spellings
 * (verbose, notice, warn, err, silent); false for anything else. */
bool log_level_parse(const char *name, enum log_level *out);
/* LOG_LEVEL in the environment, as wireguard-go reads it; an unknown name is reported. */
void log_level_from_env(void);
void log_msg(enum log_level level, const char *fmt, ...) PRINTF(2, 3);
void log_errno(enum log_level level, int err, const char *fmt, ...) PRINTF(3, 4);
/* true when a remotely triggerable message may be printed now (a token bucket per call site). */
struct log_ratelimit {
	uint64_t last_ns;
	unsigned int tokens;
	unsigned int suppressed;
};
bool log_ratelimit_ok(struct log_ratelimit *rl);
void fatal(const char *fmt, ...) PRINTF(1, 2) NORETURN;

#define log_err(...)   log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
/* For remotely triggerable events: at most a few lines a second per call site. */
#define log_limited(level, ...)                                      \
	do {                                                         \
		static struct log_ratelimit rl_;                     \
		if (log_ratelimit_ok(&rl_))                          \
			log_msg(level, __VA_ARGS__);                 \
	} while (0)

#endif
