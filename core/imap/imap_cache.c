/*
 * imap_cache - FETCH response data kept by a worker (see imap_cache.h)
 *
 * A warm FETCH of ENVELOPE over a whole mailbox spent nearly all its time
 * opening, reading and parsing each message file again. With the
 * response data kept, it only formats the response. One entry costs its
 * data plus about 64 bytes, so the default 16 MiB fits the ENVELOPEs of
 * roughly 40,000 messages of 300-byte ENVELOPEs (an estimate). A cache
 * file in the folder, as Dovecot keeps, would also serve a new worker and
 * a restart, but it needs locking and a file format shared between
 * processes. The in-memory table serves every FETCH after the first one
 * in a worker.
 *
 * Structure: entries sit in a chained hash table keyed by (folder, UID,
 * kind) and on a doubly linked LRU list; folders (directory and
 * UIDVALIDITY) in a small chained table of their own. A folder record is
 * freed with its last entry, so no pointer to it is held between calls.
 * Failure: allocation failure ends the process (xalloc), as anywhere in
 * the worker; nothing else can fail.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "imap_cache.h"
#include "xalloc.h"

struct cache_folder {
	char *dir;
	size_t hash;
	uint32_t uidvalidity;
	size_t entries;
	struct cache_folder *next;
};

struct cache_entry {
	struct cache_entry *hnext;	 /* hash chain */
	struct cache_entry *prev, *next; /* LRU list, newest first */
	struct cache_folder *folder;
	uint32_t uid;
	uint32_t kind;
	size_t len;
	char data[];
};

#define ENTRY_COST(len) (sizeof(struct cache_entry) + (len) + 16)
#define FOLDER_BUCKETS 256

static struct cache_entry **table;
static size_t table_size, nentries, used_bytes;
static size_t budget = 16u << 20;
static struct cache_entry *lru_head, *lru_tail;
static struct cache_folder *folders[FOLDER_BUCKETS];

static size_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static size_t
entry_hash(const struct cache_folder *f, uint32_t uid, uint32_t kind)
{
	uint64_t h = (uint64_t)f->hash ^ ((uint64_t)uid * 0x9e3779b97f4a7c15ull);

	h ^= kind * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	return (size_t)h;
}

void
imap_cache_folder_init(struct imap_cache_folder_ref *f, const char *dir,
		       uint32_t uidvalidity)
{
	f->dir = dir;
	f->hash = hash_str(dir);
	f->uidvalidity = uidvalidity;
}

static struct cache_folder **
folder_slot(const struct imap_cache_folder_ref *ref)
{
	struct cache_folder **pp = &folders[ref->hash % FOLDER_BUCKETS];

	while (*pp != NULL &&
	       ((*pp)->hash != ref->hash || strcmp((*pp)->dir, ref->dir) != 0))
		pp = &(*pp)->next;
	return pp;
}

