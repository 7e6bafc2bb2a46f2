/* Memory for secrets: the device (static private key), peers (preshared keys, handshake state)
 * and keypairs (session keys). Blocks come from mmap'ed chunks that are mlock'ed, so they never
 * reach swap, and marked MADV_DONTDUMP, so no core file carries them; a freed block is wiped
 * before it can be reused. When mlock fails (RLIMIT_MEMLOCK) the memory is used unlocked and a
 * warning says so once. Freed blocks go back to a per-size free list, never to the kernel, so
 * the footprint is the peak (peers and keypairs are bounded), and a block's address stays
 * readable after secmem_free(): that is what the unit test checks the wipe with. Thread-safe. */
#ifndef PORTHOLE_SECMEM_H
#define PORTHOLE_SECMEM_H

#include <stddef.h>
#include "compat.h"

/* Blocks are powers of two from SECMEM_MIN_BLOCK up to SECMEM_CHUNK bytes, header included;
 * anything larger gets its own locked mapping, wiped and unmapped when freed. */
enum {
	SECMEM_MIN_BLOCK = 64,
	SECMEM_CHUNK = 64 * 1024,
	SECMEM_ALIGN = 16,
};

/* Zeroed, SECMEM_ALIGN-aligned memory, or NULL (errno ENOMEM). */
void *secmem_calloc(size_t n, size_t size);
/* Wipes the whole block and keeps it for reuse; NULL is ignored. */
void secmem_free(void *p);
/* Bytes currently mlock'ed by the allocator (what /proc/PID/status counts in VmLck). */
size_t secmem_locked_bytes(void);

/* Process-wide: no core dumps and no ptrace attach by the same user (PR_SET_DUMPABLE 0), so no
 * dump carries keys. 0 or -errno. */
int secmem_protect_process(void) WARN_UNUSED;

#endif
