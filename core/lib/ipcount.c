/*
 * ipcount - shared per-IP connection counters; see ipcount.h
 *
 * Each slot is an open-addressing hash table with linear probing. An
 * entry whose count drops to zero keeps its key (a tombstone) so probe
 * chains stay intact for concurrent readers. When half the table is in
 * use, the owner drops the tombstones by rebuilding it in place. IPv4 addresses are stored as
 * IPv4-mapped IPv6 so both families share one key type.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ipcount.h"
#include "xalloc.h"

struct ip_entry {
	uint8_t addr[16];
	uint32_t used;	/* key set */
	uint32_t count; /* connections; 0 = tombstone */
};

struct ipcount {
	unsigned nslots;
	unsigned capacity;
	struct ip_entry *table; /* nslots * capacity, shared mapping */
	size_t map_len;
	/* Process-private: only the slot's owner uses its counters. */
	unsigned *used;
	unsigned *tombs;
};

static void
ip_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else if (sa->sa_family == AF_INET) {
		key[10] = 0xff;
		key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr,
		       4);
	}
}

static uint32_t
ip_hash(const uint8_t key[16])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

struct ipcount *
ipcount_create(unsigned nslots, unsigned capacity)
{
	struct ipcount *ic = xcalloc(1, sizeof(*ic));

	ic->nslots = nslots;
	ic->capacity = capacity * 2; /* keep the load factor under 1/2 */
	ic->map_len = (size_t)nslots * ic->capacity * sizeof(struct ip_entry);
	ic->table = mmap(NULL, ic->map_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ic->table == MAP_FAILED) {
		free(ic);
		return NULL;
	}
	ic->used = xcalloc(nslots, sizeof(unsigned));
	ic->tombs = xcalloc(nslots, sizeof(unsigned));
	return ic;
}

void
ipcount_destroy(struct ipcount *ic)
{
	if (ic == NULL)
		return;
	munmap(ic->table, ic->map_len);
	free(ic->used);
	free(ic->tombs);
	free(ic);
}

static struct ip_entry *
slot_table(const struct ipcount *ic, unsigned slot)
{
	return ic->table + (size_t)slot * ic->capacity;
}

void
ipcount_clear_slot(struct ipcount *ic, unsigned slot)
{
	memset(slot_table(ic, slot), 0,
	       ic->capacity * sizeof(struct ip_entry));
	ic->used[slot] = 0;
	ic->tombs[slot] = 0;
}

static struct ip_entry *
find(const struct ipcount *ic, unsigned slot, const uint8_t key[16])
{
	struct ip_entry *t = slot_table(ic, slot);
	uint32_t i = ip_hash(key) % ic->capacity;

	for (unsigned n = 0; n < ic->capacity; n++) {
		struct ip_entry *e = &t[(i + n) % ic->capacity];

		if (!__atomic_load_n(&e->used, __ATOMIC_ACQUIRE))
			return NULL;
		if (memcmp(e->addr, key, 16) == 0)
			return e;
	}
	return NULL;
}

unsigned
ipcount_total(const struct ipcount *ic, const struct sockaddr *addr)
{
	uint8_t key[16];
	unsigned total = 0;

	ip_key(addr, key);
	for (unsigned s = 0; s < ic->nslots; s++) {
		struct ip_entry *e = find(ic, s, key);

		if (e != NULL)
			total += __atomic_load_n(&e->count, __ATOMIC_RELAXED);
	}
	return total;
}

/* Rebuilds the slot's table without tombstones. */
static void
compact(struct ipcount *ic, unsigned slot)
{
	struct ip_entry *t = slot_table(ic, slot);
	struct ip_entry *live = xmalloc(ic->capacity * sizeof(*live));
	unsigned nlive = 0;

	for (unsigned i = 0; i < ic->capacity; i++)
		if (t[i].used && t[i].count > 0)
			live[nlive++] = t[i];
	memset(t, 0, ic->capacity * sizeof(struct ip_entry));
	ic->tombs[slot] = 0;
	for (unsigned j = 0; j < nlive; j++) {
		uint32_t i = ip_hash(live[j].addr) % ic->capacity;

		while (t[i].used)
			i = (i + 1) % ic->capacity;
		t[i] = live[j];
	}
	free(live);
	ic->used[slot] = nlive;
}

bool
ipcount_add(struct ipcount *ic, unsigned slot, const struct sockaddr *addr)
{
	struct ip_entry *t = slot_table(ic, slot);
	uint8_t key[16];
	uint32_t i;
	struct ip_entry *e;

	ip_key(addr, key);
	e = find(ic, slot, key);
	if (e != NULL) {
		if (e->count == 0)
			ic->tombs[slot]--;
		__atomic_add_fetch(&e->count, 1, __ATOMIC_RELAXED);
		return true;
	}
	if (ic->used[slot] + 1 > ic->capacity / 2) {
		if (ic->tombs[slot] == 0)
			return false;
		compact(ic, slot);
	}
	i = ip_hash(key) % ic->capacity;
	while (t[i].used)
		i = (i + 1) % ic->capacity;
	memcpy(t[i].addr, key, 16);
	t[i].count = 1;
	__atomic_store_n(&t[i].used, 1, __ATOMIC_RELEASE);
	ic->used[slot]++;
	return true;
}

void
ipcount_remove(struct ipcount *ic, unsigned slot, const struct sockaddr *addr)
{
	uint8_t key[16];
	struct ip_entry *e;

	ip_key(addr, key);
	e = find(ic, slot, key);
	if (e != NULL && e->count > 0 &&
	    __atomic_sub_fetch(&e->count, 1, __ATOMIC_RELAXED) == 0)
		ic->tombs[slot]++;
}
