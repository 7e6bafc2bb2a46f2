/* The crypto workers: every job of every batch runs exactly once, whatever the batch size and
 * however many workers take part, and gives what the same job gives run alone; the pool stops
 * and starts again; the thread count follows PORTHOLE_CRYPT_THREADS. */
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "crypt_pool.h"
#include "crypto.h"
#include "messages.h"

enum { JOBS = 300, LEN = 1424, ROUNDS = 400 };

static uint8_t bufs[JOBS][LEN + NOISE_AUTHTAG_LEN], ref[JOBS][LEN + NOISE_AUTHTAG_LEN];
static struct noise_aead jobs[JOBS];
static struct noise_aead *ptrs[JOBS];
static uint8_t key[NOISE_SYMMETRIC_KEY_LEN];

/* Seals n buffers through the pool and compares each with a seal made alone. */
static bool seal_round(struct crypt_pool *pool, unsigned int n, uint64_t base)
{
	for (unsigned int i = 0; i < n; i++) {
		size_t len = 16 * (1 + (base + i) % (LEN / 16));

		for (size_t k = 0; k < len; k++)
			bufs[i][k] = ref[i][k] = (uint8_t)(base * 7 + i * 13 + k);
		jobs[i] = (struct noise_aead){
			.body = bufs[i], .len = len, .key = key, .counter = base + i, .seal = true
		};
		ptrs[i] = &jobs[i];
	}
	crypt_pool_run(pool, ptrs, n);
	for (unsigned int i = 0; i < n; i++) {
		struct noise_aead alone = jobs[i];

		alone.body = ref[i];
		alone.ok = false;
		noise_aead_run(&alone);
		if (!jobs[i].ok || memcmp(bufs[i], ref[i], jobs[i].len + NOISE_AUTHTAG_LEN))
			return false;
	}
	return true;
}

/* Opens what seal_round() sealed, with every fifth tag broken: exactly those fail. */
static bool open_round(struct crypt_pool *pool, unsigned int n, uint64_t base)
{
	for (unsigned int i = 0; i < n; i++) {
		jobs[i].len += NOISE_AUTHTAG_LEN;
		jobs[i].seal = false;
		jobs[i].ok = i % 5 == 0; /* must be overwritten either way */
		if (i % 5 == 0)
			bufs[i][jobs[i].len - 1] ^= 1;
	}
	crypt_pool_run(pool, ptrs, n);
	for (unsigned int i = 0; i < n; i++) {
		if (jobs[i].ok != (i % 5 != 0))
			return false;
		if (jobs[i].ok && bufs[i][0] != (uint8_t)(base * 7 + i * 13))
			return false;
	}
	return true;
}

static void check_pool(unsigned int threads)
{
	struct crypt_pool pool;
	unsigned int bad = 0;

	CHECK(crypt_pool_start(&pool, threads) == 0);
	CHECK(pool.nthreads == threads);
	for (unsigned int r = 0; r < ROUNDS; r++) {
		/* sizes around the threshold, tiny ones, and full batches */
		unsigned int n = r % 4 == 0 ? JOBS : (r * 37) % (CRYPT_POOL_MIN_BATCH * 3);

		bad += !seal_round(&pool, n, (uint64_t)r * 1000);
		bad += !open_round(&pool, n, (uint64_t)r * 1000);
	}
	CHECK(bad == 0);
	crypt_pool_stop(&pool);
	CHECK(pool.nthreads == 0);
	/* Started again, it works again. */
	CHECK(crypt_pool_start(&pool, threads) == 0);
	CHECK(seal_round(&pool, JOBS, 7));
	crypt_pool_stop(&pool);
}

static void test_pool(void)
{
	check_pool(0);
	check_pool(1);
	check_pool(3);
}

/* Many batches just above the threshold, back to back: workers often wake for a batch the
 * caller has already finished alone. A worker that joined it late would take the next batch's
 * indices with the old count, losing a job, and the caller would wait forever: the alarm ends
 * the test instead. */
static void test_late_workers(void)
{
	struct crypt_pool pool;
	unsigned int bad = 0;

	CHECK(crypt_pool_start(&pool, 3) == 0);
	alarm(20);
	for (unsigned int r = 0; r < 20000; r++) {
		unsigned int n = CRYPT_POOL_MIN_BATCH + r % 3;

		for (unsigned int i = 0; i < n; i++) {
			jobs[i] = (struct noise_aead){
				.body = bufs[i], .len = 16, .key = key, .counter = r, .seal = true
			};
			ptrs[i] = &jobs[i];
		}
		crypt_pool_run(&pool, ptrs, n);
		for (unsigned int i = 0; i < n; i++)
			bad += !jobs[i].ok;
	}
	alarm(0);
	CHECK(bad == 0);
	crypt_pool_stop(&pool);
}

static void test_default_threads(void)
{
	setenv("PORTHOLE_CRYPT_THREADS", "0", 1);
	CHECK(crypt_pool_default_threads() == 0);
	setenv("PORTHOLE_CRYPT_THREADS", "3", 1);
	CHECK(crypt_pool_default_threads() == 3);
	setenv("PORTHOLE_CRYPT_THREADS", "1000", 1);
	CHECK(crypt_pool_default_threads() == CRYPT_POOL_MAX);
	setenv("PORTHOLE_CRYPT_THREADS", "many", 1);
	CHECK(crypt_pool_default_threads() < CRYPT_POOL_MAX + 1);
	unsetenv("PORTHOLE_CRYPT_THREADS");
	CHECK(crypt_pool_default_threads() <= CRYPT_POOL_MAX);
}

int main(void)
{
	CHECK(crypto_init() == 0);
	CHECK(crypto_random(key, sizeof(key)) == 0);
	RUN(test_pool);
	RUN(test_late_workers);
	RUN(test_default_threads);
	return check_done("crypt_pool");
}
