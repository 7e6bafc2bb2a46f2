/* Worker threads for the data path's ChaCha20-Poly1305: the loop thread hands a batch of
 * noise_aead jobs to crypt_pool_run(), works on it alongside the workers and returns when every
 * job is done. Fork and join per batch keeps everything else (routing, counters, the replay
 * window, the order of packets) on the loop thread, and the keypairs still: the only thread
 * that could change them is the one waiting.
 *
 * Small batches run on the calling thread alone: waking a worker costs more than sealing a few
 * packets. */
#ifndef PORTHOLE_CRYPT_POOL_H
#define PORTHOLE_CRYPT_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "noise.h"

enum crypt_pool_limits {
	CRYPT_POOL_MAX = 16,	    /* workers at most */
	CRYPT_POOL_MIN_BATCH = 16, /* jobs below which the caller works alone */
};

struct crypt_pool {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	/* The batch: set under lock, with a new generation; then taken one job at a time. */
	struct noise_aead *const *jobs;
	unsigned int n;
	unsigned int generation;
	atomic_uint next, finished;
	unsigned int inside; /* workers working on the current batch: it ends when they leave */
	bool open;	     /* workers may still join the current batch */
	bool stop;
	unsigned int nthreads;
	pthread_t threads[CRYPT_POOL_MAX];
};

/* Starts nthreads workers (0: none, every batch runs on the caller). 0 or -errno. */
int crypt_pool_start(struct crypt_pool *pool, unsigned int nthreads) WARN_UNUSED;
/* Runs noise_aead_run() on jobs[0..n) and returns when all are done. Loop thread only. */
void crypt_pool_run(struct crypt_pool *pool, struct noise_aead *const *jobs, unsigned int n);
/* Stops and joins the workers; the pool may be started again. */
void crypt_pool_stop(struct crypt_pool *pool);
/* The default worker count: none below 4 online CPUs, else half of them, at most
 * CRYPT_POOL_MAX; PORTHOLE_CRYPT_THREADS (a number, 0 for none) overrides it. */
unsigned int crypt_pool_default_threads(void);

#endif
