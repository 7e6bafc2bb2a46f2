/* The secrets allocator: zeroed and aligned blocks of every size class, wiped on free (a freed
 * block stays mapped, so the test reads it back), locked in memory, and used by the device for
 * peers and keypairs: a removed peer's preshared key does not survive in memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "check.h"
#include "crypto.h"
#include "device.h"
#include "peer.h"
#include "secmem.h"

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* Whether mlock can succeed here: root, or a limit that holds a chunk. */
static bool can_lock(void)
{
	struct rlimit rl;

	return geteuid() == 0 || (!getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur >= 1 << 20);
}

static UNUSED long vm_locked_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmLck:", 6))
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static void test_sizes(void)
{
	static const size_t sizes[] = {1, 16, 48, 49, 100, 1184, 2968, 4000, 65520, 65521, 200000};

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint8_t *p = secmem_calloc(1, sizes[i]);

		CHECK(p != NULL);
		if (!p)
			continue;
		CHECK((uintptr_t)p % SECMEM_ALIGN == 0);
		CHECK(all_zero(p, sizes[i]));
		memset(p, 0xa5, sizes[i]); /* all of it is writable (ASan/segfault otherwise) */
		secmem_free(p);
	}
	secmem_free(NULL);
	CHECK(secmem_calloc(SIZE_MAX / 2, 4) == NULL);
	CHECK(secmem_calloc(4, SIZE_MAX / 2) == NULL);
}

/* Freed blocks keep their address mapped: what was there must read back as zeros, and the next
 * allocation of that class reuses the block, zeroed. */
static void test_wiped_on_free(void)
{
	uint8_t *a = secmem_calloc(1, 1000), *b = secmem_calloc(1, 1000);

	CHECK(a && b && a != b);
	if (!a || !b)
		return;
	memset(a, 0x5a, 1000);
	memset(b, 0x77, 1000);
	secmem_free(a);
	CHECK(all_zero(a, 1000));
	CHECK(b[0] == 0x77 && b[999] == 0x77); /* a neighbour is untouched */
	CHECK(secmem_calloc(1, 1000) == a);
	CHECK(all_zero(a, 1000));
	secmem_free(a);
	secmem_free(b);
	CHECK(all_zero(b, 1000));
}

static void test_locked(void)
{
	size_t before = secmem_locked_bytes();
	void *small = secmem_calloc(1, 64), *big = secmem_calloc(1, 300000);

	CHECK(small && big);
	if (can_lock()) {
		CHECK(secmem_locked_bytes() >= before + 300000);
#ifndef __SANITIZE_ADDRESS__ /* ASan's mlock() succeeds without locking anything */
		CHECK(vm_locked_kb() * 1024 >= (long)secmem_locked_bytes());
#endif
	}
	secmem_free(big);
	CHECK(secmem_locked_bytes() < before + 300000);
	secmem_free(small);
}

/* The device's peers come from secmem: after peer_remove(), the memory that held the peer's
 * preshared key and handshake is all zeros. */
static void test_removed_peer_wiped(void)
{
	struct wg_device_ops ops = {0};
	struct wg_device *dev = calloc(1, sizeof(*dev));
	uint8_t pub[NOISE_PUBLIC_KEY_LEN], psk[NOISE_SYMMETRIC_KEY_LEN];
	struct wg_peer *peer = NULL;

	memset(pub, 9, sizeof(pub));
	memset(psk, 0xc3, sizeof(psk));
	CHECK(dev && wg_device_init(dev, &ops, 1) == 0);
	CHECK(peer_create(dev, pub, &peer) == 0 && peer);
	if (!peer)
		goto out;
	memcpy(peer->handshake.preshared_key, psk, sizeof(psk));
	CHECK(!all_zero(peer, sizeof(*peer)));
	peer_remove(peer);
	CHECK(all_zero(peer, sizeof(*peer)));
	CHECK(memmem(peer, sizeof(*peer), psk, sizeof(psk)) == NULL);
out:
	wg_device_free(dev);
	free(dev);
}

int main(void)
{
	if (crypto_init() < 0)
		return 1;
	RUN(test_sizes);
	RUN(test_wiped_on_free);
	RUN(test_locked);
	RUN(test_removed_peer_wiped);
	return check_done("secmem");
}
