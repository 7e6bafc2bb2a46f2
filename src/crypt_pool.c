/* The data path's crypto workers: fork and join per batch (see crypt_pool.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "crypt_pool.h"
#include "log.h"

/* Takes jobs until none is left; returns how many this thread did. */
static unsigned int take_jobs(struct crypt_pool *pool, struct noise_aead *const *jobs,
			      unsigned int n)
{
	unsigned int i, did = 0;

	while ((i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed)) < n) {
		noise_aead_run(jobs[i]);
		did++;
	}
	return did;
}

static void *worker(void *arg)
{
	struct crypt_pool *pool = arg;
	unsigned int seen = 0;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct noise_aead *const *jobs;
		unsigned int n, did;

		/* Join only an open batch not joined yet: a batch the caller closed (done without
		 * us) is skipped, or we would take indices of the next one with this one's count. */
		while (!pool->stop && !(pool->open && pool->generation != seen)) {
			seen = pool->generation;
			pthread_cond_wait(&pool->work, &pool->lock);
		}
		if (pool->stop)
			break;
		seen = pool->generation;
		jobs = pool->jobs;
		n = pool->n;
		pool->inside++;
		pthread_mutex_unlock(&pool->lock);
		did = take_jobs(pool, jobs, n);
		/* release: the caller reads the jobs' results once finished reaches n */
		atomic_fetch_add_explicit(&pool->finished, did, memory_order_release);
		pthread_mutex_lock(&pool->lock);
		pool->inside--;
		pthread_cond_signal(&pool->done);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

void crypt_pool_run(struct crypt_pool *pool, struct noise_aead *const *jobs, unsigned int n)
{
	unsigned int did;

	if (!pool->nthreads || n < CRYPT_POOL_MIN_BATCH) {
		for (unsigned int i = 0; i < n; i++)
			noise_aead_run(jobs[i]);
		return;
	}
	pthread_mutex_lock(&pool->lock);
	pool->jobs = jobs;
	pool->n = n;
	atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
	atomic_store_explicit(&pool->finished, 0, memory_order_relaxed);
	pool->generation++;
	pool->open = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);

	did = take_jobs(pool, jobs, n);
	atomic_fetch_add_explicit(&pool->finished, did, memory_order_relaxed);
	/* Every job taken is done once finished counts it; a worker still inside (late to a
	 * batch that had nothing left for it) must leave, and the batch close, before the next
	 * one reuses the counters. */
	pthread_mutex_lock(&pool->lock);
	while (atomic_load_explicit(&pool->finished, memory_order_acquire) < n || pool->inside)
		pthread_cond_wait(&pool->done, &pool->lock);
	pool->open = false;
	pthread_mutex_unlock(&pool->lock);
}

int crypt_pool_start(struct crypt_pool *pool, unsigned int nthreads)
{
	sigset_t all, old;
	int ret = 0;

	memset(pool, 0, sizeof(*pool));
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->done, NULL);
	if (nthreads > CRYPT_POOL_MAX)
		nthreads = CRYPT_POOL_MAX;
	/* Signals stay with the loop thread (its signalfd): workers block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; pool->nthreads < nthreads; pool->nthreads++) {
		ret = -pthread_create(&pool->threads[pool->nthreads], NULL, worker, pool);
		if (ret < 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0)
		crypt_pool_stop(pool);
	return ret;
}

void crypt_pool_stop(struct crypt_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stop = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned int i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pool->nthreads = 0;
	pool->stop = false;
}

unsigned int crypt_pool_default_threads(void)
{
	const char *env = getenv("PORTHOLE_CRYPT_THREADS");
	long cpus;

	if (env && *env) {
		char *end;
		long v = strtol(env, &end, 10);

		if (!*end && v >= 0)
			return v > CRYPT_POOL_MAX ? CRYPT_POOL_MAX : (unsigned int)v;
		log_warn("PORTHOLE_CRYPT_THREADS=%s is not a number; using the default", env);
	}
	/* Measured on 2 cores: a worker cost 5 to 8 % of throughput, as the kernel's share of
	 * the packets (TUN, UDP, TCP) already keeps the second core busy. From 4 cores on, half
	 * of them. */
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 4)
		return 0;
	return cpus / 2 > CRYPT_POOL_MAX ? CRYPT_POOL_MAX : (unsigned int)(cpus / 2);
}