static void
lru_unlink(struct cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		lru_head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push(struct cache_entry *e)
{
	e->prev = NULL;
	e->next = lru_head;
	if (lru_head != NULL)
		lru_head->prev = e;
	lru_head = e;
	if (lru_tail == NULL)
		lru_tail = e;
}

static void
entry_remove(struct cache_entry *e)
{
	struct cache_folder *f = e->folder;
	struct cache_entry **pp =
		&table[entry_hash(f, e->uid, e->kind) & (table_size - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	used_bytes -= ENTRY_COST(e->len);
	nentries--;
	free(e);
	if (--f->entries == 0) {
		struct imap_cache_folder_ref ref = {.dir = f->dir,
						    .hash = f->hash};
		struct cache_folder **fp = folder_slot(&ref);

		*fp = f->next;
		free(f->dir);
		free(f);
	}
}

static void
evict_to(size_t limit)
{
	while (used_bytes > limit && lru_tail != NULL)
		entry_remove(lru_tail);
}

void
imap_cache_set_budget(size_t bytes)
{
	budget = bytes;
	evict_to(bytes);
}

/* Finds the folder record and drops its entries if its UIDVALIDITY
 * changed. Returns NULL when the cache has no entries of the folder. */
static struct cache_folder *
folder_find(const struct imap_cache_folder_ref *ref)
{
	struct cache_folder *f = *folder_slot(ref);
	struct cache_entry *e, *next;

	if (f == NULL || f->uidvalidity == ref->uidvalidity)
		return f;
	/* Removing the last entry frees f, so count down first. */
	for (e = lru_head; e != NULL; e = next) {
		next = e->next;
		if (e->folder == f) {
			if (f->entries == 1) {
				entry_remove(e);
				return NULL;
			}
			entry_remove(e);
		}
	}
	return NULL;
}

static struct cache_entry *
entry_find(struct cache_folder *f, uint32_t uid, uint32_t kind)
{
	struct cache_entry *e;

	if (table_size == 0)
		return NULL;
	e = table[entry_hash(f, uid, kind) & (table_size - 1)];
	while (e != NULL &&
	       (e->folder != f || e->uid != uid || e->kind != kind))
		e = e->hnext;
	return e;
}

const char *
imap_cache_get(const struct imap_cache_folder_ref *ref, uint32_t uid,
	       enum imap_cache_kind kind, size_t *len)
{
	struct cache_folder *f = folder_find(ref);
	struct cache_entry *e;

	if (f == NULL)
		return NULL;
	e = entry_find(f, uid, (uint32_t)kind);
	if (e == NULL)
		return NULL;
	if (e != lru_head) {
		lru_unlink(e);
		lru_push(e);
	}
	*len = e->len;
	return e->data;
}

static void
table_grow(void)
{
	size_t nsize = table_size ? table_size * 2 : 1024;
	struct cache_entry **nt = xcalloc(nsize, sizeof(*nt));

	for (size_t i = 0; i < table_size; i++) {
		struct cache_entry *e = table[i], *next;

		for (; e != NULL; e = next) {
			size_t h = entry_hash(e->folder, e->uid, e->kind) &
				   (nsize - 1);

			next = e->hnext;
			e->hnext = nt[h];
			nt[h] = e;
		}
	}
	free(table);
	table = nt;
	table_size = nsize;
}

void
imap_cache_put(const struct imap_cache_folder_ref *ref, uint32_t uid,
	       enum imap_cache_kind kind, const char *data, size_t len)
{
	struct cache_folder *f;
	struct cache_entry *e;
	size_t h;

	if (ENTRY_COST(len) > budget / 4)
		return;
	f = folder_find(ref);
	if (f != NULL) {
		e = entry_find(f, uid, (uint32_t)kind);
		if (e != NULL) {
			if (e->len == len && memcmp(e->data, data, len) == 0)
				return;
			entry_remove(e);
		}
	}
	evict_to(budget - ENTRY_COST(len));
	f = folder_find(ref); /* eviction may have freed it */
	if (f == NULL) {
		struct cache_folder **fp = folder_slot(ref);

		f = xcalloc(1, sizeof(*f));
		f->dir = xstrdup(ref->dir);
		f->hash = ref->hash;
		f->uidvalidity = ref->uidvalidity;
		*fp = f;
	}
	if (nentries >= table_size)
		table_grow();
	e = xmalloc(sizeof(*e) + len);
	e->folder = f;
	e->uid = uid;
	e->kind = (uint32_t)kind;
	e->len = len;
	memcpy(e->data, data, len);
	h = entry_hash(f, uid, (uint32_t)kind) & (table_size - 1);
	e->hnext = table[h];
	table[h] = e;
	lru_push(e);
	f->entries++;
	nentries++;
	used_bytes += ENTRY_COST(len);
}

size_t
imap_cache_bytes(void)
{
	return used_bytes;
}

size_t
imap_cache_entries(void)
{
	return nentries;
}
