/* Small language helpers shared by every file. */
#ifndef PORTHOLE_COMPAT_H
#define PORTHOLE_COMPAT_H

#include <stddef.h>
#include <stdint.h>

#define WARN_UNUSED  __attribute__((warn_unused_result))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))
#define NORETURN     __attribute__((noreturn))
#define UNUSED       __attribute__((unused))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Time inside porthole is a uint64_t count of nanoseconds of CLOCK_MONOTONIC, passed in by the
 * caller so that protocol code never reads a clock itself. */
#define NSEC_PER_USEC 1000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC  1000000000ULL

#endif
