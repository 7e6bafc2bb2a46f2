#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "log.h"

static enum log_level max_level = LOG_LEVEL_INFO;

enum { RL_BURST = 5, RL_PER_SEC = 5 };

void log_set_level(enum log_level level)
{
	max_level = level;
}

bool log_level_parse(const char *name, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = { { "debug", LOG_LEVEL_DEBUG }, { "verbose", LOG_LEVEL_DEBUG },
		      { "info", LOG_LEVEL_INFO },   { "notice", LOG_LEVEL_INFO },
		      { "warn", LOG_LEVEL_WARN },   { "warning", LOG_LEVEL_WARN },
		      { "error", LOG_LEVEL_ERR },   { "err", LOG_LEVEL_ERR },
		      { "silent", LOG_LEVEL_ERR } };

	for (size_t i = 0; name && i < ARRAY_SIZE(names); i++) {
		if (!strcasecmp(name, names[i].name)) {
			*out = names[i].level;
			return true;
		}
	}
	return false;
}

void log_level_from_env(void)
{
	const char *v = getenv("LOG_LEVEL");
	enum log_level level;

	if (!v || !*v)
		return;
	if (log_level_parse(v, &level))
		log_set_level(level);
	else /* a misspelt level must not quietly mean "info": say so, and keep the default */
		log_warn("LOG_LEVEL=%s is not debug, info, warning or error; logging at info", v);
}

static void vlog(enum log_level level, int err, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (level > max_level)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/* One write per line, so lines from several threads never interleave. */
	if (err)
		fprintf(stderr, "<%d>%s: %s\n", level, line, strerror(err));
	else
		fprintf(stderr, "<%d>%s\n", level, line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
}

void log_errno(enum log_level level, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, err < 0 ? -err : err, fmt, ap);
	va_end(ap);
}

bool log_ratelimit_ok(struct log_ratelimit *rl)
{
	struct timespec ts;
	uint64_t now, refill;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
	if (!rl->last_ns) {
		rl->last_ns = now;
		rl->tokens = RL_BURST;
	}
	refill = (now - rl->last_ns) * RL_PER_SEC / NSEC_PER_SEC;
	if (refill) {
		rl->tokens = (unsigned int)MIN(RL_BURST, rl->tokens + refill);
		rl->last_ns = now;
	}
	if (!rl->tokens) {
		rl->suppressed++;
		return false;
	}
	rl->tokens--;
	if (rl->suppressed) {
		log_msg(LOG_LEVEL_WARN, "(%u similar messages suppressed)", rl->suppressed);
		rl->suppressed = 0;
	}
	return true;
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
