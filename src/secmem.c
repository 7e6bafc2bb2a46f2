#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include "crypto.h"
#include "log.h"
#include "secmem.h"

/* Precedes every block; SECMEM_ALIGN bytes so that the payload keeps malloc's alignment. */
struct header {
	union {
		struct header *next; /* on a free list */
		size_t size;	     /* in use: the block's (or the big mapping's) size */
	};
	uint32_t cls;	    /* size class, or BIG for a mapping of its own */
	uint32_t is_locked; /* a BIG mapping's mlock succeeded */
};
static_assert(sizeof(struct header) == SECMEM_ALIGN, "header keeps payloads aligned");

enum {
	MIN_SHIFT = 6,	/* SECMEM_MIN_BLOCK */
	MAX_SHIFT = 16, /* SECMEM_CHUNK */
	NCLASSES = MAX_SHIFT - MIN_SHIFT + 1,
	BIG = NCLASSES,
};
static_assert(1 << MIN_SHIFT == SECMEM_MIN_BLOCK && 1 << MAX_SHIFT == SECMEM_CHUNK, "classes");

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct header *free_lists[NCLASSES];
static atomic_size_t locked;
static atomic_bool warned;

/* Locking is best effort: an unprivileged daemon may have a small RLIMIT_MEMLOCK. */
static void *map(size_t len, bool *is_locked)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, len, MADV_DONTDUMP);
	*is_locked = !mlock(p, len);
	if (*is_locked)
		atomic_fetch_add(&locked, len);
	else if (!atomic_exchange(&warned, true))
		log_errno(LOG_LEVEL_WARN, -errno, "secrets stay swappable: cannot lock memory");
	return p;
}

static uint32_t class_of(size_t block)
{
	uint32_t cls = 0;

	while (((size_t)SECMEM_MIN_BLOCK << cls) < block)
		cls++;
	return cls;
}

/* Cuts a fresh chunk into blocks of one class; called with the lock held. */
static int refill(uint32_t cls)
{
	size_t block = (size_t)SECMEM_MIN_BLOCK << cls;
	bool is_locked;
	char *chunk = map(SECMEM_CHUNK, &is_locked);

	if (!chunk)
		return -ENOMEM;
	for (size_t off = SECMEM_CHUNK; off >= block; off -= block) {
		struct header *h = (struct header *)(chunk + off - block);

		h->cls = cls;
		h->next = free_lists[cls];
		free_lists[cls] = h;
	}
	return 0;
}

static struct header *take(uint32_t cls)
{
	struct header *h = NULL;

	pthread_mutex_lock(&lock);
	if (free_lists[cls] || !refill(cls)) {
		h = free_lists[cls];
		free_lists[cls] = h->next;
		h->size = (size_t)SECMEM_MIN_BLOCK << cls;
	}
	pthread_mutex_unlock(&lock);
	return h;
}

static struct header *take_big(size_t len)
{
	bool is_locked;
	struct header *h = map(len, &is_locked);

	if (h) {
		h->size = len;
		h->cls = BIG;
		h->is_locked = is_locked;
	}
	return h;
}

void *secmem_calloc(size_t n, size_t size)
{
	size_t len, page = SECMEM_CHUNK;
	struct header *h;

	if (size && n > (SIZE_MAX - 2 * page) / size) {
		errno = ENOMEM;
		return NULL;
	}
	len = n * size + sizeof(*h);
	if (len <= SECMEM_CHUNK)
		h = take(class_of(len));
	else
		h = take_big((len + page - 1) & ~(page - 1));
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	/* Blocks are wiped when freed and chunks start zeroed: the payload is zero already. */
	return h + 1;
}

void secmem_free(void *p)
{
	struct header *h;

	if (!p)
		return;
	h = (struct header *)p - 1;
	crypto_wipe(p, h->size - sizeof(*h));
	if (h->cls == BIG) {
		size_t len = h->size;

		if (h->is_locked && !munlock(h, len))
			atomic_fetch_sub(&locked, len);
		munmap(h, len);
		return;
	}
	pthread_mutex_lock(&lock);
	h->next = free_lists[h->cls];
	free_lists[h->cls] = h;
	pthread_mutex_unlock(&lock);
}

size_t secmem_locked_bytes(void)
{
	return atomic_load(&locked);
}

int secmem_protect_process(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
